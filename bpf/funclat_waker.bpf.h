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
 * An interrupt (a timeout's hrtimer) that wakes the thread while such a waker happens to be in
 * that very syscall would pass these: the waker's kernel stack is kept too, and userspace takes
 * the waker only when that stack is the futex syscall's own (session/slow_calls.cpp). Reading
 * the preempt count instead needs its per-CPU symbol, which kallsyms lacks without
 * CONFIG_KALLSYMS_ALL (so on these machines).
 */
#ifndef PERFBPF_FUNCLAT_WAKER_BPF_H
#define PERFBPF_FUNCLAT_WAKER_BPF_H

#define NR_FUTEX_WAKE 454
#define FUTEX_WAKE 1
#define FUTEX_WAKE_OP 5
#define FUTEX_UNLOCK_PI 7
#define FUTEX_WAKE_BITSET 10
#define PERFBPF_PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/* The latest holders' registers and stack tops (bpf/funclat.h struct funclat_holder_copy). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FUNCLAT_MAX_HOLDER_COPIES); /* 1 without --decompose (userspace) */
	__type(key, __u32);
	__type(value, struct funclat_holder_copy);
} holder_copies SEC(".maps");

__u64 holder_seq = 0; /* copies taken */

/* Copies the current task's user registers REGS and stack top; returns the copy's seq, 0: none. */
static __always_inline __u32 copy_holder_stack(struct pt_regs *regs, __u32 tgid, __u32 tid)
{
	__u64 seq = __sync_fetch_and_add(&holder_seq, 1) + 1, sp = BPF_CORE_READ(regs, sp);
	__u32 slot = (seq - 1) % FUNCLAT_MAX_HOLDER_COPIES, size;
	struct funclat_holder_copy *c = bpf_map_lookup_elem(&holder_copies, &slot);

	if (!c)
		return 0;
	c->seq = 0; /* being written */
	c->tgid = tgid;
	c->tid = tid;
	c->start = sp;
	c->regs[0] = BPF_CORE_READ(regs, ax);
	c->regs[1] = BPF_CORE_READ(regs, dx);
	c->regs[2] = BPF_CORE_READ(regs, cx);
	c->regs[3] = BPF_CORE_READ(regs, bx);
	c->regs[4] = BPF_CORE_READ(regs, si);
	c->regs[5] = BPF_CORE_READ(regs, di);
	c->regs[6] = BPF_CORE_READ(regs, bp);
	c->regs[7] = sp;
	c->regs[8] = BPF_CORE_READ(regs, r8);
	c->regs[9] = BPF_CORE_READ(regs, r9);
	c->regs[10] = BPF_CORE_READ(regs, r10);
	c->regs[11] = BPF_CORE_READ(regs, r11);
	c->regs[12] = BPF_CORE_READ(regs, r12);
	c->regs[13] = BPF_CORE_READ(regs, r13);
	c->regs[14] = BPF_CORE_READ(regs, r14);
	c->regs[15] = BPF_CORE_READ(regs, r15);
	c->regs[16] = BPF_CORE_READ(regs, ip);
	/* The whole window, or (near the top of the stack) to the end of sp's page. */
	size = FUNCLAT_HOLDER_STACK_BYTES;
	if (bpf_probe_read_user(c->stack, size, (void *)sp)) {
		size = 4096 - (sp & 4095);
		if (size > FUNCLAT_HOLDER_STACK_BYTES)
			size = FUNCLAT_HOLDER_STACK_BYTES;
		if (bpf_probe_read_user(c->stack, size, (void *)sp)) {
			count_loss(FUNCLAT_LOSS_HOLDER_STACK);
			return 0;
		}
	}
	c->size = size;
	c->seq = seq;
	return seq;
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
	if (BPF_CORE_READ(regs, di) != t->wait_uaddr)
		return;
	t->waker_tid = waker->pid;
	t->waker_kstack = bpf_get_stackid(ctx, &wait_stacks, 0);
	/* Frame pointers (cheap, and all a program built with them needs past libc), and the copy
	 * that CFI unwinds through a libc built without them. */
	t->waker_ustack = bpf_get_stackid(ctx, &wait_stacks, BPF_F_USER_STACK);
	if (t->waker_kstack < 0 || t->waker_ustack < 0)
		count_loss(FUNCLAT_LOSS_WAIT_STACK);
	t->waker_copy = copy_holder_stack(regs, waker->tgid, waker->pid);
}

#endif /* PERFBPF_FUNCLAT_WAKER_BPF_H */
