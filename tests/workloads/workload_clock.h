// Time helpers shared by the workloads: CLOCK_MONOTONIC, the clock BPF timestamps use, and the
// thread's CPU time, which workloads meant to be sampled spin for: a busy machine stretches
// their wall time, not the samples they give.
#ifndef PERFBPF_WORKLOAD_CLOCK_H
#define PERFBPF_WORKLOAD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
