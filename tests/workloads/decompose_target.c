// A call whose time goes to every part --decompose tells apart, each phase timed by the
// workload itself (the [bpf] tests' truth):
//   slow_request: spins 2 ms of CPU time, sleeps 3 ms, writes 4 MiB with O_DIRECT and fsyncs,
//   then waits on a mutex another thread holds for 5 ms (in hold_lock_in_refresh, which unlocks
//   it: the lock holder's stack the tests look for; "holder_tid=" is that thread's gettid()).
// Each phase is read around with the thread's clocks: wall (CLOCK_MONOTONIC), CPU
// (CLOCK_THREAD_CPUTIME_ID) and the kernel's run-queue delay (schedstat's run_delay, read with
// pread on a descriptor kept open). A phase's blocked time is wall - CPU - run_delay.
//
//   decompose_target CALLS FILE [SPINNERS [lock]]
// SPINNERS threads spin throughout (more runnable threads than CPUs: run-queue waits); "lock":
// the calls only wait on the mutex (no spin, sleep or I/O), so that wait is each one's longest. One
// line per call: "call start_ns=... on_cpu=... runq=... io=... lock=... sleep=...", then "done".
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workload_clock.h"

#define PROBED __attribute__((noinline, noclone, used))
#define WRITE_BYTES (4u << 20)

static int schedstat_fd = -1, data_fd = -1;
static void *buffer;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sem_t next_call, hold_start, held;
static volatile int stop_spinners;
static int lock_only;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t run_delay_ns(void)
{
	char buf[96];
	unsigned long long cpu = 0, delay = 0;
	ssize_t n = pread(schedstat_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		die("schedstat");
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &cpu, &delay) != 2)
		die("parsing schedstat");
	return delay;
}

struct reading {
	uint64_t wall, cpu, delay;
};

/* Read as one instant: a wait for a CPU between the schedstat read and the wall read would move
 * that wait from the next phase into this one (its wall time has it, its run_delay not yet), so
 * the reading is taken again until no run-queue wait landed inside it (a seqlock's pattern). */
static void read_clocks(struct reading *r)
{
	for (int tries = 0; tries < 100; tries++) {
		r->delay = run_delay_ns();
		r->cpu = thread_cpu_ns();
		r->wall = now_ns();
		if (run_delay_ns() == r->delay)
			return;
	}
}

static uint64_t blocked(const struct reading *a, const struct reading *b)
{
	uint64_t away = (b->cpu - a->cpu) + (b->delay - a->delay), wall = b->wall - a->wall;

	return wall > away ? wall - away : 0;
}

/* The holder's side of one call, by a name the tests look for in the holder's stack: takes the
 * mutex, holds it 5 ms once the call asks, and unlocks it here (waking the call). */
__attribute__((noinline, noclone, used)) void hold_lock_in_refresh(void)
{
	struct timespec hold = { 0, 5000000 };

	pthread_mutex_lock(&lock);
	sem_post(&held);
	sem_wait(&hold_start);
	nanosleep(&hold, NULL);
	pthread_mutex_unlock(&lock);
	__asm__ volatile("" ::: "memory"); /* the unlock is not a tail call: this frame stays */
}

/* The other thread: its tid is the truth for the lock's holder. */
static void *holder(void *arg)
{
	long calls = (long)arg;

	printf("holder_tid=%d\n", gettid());
	for (long i = 0; i < calls; i++) {
		/* Not before the call is over: an unfair mutex could go back to this thread first. */
		sem_wait(&next_call);
		hold_lock_in_refresh();
	}
	return NULL;
}

static void *spinner(void *arg)
{
	(void)arg;
	while (!stop_spinners)
		__asm__ volatile("" ::: "memory");
	return NULL;
}

static uint64_t phase_blocked[4]; /* spin, sleep, io, lock */

PROBED void slow_request(struct reading *start, struct reading *end)
{
	struct timespec three_ms = { 0, 3000000 };
	struct reading r[5];
	uint64_t spin_until;

	read_clocks(&r[0]);
	spin_until = r[0].cpu + (lock_only ? 0 : 2000000);
	while (thread_cpu_ns() < spin_until)
		;
	read_clocks(&r[1]);
	if (!lock_only)
		nanosleep(&three_ms, NULL);
	read_clocks(&r[2]);
	if (!lock_only && (pwrite(data_fd, buffer, WRITE_BYTES, 0) != WRITE_BYTES || fsync(data_fd)))
		die("O_DIRECT write");
	read_clocks(&r[3]);
	sem_post(&hold_start);
	pthread_mutex_lock(&lock);
	pthread_mutex_unlock(&lock);
	read_clocks(&r[4]);
	for (int p = 0; p < 4; p++)
		phase_blocked[p] = blocked(&r[p], &r[p + 1]);
	*start = r[0];
	*end = r[4];
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 10;
	int spinners = argc > 3 ? atoi(argv[3]) : 0;

	lock_only = argc > 4 && !strcmp(argv[4], "lock");
	pthread_t hold_thread, spin_threads[64];
	char path[64];

	if (argc < 3)
		return 2;
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", gettid());
	schedstat_fd = open(path, O_RDONLY | O_CLOEXEC);
	data_fd = open(argv[2], O_WRONLY | O_CREAT | O_DIRECT, 0600);
	if (schedstat_fd < 0 || data_fd < 0)
		die("open");
	if (posix_memalign(&buffer, 4096, WRITE_BYTES))
		die("posix_memalign");
	memset(buffer, 0x5a, WRITE_BYTES);
	/* Blocks allocated before the first call: every call overwrites the same ones. */
	if (pwrite(data_fd, buffer, WRITE_BYTES, 0) != WRITE_BYTES || fsync(data_fd))
		die("O_DIRECT write");
	/* Once before the calls: the first reading faults in the code it runs (sscanf, the vDSO's
	 * clocks), time the first call would spend before its own first reading, unseen by it. */
	{
		struct reading warm;

		read_clocks(&warm);
	}
	sem_init(&next_call, 0, 0);
	sem_init(&hold_start, 0, 0);
	sem_init(&held, 0, 0);
	if (pthread_create(&hold_thread, NULL, holder, (void *)calls))
		die("pthread_create");
	if (spinners > 64)
		spinners = 64;
	for (int i = 0; i < spinners; i++)
		if (pthread_create(&spin_threads[i], NULL, spinner, NULL))
			die("pthread_create");
	for (long i = 0; i < calls; i++) {
		struct reading a, b;

		sem_post(&next_call);
		sem_wait(&held); /* the holder has the mutex: the call will wait for it */
		slow_request(&a, &b);
		printf("call start_ns=%" PRIu64 " wall=%" PRIu64 " on_cpu=%" PRIu64 " runq=%" PRIu64 " spin_blocked=%" PRIu64
		       " sleep=%" PRIu64 " io=%" PRIu64 " lock=%" PRIu64 "\n",
		       a.wall, b.wall - a.wall, b.cpu - a.cpu, b.delay - a.delay, phase_blocked[0], phase_blocked[1],
		       phase_blocked[2], phase_blocked[3]);
	}
	stop_spinners = 1;
	for (int i = 0; i < spinners; i++)
		pthread_join(spin_threads[i], NULL);
	pthread_join(hold_thread, NULL);
	unlink(argv[2]);
	printf("done\n");
	return 0;
}
