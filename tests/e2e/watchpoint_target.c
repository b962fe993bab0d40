/* The program watchpoint tests watch: after a second, it adds to a global three times. Built
 * without PIE, so the global's address is the one `nm` prints. */
#include <stdio.h>
#include <unistd.h>

volatile long rtrace_watched;

int main(void)
{
	sleep(1);
	for (int i = 0; i < 3; i++)
		rtrace_watched += 5;
	printf("%ld\n", rtrace_watched);
	sleep(1);
	return 0;
}
