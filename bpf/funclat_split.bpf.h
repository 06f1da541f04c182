/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --decompose: where each probed call's time went (struct funclat_split). A thread that made
 * a probed call gets a task-local record; the scheduler programs (funclat_sched.bpf.c) look it
 * up first and return at once for every other thread, and do their work only while it has open
 * frames. Totals are per thread and only grow; each frame keeps them as they were at its
 * entry, so a return reads its split as a difference, whatever the nesting depth:
 *  - waiting for a CPU: the kernel's own sched_info.run_delay (what schedstat reports), read
 *    at entry and return, when the thread runs and the counter is current;
 *  - blocked: from switch-out to wakeup, by why it blocked (enum funclat_wait);
 *  - on CPU: the rest of the call's duration (userspace computes it).
 */
#ifndef PERFBPF_FUNCLAT_SPLIT_BPF_H
#define PERFBPF_FUNCLAT_SPLIT_BPF_H

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

/* TASK is the current task (a helper call fetches it: callers fetch it once). */
static __always_inline struct split_thread *split_of(struct task_struct *task, bool create)
{
	return bpf_task_storage_get(&split_threads, task, 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* split_close_wait's walk over the open frames, for bpf_loop. */
struct split_wait_walk {
	struct split_thread *t;
	__u64 dt;
	__u32 kind;
};

static long split_close_wait_frame(__u64 i, void *data)
{
	struct split_wait_walk *w = data;
	struct split_thread *t = w->t;
	struct split_frame *f = &t->frames[i & FRAME_MASK];

	if (w->dt <= f->wait_ns)
		return 0;
	f->wait_ns = w->dt;
	f->kstack = t->kstack;
	f->ustack = t->ustack;
	f->kind = w->kind;
	f->holder_tid = t->holder_tid;
	f->holder_probe = t->holder_probe;
	f->waker_tid = t->waker_tid;
	f->waker_copy = t->waker_copy;
	f->waker_ustack = t->waker_ustack;
	f->wait_copy = t->wait_copy;
	f->flags = (f->flags & FUNCLAT_SPLIT_MISSED) | t->holder_flags;
	return 0;
}

/*
 * Books T's open wait up to NOW to its kind, and to every open frame's longest wait. The walk
 * is a bpf_loop, verified once: as a bounded loop, inlined at four places, it was verified 32
 * times at each (handle_split_switch: ~23 600 processed instructions).
 */
static __always_inline void split_close_wait(struct split_thread *t, __u64 now)
{
	struct split_wait_walk w = {.t = t, .dt = now > t->off_ns ? now - t->off_ns : 0};

	w.kind = t->kind < FUNCLAT_WAIT_NR ? t->kind : FUNCLAT_WAIT_SLEEP;
	t->off_ns = 0;
	t->blocked[w.kind] += w.dt;
	bpf_loop(t->open < FUNCLAT_MAX_DEPTH ? t->open : FUNCLAT_MAX_DEPTH, split_close_wait_frame, &w, 0);
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
