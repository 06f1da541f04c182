// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * CPU and scheduler collector: per-thread on-CPU time, off-CPU time split by why (run queue,
 * I/O, sleep), voluntary and involuntary switches, migrations, and a run-queue latency
 * histogram, all aggregated in maps that userspace reads once per interval.
 *
 * On-CPU and run-queue totals are the kernel's own counters, read where they are current: at
 * switch-out, at exit, and in the sync_threads iterator userspace runs before every read. The
 * tracepoints can miss a switch (on this project's VMs some threads are seen switching in but
 * never out), so no interval is ever trusted for CPU time. Switches and wakeups keep each
 * thread in one state (enum sched_where) since a time, which splits off-CPU time into I/O and
 * sleep and feeds the histogram; a stretch around a missed switch is booked as unknown.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sched_stats.h"
#include "target_filter.bpf.h"
#include "sched_book.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Set by userspace right before the first sync_threads pass, which baselines every thread:
 * nothing is counted before the session's window opens.
 */
bool active = false;
__u32 pass = 0; /* bumped by userspace before each sync_threads pass */

SEC("perfbpf.tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns(), pending = 0;
	__u32 tid = prev->pid, tgid = prev->tgid;
	struct sched_thread *t;

	if (!active)
		return 0;
	if (wanted(tgid, tid)) {
		t = bpf_map_lookup_elem(&threads, &tid);
		if (t && (t->flags & SCHED_THREAD_EXITED) && (prev->flags & PERFBPF_PF_EXITING)) {
			/* Past its exit tracepoint: only its counters still move. */
			exited_switch(t, prev);
			t = NULL;
		} else if (!t && (prev->flags & PERFBPF_PF_EXITING)) {
			/* Exiting, never seen: too late to count from here. */
		} else if (!t || record_stale(t, prev)) {
			t = thread_new(prev, tid, now, false, t);
		}
		if (t) {
			long state = task_state_btf(prev);

			if (t->state != SCHED_ON_CPU) {
				count_loss(SCHED_LOSS_MISSED_SWITCH_IN);
				book_unknown(t, prev, now, 0);
			} else {
				close_interval(t, now);
			}
			sync_kernel_totals(t, prev, 0);
			t->woken_ns = 0;
			if (preempt || state == PERFBPF_TASK_RUNNING) {
				t->totals.involuntary++;
				enter_state(t, prev, SCHED_RUNNABLE, now, 0);
			} else {
				t->totals.voluntary++;
				enter_state(t, prev, task_state_is_io(state) ? SCHED_IO : SCHED_SLEEP, now, 0);
			}
		}
	}

	tid = next->pid;
	tgid = next->tgid;
	if (!wanted(tgid, tid))
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t || record_stale(t, next)) {
		if (next->flags & PERFBPF_PF_EXITING)
			return 0;
		/*
		 * Never seen: how long it waited before is unknown, and it counts from here; but
		 * a task forked in the window waited from its enqueue (thread_put).
		 */
		bool unborn = task_unborn(next);

		t = thread_new(next, tid, now, false, t);
		if (!t)
			return 0;
		if (unborn)
			close_interval(t, now);
	} else if (t->flags & SCHED_THREAD_EXITED) {
		return 0; /* on its way out: its switch-out brings its counters up to date */
	} else if (t->state == SCHED_ON_CPU) {
		/* Its switch-out went unseen. */
		count_loss(SCHED_LOSS_MISSED_SWITCH_OUT);
		book_unknown(t, next, now, task_pending_wait(next));
	} else {
		__u64 woken = t->woken_ns;

		/* Asleep until the wakeup, then waiting for a CPU. */
		if ((t->state == SCHED_IO || t->state == SCHED_SLEEP) && woken > t->since_ns && woken < now) {
			close_interval(t, woken);
			t->state = SCHED_RUNNABLE;
		}
		close_interval(t, now);
	}
	/*
	 * Its counters are current here too: a thread whose switch-outs go unseen, and which no
	 * iterator shows either, is still counted up to its last switch-in. run_delay grows by
	 * the wait ending now only after the tracepoint (sched_info_arrive).
	 */
	pending = task_pending_wait(next);
	sync_kernel_totals(t, next, pending);
	enter_state(t, next, SCHED_ON_CPU, now, pending);
	t->woken_ns = 0;
	{
		__u32 cpu = bpf_get_smp_processor_id();

		if (t->cpu != ~0u && t->cpu != cpu)
			t->totals.migrations++;
		t->cpu = cpu;
	}
	return 0;
}

