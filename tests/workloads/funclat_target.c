// Workload with exactly known call patterns for the [bpf] tests. Each mode prints its ground
// truth as "key=value" lines on stdout so tests compare perfbpf's numbers against it.
//
//   funclat_target count N          leaf() called N times
//   funclat_target recurse DEPTH    recurse() nested DEPTH deep (DEPTH calls)
//   funclat_target threads T N      T threads each call thread_work() N times
//   funclat_target timed N US       timed_work() N times, each spinning US microseconds;
//                                   prints the in-process p50 of the body duration in ns
//                                   and the loop's whole time
//   funclat_target lib N            workload_lib_call() (shared library) N times
//   funclat_target fork N           a forked child calls leaf() N times; the parent N times;
//                                   then an exec'd child runs "count N"
//   funclat_target exit-inside      calls exit() from inside stuck_in_call()
//   funclat_target wait N           waits for a line on stdin, then "count N"
//   funclat_target wait-fork N      waits for a line on stdin, then "fork N"
//   funclat_target wait-loop N      waits for a line on stdin, then times N calls of leaf()
//                                   and prints the mean cost of one call (bench/)
//   funclat_target wait-timed N US  waits for a line on stdin, then "timed N US"
//   funclat_target wait-lib N       waits for a line on stdin, then "lib N"
//   funclat_target shares MS        spends MS ms of CPU time, 3/4 in spin_three(), 1/4 in
//                                   spin_one(), and prints each one's CPU time
//   funclat_target syscalls MS      spends MS ms of CPU time in getppid() system calls from
//                                   in_syscalls()
//   funclat_target sleep N MS       sleeper() sleeps N times MS ms (nanosleep), timed in-process
//   funclat_target jit N            runs N iterations of a loop it wrote into anonymous memory,
//                                   announced in /tmp/perf-PID.map as jit_spin (x86-64)
//   funclat_target inlined MS       MS ms of CPU time in hot_inner(), inlined into
//                                   outer_with_inlined()
//   funclat_target detect-probe     calls leaf() until one call is slow (a probe was
//                                   attached) and prints when, CLOCK_MONOTONIC ns (bench/)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
	uint64_t *d = calloc((size_t)n, sizeof(*d)), start;

	if (!d)
		exit(1);
	start = now_ns();
	for (long i = 0; i < n; i++)
		d[i] = timed_work((uint64_t)us * 1000);
	printf("timed_loop_ns=%llu\n", (unsigned long long)(now_ns() - start));
	qsort(d, (size_t)n, sizeof(*d), cmp_u64);
	uint64_t sum = 0;

	for (long i = 0; i < n; i++)
		sum += d[i];
	printf("timed_calls=%ld\ntimed_body_p50_ns=%llu\ntimed_body_mean_ns=%.0f\n", n,
	       (unsigned long long)d[(n - 1) / 2], (double)sum / (double)n);
	free(d);
}

static void run_loop(long n)
{
	uint64_t start = now_ns();

	for (long i = 0; i < n; i++)
		leaf((uint64_t)i);
	printf("loop_calls=%ld\nloop_ns_per_call=%.4f\n", n, (double)(now_ns() - start) / (double)n);
}

/*
 * An unprobed leaf() takes a few ns; a probed one at least half a microsecond. Three slow
 * calls in a row, not one (an interrupt can make one call slow), mark the probe's arrival.
 */
static int detect_probe(void)
{
	uint64_t deadline = now_ns() + 30ull * 1000000000u, first_slow = 0;
	int slow_in_a_row = 0;

	for (uint64_t i = 0;; i++) {
		uint64_t t0 = now_ns(), t1;

		leaf(i);
		t1 = now_ns();
		if (t1 - t0 > 300) {
			if (slow_in_a_row++ == 0)
				first_slow = t0;
			if (slow_in_a_row == 3) {
				printf("first_probed_ns=%llu\n", (unsigned long long)first_slow);
				return 0;
			}
		} else {
			slow_in_a_row = 0;
		}
		if (t1 > deadline)
			return 4;
	}
}

/*
 * Pure loops, no library calls: libc is built without frame pointers, so a sample inside
 * clock_gettime() would lose the frames above it.
 */
PROBED void spin_three(uint64_t iterations)
{
	for (uint64_t i = 0; i < iterations; i++)
		sink++;
}

PROBED void spin_one(uint64_t iterations)
{
	for (uint64_t i = 0; i < iterations; i++)
		sink++;
}

