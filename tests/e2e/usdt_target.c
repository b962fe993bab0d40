// USDT probes for the e2e tests (tests/e2e/usdt.test), written with systemtap's <sys/sdt.h>
// as real programs write them. Built at -O2, so the compiler picks the argument locations the
// notes describe: registers, stack slots, constants.
//
//   rtrace_test:tick(i, -i, "name", i*i)  five times, i = 1..5, from a loop
//   rtrace_test:constants(7, -3)     once, constant arguments
//   rtrace_test:guarded(i)           once per loop turn, only while a tracer has set the
//                                    probe's semaphore (the program checks it, as libraries do
//                                    before costly argument set-up)
//   rtrace_test:stacked(100..107)    once, eight arguments read from stack memory (one
//                                    program argument: base 100)
//
// Prints how many times the guarded probe's semaphore was seen set, on stderr (stdout is the
// tracer's). `arg1` (if given) is the
// number of seconds to sleep first, so a test can attach with -p.
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <unistd.h>

// With _SDT_HAS_SEMAPHORES every probe of this file has a semaphore; only `guarded` checks its.
#define SEMAPHORE(name) unsigned short rtrace_test_##name##_semaphore __attribute__((unused)) __attribute__((section(".probes")))
SEMAPHORE(tick);
SEMAPHORE(constants);
SEMAPHORE(guarded);
SEMAPHORE(stacked);

static const char *names[] = {"one", "two", "three", "four", "five"};
// Mutable, so the compiler reads it from memory: an indexed operand like `8@(%rdi,%rdx,8)`.
long squares[] = {0, 1, 4, 9, 16, 25};

// Arguments the compiler reads from stack memory (volatile: they stay in memory).
__attribute__((noinline)) static long stacked(long base) {
    volatile long x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = base + i;
    }
    DTRACE_PROBE8(rtrace_test, stacked, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
    return x[0] + x[7];
}

int main(int argc, char **argv) {
    if (argc > 1) {
        sleep(atoi(argv[1]));
    }
    int seen = 0;
    for (volatile int i = 1; i <= 5; i++) {
        int v = i;
        // Touch the name first: a page the program never read is not mapped yet, and a probe
        // cannot fault it in (str() would read nothing).
        volatile char first = names[v - 1][0];
        (void)first;
        DTRACE_PROBE4(rtrace_test, tick, v, -v, names[v - 1], squares[v]);
        if (rtrace_test_guarded_semaphore) {
            seen++;
            DTRACE_PROBE1(rtrace_test, guarded, v);
        }
    }
    DTRACE_PROBE2(rtrace_test, constants, 7, -3);
    long s = stacked(argc * 100);
    fprintf(stderr, "semaphore seen %d times, sum %ld\n", seen, s);
    return 0;
}
