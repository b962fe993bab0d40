// Hand-written BPF programs: the C floor for each benchmark script.
//
// One program per script in figure 3, each with the same logic as the script, written
// the way a careful C programmer would: per-CPU maps for aggregations, lookup then
// in-place update, bpf_map_update_elem only for a missing key; printf goes through a
// BPF ring buffer with bpf_ringbuf_output(..., 0).
//
// Built with: clang -O2 -g -target bpf -c floor.bpf.c (libbpf's bpf_helpers.h).
// floor_loader loads exactly one of these programs by name.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_KEYS 4096 /* bpftrace's default map key limit */
#define COMM_LEN 16
#define STR_LEN 64

/* Tracepoint contexts, from /sys/kernel/tracing/events/syscalls/<event>/format. */
struct sys_enter_getppid_ctx {
	__u64 common;          /* common_type, common_flags, common_preempt_count, common_pid */
	__s32 syscall_nr;
};

struct sys_enter_openat_ctx {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__u64 dfd;
	const char *filename;  /* offset 24 */
	__u64 flags;
	__u64 mode;
};

/* ---- empty: the cost of running any program at all ---- */
SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_empty(void *ctx)
{
	return 0;
}

/* ---- count: @[comm] = count(); ---- */
struct comm_key {
	char comm[COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct comm_key);
	__type(value, __u64);
} count_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_count(void *ctx)
{
	struct comm_key key;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	__u64 *v = bpf_map_lookup_elem(&count_map, &key);
	if (v) {
		*v += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&count_map, &key, &one, BPF_NOEXIST);
	}
	return 0;
}

/* ---- single-value aggregations live in one-slot per-CPU arrays ---- */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sum_map SEC(".maps");

/* ---- sum: @ = sum(tid); ---- */
SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_sum(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&sum_map, &zero);
	if (v)
		*v += (__u32)bpf_get_current_pid_tgid();
	return 0;
}

/* ---- stats / avg: count and total, the average is computed in user space ---- */
struct avg_val {
	__u64 count;
	__u64 total;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct avg_val);
} stats_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct avg_val);
} avg_map SEC(".maps");

/* @ = stats(tid); */
SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_stats(void *ctx)
{
	__u32 zero = 0;
	struct avg_val *v = bpf_map_lookup_elem(&stats_map, &zero);
	if (v) {
		v->count += 1;
		v->total += (__u32)bpf_get_current_pid_tgid();
	}
	return 0;
}

/* @ = avg(tid); */
SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_avg(void *ctx)
{
	__u32 zero = 0;
	struct avg_val *v = bpf_map_lookup_elem(&avg_map, &zero);
	if (v) {
		v->count += 1;
		v->total += (__u32)bpf_get_current_pid_tgid();
	}
	return 0;
}

/* ---- hist: @ = hist(nsecs & 1023); bucket numbering as bpftrace's log2 ---- */
#define HIST_SLOTS 66

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hist_map SEC(".maps");

static __always_inline __u32 log2_bucket(__s64 n)
{
	/* bucket 0: negative, 1: zero, k+2: [2^k, 2^(k+1)) */
	if (n < 0)
		return 0;
	if (n == 0)
		return 1;
	__u64 v = n;
	__u32 r = 0;
	if (v >= (1ull << 32)) { v >>= 32; r += 32; }
	if (v >= (1ull << 16)) { v >>= 16; r += 16; }
	if (v >= (1ull << 8))  { v >>= 8;  r += 8; }
	if (v >= (1ull << 4))  { v >>= 4;  r += 4; }
	if (v >= (1ull << 2))  { v >>= 2;  r += 2; }
	if (v >= (1ull << 1))  { r += 1; }
	return r + 2;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_hist(void *ctx)
{
	__u32 slot = log2_bucket((__s64)(bpf_ktime_get_ns() & 1023));
	__u64 *v = bpf_map_lookup_elem(&hist_map, &slot);
	if (v)
		*v += 1;
	return 0;
}

/* ---- lhist: @ = lhist(nsecs & 1023, 0, 1024, 64); ---- */
#define LH_MIN 0
#define LH_MAX 1024
#define LH_STEP 64
#define LH_SLOTS ((LH_MAX - LH_MIN) / LH_STEP + 2)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LH_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} lhist_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_lhist(void *ctx)
{
	__s64 n = bpf_ktime_get_ns() & 1023;
	__u32 slot;
	if (n < LH_MIN)
		slot = 0;
	else if (n >= LH_MAX)
		slot = LH_SLOTS - 1;
	else
		slot = (n - LH_MIN) / LH_STEP + 1;
	__u64 *v = bpf_map_lookup_elem(&lhist_map, &slot);
	if (v)
		*v += 1;
	return 0;
}

/* ---- printf("%d %s\n", pid, comm); through a ring buffer ---- */
struct printf_rec {
	__u32 pid;
	char comm[COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* 4 MiB, the size rtrace uses */
} events SEC(".maps");

/* events that did not fit in the ring buffer, reported as "Lost N events" */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_printf(void *ctx)
{
	struct printf_rec rec;
	rec.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&rec.comm, sizeof(rec.comm));
	if (bpf_ringbuf_output(&events, &rec, sizeof(rec), 0)) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&lost_map, &zero);
		if (lost)
			*lost += 1;
	}
	return 0;
}

/* ---- tuple key: @[pid, comm] = count(); ---- */
struct tuple_key {
	__u32 pid;
	char comm[COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct tuple_key);
	__type(value, __u64);
} tuple_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int floor_tuple(void *ctx)
{
	struct tuple_key key;
	key.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	__u64 *v = bpf_map_lookup_elem(&tuple_map, &key);
	if (v) {
		*v += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&tuple_map, &key, &one, BPF_NOEXIST);
	}
	return 0;
}

/* ---- str key, on sys_enter_openat: @[str(args.filename)] = count(); ---- */
struct str_key {
	char s[STR_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct str_key);
	__type(value, __u64);
} str_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int floor_str(struct sys_enter_openat_ctx *ctx)
{
	struct str_key key;
	/* the bytes after the terminating NUL are part of the key: they must be zero */
	__builtin_memset(&key, 0, sizeof(key));
	bpf_probe_read_user_str(&key.s, sizeof(key.s), ctx->filename);
	__u64 *v = bpf_map_lookup_elem(&str_map, &key);
	if (v) {
		*v += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&str_map, &key, &one, BPF_NOEXIST);
	}
	return 0;
}

/* Figure 8: `uprobe:ufunc:rtrace_bench_fn { @ = count(); }` and the uretprobe. floor_loader
 * attaches them to the binary and function named by FLOOR_UPROBE=PATH:FUNC. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ucount_map SEC(".maps");

static __always_inline int ucount(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&ucount_map, &zero);
	if (v)
		*v += 1;
	return 0;
}

SEC("uprobe")
int floor_uprobe(void *ctx)
{
	return ucount();
}

SEC("uretprobe")
int floor_uretprobe(void *ctx)
{
	return ucount();
}
