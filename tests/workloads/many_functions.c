// 5000 distinct functions fn_10000 .. fn_14999, more than the 4096 perfbpf once refused to
// probe at once. Each returns x + its number, so none is folded into another (identical code
// folding), and main calls fn_N exactly 1 + (N - 10000) % 97 times, so a probe id whose counts
// landed on another function shows.
//   many_functions             calls them all, prints calls=TOTAL
//   many_functions wait        waits for a line on stdin first (attach by pid)
#include <stdio.h>
#include <string.h>

#define F(n) __attribute__((noinline, used)) int fn_##n(volatile int x) { return x + n; }
#define F10(p) F(p##0) F(p##1) F(p##2) F(p##3) F(p##4) F(p##5) F(p##6) F(p##7) F(p##8) F(p##9)
#define F100(p) F10(p##0) F10(p##1) F10(p##2) F10(p##3) F10(p##4) F10(p##5) F10(p##6) F10(p##7) F10(p##8) F10(p##9)
#define F1000(p) F100(p##0) F100(p##1) F100(p##2) F100(p##3) F100(p##4) F100(p##5) F100(p##6) F100(p##7) F100(p##8) F100(p##9)
F1000(10) F1000(11) F1000(12) F1000(13) F1000(14)

#define R(n) fn_##n,
#define R10(p) R(p##0) R(p##1) R(p##2) R(p##3) R(p##4) R(p##5) R(p##6) R(p##7) R(p##8) R(p##9)
#define R100(p) R10(p##0) R10(p##1) R10(p##2) R10(p##3) R10(p##4) R10(p##5) R10(p##6) R10(p##7) R10(p##8) R10(p##9)
#define R1000(p) R100(p##0) R100(p##1) R100(p##2) R100(p##3) R100(p##4) R100(p##5) R100(p##6) R100(p##7) R100(p##8) R100(p##9)
static int (*const functions[])(volatile int) = {R1000(10) R1000(11) R1000(12) R1000(13) R1000(14)};

int main(int argc, char **argv)
{
	long long calls = 0;
	volatile int sink = 0;

	if (argc > 1 && !strcmp(argv[1], "wait")) {
		char line[16];
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof line, stdin))
			return 2;
	}
	for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++)
		for (size_t n = 0; n <= i % 97; n++, calls++)
			sink += functions[i](1);
	printf("calls=%lld\n", calls);
	return sink == 0;
}
