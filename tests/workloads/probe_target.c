// A probed function called between stretches of the program's own work, for the tests of what
// sampling shows of a probe's cost. Built by gcc without a patchable entry, the probe on
// probed() (first instruction RIP-relative) is single-stepped out of line.
//
//   probe_target N SPIN [FILE]  N times: own_work() SPIN iterations, then probed(); prints the
//                               thread's CPU time over the loop (CLOCK_THREAD_CPUTIME_ID: user
//                               and kernel time, the probes' traps included) as thread_cpu_ns,
//                               on stdout or into FILE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "workload_args.h"

#define PROBED __attribute__((noinline, noclone, used))

static volatile uint64_t sink;

PROBED void probed(uint64_t i)
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
	uint64_t n, spin, start;
	FILE *out = stdout;

	if (argc != 3 && argc != 4)
		usage();
	if (argc == 4 && !(out = fopen(argv[3], "w"))) {
		perror(argv[3]);
		return 1;
	}
	n = workload_parse_u64(argv[1], usage);
	spin = workload_parse_u64(argv[2], usage);
	start = thread_cpu_ns();
	for (uint64_t i = 0; i < n; i++) {
		own_work(spin);
		probed(i);
	}
	fprintf(out, "calls=%" PRIu64 " thread_cpu_ns=%" PRIu64 "\n", n, thread_cpu_ns() - start);
	return fclose(out) ? 1 : 0;
}
