/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --decompose: where each probed call's time went (struct funclat_split). A thread that made
 * a probed call gets a task-local record; the scheduler programs (funclat.bpf.c) look it up
 * first and return at once for every other thread, and do their work only while it has open
 * frames. Totals are per thread and only grow; each frame keeps them as they were at its
 * entry, so a return reads its split as a difference, whatever the nesting depth:
 *  - waiting for a CPU: the kernel's own sched_info.run_delay (what schedstat reports), read
 *    at entry and return, when the thread runs and the counter is current;
 *  - blocked: from switch-out to wakeup, by why it blocked (enum funclat_wait);
 *  - on CPU: the rest of the call's duration (userspace computes it).
 */
#ifndef PERFBPF_FUNCLAT_SPLIT_BPF_H
#define PERFBPF_FUNCLAT_SPLIT_BPF_H

#include "task_state.bpf.h"
#include "funclat_copy.bpf.h"

const volatile bool decompose = false;

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

/* x86-64 system call numbers that block on a futex. */
#define NR_FUTEX 202
#define NR_FUTEX_WAITV 449
#define NR_FUTEX_WAIT 455
#define FUTEX_CMD_MASK 0x7f
#define FUTEX_LOCK_PI 6
#define FUTEX_LOCK_PI2 13
#define FUTEX_TID_MASK 0x3fffffff
#define GLIBC_MUTEX_OWNER_OFFSET 8 /* struct __pthread_mutex_s: int __lock, __count, __owner */

struct split_frame {
	__u64 run_delay;		/* the thread's run_delay at entry */
	__u64 blocked[FUNCLAT_WAIT_NR]; /* its blocked totals at entry */
	__u64 wait_ns;			/* longest wait inside the call so far */
	__s32 kstack, ustack;
	__u32 kind, holder_tid, holder_probe, flags;
	__u32 waker_tid, waker_copy;
	__s32 waker_ustack;
	__u32 wait_copy;
	__u32 missed; /* the thread's missed count at entry */
	__u32 switches; /* its blocking switch-outs seen, at entry */
	__u64 nvcsw;	/* the kernel's count of them (task_struct::nvcsw), at entry */
};

struct split_thread {
	__u32 open;	/* frames open on its stack (funclat_stack.depth) */
	__u32 kind;	/* of the open wait */
	__u64 off_ns;	/* when the open wait began; 0: none */
	__s32 kstack, ustack;
	__u32 holder_tid, holder_probe, holder_flags;
	__u32 waker_tid, waker_copy; /* who ended the open wait (funclat_waker.bpf.h) */
	__s32 waker_ustack;
	__u32 wait_copy; /* a lock wait's user stack top (funclat_copy.bpf.h), 0: none */
	__u32 missed;
	__u32 switches; /* blocking switch-outs seen while it had open frames */
	__u64 wait_uaddr;    /* a futex wait's word (its futex(2) uaddr), 0: other waits */
	__u64 off_run_delay; /* its run_delay when the open wait began */
	__u64 off_clock;     /* its run queue's clock then: when __schedule began, at its dequeue */
	__u64 blocked[FUNCLAT_WAIT_NR];
	struct split_frame frames[FUNCLAT_MAX_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct split_thread);
} split_threads SEC(".maps");

