// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --decompose: the scheduler's view of threads with open probed calls (funclat_split.bpf.h),
 * and who ended their lock waits (funclat_waker.bpf.h). An object of its own, loaded only with
 * --decompose: its tp_btf programs and kfuncs need kernel BTF ids (kernel_calls.h), which
 * plain function timing (funclat.bpf.c) does without. Userspace gives it the timing object's
 * thread_stacks, split_threads and losses maps (bpf_map__reuse_fd).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "funclat.h"
#include "kernel_calls.h"
#include "map_helpers.bpf.h"
#include "funclat_task.bpf.h"
#include "funclat_split.bpf.h"
#include "task_state.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

PERFBPF_KERNEL_CALL(struct task_struct *, bpf_task_from_pid, (s32 pid));
PERFBPF_KERNEL_CALL(void, bpf_task_release, (struct task_struct *p));

/* x86-64 system call numbers that block on a futex. */
#define NR_FUTEX 202
#define NR_FUTEX_WAITV 449
#define NR_FUTEX_WAIT 455
#define FUTEX_CMD_MASK 0x7f
#define FUTEX_LOCK_PI 6
#define FUTEX_LOCK_PI2 13
#define FUTEX_TID_MASK 0x3fffffff
#define GLIBC_MUTEX_OWNER_OFFSET 8 /* struct __pthread_mutex_s: int __lock, __count, __owner */

/* Stacks where waits began. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, FUNCLAT_MAX_WAIT_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, FUNCLAT_WAIT_STACK_DEPTH * sizeof(__u64));
} wait_stacks SEC(".maps");

#include "funclat_copy.bpf.h"

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

#include "funclat_waker.bpf.h"

/*
 * The scheduler's view of threads with open probed calls (funclat_split.bpf.h). A thread without a --decompose record costs two loads of its task's storage pointer (and
 * when some BPF program gave it storage, a lookup that finds nothing), nothing else: not even
 * a clock read. A wait ends when the thread is queued to run,
 * which the kernel stamps (sched_info.last_queued) and this program reads at switch-in: no
 * program runs on wakeups at all.
 */
SEC("perfbpf.tp_btf/sched_switch")
int BPF_PROG(handle_split_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct split_thread *t;

	/* A task no BPF program gave local storage (most): one load, no helper call. */
	if (prev->bpf_storage) {
		t = bpf_task_storage_get(&split_threads, prev, 0, 0);
		if (t && t->open)
			split_switch_out(ctx, t, prev, preempt, prev_state, bpf_ktime_get_ns());
	}
	if (next->bpf_storage) {
		t = bpf_task_storage_get(&split_threads, next, 0, 0);
		if (t && t->off_ns)
			split_switch_in(t, next, bpf_ktime_get_ns());
	}
	return 0;
}

/*
 * A thread in a lock wait is being woken; when its waker is the lock's holder
 * unlocking it, that thread and its stacks are the wait's holder (funclat_waker.bpf.h). The
 * same one-load exit as above for every task no BPF program gave storage.
 */
SEC("perfbpf.tp_btf/sched_waking")
int BPF_PROG(handle_split_waking, struct task_struct *p)
{
	struct split_thread *t;

	if (!p->bpf_storage)
		return 0;
	t = bpf_task_storage_get(&split_threads, p, 0, 0);
	if (t && t->open && t->off_ns && t->kind == FUNCLAT_WAIT_LOCK && t->wait_uaddr)
		split_waking(ctx, t, p);
	return 0;
}
