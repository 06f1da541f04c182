/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/sched_stats.bpf.c (CPU and scheduler collector) and src/collect/sched_collector.cpp.
 * "tgid" is a process id, "tid" a thread id (the kernel's pid). Times are ns of
 * bpf_ktime_get_ns(), the same clock as CLOCK_MONOTONIC.
 */
#ifndef PERFBPF_SCHED_STATS_H
#define PERFBPF_SCHED_STATS_H

#include "log_hist.h"

#ifndef SCHED_MAX_THREADS
#define SCHED_MAX_THREADS 32768 /* live threads tracked at once */
#endif
#define SCHED_MAX_EXITED 8192 /* exited threads whose tid a new thread took before userspace drained them */
#define SCHED_COMM_LEN 16

/* Where a thread is now (sched_thread.state). */
enum sched_where {
	SCHED_ON_CPU = 0,
	SCHED_RUNNABLE = 1, /* woken or preempted, waiting for a CPU */
	SCHED_IO = 2,	    /* switched out uninterruptible (D) */
	SCHED_SLEEP = 3,    /* switched out interruptible (S) or otherwise blocked */
};

enum sched_loss {
	SCHED_LOSS_THREADS_FULL = 0, /* no room for a thread: its time is not counted */
	SCHED_LOSS_MISSED_SWITCH_OUT = 1, /* on CPU by our books, found off it: a switch-out unseen */
	SCHED_LOSS_MISSED_SWITCH_IN = 2,  /* off CPU by our books, found on it: a switch-in unseen */
	SCHED_LOSS_EXITED_FULL = 3, /* an exited thread's totals lost: its tid was taken before userspace drained it */
	SCHED_LOSS_NR = 4,
};

/*
 * Totals of one thread, or summed over a process's exited threads. on_cpu_ns and runqueue_ns
 * are the growth of the kernel's se.sum_exec_runtime and sched_info.run_delay (what
 * /proc/PID/task/TID/schedstat shows) since the thread's baseline; the rest come from the
 * thread's switches and wakeups.
 */
struct sched_totals {
	__u64 on_cpu_ns;
	__u64 runqueue_ns; /* runnable, waiting for a CPU: from wakeup or preemption to running */
	__u64 io_ns;	   /* off CPU, uninterruptible */
	__u64 sleep_ns;	   /* off CPU, interruptible */
	__u64 unknown_ns;  /* off CPU, why unknown: stretches around a switch the tracepoints missed */
	__u64 voluntary;   /* switched out blocking */
	__u64 involuntary; /* switched out while runnable (preempted) */
	__u64 migrations;  /* ran on another CPU than last time */
};

/* sched_thread.flags */
enum sched_thread_flags {
	SCHED_THREAD_EXITED = 1, /* past its exit tracepoint: totals final but for CPU used on its way out */
	SCHED_THREAD_LAST = 2,	 /* the last thread of its process to exit: ppid and comm are set */
	SCHED_THREAD_GONE = 4,	 /* switched out dead: nothing more will change */
};

/*
 * Map "threads", key tid. Only the thread's own switches (serialized: it is on one CPU at a
 * time) change state and since_ns; a wakeup, which may run on another CPU while the thread is
 * already being switched in there, only stamps woken_ns. The sync_threads iterator corrects a
 * state the task contradicts on two passes in a row (seq unchanged between them).
 */
struct sched_thread {
	__u32 tgid;	/* process id */
	__u32 state;	/* enum sched_where */
	__u64 since_ns; /* when it entered state */
	__u64 woken_ns; /* last wakeup since it switched out; 0 when none */
	__u32 cpu;	/* CPU it last ran on, ~0 before it has run */
	__u32 seq;	/* bumped at every change of state */
	__u32 suspect_seq; /* seq + 1 when the last pass found the task contradicting state; else 0 */
	__u32 synced_pass; /* the last sync_threads pass that reached the thread */
	/*
	 * The kernel's counters (se.sum_exec_runtime, sched_info.run_delay) at the thread's
	 * baseline (session start or first sight) and when it entered its current state.
	 */
	__u64 exec_base_ns;
	__u64 delay_base_ns;
	__u64 exec_mark_ns;
	__u64 delay_mark_ns;
	struct sched_totals totals;
	/*
	 * An exited thread keeps its record here (no map insert or delete on the exit path) until
	 * userspace drains it: GONE, or exited before the pass before the current one, whichever is
	 * first. Its switches until then only bring on_cpu_ns and runqueue_ns up to date.
	 */
	__u32 flags;	 /* enum sched_thread_flags */
	__u32 exit_pass; /* pass at its exit */
	__u32 ppid;	 /* with SCHED_THREAD_LAST: the process's parent */
	__u32 pad;
	char comm[SCHED_COMM_LEN]; /* with SCHED_THREAD_LAST: the process's name at exit */
};

#ifdef __cplusplus
static_assert(sizeof(struct sched_totals) == 64, "sched_totals ABI changed");
static_assert(sizeof(struct sched_thread) == 168, "sched_thread ABI changed");
#else
_Static_assert(sizeof(struct sched_totals) == 64, "sched_totals ABI changed");
_Static_assert(sizeof(struct sched_thread) == 168, "sched_thread ABI changed");
#endif

#endif /* PERFBPF_SCHED_STATS_H */
