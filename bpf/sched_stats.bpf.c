// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * CPU and scheduler collector: per-thread on-CPU time, off-CPU time split by why (run queue,
 * I/O, sleep), voluntary and involuntary switches, migrations, and a run-queue latency
 * histogram, all aggregated in maps that userspace reads once per interval.
 *
 * A thread is always in one state (enum sched_where) since a time; each switch or wakeup
 * closes the interval and adds it to the state's total.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sched_stats.h"
#include "target_filter.bpf.h"
#include "task_state.bpf.h"
#include "log_hist.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * CLOCK_MONOTONIC when the programs were attached, written by userspace just before: a thread
 * first seen switching out has been on its CPU since then.
 */
__u64 session_start_ns = 0;

#define PERFBPF_PF_EXITING 0x00000004 /* task_struct::flags: in do_exit() */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_THREADS);
	__type(key, __u32); /* tid */
	__type(value, struct sched_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_PROCS);
	__type(key, __u32); /* tgid */
	__type(value, struct sched_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_HIST_ENTRIES);
	__type(key, struct log_hist_key);
	__type(value, __u64);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCHED_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline __u64 task_exec_ns(struct task_struct *task)
{
	return BPF_CORE_READ(task, se.sum_exec_runtime);
}

/* 0 without CONFIG_SCHED_INFO: run-queue time then comes from the intervals alone. */
static __always_inline __u64 task_delay_ns(struct task_struct *task)
{
	if (!bpf_core_field_exists(task->sched_info.run_delay))
		return 0;
	return BPF_CORE_READ(task, sched_info.run_delay);
}

/*
 * The thread's record, created in STATE since SINCE when it has none. RAN_NS: how long of its
 * kernel CPU time falls inside the session already (it was on CPU since SINCE).
 */
static __always_inline struct sched_thread *thread_get(struct task_struct *task, __u32 tid, __u32 tgid, __u32 state,
						       __u64 since, __u64 ran_ns)
{
	struct sched_thread *t = bpf_map_lookup_elem(&threads, &tid), fresh = {};
	__u64 exec;

	if (t)
		return t;
	exec = task_exec_ns(task);
	fresh.tgid = tgid;
	fresh.state = state;
	fresh.since_ns = since;
	fresh.cpu = ~0u;
	fresh.exec_base_ns = exec > ran_ns ? exec - ran_ns : 0;
	fresh.delay_base_ns = task_delay_ns(task);
	t = map_lookup_or_init(&threads, &tid, &fresh);
	if (!t)
		count_loss(SCHED_LOSS_THREADS_FULL);
	return t;
}

/*
 * On-CPU and run-queue totals from the kernel's counters. Called where they are current: at
 * switch-out (update_curr ran in __schedule) and exit (up to a tick stale).
 */
static __always_inline void sync_kernel_totals(struct sched_thread *t, struct task_struct *task)
{
	__u64 exec = task_exec_ns(task), delay = task_delay_ns(task);

	if (exec >= t->exec_base_ns)
		t->totals.on_cpu_ns = exec - t->exec_base_ns;
	if (delay && delay >= t->delay_base_ns)
		t->totals.runqueue_ns = delay - t->delay_base_ns;
}

