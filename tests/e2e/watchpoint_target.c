/* The program watchpoint tests watch: after a second (or as many as its argument says), it
 * adds to a global three times, 0.1 s apart, then has rtrace_increment add to another one three times,
 * through a pointer argument. With a second argument it does so in a thread: `late` creates
 * it after the wait (after rtrace attached), `early` before. Built without PIE, so the
 * global's address is the one `nm` prints. */
#include <pthread.h>
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

static unsigned wait_s = 1;

static void *work(void *early)
{
	if (early)
		sleep(wait_s);
	for (int i = 0; i < 3; i++) {
		rtrace_watched += 5;
		usleep(100000);
	}
	for (int i = 0; i < 3; i++) {
		rtrace_increment(0, &rtrace_counter);
		usleep(100000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	wait_s = argc > 1 ? atoi(argv[1]) : 1;
	if (argc > 2 && argv[2][0] == 'e') {
		pthread_create(&t, NULL, work, &wait_s);
		pthread_join(t, NULL);
	} else {
		sleep(wait_s);
		if (argc > 2) {
			pthread_create(&t, NULL, work, NULL);
			pthread_join(t, NULL);
		} else {
			work(NULL);
		}
	}
	printf("%ld %ld\n", rtrace_watched, rtrace_counter);
	sleep(1);
	return 0;
}
