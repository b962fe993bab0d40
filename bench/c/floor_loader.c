// floor_loader: load and attach one program of floor.bpf.o with libbpf.
//
//   floor_loader OBJ PROG_NAME
//
// Disables autoload for every other program, loads, attaches PROG_NAME, prints
// "attached" (flushed) on stdout, then waits for SIGINT/SIGTERM. If the object has a
// ring buffer map named "events" and PROG_NAME writes to it (floor_printf), it consumes
// the ring buffer and writes each record as a text line "PID COMM" to stdout, and at
// exit prints "Lost N events" on stderr if the program counted drops in lost_map.
// Exit status 0 on a clean stop, 1 on any error.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define COMM_LEN 16

struct printf_rec {
	__u32 pid;
	char comm[COMM_LEN];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size < sizeof(struct printf_rec))
		return 0;
	const struct printf_rec *r = data;
	printf("%u %.*s\n", r->pid, COMM_LEN, r->comm);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: floor_loader OBJ PROG_NAME\n");
		return 1;
	}
	const char *obj_path = argv[1], *prog_name = argv[2];
	int uses_ringbuf = strcmp(prog_name, "floor_printf") == 0;
	struct bpf_object *obj = NULL;
	struct bpf_link *link = NULL;
	struct ring_buffer *rb = NULL;
	int rc = 1;

	libbpf_set_print(silent_print);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* stdout is a file or pipe: full buffering, flushed after each ring buffer batch */
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		fprintf(stderr, "floor_loader: open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}

	struct bpf_program *prog, *target = NULL;
	bpf_object__for_each_program(prog, obj) {
		int mine = strcmp(bpf_program__name(prog), prog_name) == 0;
		bpf_program__set_autoload(prog, mine);
		if (mine)
			target = prog;
	}
	if (!target) {
		fprintf(stderr, "floor_loader: no program %s in %s\n", prog_name, obj_path);
		goto out;
	}

	int err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "floor_loader: load: %s\n", strerror(-err));
		goto out;
	}

	/* FLOOR_UPROBE=PATH:FUNC: a uprobe program goes on that function (figure 8) */
	const char *uprobe = getenv("FLOOR_UPROBE");
	if (uprobe && strchr(uprobe, ':')) {
		static char path[4096];
		snprintf(path, sizeof(path), "%s", uprobe);
		char *func = strrchr(path, ':');
		*func++ = 0;
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = func,
			    .retprobe = strstr(prog_name, "uretprobe") != NULL);
		link = bpf_program__attach_uprobe_opts(target, -1, path, 0, &uo);
	} else {
		link = bpf_program__attach(target);
	}
	if (!link) {
		fprintf(stderr, "floor_loader: attach %s: %s\n", prog_name, strerror(errno));
		goto out;
	}

	if (uses_ringbuf) {
		struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
		if (!events) {
			fprintf(stderr, "floor_loader: no map 'events'\n");
			goto out;
		}
		rb = ring_buffer__new(bpf_map__fd(events), on_record, NULL, NULL);
		if (!rb) {
			fprintf(stderr, "floor_loader: ring_buffer__new: %s\n", strerror(errno));
			goto out;
		}
	}

	printf("attached\n");
	fflush(stdout);

	if (rb) {
		while (!stop) {
			int n = ring_buffer__poll(rb, 100);
			if (n < 0 && n != -EINTR) {
				fprintf(stderr, "floor_loader: ring_buffer__poll: %s\n", strerror(-n));
				goto out;
			}
			/* one write per batch of records, not per line, and none held back */
			if (n > 0)
				fflush(stdout);
		}
		ring_buffer__consume(rb);
		fflush(stdout);

		struct bpf_map *lost_map = bpf_object__find_map_by_name(obj, "lost_map");
		int ncpus = libbpf_num_possible_cpus();
		if (lost_map && ncpus > 0) {
			__u64 *vals = calloc(ncpus, sizeof(__u64));
			__u32 zero = 0;
			if (vals && bpf_map_lookup_elem(bpf_map__fd(lost_map), &zero, vals) == 0) {
				unsigned long long lost = 0;
				for (int i = 0; i < ncpus; i++)
					lost += vals[i];
				if (lost)
					fprintf(stderr, "Lost %llu events\n", lost);
			}
			free(vals);
		}
	} else {
		/* block the signals, then wait for them atomically: no lost wake-up */
		sigset_t block, old;
		sigemptyset(&block);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGTERM);
		sigprocmask(SIG_BLOCK, &block, &old);
		sigdelset(&old, SIGINT);
		sigdelset(&old, SIGTERM);
		while (!stop)
			sigsuspend(&old);
	}
	rc = 0;

out:
	fflush(stdout);
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return rc;
}
