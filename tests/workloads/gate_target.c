// Workload for the CI gate's tests and benchmark: twenty functions stage_00 .. stage_19, each
// doing a fixed amount of CPU work (a dependent chain of xorshift steps: its time follows the
// work, not a clock, as a real function's does). Built in several versions from this one file:
// GATE_SLOW_STAGE=N and GATE_SLOW_PCT=P make stage N do P % more work, a planted regression.
//
//   gate_target PASSES [UNITS [SPREAD]]
//       PASSES passes, each calling every stage once; stage i does UNITS * (1 + i % 4) steps
//       on average (default UNITS 10000). SPREAD % (default 0) varies each call's work
//       uniformly within +-SPREAD/2 %, from a per-process seed, as a function's inputs would.
//       Prints the in-process ground truth: per stage, calls and the mean and p50 of the
//       call's duration (CLOCK_MONOTONIC around the call).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "workload_clock.h"

#ifndef GATE_SLOW_STAGE
#define GATE_SLOW_STAGE -1
#endif
#ifndef GATE_SLOW_PCT
#define GATE_SLOW_PCT 0
#endif

#define PROBED __attribute__((noinline, noclone, used))
#define STAGES 20

static volatile uint64_t sink;

static inline uint64_t spin(uint64_t steps)
{
	uint64_t x = 88172645463325252ull;

	for (uint64_t i = 0; i < steps; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x)); /* one step at a time: no vectorizing the chain */
	}
	return x;
}

/* Stage N's work; the planted stage does GATE_SLOW_PCT % more. UNITS already carries the
 * call's random variation, so the planted change scales the whole distribution. */
#define STAGE(n)                                                                        \
	PROBED void stage_##n(uint64_t units)                                           \
	{                                                                               \
		uint64_t steps = units * (1 + (1##n - 100) % 4);                        \
		if ((1##n - 100) == GATE_SLOW_STAGE)                                    \
			steps = steps * (100 + GATE_SLOW_PCT) / 100;                    \
		sink += spin(steps);                                                    \
	}

STAGE(00) STAGE(01) STAGE(02) STAGE(03) STAGE(04) STAGE(05) STAGE(06) STAGE(07) STAGE(08) STAGE(09)
STAGE(10) STAGE(11) STAGE(12) STAGE(13) STAGE(14) STAGE(15) STAGE(16) STAGE(17) STAGE(18) STAGE(19)

static void (*const stages[STAGES])(uint64_t) = {
	stage_00, stage_01, stage_02, stage_03, stage_04, stage_05, stage_06, stage_07, stage_08, stage_09,
	stage_10, stage_11, stage_12, stage_13, stage_14, stage_15, stage_16, stage_17, stage_18, stage_19,
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long passes = argc > 1 ? atol(argv[1]) : 0;
	uint64_t units = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000;
	uint64_t spread = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
	uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	uint64_t *d;

	if (passes <= 0 || units == 0 || spread > 100) {
		fprintf(stderr, "usage: %s PASSES [UNITS [SPREAD_PCT <= 100]]\n", argv[0]);
		return 2;
	}
	d = calloc((size_t)passes * STAGES, sizeof(*d));
	if (!d)
		return 1;
	for (long p = 0; p < passes; p++)
		for (int s = 0; s < STAGES; s++) {
			uint64_t u, t0;

			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			u = seed % 1000; /* uniform 0..999 */
			t0 = now_ns();
			stages[s](units * (100000 - spread * 500 + spread * u) / 100000);
			d[(size_t)s * passes + p] = now_ns() - t0;
		}
	for (int s = 0; s < STAGES; s++) {
		uint64_t *ds = d + (size_t)s * passes, sum = 0;

		for (long p = 0; p < passes; p++)
			sum += ds[p];
		qsort(ds, (size_t)passes, sizeof(*ds), cmp_u64);
		printf("stage_%02d_calls=%ld\nstage_%02d_mean_ns=%.0f\nstage_%02d_p50_ns=%llu\n", s, passes, s,
		       (double)sum / (double)passes, s, (unsigned long long)ds[(passes - 1) / 2]);
	}
	printf("planted_stage=%d\nplanted_pct=%d\n", GATE_SLOW_STAGE, GATE_SLOW_PCT);
	free(d);
	return 0;
}
