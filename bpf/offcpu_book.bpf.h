/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The off-CPU view's books (bpf/profile.bpf.c): each thread's open wait and the time booked
 * per (stacks, reason), shared by the switch and wakeup programs and the window's passes.
 */
#ifndef PERFBPF_OFFCPU_BOOK_BPF_H
#define PERFBPF_OFFCPU_BOOK_BPF_H

#define PERFBPF_EEXIST 17 /* a wait is open already (BPF_NOEXIST) */

const volatile __u64 min_block_ns = 1000; /* shorter off-CPU spells are not worth a record */

/*
 * The off-CPU window, CLOCK_MONOTONIC, set by userspace (0: not yet): the programs time waits
 * inside it only, and the open_waits / close_waits passes count the part inside it of waits
 * that began before it or had not ended when it closed.
 */
__u64 window_start_ns = 0, window_end_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_COUNTS);
	__type(key, __u32); /* tid */
	__type(value, struct offcpu_start);
} switched_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_COUNTS);
	__type(key, struct offcpu_key);
	__type(value, __u64);
} offcpu SEC(".maps");

/* Allocated as used: only threads already waiting when the session began have one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PROFILE_MAX_START_STACKS);
	__type(key, __u32); /* tid */
	__type(value, struct task_stack);
} start_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct task_stack); /* too big for the BPF stack */
} stack_scratch SEC(".maps");

static __always_inline __u32 offcpu_state_of(struct task_struct *t)
{
	long state = task_state(t);

	if (state == PERFBPF_TASK_RUNNING)
		return OFFCPU_RUNNABLE;
	return task_state_is_io(state) ? OFFCPU_IO : OFFCPU_SLEEP;
}

static __always_inline bool window_open(void)
{
	return window_start_ns && !window_end_ns;
}

static __always_inline void add_wait(const struct offcpu_key *key, __u64 ns)
{
	if (!counter_add(&offcpu, key, ns))
		count_loss(PROFILE_LOSS_COUNTS_FULL);
}

/* Books the wait S until END: asleep until its wakeup, waiting for a CPU from then on. */
static __always_inline void book_wait(const struct offcpu_start *s, __u64 end)
{
	struct offcpu_key key = s->key;
	__u64 woken = s->woken_ns;

	if (end <= s->ts_ns || end - s->ts_ns < min_block_ns)
		return;
	if (key.state != OFFCPU_RUNNABLE && woken > s->ts_ns && woken < end) {
		add_wait(&key, woken - s->ts_ns);
		key.state = OFFCPU_RUNNABLE;
		add_wait(&key, end - woken);
		return;
	}
	add_wait(&key, end - s->ts_ns);
}

/*
 * Takes TID's open wait out of the map into OUT. Only the caller whose delete succeeds books
 * it: a switch-in and the close_waits pass may race for the same wait.
 */
static __always_inline bool take_wait(__u32 tid, struct offcpu_start *out)
{
	struct offcpu_start *s = bpf_map_lookup_elem(&switched_out, &tid);

	if (!s)
		return false;
	*out = *s;
	return bpf_map_delete_elem(&switched_out, &tid) == 0;
}

static __always_inline void open_wait(__u32 tid, const struct offcpu_start *s, __u64 flags)
{
	long err = bpf_map_update_elem(&switched_out, &tid, s, flags);

	if (err && err != -PERFBPF_EEXIST)
		count_loss(PROFILE_LOSS_WAITS_FULL);
}

/*
 * A thread switching out (PREV, at NOW) with a wait still open: the switch-in that ended it
 * went unseen (on this project's VMs about one a second for a busy thread). The kernel
 * stamped it (sched_info.last_arrival, in its run queue's clock, just updated by __schedule
 * on this CPU), so the wait is booked up to then. Without the stamp only the part until the
 * wakeup is booked, and the rest is counted as lost.
 */
static __always_inline void close_unended_wait(struct task_struct *prev, __u32 tid, __u64 now)
{
	struct offcpu_start s;
	__u64 clock, arrived, ran = 0;

	if (!take_wait(tid, &s))
		return;
	if (bpf_core_field_exists(prev->sched_info.last_arrival) && bpf_core_field_exists(prev->se.cfs_rq->rq)) {
		arrived = BPF_CORE_READ(prev, sched_info.last_arrival);
		clock = BPF_CORE_READ(prev, se.cfs_rq, rq, clock);
		if (arrived && clock >= arrived)
			ran = clock - arrived;
	}
	if (ran && now - ran > s.ts_ns) {
		book_wait(&s, now - ran);
		return;
	}
	count_loss(PROFILE_LOSS_MISSED_SWITCH_IN);
	if (s.key.state != OFFCPU_RUNNABLE && s.woken_ns)
		book_wait(&s, s.woken_ns);
}

#endif /* PERFBPF_OFFCPU_BOOK_BPF_H */
