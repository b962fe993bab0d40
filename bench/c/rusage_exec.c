// rusage_exec: run a command and report its own wall time and peak RSS.
//
//   rusage_exec OUTFILE PROG [ARGS...]
//
// Why this exists: ru_maxrss of a child counts the memory of the process it was
// forked from (the mm copied by fork, or borrowed by vfork, is accounted at exec).
// Launched straight from the Python harness, every tool would inherit Python's RSS.
// This tiny program forks the real command itself, so the inherited part is ~1 MB.
//
// It ignores SIGINT/SIGTERM itself (the harness signals the command's pid), restores
// them to default in the child, waits with wait4 and writes one line to OUTFILE:
//   status=S start_ns=T0 end_ns=T1 maxrss_kb=K utime_us=U stime_us=S child_pid=P
// (CLOCK_MONOTONIC, same clock as Python's time.monotonic_ns). It exits with the
// command's exit code, or 128+signal.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: rusage_exec OUTFILE PROG [ARGS...]\n");
		return 2;
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);

	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "rusage_exec: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}

	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("wait4");
			return 2;
		}
	}
	uint64_t t1 = now_ns();

	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	FILE *f = fopen(argv[1], "w");
	if (f) {
		fprintf(f, "status=%d start_ns=%llu end_ns=%llu maxrss_kb=%ld utime_us=%lld stime_us=%lld child_pid=%d\n",
			code, (unsigned long long)t0, (unsigned long long)t1, ru.ru_maxrss,
			(long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
			(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, (int)pid);
		fclose(f);
	}
	return code;
}
