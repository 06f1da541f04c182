/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --decompose: copies of a thread's user registers and stack top (bpf/funclat.h struct
 * funclat_user_copy) where a lock wait begins and where its holder ends it, for userspace to
 * unwind by CFI: frame pointers skip the caller of a libc function built without them.
 */
#ifndef PERFBPF_FUNCLAT_COPY_BPF_H
#define PERFBPF_FUNCLAT_COPY_BPF_H

/* The latest copies (bpf/funclat.h struct funclat_user_copy). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FUNCLAT_MAX_USER_COPIES);
	__type(key, __u32);
	__type(value, struct funclat_user_copy);
} user_copies SEC(".maps");

__u64 user_copy_seq = 0; /* copies taken */

/* Copies the current task's user registers REGS and its stack top; returns the copy's seq, 0: none. */
static __always_inline __u32 copy_user_stack(struct pt_regs *regs, __u32 tgid, __u32 tid)
{
	__u64 seq = __sync_fetch_and_add(&user_copy_seq, 1) + 1, sp = BPF_CORE_READ(regs, sp);
	__u32 slot = (seq - 1) % FUNCLAT_MAX_USER_COPIES, size;
	struct funclat_user_copy *c = bpf_map_lookup_elem(&user_copies, &slot);

	if (!c)
		return 0;
	c->seq = 0; /* being written */
	c->tgid = tgid;
	c->tid = tid;
	c->start = sp;
	c->trampoline = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), mm, uprobes_state.xol_area, vaddr);
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
	size = FUNCLAT_USER_COPY_BYTES;
	if (bpf_probe_read_user(c->stack, size, (void *)sp)) {
		size = 4096 - (sp & 4095);
		if (size > FUNCLAT_USER_COPY_BYTES)
			size = FUNCLAT_USER_COPY_BYTES;
		if (bpf_probe_read_user(c->stack, size, (void *)sp)) {
			count_loss(FUNCLAT_LOSS_USER_COPY);
			return 0;
		}
	}
	c->size = size;
	c->seq = seq;
	return seq;
}

#endif /* PERFBPF_FUNCLAT_COPY_BPF_H */