/* Stacks where waits began; sized down to one entry by userspace without --decompose. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, FUNCLAT_MAX_WAIT_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, FUNCLAT_WAIT_STACK_DEPTH * sizeof(__u64));
} wait_stacks SEC(".maps");

/* TASK is the current task (a helper call fetches it: callers fetch it once). */
static __always_inline struct split_thread *split_of(struct task_struct *task, bool create)
{
	return bpf_task_storage_get(&split_threads, task, 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Books T's open wait up to NOW to its kind, and to every open frame's longest wait. */
static __always_inline void split_close_wait(struct split_thread *t, __u64 now)
{
	__u64 dt = now > t->off_ns ? now - t->off_ns : 0;
	__u32 kind = t->kind < FUNCLAT_WAIT_NR ? t->kind : FUNCLAT_WAIT_SLEEP;

	t->off_ns = 0;
	t->blocked[kind] += dt;
	for (int i = 0; i < FUNCLAT_MAX_DEPTH; i++) {
		struct split_frame *f = &t->frames[i];

		if (i >= t->open)
			break;
		if (dt <= f->wait_ns)
			continue;
		f->wait_ns = dt;
		f->kstack = t->kstack;
		f->ustack = t->ustack;
		f->kind = kind;
		f->holder_tid = t->holder_tid;
		f->holder_probe = t->holder_probe;
		f->waker_tid = t->waker_tid;
		f->waker_copy = t->waker_copy;
		f->waker_ustack = t->waker_ustack;
		f->wait_copy = t->wait_copy;
		f->flags = (f->flags & FUNCLAT_SPLIT_MISSED) | t->holder_flags;
	}
}

/*
 * TASK (running, the current task) has a wait open: neither its wakeup nor its switch-in was
 * seen (the sched collector sees such gaps on this project's VMs too). The kernel stamped the
 * switch-in (sched_info.last_arrival, in its run queue's clock), and its run_delay has grown by
 * the wait's runnable part since: the rest, from the switch-out, was blocked. The run queue's
 * clock is as fresh as its last update (this switch, or the last tick), so the wait may be
 * booked short by up to a tick: the call is marked (FUNCLAT_SPLIT_MISSED).
 */
static __always_inline void split_heal(struct split_thread *t, struct task_struct *task, __u64 now)
{
	__u64 arrived = BPF_CORE_READ(task, sched_info.last_arrival), clock = BPF_CORE_READ(task, se.cfs_rq, rq, clock);
	__u64 runq = BPF_CORE_READ(task, sched_info.run_delay) - t->off_run_delay, end;

	count_loss(FUNCLAT_LOSS_SPLIT_SWITCH_IN_UNSEEN);
	t->missed++;
	end = clock >= arrived && now > clock - arrived ? now - (clock - arrived) : now;
	end = end > runq ? end - runq : 0;
	split_close_wait(t, end > t->off_ns ? end : t->off_ns);
}

/* Probe id of TASK's innermost open probed call when it is in one (of process TGID), ~0: none. */
static __always_inline __u32 innermost_probe(struct task_struct *task, __u32 tgid)
{
	struct funclat_stack *st = bpf_task_storage_get(&thread_stacks, task, 0, 0);

	if (st && st->tgid == tgid && st->depth > 0 && st->depth <= FUNCLAT_MAX_DEPTH)
		return st->frames[(st->depth - 1) & FRAME_MASK].probe_id;
	return ~0u;
}

/*
 * Who holds the lock a futex wait of PREV (in its tgid) is for: a PI futex's word names the
 * owner (the kernel enforces it); a plain wait on a glibc mutex has the owner in the mutex,
 * which is only a guess when the futex is something else (a condition variable).
 */
static __always_inline void lock_holder(struct split_thread *t, struct pt_regs *regs, __u32 tgid)
{
	__u64 uaddr = BPF_CORE_READ(regs, di);
	__u32 cmd = BPF_CORE_READ(regs, si) & FUTEX_CMD_MASK, word = 0;
	__s32 owner = 0;
	struct task_struct *holder;

	t->holder_tid = 0;
	t->holder_probe = ~0u;
	t->holder_flags = 0;
	if (cmd == FUTEX_LOCK_PI || cmd == FUTEX_LOCK_PI2) {
		if (bpf_probe_read_user(&word, sizeof(word), (void *)uaddr))
			return;
		t->holder_tid = word & FUTEX_TID_MASK;
		t->holder_flags = FUNCLAT_SPLIT_HOLDER_PI;
	} else {
		if (bpf_probe_read_user(&owner, sizeof(owner), (void *)(uaddr + GLIBC_MUTEX_OWNER_OFFSET)) || owner <= 0)
			return;
		t->holder_tid = owner;
		t->holder_flags = FUNCLAT_SPLIT_HOLDER_OWNER;
	}
	/* What the holder is doing, when it is inside a probed call itself (of this process). */
	holder = bpf_task_from_pid(t->holder_tid);
	if (!holder)
		return;
	t->holder_probe = innermost_probe(holder, tgid);
	bpf_task_release(holder);
}

/* PREV, with open frames, switches out at NOW. A runnable thread waits for a CPU: run_delay. */
static __always_inline void split_switch_out(void *ctx, struct split_thread *t, struct task_struct *prev,
					     bool preempt, unsigned int state, __u64 now)
{
	struct pt_regs *regs;
	long nr;

	if (t->off_ns) /* its switch-in was not seen; before run_delay grows again */
		split_heal(t, prev, now);
	if (preempt || state == PERFBPF_TASK_RUNNING)
		return;
	t->switches++;
	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	nr = BPF_CORE_READ(regs, orig_ax);
	t->holder_tid = 0;
	t->holder_probe = ~0u;
	t->holder_flags = 0;
	t->waker_tid = t->waker_copy = 0;
	t->waker_ustack = -1;
	t->wait_uaddr = 0;
	t->wait_copy = 0;
	if (task_state_is_io(state) || BPF_CORE_READ_BITFIELD_PROBED(prev, in_iowait)) {
		t->kind = FUNCLAT_WAIT_IO;
	} else if (nr == NR_FUTEX || nr == NR_FUTEX_WAITV || nr == NR_FUTEX_WAIT) {
		t->kind = FUNCLAT_WAIT_LOCK;
		/* futex(2) and futex_wait(2) both take the word first: its waker names it. */
		if (nr != NR_FUTEX_WAITV)
			t->wait_uaddr = BPF_CORE_READ(regs, di);
		if (nr == NR_FUTEX)
			lock_holder(t, regs, BPF_CORE_READ(prev, tgid));
		/* Where the lock is taken: through libc's lock, which frame pointers cannot walk. */
		t->wait_copy = copy_user_stack(regs, BPF_CORE_READ(prev, tgid), BPF_CORE_READ(prev, pid));
	} else {
		t->kind = FUNCLAT_WAIT_SLEEP;
	}
	/* This runs in PREV's context: its own stacks, where the wait begins. */
	t->off_run_delay = BPF_CORE_READ(prev, sched_info.run_delay);
	t->off_clock = BPF_CORE_READ(prev, se.cfs_rq, rq, clock);
	t->kstack = bpf_get_stackid(ctx, &wait_stacks, 0);
	t->ustack = bpf_get_stackid(ctx, &wait_stacks, BPF_F_USER_STACK);
	if (t->kstack < 0) /* full, or another stack in its hash slot */
		count_loss(FUNCLAT_LOSS_WAIT_STACK);
	t->off_ns = now;
}

/*
 * T's thread, with a wait open, runs again (NEXT, at NOW). The wait ended when the thread was
 * queued to run: the kernel stamps that (sched_info.last_queued, in the run queue's clock,
 * which this switch has just brought up to date) and counts the time since in run_delay. A
 * thread the load balancer moved while it waited was queued twice: the time on the first run
 * queue is in run_delay already (off_run_delay is run_delay at the switch-out). The wait began
 * at its dequeue, where its CPU time stops (__schedule updates the run queue's clock first):
 * the switch-out's tracepoint comes after picking the next task, usually microseconds later but
 * up to ~250 us on these VMs, which would otherwise be booked on CPU. Both ends are in the run
 * queues' clock (sched_clock, one clock for all CPUs where it is stable).
 */
static __always_inline void split_switch_in(struct split_thread *t, struct task_struct *next, __u64 now)
{
	__u64 queued = next->sched_info.last_queued, clock = BPF_CORE_READ(next, se.cfs_rq, rq, clock);
	__u64 moved = next->sched_info.run_delay - t->off_run_delay, end;

	if (!queued || clock < queued) {
		t->missed++; /* not stamped: the wait is booked up to now, the call marked */
		split_close_wait(t, now);
		return;
	}
	if (t->off_clock && queued > t->off_clock + moved) {
		split_close_wait(t, t->off_ns + (queued - t->off_clock - moved));
		return;
	}
	end = now - (clock - queued);
	end = end > moved ? end - moved : 0;
	split_close_wait(t, end > t->off_ns ? end : t->off_ns);
}

/* A frame opens at depth index D (its stack's depth is now D + 1). */
static __always_inline void split_enter(struct split_thread *t, __u32 d, struct task_struct *task)
{
	struct split_frame *f = &t->frames[d & FRAME_MASK];

	f->run_delay = task->sched_info.run_delay;
	f->blocked[FUNCLAT_WAIT_IO] = t->blocked[FUNCLAT_WAIT_IO];
	f->blocked[FUNCLAT_WAIT_LOCK] = t->blocked[FUNCLAT_WAIT_LOCK];
	f->blocked[FUNCLAT_WAIT_SLEEP] = t->blocked[FUNCLAT_WAIT_SLEEP];
	f->wait_ns = 0;
	f->kstack = f->ustack = -1;
	f->kind = FUNCLAT_WAIT_SLEEP;
	f->holder_tid = 0;
	f->holder_probe = ~0u;
	f->waker_tid = f->waker_copy = 0;
	f->waker_ustack = -1;
	f->wait_copy = 0;
	f->flags = 0;
	f->missed = t->missed;
	f->switches = t->switches;
	f->nvcsw = task->nvcsw;
}

/* The split of the call at depth index IDX, returning now. */
static __always_inline void split_fill(struct split_thread *t, __u32 idx, struct funclat_split *out,
				       struct task_struct *task)
{
	struct split_frame *f = &t->frames[idx & FRAME_MASK];
	__u64 run_delay = task->sched_info.run_delay;
	/* A blocking switch-out the program did not see: its wait is in on-CPU time. */
	bool unseen = task->nvcsw - f->nvcsw != (__u64)(t->switches - f->switches);

	out->runq_ns = run_delay > f->run_delay ? run_delay - f->run_delay : 0;
	out->io_ns = t->blocked[FUNCLAT_WAIT_IO] - f->blocked[FUNCLAT_WAIT_IO];
	out->lock_ns = t->blocked[FUNCLAT_WAIT_LOCK] - f->blocked[FUNCLAT_WAIT_LOCK];
	out->sleep_ns = t->blocked[FUNCLAT_WAIT_SLEEP] - f->blocked[FUNCLAT_WAIT_SLEEP];
	out->wait_ns = f->wait_ns;
	out->wait_kstack = f->kstack;
	out->wait_ustack = f->ustack;
	out->wait_kind = f->kind;
	out->holder_tid = f->holder_tid;
	out->holder_probe = f->holder_probe;
	out->waker_tid = f->waker_tid;
	out->waker_ustack = f->waker_ustack;
	out->waker_copy = f->waker_copy;
	out->wait_copy = f->wait_copy;
	out->flags = f->flags | (t->missed != f->missed || unseen ? FUNCLAT_SPLIT_MISSED : 0);
}

#endif /* PERFBPF_FUNCLAT_SPLIT_BPF_H */
