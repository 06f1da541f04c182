/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --decompose: who ended a lock wait, and where it was. A thread blocked in futex(2) on a word
 * is woken by the thread that calls futex(FUTEX_WAKE) on that word: for a mutex, the holder
 * unlocking it (pthread_mutex_unlock -> __lll_lock_wake). sched_waking fires inside
 * try_to_wake_up in the waker's own context (sched_wakeup may fire later on the wakee's CPU,
 * from an IPI, where "current" is whoever runs there), so the waker's stacks are current's.
 *
 * Recorded only when all of these hold (the holder otherwise stays as the switch-out found it:
 * the mutex's owner field, a PI futex's word, or unknown), never guessed:
 *  - the woken thread has open probed calls and its open wait is a futex wait on a known word;
 *  - the waker is a user thread of the same process, other than the woken thread;
 *  - the waker's user registers say it is inside futex(2) with a wake operation, or
 *    futex_wake(2), on that same word (a condition variable's requeue, or a wake on another
 *    word, is no unlock of this lock).
 *  - and this runs on the waker's own kernel stack: an interrupt taken in kernel mode (a
 *    timeout's hrtimer, a softirq at its exit) runs on the CPU's IRQ stack on x86-64, an NMI on
 *    its own, so one that wakes the thread while the waker happens to be in that very syscall
 *    is not taken for its unlock. (An interrupt taken in user mode stays on the task stack, but
 *    then the task's saved registers are the interrupt's, no futex syscall's.)
 * The preempt count would say "interrupt" directly, but its per-CPU symbol is not in kallsyms
 * without CONFIG_KALLSYMS_ALL (these machines); a kernel stack walk to tell it costs ~5 us.
 */
#ifndef PERFBPF_FUNCLAT_WAKER_BPF_H
#define PERFBPF_FUNCLAT_WAKER_BPF_H

#define NR_FUTEX_WAKE 454
#define FUTEX_WAKE 1
#define FUTEX_WAKE_OP 5
#define FUTEX_UNLOCK_PI 7
#define FUTEX_WAKE_BITSET 10
#define PERFBPF_PF_KTHREAD 0x00200000 /* include/linux/sched.h */
/* x86-64 THREAD_SIZE without KASAN (16 KiB; with KASAN 32 KiB, and then no waker is taken) */
#define PERFBPF_THREAD_SIZE (16u << 10)

/*
 * Whether the tracepoint fired on TASK's kernel stack (not an IRQ or exception stack): CTX, the
 * tracepoint's arguments, is an array on the stack of the kernel function that ran the program
 * (bpf_trace_run1). The program's own stack says nothing: since Linux 6.14 it may be a per-CPU
 * private one.
 */
static __always_inline bool on_task_stack(void *ctx, struct task_struct *task)
{
	__u64 here = 0, base = (__u64)BPF_CORE_READ(task, stack);
	void *args = ctx;

	/* CTX's address as a number: read back through the helper, not cast. */
	if (bpf_probe_read_kernel(&here, sizeof(here), &args))
		return false;
	return base && here - base < PERFBPF_THREAD_SIZE;
}

/* WAKEE, with open probed calls and a futex wait open (T), is being woken by the current task. */
static __always_inline void split_waking(void *ctx, struct split_thread *t, struct task_struct *wakee)
{
	struct task_struct *waker = bpf_get_current_task_btf();
	struct pt_regs *regs;
	__u32 op;
	long nr;

	if (waker == wakee || waker->tgid != wakee->tgid || (waker->flags & PERFBPF_PF_KTHREAD))
		return;
	regs = (struct pt_regs *)bpf_task_pt_regs(waker);
	nr = BPF_CORE_READ(regs, orig_ax);
	op = BPF_CORE_READ(regs, si) & FUTEX_CMD_MASK;
	if (nr == NR_FUTEX) {
		if (op != FUTEX_WAKE && op != FUTEX_WAKE_OP && op != FUTEX_UNLOCK_PI && op != FUTEX_WAKE_BITSET)
			return;
	} else if (nr != NR_FUTEX_WAKE) {
		return;
	}
	if (BPF_CORE_READ(regs, di) != t->wait_uaddr || !on_task_stack(ctx, waker))
		return;
	t->waker_tid = waker->pid;
	/* Frame pointers (cheap, and all a program built with them needs past libc), and the copy
	 * that CFI unwinds through a libc built without them. */
	t->waker_ustack = bpf_get_stackid(ctx, &wait_stacks, BPF_F_USER_STACK);
	if (t->waker_ustack < 0)
		count_loss(FUNCLAT_LOSS_WAIT_STACK);
	t->waker_copy = copy_user_stack(regs, waker->tgid, waker->pid);
}

#endif /* PERFBPF_FUNCLAT_WAKER_BPF_H */
