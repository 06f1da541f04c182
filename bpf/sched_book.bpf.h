/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sched collector's books (bpf/sched_stats.bpf.c): its maps and how one thread's record
 * changes, shared by the tracepoint programs and the sync_threads iterator.
 */
#ifndef PERFBPF_SCHED_BOOK_BPF_H
#define PERFBPF_SCHED_BOOK_BPF_H

#include "global_func.bpf.h"
#include "task_state.bpf.h"
#include "log_hist.bpf.h"

/* CLOCK_MONOTONIC when the window opened: set by userspace with "active". */
__u64 window_start_ns = 0;

/*
 * Preallocated, unlike the per-process records: a thread's first switch inserts it from
 * sched_switch, with the run queue locked, and a burst of new threads must not find the BPF
 * allocator's per-CPU cache empty (an insert lost there is a thread's time lost).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_THREADS);
	__type(key, __u32); /* tid */
	__type(value, struct sched_thread);
} threads SEC(".maps");

/*
 * An exited thread's record (flags EXITED) that a new thread with the same tid displaced from
 * "threads" before userspace drained it (a pid_max of 32768 wraps in seconds under a fork
 * storm). Userspace drains it as it does "threads".
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_EXITED);
	__type(key, __u32); /* tid */
	__type(value, struct sched_thread);
} exited_threads SEC(".maps");

/* The run-queue latency histogram (log_hist.h: per-CPU layout). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LOG_HIST_PERCPU_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} runqueue_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCHED_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

/* Current at switch-out (update_curr ran in __schedule); up to a tick stale while it runs. */
static __always_inline __u64 task_exec_ns(struct task_struct *task)
{
	return task->se.sum_exec_runtime;
}

/*
 * Grows when a wait for a CPU ends (sched_info_arrive, after the sched_switch tracepoint).
 * 0 without CONFIG_SCHED_INFO: run-queue time then comes from the intervals alone.
 */
static __always_inline __u64 task_delay_ns(struct task_struct *task)
{
	if (!bpf_core_field_exists(task->sched_info.run_delay))
		return 0;
	return task->sched_info.run_delay;
}

/*
 * How long TASK has been waiting for a CPU so far in its current wait, which run_delay holds
 * only once it ends (sched_info_arrive, after the sched_switch tracepoint): its run queue's
 * clock less sched_info.last_queued, as the kernel will add it. Exact at a switch-in (the
 * clock was just updated); elsewhere up to a tick short. 0 when not queued. The run queue is
 * reached through the task's cfs_rq (CONFIG_FAIR_GROUP_SCHED): the per-CPU "runqueues" symbol
 * needs CONFIG_KALLSYMS_ALL, which these kernels lack.
 */
static __always_inline __u64 task_pending_wait(struct task_struct *task)
{
	__u64 queued, clock;

	if (!bpf_core_field_exists(task->sched_info.last_queued) || !bpf_core_field_exists(task->se.cfs_rq->rq))
		return 0;
	queued = task->sched_info.last_queued;
	if (!queued)
		return 0;
	clock = task->se.cfs_rq->rq->clock;
	return clock > queued ? clock - queued : 0;
}

/* Where TASK is now, by the kernel's own flags (task->on_cpu drops after the switch). */
static __always_inline __u32 task_where(struct task_struct *task)
{
	long state;

	if (task->on_cpu)
		return SCHED_ON_CPU;
	state = task_state_btf(task);
	if (state == PERFBPF_TASK_RUNNING)
		return SCHED_RUNNABLE;
	return task_state_is_io(state) ? SCHED_IO : SCHED_SLEEP;
}

/*
 * T enters STATE at NOW, with its counters as they stand; PENDING is run-queue time not in
 * run_delay yet (task_pending_wait).
 */
static __always_inline void enter_state(struct sched_thread *t, struct task_struct *task, __u32 state, __u64 now,
					__u64 pending)
{
	t->state = state;
	t->since_ns = now;
	t->exec_mark_ns = task_exec_ns(task);
	t->delay_mark_ns = task_delay_ns(task) + pending;
	t->seq++;
	t->suspect_seq = 0;
}

/*
 * A record under TID left by an earlier thread, which TASK (not exiting) now has: the earlier
 * one exited, and userspace has not drained it yet.
 */
static __always_inline bool record_stale(const struct sched_thread *t, struct task_struct *task)
{
	return (t->flags & SCHED_THREAD_EXITED) && !(task->flags & PERFBPF_PF_EXITING);
}

/*
 * TASK was forked inside the window and has never run: all it has done is wait for a CPU,
 * since it was queued (sched_info.last_queued), so its record can be made as late as its first
 * switch-in with nothing lost, and no program runs at its wakeup_new.
 */
static __always_inline bool task_unborn(struct task_struct *task)
{
	return task->start_time >= window_start_ns && task_exec_ns(task) == 0 &&
	       bpf_core_field_exists(task->sched_info.last_queued);
}

/*
 * A fresh record for TASK, counted from NOW in the state the task is in (NEW_TASK: runnable,
 * not yet run), replacing OLD (the record under TID, if any). An exited thread's record is
 * kept for userspace in exited_threads. Of a wait TASK is in, only the part from NOW counts:
 * the part before goes into the run_delay base; but an unborn task's counters and wait are all
 * inside the window.
 */
