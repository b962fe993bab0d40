/* The program uprobe tests trace: rtrace_add is called five times with known arguments. */
#include <stdio.h>

__attribute__((noinline)) int rtrace_add(int a, int b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

int main(void)
{
	int s = 0;
	for (int i = 0; i < 5; i++)
		s = rtrace_add(s, i * 10);
	printf("%d\n", s);
	return 0;
}
