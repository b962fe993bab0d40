/* The program uprobe tests trace: rtrace_add is called five times with known arguments, from
 * rtrace_outer (so a user stack has two named frames); rtrace_with_callback gets a function
 * pointer; rtrace_many takes stack arguments. With an argument N it then sleeps N
 * seconds, so its stacks can still be symbolized when the trace prints them. rtrace_calls
 * counts rtrace_add's calls, for uaddr(). */
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

int main(int argc, char **argv)
{
	printf("%ld\n", rtrace_many(1, 2, 3, 4, 5, 6, 7, 8));
	printf("%d %d\n", rtrace_outer(), rtrace_with_callback(rtrace_sub));
	fflush(stdout);
	if (argc > 1)
		sleep(atoi(argv[1]));
	return 0;
}
