// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Exact per-call function latency. Each program is attached many times, the attach cookie
 * carrying the probe id and how the function is probed (bpf/funclat.h):
 *  - handle_session: entry and uretprobe return in one uprobe-session link (Linux 6.13+);
 *    a call not kept (another process, depth overflow) costs no return probe;
 *  - handle_entry + handle_return: the same as two links, on older kernels;
 *  - handle_entry + handle_exit_site: entry, and probes on every instruction that leaves
 *    the function, for Go and for code an exception can pass through.
 * Which processes count is the target set's (bpf/target_set.bpf.c).
 * Open calls live on per-thread (per-goroutine) stacks (funclat_stack.bpf.h); every loss
 * is counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "funclat.h"
#include "map_helpers.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings, written by userspace between open and load. */
const volatile bool filter_tgid = false; /* false: every process (system-wide) */

/*
 * Processes being profiled (when filter_tgid). In a session this is the target set of
 * bpf/target_set.bpf.c, shared through bpf_map__reuse_fd, which keeps it current from
 * exec/fork/exit; standalone (calibration) userspace fills it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* written once per process: funclat_maps.bpf.h */
	__uint(max_entries, FUNCLAT_MAX_TGIDS);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} targets SEC(".maps");

/* Threads that made probed calls and exited: their CPU time over the session. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* written at a thread's exit: funclat_maps.bpf.h */
	__uint(max_entries, FUNCLAT_MAX_THREADS);
	__type(key, __u32); /* tid */
	__type(value, struct funclat_thread_cpu);
} thread_cpu SEC(".maps");

static __always_inline bool is_target(__u32 tgid)
{
	return !filter_tgid || bpf_map_lookup_elem(&targets, &tgid);
}

#include "funclat_stack.bpf.h"
#include "funclat_exits.bpf.h"

/*
 * Entry or return, told without the bpf_session_is_return kfunc (so the object needs no kernel
 * id: bpf/kernel_calls.h): the kernel runs a session's entry with the function's address as
 * both regs->ip and bpf_get_func_ip (uprobe_multi_link_handler passes instruction_pointer()
 * as entry_ip), and its return with regs->ip at the return address and bpf_get_func_ip still
 * the function's (uprobe_multi_link_ret_handler). A return address equal to the probed
 * address would need a call instruction ending exactly at the function's probed instruction and
 * returning into it: compilers emit none (tests/bpf/test_funclat_session.cpp checks the pairing).
 */
static __always_inline bool session_entry(struct pt_regs *ctx)
{
	return ctx->ip == bpf_get_func_ip(ctx);
}

SEC("uprobe")
int handle_session(struct pt_regs *ctx)
{
	__u64 now;

	if (session_entry(ctx))
		return enter(ctx, bpf_get_attach_cookie(ctx), true);
	now = bpf_ktime_get_ns(); /* first on the return path: the handler's work is not the call's */
	/* After ret: the return address was popped, so it sat one word lower. */
	leave(ctx, bpf_get_attach_cookie(ctx), ctx->sp - 8, true, now);
	return 0;
}

SEC("uprobe")
int handle_entry(struct pt_regs *ctx)
{
	enter(ctx, bpf_get_attach_cookie(ctx), false);
	return 0;
}

SEC("uretprobe")
int handle_return(struct pt_regs *ctx)
{
	__u64 now = bpf_ktime_get_ns();

	leave(ctx, bpf_get_attach_cookie(ctx), ctx->sp - 8, true, now);
	return 0;
}

SEC("uprobe")
int handle_exit_site(struct pt_regs *ctx)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	bool certain = FUNCLAT_EXIT_KIND(cookie) == FUNCLAT_EXIT_RET || (cookie & FUNCLAT_F_AT_ENTRY_SP);

	/* On a ret or a tail-call jump the return address is on top, as at entry. */
	if (exit_taken(ctx, cookie))
		leave(ctx, cookie, ctx->sp, certain, now);
	return 0;
}

/* count_unreturned's loop state, for bpf_loop. */
struct unreturned_walk {
	const struct funclat_stack *st;
	__u64 level;
};

static long count_unreturned_one(__u64 i, void *data)
{
	const struct unreturned_walk *w = data;
	const struct funclat_frame *f = &w->st->frames[i & FRAME_MASK];

	if (f->level > w->level) {
		count_for_probe(&unwound, f->probe_id);
		count_loss(FUNCLAT_LOSS_UNWOUND);
	} else {
		count_for_probe(&unreturned, f->probe_id);
	}
	return 0;
}

/*
 * Open calls of a stack that is going away are counted as never returned, except those the
 * stack had already unwound past (deeper than LEVEL, where the thread's stack pointer was):
 * those were left by longjmp or an exception. A bpf_loop, verified once (as a bounded loop,
 * 32 times: ~9 000 verified instructions for the exit program's 174, at every start-up).
 */
static __always_inline void count_unreturned(const struct funclat_stack *st, __u64 level)
{
	struct unreturned_walk w = {.st = st, .level = level};

	bpf_loop(st->depth < FUNCLAT_MAX_DEPTH ? st->depth : FUNCLAT_MAX_DEPTH, count_unreturned_one, &w, 0);
}

/* Goroutine stacks of a process that exited: they belong to no thread. */
static long drop_process_stack(struct bpf_map *map, struct funclat_key *key, struct funclat_stack *st,
			       __u32 *tgid)
{
	if (key->tgid == *tgid) {
		count_unreturned(st, ~0ull);
		bpf_map_delete_elem(map, key);
	}
	return 0;
}

/*
 * A raw tracepoint, not tp_btf (which would need the kernel's whole BTF at load): its task
 * argument is untrusted there, but do_exit fires it in the exiting task itself, current.
 */
SEC("raw_tp/sched_process_exit")
int handle_exit(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tid = task->pid, tgid = task->tgid;
	struct funclat_stack *st = bpf_task_storage_get(&thread_stacks, task, 0, 0);

	if (st && st->tid) {
		/* The thread's own user registers: where its stack pointer was when it exited. */
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
		/* Its CPU time, for the overhead estimate: probes cost CPU time. */
		struct funclat_thread_cpu cpu = {
			.cpu_ns = BPF_CORE_READ(task, se.sum_exec_runtime),
			.tgid = tgid,
		};

		count_unreturned(st, 0 - BPF_CORE_READ(regs, sp));
		bpf_map_update_elem(&thread_cpu, &tid, &cpu, BPF_ANY);
		bpf_map_delete_elem(&threads, &tid);
	}
	if (st) /* it would go with the task; now, so that no reader finds it half gone */
		bpf_task_storage_delete(&thread_stacks, task);
	/*
	 * signal->live is decremented before this tracepoint fires (do_exit), so zero means the
	 * whole thread group is gone: its goroutine stacks go with it.
	 */
	if (BPF_CORE_READ(task, signal, live.counter) == 0 && bpf_map_lookup_elem(&go_tgids, &tgid)) {
		bpf_for_each_map_elem(&stacks, drop_process_stack, &tgid, 0);
		bpf_map_delete_elem(&go_tgids, &tgid);
	}
	return 0;
}
