// soakgen: make getppid calls at a steady rate for a while, sleeping between batches.
//
//   soakgen -r RATE_PER_SEC -t SECONDS
//
// Unlike loadgen (which busy-waits for exact pacing), soakgen sleeps until each 1 ms slot
// (clock_nanosleep, TIMER_ABSTIME): a half-hour soak on a shared machine must not hold a
// core for nothing. Each slot makes its share of the calls at once, so the rate is exact
// over any second; if the machine falls behind, later slots catch up.
// Prints one line at the end: calls=N ns=ELAPSED
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
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
	double rate = 0, seconds = 0;
	int c;

	while ((c = getopt(argc, argv, "r:t:")) != -1) {
		switch (c) {
		case 'r': rate = strtod(optarg, NULL); break;
		case 't': seconds = strtod(optarg, NULL); break;
		default:
			fprintf(stderr, "usage: soakgen -r RATE_PER_SEC -t SECONDS\n");
			return 2;
		}
	}
	if (rate <= 0 || seconds <= 0) {
		fprintf(stderr, "usage: soakgen -r RATE_PER_SEC -t SECONDS\n");
		return 2;
	}
	const uint64_t slot_ns = 1000000;
	const uint64_t total = (uint64_t)(rate * seconds);
	uint64_t start = now_ns(), done = 0;
	for (uint64_t slot = 1; done < total; slot++) {
		// Calls owed by the end of this slot.
		uint64_t owed = (uint64_t)(rate * (double)(slot * slot_ns) / 1e9);
		if (owed > total)
			owed = total;
		for (; done < owed; done++)
			syscall(SYS_getppid);
		uint64_t wake = start + slot * slot_ns;
		struct timespec ts = { .tv_sec = wake / 1000000000ull, .tv_nsec = wake % 1000000000ull };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	printf("calls=%llu ns=%llu\n", (unsigned long long)done, (unsigned long long)(now_ns() - start));
	return 0;
}
