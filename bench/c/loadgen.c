// loadgen: make N raw syscalls, optionally paced to a target rate.
//
//   loadgen -n N [-r RATE_PER_SEC] [-s getppid|openat]
//
// Prints one line: calls=N ns=ELAPSED ns_per_call=X
// Pacing busy-waits on CLOCK_MONOTONIC every PACE_BATCH calls (no sleeping),
// so the calls stay evenly spread and the rate is exact on average.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PACE_BATCH 16

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen -n N [-r RATE_PER_SEC] [-s getppid|openat]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t n = 0;
	double rate = 0;
	int use_openat = 0;
	int c;

	while ((c = getopt(argc, argv, "n:r:s:h")) != -1) {
		switch (c) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'r': rate = strtod(optarg, NULL); break;
		case 's':
			if (strcmp(optarg, "getppid") == 0) use_openat = 0;
			else if (strcmp(optarg, "openat") == 0) use_openat = 1;
			else usage();
			break;
		default: usage();
		}
	}
	if (n == 0) usage();

	const char *path = "/nonexistent/rtrace-bench";
	double ns_per_slot = rate > 0 ? 1e9 / rate : 0;
	uint64_t start = now_ns();

	for (uint64_t i = 0; i < n; i++) {
		if (ns_per_slot > 0 && i % PACE_BATCH == 0) {
			uint64_t target = start + (uint64_t)((double)i * ns_per_slot);
			while (now_ns() < target)
				;
		}
		if (use_openat)
			syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
		else
			syscall(SYS_getppid);
	}

	uint64_t elapsed = now_ns() - start;
	printf("calls=%llu ns=%llu ns_per_call=%.1f\n", (unsigned long long)n,
	       (unsigned long long)elapsed, (double)elapsed / (double)n);
	return 0;
}
