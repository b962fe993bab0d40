/* The program watchpoint tests watch: after a second (or as many as its argument says), it
 * adds to a global three times, 0.1 s apart, then has rtrace_increment add to another one three times,
 * through a pointer argument. Built without PIE, so the global's address is the one `nm`
 * prints. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

volatile long rtrace_watched;
long rtrace_counter;

__attribute__((noinline)) void rtrace_increment(int unused, long *p)
{
	(void)unused;
	(*(volatile long *)p)++;
}

int main(int argc, char **argv)
{
	sleep(argc > 1 ? atoi(argv[1]) : 1);
	for (int i = 0; i < 3; i++) {
		rtrace_watched += 5;
		usleep(100000);
	}
	for (int i = 0; i < 3; i++) {
		rtrace_increment(0, &rtrace_counter);
		usleep(100000);
	}
	printf("%ld %ld\n", rtrace_watched, rtrace_counter);
	sleep(1);
	return 0;
}