/* Closes the thread's current interval at NOW: its length goes to the state's total. */
static __always_inline void close_interval(struct sched_thread *t, __u64 now)
{
	__u64 delta = now > t->since_ns ? now - t->since_ns : 0;

	switch (t->state) {
	case SCHED_ON_CPU:
		t->totals.on_cpu_ns += delta;
		break;
	case SCHED_RUNNABLE:
		t->totals.runqueue_ns += delta;
		if (!log_hist_record(&hists, 0, SCHED_HIST_RUNQUEUE, delta))
			count_loss(SCHED_LOSS_HIST_FULL);
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

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = BPF_CORE_READ(prev, pid), tgid = BPF_CORE_READ(prev, tgid);
	struct sched_thread *t;

	if (wanted(tgid, tid)) {
		t = bpf_map_lookup_elem(&threads, &tid);
		/*
		 * No record: it has been on this CPU since before the session began, unless it is
		 * past its exit tracepoint, which moved its record to the process (PF_EXITING is
		 * set earlier in do_exit(), so it alone must not skip a thread that still has one).
		 */
		if (!t && !(BPF_CORE_READ(prev, flags) & PERFBPF_PF_EXITING))
			t = thread_get(prev, tid, tgid, SCHED_ON_CPU, session_start_ns,
				       now > session_start_ns ? now - session_start_ns : 0);
		if (t) {
			long state = task_state(prev);

			/*
			 * Not on CPU by our books: a switch-in went unseen, so how the interval was
			 * spent is unknown. It stays out of the histogram; the totals come from the
			 * kernel's counters below either way.
			 */
			if (t->state != SCHED_ON_CPU) {
				count_loss(SCHED_LOSS_MISSED_SWITCH_IN);
				t->since_ns = now;
			} else {
				close_interval(t, now);
			}
			sync_kernel_totals(t, prev);
			t->woken_ns = 0;
			if (preempt || state == PERFBPF_TASK_RUNNING) {
				t->totals.involuntary++;
				t->state = SCHED_RUNNABLE;
			} else {
				t->totals.voluntary++;
				t->state = task_state_is_io(state) ? SCHED_IO : SCHED_SLEEP;
			}
		}
	}

	tid = BPF_CORE_READ(next, pid);
	tgid = BPF_CORE_READ(next, tgid);
	if (!wanted(tgid, tid))
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t) {
		if (t->state == SCHED_ON_CPU)
			count_loss(SCHED_LOSS_MISSED_SWITCH); /* the interval since since_ns is lost */
	} else {
		/* Past its exit tracepoint: its totals are with the process already. */
		if (BPF_CORE_READ(next, flags) & PERFBPF_PF_EXITING)
			return 0;
		/* Never seen: how long it waited before the session is unknown; nothing counted. */
		t = thread_get(next, tid, tgid, SCHED_ON_CPU, now, 0);
		if (!t)
			return 0;
	}
	if (t->state == SCHED_IO || t->state == SCHED_SLEEP) {
		__u64 woken = t->woken_ns;

		/* Asleep until the wakeup, then waiting for a CPU. */
		if (woken > t->since_ns && woken < now) {
			close_interval(t, woken);
			t->state = SCHED_RUNNABLE;
		}
	}
	if (t->state != SCHED_ON_CPU)
		close_interval(t, now);
	else
		t->since_ns = now;
	t->state = SCHED_ON_CPU;
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
	__u32 tid = BPF_CORE_READ(p, pid), tgid = BPF_CORE_READ(p, tgid);
	struct sched_thread *t;

	if (!wanted(tgid, tid))
		return 0;
	if (new_task) {
		thread_get(p, tid, tgid, SCHED_RUNNABLE, now, 0);
		return 0;
	}
	/*
	 * First seen waking up: it slept since before the session. in_iowait is still set
	 * while a task woken from io_schedule() has not run yet.
	 */
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t) {
		__u32 state = BPF_CORE_READ_BITFIELD_PROBED(p, in_iowait) ? SCHED_IO : SCHED_SLEEP;

		t = thread_get(p, tid, tgid, state, session_start_ns, 0);
		if (!t)
			return 0;
	}
	/*
	 * The tracepoint fires after the task is queued: another CPU may be switching it in
	 * right now, so the state is left to the switch; the stamp tells it when the wait for a
	 * CPU began.
	 */
	if (t->state == SCHED_IO || t->state == SCHED_SLEEP)
		t->woken_ns = now;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_wakeup, struct task_struct *p)
{
	return on_wakeup(p, false);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_wakeup_new, struct task_struct *p)
{
	return on_wakeup(p, true);
}

static __always_inline void add_totals(struct sched_totals *to, const struct sched_totals *from)
{
	__sync_fetch_and_add(&to->on_cpu_ns, from->on_cpu_ns);
	__sync_fetch_and_add(&to->runqueue_ns, from->runqueue_ns);
	__sync_fetch_and_add(&to->io_ns, from->io_ns);
	__sync_fetch_and_add(&to->sleep_ns, from->sleep_ns);
	__sync_fetch_and_add(&to->voluntary, from->voluntary);
	__sync_fetch_and_add(&to->involuntary, from->involuntary);
	__sync_fetch_and_add(&to->migrations, from->migrations);
}

/*
 * A thread exits (it is current, on CPU): its totals move to its process so the threads map
 * only holds live threads; the process keeps its name and parent once its last thread is gone.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = BPF_CORE_READ(task, pid), tgid = BPF_CORE_READ(task, tgid);
	struct sched_thread *t;
	struct sched_proc *p, fresh = {};

	/*
	 * A thread with a record was wanted; the target set may have dropped its process already
	 * (funclat's exit program runs on this tracepoint too, in no set order).
	 */
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t && !wanted(tgid, tid))
		return 0;
	p = map_lookup_or_init(&procs, &tgid, &fresh);
	if (!p) {
		count_loss(SCHED_LOSS_PROCS_FULL);
		return 0;
	}
	if (!t)
		t = thread_get(task, tid, tgid, SCHED_ON_CPU, session_start_ns,
			       now > session_start_ns ? now - session_start_ns : 0);
	if (t) {
		close_interval(t, now);
		sync_kernel_totals(t, task);
		add_totals(&p->exited, &t->totals);
		bpf_map_delete_elem(&threads, &tid);
	}
	__sync_fetch_and_add(&p->threads_exited, 1);
	/* signal->live drops before this tracepoint (do_exit): zero means the last thread. */
	if (BPF_CORE_READ(task, signal, live.counter) == 0) {
		p->ppid = BPF_CORE_READ(task, real_parent, tgid);
		BPF_CORE_READ_STR_INTO(&p->comm, task, group_leader, comm);
		p->dead = 1;
	}
	return 0;
}
