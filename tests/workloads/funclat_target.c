// Workload with exactly known call patterns for the [bpf] tests. Each mode prints its ground
// truth as "key=value" lines on stdout so tests compare perfbpf's numbers against it.
//
//   funclat_target count N          leaf() called N times
//   funclat_target recurse DEPTH    recurse() nested DEPTH deep (DEPTH calls)
//   funclat_target threads T N      T threads each call thread_work() N times
//   funclat_target timed N US       timed_work() N times, each spinning US microseconds;
//                                   prints the in-process p50 of the body duration in ns
//   funclat_target lib N            workload_lib_call() (shared library) N times
//   funclat_target fork N           a forked child calls leaf() N times; the parent N times;
//                                   then an exec'd child runs "count N"
//   funclat_target exit-inside      calls exit() from inside stuck_in_call()
//   funclat_target wait N           waits for a line on stdin, then "count N"
//   funclat_target wait-fork N      waits for a line on stdin, then "fork N"
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "workload_clock.h"
#include <unistd.h>

#define PROBED __attribute__((noinline, noclone, used))

uint64_t workload_lib_call(uint64_t x);

static volatile uint64_t sink;

PROBED void leaf(uint64_t i)
{
	sink += i;
}

PROBED uint64_t recurse(int depth)
{
	uint64_t r = depth <= 1 ? 1 : recurse(depth - 1) + 1;

	__asm__ volatile("" : "+r"(r) : : "memory"); /* no tail call: every level returns */
	return r;
}

PROBED void thread_work(uint64_t i)
{
	sink += i;
}

/* Returns the body's own duration, measured inside the function. */
PROBED uint64_t timed_work(uint64_t spin_ns)
{
	uint64_t start = now_ns(), end;

	do
		end = now_ns();
	while (end - start < spin_ns);
	return end - start;
}

PROBED void stuck_in_call(void)
{
	fflush(stdout);
	exit(0);
}

static void run_count(long n)
{
	for (long i = 0; i < n; i++)
		leaf((uint64_t)i);
	printf("leaf_calls=%ld\n", n);
}

static void *thread_main(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++)
		thread_work((uint64_t)i);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void run_timed(long n, long us)
{
	uint64_t *d = calloc((size_t)n, sizeof(*d));

	if (!d)
		exit(1);
	for (long i = 0; i < n; i++)
		d[i] = timed_work((uint64_t)us * 1000);
	qsort(d, (size_t)n, sizeof(*d), cmp_u64);
	printf("timed_calls=%ld\ntimed_body_p50_ns=%llu\n", n, (unsigned long long)d[(n - 1) / 2]);
	free(d);
}

static void run_fork(const char *self, long n)
{
	char arg[32];
	pid_t child = fork();

	if (child == 0) {
		run_count(n);
		fflush(stdout);
		_exit(0);
	}
	run_count(n);
	waitpid(child, NULL, 0);
	child = fork();
	if (child == 0) {
		snprintf(arg, sizeof(arg), "%ld", n);
		execl(self, self, "count", arg, (char *)NULL);
		_exit(127);
	}
	waitpid(child, NULL, 0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long a = argc > 2 ? atol(argv[2]) : 0;
	long b = argc > 3 ? atol(argv[3]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "count")) {
		run_count(a);
	} else if (!strcmp(mode, "recurse")) {
		printf("recurse_result=%llu\n", (unsigned long long)recurse((int)a));
	} else if (!strcmp(mode, "threads")) {
		pthread_t t[64];

		if (a < 1 || a > 64)
			return 2;
		for (long i = 0; i < a; i++)
			pthread_create(&t[i], NULL, thread_main, (void *)b);
		for (long i = 0; i < a; i++)
			pthread_join(t[i], NULL);
		printf("thread_work_calls=%ld\n", a * b);
	} else if (!strcmp(mode, "timed")) {
		run_timed(a, b);
	} else if (!strcmp(mode, "lib")) {
		uint64_t x = 0;

		for (long i = 0; i < a; i++)
			x = workload_lib_call(x);
		sink = x;
		printf("lib_calls=%ld\n", a);
	} else if (!strcmp(mode, "fork")) {
		run_fork(argv[0], a);
	} else if (!strcmp(mode, "exit-inside")) {
		stuck_in_call();
	} else if (!strcmp(mode, "wait") || !strcmp(mode, "wait-fork")) {
		char line[16];

		printf("ready pid=%d\n", getpid());
		if (!fgets(line, sizeof(line), stdin))
			return 3;
		if (!strcmp(mode, "wait"))
			run_count(a);
		else
			run_fork(argv[0], a);
	} else {
		fprintf(stderr, "usage: %s count|recurse|threads|timed|lib|fork|exit-inside|wait|wait-fork ...\n",
			argv[0]);
		return 2;
	}
	return 0;
}
