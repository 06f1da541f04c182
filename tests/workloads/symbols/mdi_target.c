// Fixture for MiniDebugInfo: its static functions are named only in .gnu_debugdata once the
// build has stripped it the way Fedora does (make_minidebuginfo.sh).
//   mdi_target N      N calls of hidden_work (a static function) through exported_work
//   mdi_target spin MS    burns MS milliseconds of CPU time in hidden_spin (for stack samples;
//                         CPU time, not wall time, so a busy machine does not thin the samples)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile long mdi_sink;

__attribute__((noinline)) static void hidden_work(long n)
{
	for (long i = 0; i < n; i++)
		mdi_sink += i;
}

__attribute__((noinline)) static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void hidden_spin(long ms)
{
	double end = cpu_ms() + ms;
	while (cpu_ms() < end)
		for (int i = 0; i < 10000; i++)
			mdi_sink += i;
}

__attribute__((noinline)) void exported_work(long n) { hidden_work(n); }

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "spin")) {
		hidden_spin(atol(argv[2]));
		printf("spun %s ms\n", argv[2]);
		return 0;
	}
	long n = argc > 1 ? atol(argv[1]) : 100;
	for (long i = 0; i < n; i++)
		exported_work(1000);
	printf("hidden_work_calls=%ld\n", n);
	return 0;
}
