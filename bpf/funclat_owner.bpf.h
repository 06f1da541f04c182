/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Whose call stack a probe hit belongs to, and where that stack lives: a thread's in its
 * task-local storage (one pointer chase from the task on every entry and return), a
 * goroutine's in a hash map keyed by its runtime.g (Go moves goroutines between threads, so
 * the thread is not the owner). Every stack that cannot be kept is a counted loss.
 */
#ifndef PERFBPF_FUNCLAT_OWNER_BPF_H
#define PERFBPF_FUNCLAT_OWNER_BPF_H

#include "funclat_maps.bpf.h"

/* Where a call sits: its owner, and how deep its return address is ("level", bpf/funclat.h). */
struct frame_pos {
	__u64 goroutine; /* the runtime.g; 0: a thread's stack */
	__u64 level;
	__u32 tgid;
	__u32 tid; /* the thread running it now */
	bool target; /* the owner is profiled and its stack can be kept */
};

/*
 * The current thread's stack; CREATE: made at its first kept call. A thread that has one is a
 * target for its life (a process leaves the target set only once its threads are gone), so
 * the target set is asked only for threads without one. A thread the registry had no room for
 * keeps a stack with tid 0: it is never timed, and each of its calls is a counted loss.
 */
static __always_inline struct funclat_stack *thread_stack(bool create, struct frame_pos *pos)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct funclat_stack *st = bpf_task_storage_get(&thread_stacks, task, 0, 0);
	__u64 id;
	__u32 tid;

	/* A trusted task pointer: a load, where bpf_get_current_pid_tgid() is a helper call. */
	pos->tid = task->pid;
	if (st) {
		pos->tgid = st->tgid;
		pos->target = st->tid != 0;
		if (pos->target)
			return st;
		if (create)
			count_loss(FUNCLAT_LOSS_THREAD_MAP_FULL);
		return NULL;
	}
	id = bpf_get_current_pid_tgid();
	pos->tgid = id >> 32;
	pos->target = is_target(pos->tgid);
	if (!create || !pos->target)
		return NULL;
	st = bpf_task_storage_get(&thread_stacks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count_loss(FUNCLAT_LOSS_THREAD_MAP_FULL); /* no memory */
		return NULL;
	}
	st->tgid = pos->tgid;
	tid = (__u32)id;
	if (bpf_map_update_elem(&threads, &tid, &pos->tgid, BPF_ANY)) {
		count_loss(FUNCLAT_LOSS_THREAD_MAP_FULL);
		pos->target = false;
		return NULL;
	}
	st->tid = tid;
	return st;
}

/*
 * A Go call's goroutine stack. Go keeps the current goroutine in R14 (ABIInternal, amd64,
 * Go >= 1.17); its stack bounds are the first field of runtime.g, and the distance from the
 * top survives a stack copy.
 */
static __always_inline struct funclat_stack *goroutine_stack(struct pt_regs *ctx, __u64 entry_sp, bool create,
							     struct frame_pos *pos)
{
	struct funclat_key key = {};
	struct funclat_stack *st, *init;
	__u64 g = ctx->r14, hi = 0;
	__u32 zero = 0;
	__u8 one = 1;

	__u64 id = bpf_get_current_pid_tgid();

	pos->tgid = id >> 32;
	pos->tid = (__u32)id;
	pos->target = is_target(pos->tgid);
	if (!pos->target)
		return NULL;
	if (!g || bpf_probe_read_user(&hi, sizeof(hi), (void *)(g + 8)) || hi < entry_sp) {
		count_loss(FUNCLAT_LOSS_NO_GOROUTINE);
		pos->target = false;
		return NULL;
	}
	pos->goroutine = g;
	pos->level = hi - entry_sp;
	key.tgid = pos->tgid;
	key.goroutine = g;
	st = bpf_map_lookup_elem(&stacks, &key);
	if (st || !create)
		return st;
	init = bpf_map_lookup_elem(&scratch, &zero); /* larger than the BPF stack */
	if (!init)
		return NULL;
	init->depth = 0;
	init->overflow = 0;
	init->tgid = pos->tgid;
	st = map_lookup_or_init(&stacks, &key, init);
	if (st)
		bpf_map_update_elem(&go_tgids, &pos->tgid, &one, BPF_ANY);
	else
		count_loss(FUNCLAT_LOSS_THREAD_MAP_FULL);
	return st;
}

/*
 * The stack a call of probe COOKIE belongs to, its return address at ENTRY_SP (the stack
 * pointer with the return address on top); NULL when it has none (see POS->target).
 */
static __always_inline struct funclat_stack *stack_for(struct pt_regs *ctx, __u64 cookie, __u64 entry_sp, bool create,
						       struct frame_pos *pos)
{
	if (cookie & FUNCLAT_F_GO)
		return goroutine_stack(ctx, entry_sp, create, pos);
	pos->goroutine = 0;
	pos->level = 0 - entry_sp;
	return thread_stack(create, pos);
}

/* A goroutine's stack goes once it has no open call: goroutines come and go by the thousand. */
static __always_inline void release_goroutine_stack(const struct funclat_stack *st, const struct frame_pos *pos)
{
	struct funclat_key key = { .tgid = pos->tgid, .goroutine = pos->goroutine };

	if (pos->goroutine && !st->depth && !st->overflow)
		bpf_map_delete_elem(&stacks, &key);
}

#endif /* PERFBPF_FUNCLAT_OWNER_BPF_H */