static void run_shares(long ms)
{
	uint64_t three = 0, one = 0, end, per_ms, t0 = thread_cpu_ns();

	spin_one(1000000);
	per_ms = 1000000000000ull / (thread_cpu_ns() - t0 + 1); /* iterations per ms */
	end = thread_cpu_ns() + (uint64_t)ms * 1000000u;
	while (thread_cpu_ns() < end) {
		uint64_t t1, t2;

		t0 = thread_cpu_ns();
		spin_three(3 * per_ms);
		t1 = thread_cpu_ns();
		spin_one(per_ms);
		t2 = thread_cpu_ns();
		three += t1 - t0;
		one += t2 - t1;
	}
	printf("spin_three_ns=%llu\nspin_one_ns=%llu\n", (unsigned long long)three, (unsigned long long)one);
}

PROBED void in_syscalls(uint64_t ms)
{
	uint64_t end = thread_cpu_ns() + ms * 1000000u;

	while (thread_cpu_ns() < end) {
		for (int i = 0; i < 1000; i++) {
			/*
			 * The instruction itself, not libc's syscall(): libc has no frame pointers,
			 * and a sample taken inside it would lose this function from the stack.
			 */
			long ret = SYS_getppid;

			__asm__ volatile("syscall" : "+a"(ret) : : "rcx", "r11", "memory");
		}
	}
}

PROBED uint64_t sleeper(long n, long ms)
{
	uint64_t start = now_ns();

	for (long i = 0; i < n; i++) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
		long ret = SYS_nanosleep;

		/* The instruction itself, not libc's: this frame must be on the stack at switch-out. */
		__asm__ volatile("syscall" : "+a"(ret) : "D"(&ts), "S"(0) : "rcx", "r11", "memory");
	}
	return now_ns() - start;
}

/* What a JIT does: code in anonymous memory, named only in /tmp/perf-PID.map. */
static int run_jit(long n)
{
	static const unsigned char spin[] = {
		0x48, 0xff, 0xcf, /* dec %rdi */
		0x75, 0xfb,	  /* jnz -5 */
		0xc3,		  /* ret */
	};
	char path[64];
	FILE *map;
	void *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (code == MAP_FAILED)
		return 5;
	memcpy(code, spin, sizeof(spin));
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	map = fopen(path, "w");
	if (!map)
		return 6;
	fprintf(map, "%lx %zx jit_spin\n", (unsigned long)code, sizeof(spin));
	fclose(map);
	((void (*)(long))code)(n);
	printf("jit_iterations=%ld\n", n);
	return 0;
}

static inline __attribute__((always_inline)) void hot_inner(uint64_t iterations)
{
	for (uint64_t i = 0; i < iterations; i++)
		sink++;
}

PROBED void outer_with_inlined(long ms)
{
	uint64_t end = thread_cpu_ns() + (uint64_t)ms * 1000000u;

	while (thread_cpu_ns() < end)
		hot_inner(1000000);
}

static void run_lib(long n)
{
	uint64_t x = 0;

	for (long i = 0; i < n; i++)
		x = workload_lib_call(x);
	sink = x;
	printf("lib_calls=%ld\n", n);
}

static int wait_for_go(void)
{
	char line[16];

	printf("ready pid=%d\n", getpid());
	return fgets(line, sizeof(line), stdin) != NULL;
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
		run_lib(a);
	} else if (!strcmp(mode, "fork")) {
		run_fork(argv[0], a);
	} else if (!strcmp(mode, "exit-inside")) {
		stuck_in_call();
	} else if (!strncmp(mode, "wait", 4)) {
		if (!wait_for_go())
			return 3;
		if (!strcmp(mode, "wait"))
			run_count(a);
		else if (!strcmp(mode, "wait-fork"))
			run_fork(argv[0], a);
		else if (!strcmp(mode, "wait-loop"))
			run_loop(a);
		else if (!strcmp(mode, "wait-timed"))
			run_timed(a, b);
		else if (!strcmp(mode, "wait-lib"))
			run_lib(a);
		else
			return 2;
	} else if (!strcmp(mode, "inlined")) {
		outer_with_inlined(a);
	} else if (!strcmp(mode, "jit")) {
		return run_jit(a);
	} else if (!strcmp(mode, "sleep")) {
		printf("slept_ns=%llu\n", (unsigned long long)sleeper(a, b));
	} else if (!strcmp(mode, "syscalls")) {
		in_syscalls((uint64_t)a);
	} else if (!strcmp(mode, "shares")) {
		run_shares(a);
	} else if (!strcmp(mode, "detect-probe")) {
		return detect_probe();
	} else {
		fprintf(stderr, "usage: %s count|recurse|threads|timed|lib|fork|exit-inside|wait|wait-fork|wait-loop|wait-timed|wait-lib|shares|syscalls|sleep|jit|inlined|detect-probe ...\n",
			argv[0]);
		return 2;
	}
	return 0;
}
