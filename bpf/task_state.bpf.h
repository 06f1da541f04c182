/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A task's scheduler state, read the same way on kernels before and after 5.14. */
#ifndef PERFBPF_TASK_STATE_BPF_H
#define PERFBPF_TASK_STATE_BPF_H

#define PERFBPF_TASK_RUNNING 0
#define PERFBPF_TASK_UNINTERRUPTIBLE 2
#define PERFBPF_TASK_DEAD 0x80
#define PERFBPF_TASK_NOLOAD 0x400
#define PERFBPF_PF_EXITING 0x00000004 /* task_struct::flags: in do_exit() */

/*
 * Waiting in uninterruptible sleep: I/O and the like. TASK_IDLE (uninterruptible + noload) is
 * how idle kernel workers wait for work; it is not I/O.
 */
static __always_inline bool task_state_is_io(long state)
{
	return (state & PERFBPF_TASK_UNINTERRUPTIBLE) && !(state & PERFBPF_TASK_NOLOAD);
}

/* Linux 5.14 (commit 2f064a59a11f) renamed task_struct::state to __state. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/*
 * The same, for a pointer the verifier knows as a task_struct (a tp_btf argument, an iterator's
 * task): a plain load rather than a bpf_probe_read_kernel() call, which costs some 20-40 ns on
 * every scheduler event.
 */
static __always_inline long task_state_btf(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return ((struct task_struct___pre514 *)t)->state;
}

#endif /* PERFBPF_TASK_STATE_BPF_H */
