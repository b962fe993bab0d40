// The C++ program uprobe tests trace: a method in a namespace, called three times, whose
// symbol is mangled (_ZN6rtrace7Counter3addEi).
#include <cstdio>

namespace rtrace {
struct Counter {
	int total = 0;
	__attribute__((noinline)) int add(int n)
	{
		__asm__ volatile("" ::: "memory");
		total += n;
		return total;
	}
};
} // namespace rtrace

int main()
{
	rtrace::Counter c;
	for (int i = 1; i <= 3; i++)
		c.add(i);
	std::printf("%d\n", c.total);
	return 0;
}