__noinline int thread_put(struct task_struct *task __arg_trusted, __u64 now, bool new_task, struct sched_thread *old)
{
	struct sched_thread fresh = {};
	__u32 tid = task->pid, tgid = task->tgid;

	if (old && (old->flags & SCHED_THREAD_EXITED) && bpf_map_update_elem(&exited_threads, &tid, old, BPF_NOEXIST))
		count_loss(SCHED_LOSS_EXITED_FULL);

	fresh.tgid = tgid;
	fresh.cpu = ~0u;
	if (task_unborn(task)) {
		__u64 queued_for = task_pending_wait(task);

		/* Bases 0 (its counters are the window's); runnable since it was queued. */
		enter_state(&fresh, task, SCHED_RUNNABLE, now > queued_for ? now - queued_for : now, 0);
	} else {
		fresh.exec_base_ns = task_exec_ns(task);
		fresh.delay_base_ns = task_delay_ns(task) + task_pending_wait(task);
		enter_state(&fresh, task, new_task ? SCHED_RUNNABLE : task_where(task), now, 0);
		fresh.delay_mark_ns = fresh.delay_base_ns;
	}
	if (bpf_map_update_elem(&threads, &tid, &fresh, BPF_ANY)) {
		count_loss(SCHED_LOSS_THREADS_FULL);
		return false;
	}
	return true;
}

/* thread_put, and the record stored (NULL when there was no room). */
static __always_inline struct sched_thread *thread_new(struct task_struct *task, __u32 tid, __u64 now, bool new_task,
						       struct sched_thread *old)
{
	return thread_put(task, now, new_task, old) ? bpf_map_lookup_elem(&threads, &tid) : NULL;
}

/* The thread's record; a thread first seen counts from NOW. */
static __always_inline struct sched_thread *thread_get(struct task_struct *task, __u32 tid, __u32 tgid, __u64 now)
{
	struct sched_thread *t = bpf_map_lookup_elem(&threads, &tid);

	return t && !record_stale(t, task) ? t : thread_new(task, tid, now, false, t);
}

/*
 * On-CPU and run-queue totals from the kernel's counters (PENDING: as in enter_state), so the
 * run-queue total holds the part inside the session of every wait, the open one included.
 */
static __always_inline void sync_kernel_totals(struct sched_thread *t, struct task_struct *task, __u64 pending)
{
	__u64 exec = task_exec_ns(task), delay = task_delay_ns(task);

	if (delay)
		delay += pending;
	if (exec >= t->exec_base_ns)
		t->totals.on_cpu_ns = exec - t->exec_base_ns;
	if (delay && delay >= t->delay_base_ns)
		t->totals.runqueue_ns = delay - t->delay_base_ns;
}

/*
 * Closes the thread's current interval at NOW: its length goes to the state's total (on-CPU
 * and run-queue totals are overwritten from the counters at the next sync; until then they
 * serve a live read of one thread).
 */
static __always_inline void close_interval(struct sched_thread *t, __u64 now)
{
	__u64 delta = now > t->since_ns ? now - t->since_ns : 0;

	switch (t->state) {
	case SCHED_ON_CPU:
		t->totals.on_cpu_ns += delta;
		break;
	case SCHED_RUNNABLE:
		t->totals.runqueue_ns += delta;
		log_hist_percpu_record(&runqueue_hist, delta);
		break;
	case SCHED_IO:
		t->totals.io_ns += delta;
		break;
	default:
		t->totals.sleep_ns += delta;
		break;
	}
	t->since_ns = now;
}

/*
 * The books' state since since_ns was wrong (a switch went unseen): of that stretch, what the
 * counters say was on CPU or waiting for one is in their totals already; the rest was off CPU
 * for a reason nobody saw. It stays out of I/O, sleep and the histogram.
 */
static __always_inline void book_unknown(struct sched_thread *t, struct task_struct *task, __u64 now, __u64 pending)
{
	__u64 exec = task_exec_ns(task), delay = task_delay_ns(task) + pending, len, used = 0;

	/* Asleep by the books and woken since: asleep until the wakeup, that much is known. */
	if ((t->state == SCHED_IO || t->state == SCHED_SLEEP) && t->woken_ns > t->since_ns && t->woken_ns < now)
		close_interval(t, t->woken_ns);
	len = now > t->since_ns ? now - t->since_ns : 0;

	if (exec > t->exec_mark_ns)
		used += exec - t->exec_mark_ns;
	if (delay > t->delay_mark_ns)
		used += delay - t->delay_mark_ns;
	if (len > used)
		t->totals.unknown_ns += len - used;
	t->since_ns = now;
}

/*
 * An exited thread switches out (it runs on after its exit tracepoint until its memory is
 * freed): its counters are current, and after its last switch nothing changes.
 */
static __always_inline void exited_switch(struct sched_thread *t, struct task_struct *prev)
{
	sync_kernel_totals(t, prev, 0);
	if (task_state_btf(prev) & PERFBPF_TASK_DEAD)
		t->flags |= SCHED_THREAD_GONE;
}

#endif /* PERFBPF_SCHED_BOOK_BPF_H */