static __always_inline int on_wakeup(struct task_struct *p, bool new_task)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = p->pid, tgid = p->tgid;
	struct sched_thread *t;

	if (!active || !wanted(tgid, tid))
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	/* A new thread, or one first seen waking: runnable from now (it is queued already). */
	if (!t || new_task || record_stale(t, p)) {
		thread_put(p, now, new_task, t);
		return 0;
	}
	/*
	 * The tracepoint fires after the task is queued: another CPU may be switching it in
	 * right now, so the state is left to the switch; the stamp tells it when the wait for a
	 * CPU began. It is kept whatever the state says: after a missed switch-out it is still the
	 * start of the wait.
	 */
	t->woken_ns = now;
	return 0;
}

SEC("perfbpf.tp_btf/sched_wakeup")
int BPF_PROG(handle_wakeup, struct task_struct *p)
{
	return on_wakeup(p, false);
}

/* Only where the kernel keeps no enqueue time: elsewhere a new task's first switch-in makes its record. */
SEC("perfbpf.tp_btf/sched_wakeup_new")
int BPF_PROG(handle_wakeup_new, struct task_struct *p)
{
	if (bpf_core_field_exists(p->sched_info.last_queued))
		return 0;
	return on_wakeup(p, true);
}

/*
 * A thread exits (it is current, on CPU): its record is closed and marked, and stays where it
 * is until userspace drains it (sched_stats.h); the last thread of a process leaves the
 * process's name and parent in it.
 */
SEC("perfbpf.tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = task->pid, tgid = task->tgid;
	struct sched_thread *t;

	if (!active)
		return 0;
	/*
	 * A thread with a record was wanted; the target set may have dropped its process already
	 * (funclat's exit program runs on this tracepoint too, in no set order).
	 */
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t && !wanted(tgid, tid))
		return 0;
	if (!t || (t->flags & SCHED_THREAD_EXITED)) {
		/* Never seen (a full map), or an earlier thread's: only its exit is known. */
		t = thread_new(task, tid, now, false, t);
		if (!t)
			return 0;
	}
	if (t->state == SCHED_ON_CPU) {
		close_interval(t, now);
	} else {
		count_loss(SCHED_LOSS_MISSED_SWITCH_IN);
		book_unknown(t, task, now, 0);
	}
	sync_kernel_totals(t, task, 0);
	t->flags |= SCHED_THREAD_EXITED;
	t->exit_pass = pass;
	/* signal->live drops before this tracepoint (do_exit): zero means the last thread. */
	if (task->signal->live.counter == 0) {
		t->ppid = task->real_parent->tgid;
		/* Always NUL-terminated (__set_task_comm): two plain loads, not a string helper. */
		__builtin_memcpy(t->comm, task->group_leader->comm, sizeof(t->comm));
		t->flags |= SCHED_THREAD_LAST;
	}
	return 0;
}

/*
 * Run by userspace (one read() of an iterator fd) before every read of the maps: every wanted
 * thread's on-CPU and run-queue totals from its counters now, a record for every thread not
 * seen yet (the first pass baselines the whole target, so a spinner that never switches or a
 * sleeper that never wakes is counted too), and the books put right where the task has
 * contradicted them on two passes in a row (a single pass may land between the tracepoint and
 * the kernel's own update of task->on_cpu). A record this pass does not reach (synced_pass
 * behind) is a thread the kernel hides from iterators: it is synced at its switches only.
 */
SEC("perfbpf.iter/task")
int sync_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	__u64 now = bpf_ktime_get_ns();
	__u32 tid, tgid, where;
	struct sched_thread *t;

	if (!task)
		return 0;
	tid = task->pid;
	tgid = task->tgid;
	if (!wanted(tgid, tid) || (task->flags & PERFBPF_PF_EXITING))
		return 0;
	t = thread_get(task, tid, tgid, now);
	if (!t)
		return 0;
	t->synced_pass = pass;
	sync_kernel_totals(t, task, task_pending_wait(task));
	where = task_where(task);
	if ((t->state == SCHED_ON_CPU) == (where == SCHED_ON_CPU)) {
		t->suspect_seq = 0;
		return 0;
	}
	if (t->suspect_seq != t->seq + 1) {
		t->suspect_seq = t->seq + 1;
		return 0;
	}
	count_loss(t->state == SCHED_ON_CPU ? SCHED_LOSS_MISSED_SWITCH_OUT : SCHED_LOSS_MISSED_SWITCH_IN);
	book_unknown(t, task, now, task_pending_wait(task));
	t->woken_ns = 0;
	enter_state(t, task, where, now, task_pending_wait(task));
	return 0;
}
