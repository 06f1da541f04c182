// A CPU-bound program built without frame pointers (-fomit-frame-pointer) whose every sample
// lands at the end of a known call chain through a shared library:
//   main -> nofp_outer -> nofp_lib_middle (libnofp_lib.so) -> nofp_inner -> nofp_lib_leaf (the loop)
// Usage: nofp_target MS   (spins for about MS milliseconds of CPU, on threads too with THREADS)
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nofp_lib.h"
#include "workload_args.h"

static uint64_t sink;

__attribute__((noinline)) static uint64_t nofp_inner(uint64_t n)
{
	volatile uint64_t pad[8];

	pad[n % 8] = n;
	return nofp_lib_leaf(n) + pad[n % 8];
}

__attribute__((noinline)) static uint64_t nofp_outer(uint64_t n)
{
	volatile uint64_t pad[16];

	pad[n % 16] = n;
	return nofp_lib_middle(n, nofp_inner) + pad[n % 16];
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t ms_wanted;

static void *spin(void *arg)
{
	(void)arg;
	for (uint64_t n = 0; cpu_ms() < (double)ms_wanted; n++)
		sink += nofp_outer(n);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: nofp_target MS [THREADS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	pthread_t threads[8];
	uint64_t extra;

	if (argc < 2 || argc > 3)
		usage();
	ms_wanted = workload_parse_u64(argv[1], usage);
	extra = argc == 3 ? workload_parse_u64(argv[2], usage) : 0;
	if (extra > 8)
		usage();
	for (uint64_t i = 0; i < extra; i++)
		pthread_create(&threads[i], NULL, spin, NULL);
	spin(NULL);
	for (uint64_t i = 0; i < extra; i++)
		pthread_join(threads[i], NULL);
	return sink == 42;
}
