// ufunc: calls one function N times, for uprobe benchmarks (figure 8).
//
//   ufunc -n N
//
// prints "calls=N ns=T ns_per_call=X" (loadgen's format) on stdout. The function,
// rtrace_bench_fn, is not inlined and does almost nothing: traced minus untraced
// ns_per_call is the cost of the probe.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) long rtrace_bench_fn(long x)
{
	__asm__ volatile("" : "+r"(x));
	return x + 1;
}

int main(int argc, char **argv)
{
	long n = 0, acc = 0;
	int c;
	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n')
			n = atol(optarg);
		else {
			fprintf(stderr, "usage: ufunc -n N\n");
			return 2;
		}
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		acc += rtrace_bench_fn(i);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("calls=%ld ns=%lld ns_per_call=%.1f\n", n, ns, n ? (double)ns / n : 0.0);
	return acc == 42 ? 1 : 0;
}
