/* The program uprobe tests trace: rtrace_add is called five times with known arguments, from
 * rtrace_outer (so a user stack has two named frames); rtrace_with_callback gets a function
 * pointer; rtrace_many takes stack arguments. With an argument N it then sleeps N
 * seconds, so its stacks can still be symbolized when the trace prints them. rtrace_calls
 * counts rtrace_add's calls, for uaddr(). inl_leaf is called from inl_wrapper, inlined into
 * main. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Calls of rtrace_add so far, for uaddr(). */
volatile int rtrace_calls;

__attribute__((noinline)) int rtrace_add(int a, int b)
{
	__asm__ volatile("" ::: "memory");
	rtrace_calls++;
	return a + b;
}

__attribute__((noinline)) int rtrace_outer(void)
{
	int s = 0;
	for (int i = 0; i < 5; i++)
		s = rtrace_add(s, i * 10);
	__asm__ volatile("" ::: "memory");
	return s;
}

/* Takes a function pointer, for usym(). */
__attribute__((noinline)) int rtrace_sub(int a, int b)
{
	__asm__ volatile("" ::: "memory");
	return a - b;
}

__attribute__((noinline)) int rtrace_with_callback(int (*cb)(int, int))
{
	__asm__ volatile("" ::: "memory");
	return cb(7, 2);
}

/* Eight arguments: the last two are passed on the stack (sarg0, sarg1). */
__attribute__((noinline)) long rtrace_many(long a, long b, long c, long d, long e, long f, long g, long h)
{
	__asm__ volatile("" ::: "memory");
	return a + b + c + d + e + f + g + h;
}

/* Called through inl_mid from a function inlined into main, for stacks that show inlined
 * frames (show_debug_info), when built with -g. */
volatile int inl_sink;

__attribute__((noinline)) int inl_leaf(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

/* Has a frame of its own: a stack taken at inl_leaf's entry goes on from its caller. */
__attribute__((noinline)) int inl_mid(int x)
{
	int r = inl_leaf(x);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

static inline __attribute__((always_inline)) int inl_wrapper(int x)
{
	return inl_mid(x) * 2;
}

int main(int argc, char **argv)
{
	inl_sink = inl_wrapper(argc);
	printf("%ld\n", rtrace_many(1, 2, 3, 4, 5, 6, 7, 8));
	printf("%d %d\n", rtrace_outer(), rtrace_with_callback(rtrace_sub));
	fflush(stdout);
	if (argc > 1)
		sleep(atoi(argv[1]));
	return 0;
}
