// A probed function called between stretches of the program's own work, for the tests of what
// sampling shows of a probe's cost. Built by gcc without a patchable entry, the probe on
// probed() (first instruction RIP-relative) is single-stepped out of line.
//
//   probe_target N SPIN [FILE]  N times: own_work() SPIN iterations, then probed(); and N times
//                               the same with twin(), probed()'s unprobed copy. The two kinds run
//                               in alternating rounds of ROUND calls, so both see the same machine
//                               (a busy neighbour slows both alike). Prints, on stdout or into FILE,
//                               the thread's CPU time (CLOCK_THREAD_CPUTIME_ID: user and kernel
//                               time, the probes' traps included) of each kind: probed_ns, twin_ns,
//                               the number of rounds, and diff_sd_ns, the standard deviation of a
//                               round's probed - twin difference (the noise of probed_ns - twin_ns
//                               is diff_sd_ns * sqrt(rounds)).
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "workload_args.h"

#define PROBED __attribute__((noinline, noclone, used))
// noipa: gcc must not fold the identical twin into probed() (-fipa-icf), or twin's calls would
// be probed too.
#define TWIN __attribute__((noipa, used))
#define ROUND 250

static volatile uint64_t sink;

PROBED void probed(uint64_t i)
{
	sink += i;
}

TWIN void twin(uint64_t i)
{
	sink += i;
}

PROBED void own_work(uint64_t spin)
{
	for (uint64_t i = 0; i < spin; i++)
		sink++;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: probe_target N SPIN [FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t n, spin, probed_ns = 0, twin_ns = 0, rounds = 0;
	double diff_sum = 0, diff_sq = 0;
	FILE *out = stdout;

	if (argc != 3 && argc != 4)
		usage();
	if (argc == 4 && !(out = fopen(argv[3], "w"))) {
		perror(argv[3]);
		return 1;
	}
	n = workload_parse_u64(argv[1], usage);
	spin = workload_parse_u64(argv[2], usage);
	for (uint64_t done = 0; done < n; done += ROUND, rounds++) {
		uint64_t calls = n - done < ROUND ? n - done : ROUND;
		uint64_t t0 = thread_cpu_ns(), t1, t2;

		for (uint64_t i = 0; i < calls; i++) {
			own_work(spin);
			probed(i);
		}
		t1 = thread_cpu_ns();
		for (uint64_t i = 0; i < calls; i++) {
			own_work(spin);
			twin(i);
		}
		t2 = thread_cpu_ns();
		probed_ns += t1 - t0;
		twin_ns += t2 - t1;
		double d = (double)(t1 - t0) - (double)(t2 - t1);
		diff_sum += d;
		diff_sq += d * d;
	}
	double mean = rounds ? diff_sum / rounds : 0;
	double sd = rounds > 1 ? sqrt(fmax(0, (diff_sq - rounds * mean * mean) / (rounds - 1))) : 0;
	fprintf(out, "calls=%" PRIu64 " probed_ns=%" PRIu64 " twin_ns=%" PRIu64 " rounds=%" PRIu64 " diff_sd_ns=%.0f\n",
		n, probed_ns, twin_ns, rounds, sd);
	return fclose(out) ? 1 : 0;
}
