/* What tests/e2e/cdefs.test reads through the C definitions of its scripts: one call of
 * rtrace_visit with a struct of each shape (pointers, unions, bit fields, packed, nested,
 * arrays) and an enum value. */
#include <string.h>

struct point {
	int x;
	char name[10];
	struct point *next;
};
union word {
	unsigned int u;
	unsigned char b[4];
};
struct flags {
	unsigned int a : 4, b : 8, c : 3, d : 1, e : 16;
};
struct packed_rec {
	char tag;
	long value;
} __attribute__((packed));
struct nested {
	int m;
	struct {
		short lo, hi;
	} range;
	unsigned long long big[2];
};
enum color { RED = 1, GREEN, BLUE = 10 };

__attribute__((noinline)) int rtrace_visit(struct point *p, union word *w, struct flags *f, struct packed_rec *r, struct nested *n, enum color c)
{
	asm volatile("" ::: "memory");
	return p->x + w->b[0] + f->a + r->tag + n->m + c;
}

int main(void)
{
	struct point tail = { .x = 2, .next = 0 };
	struct point head = { .x = 1, .next = &tail };
	union word w = { .u = 0x04030201 };
	struct flags f = { .a = 1, .b = 2, .c = 5, .d = 0, .e = 65535 };
	struct packed_rec r = { .tag = 'k', .value = -7 };
	struct nested n = { .m = 3, .range = { .lo = -2, .hi = 300 }, .big = { 5, 1ULL << 40 } };
	strcpy(head.name, "head");
	strcpy(tail.name, "tail");
	return rtrace_visit(&head, &w, &f, &r, &n, GREEN) > 1000;
}
