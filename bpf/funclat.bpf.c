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
	__uint(max_entries, FUNCLAT_MAX_TGIDS);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} targets SEC(".maps");

/* Threads that made probed calls and exited: their CPU time over the session. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
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
#include "funclat_waker.bpf.h"

extern bool bpf_session_is_return(void) __ksym __weak;

SEC("uprobe")
int handle_session(struct pt_regs *ctx)
{
	__u64 now;

	if (!bpf_session_is_return())
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

/*
 * --decompose: the scheduler's view of threads with open probed calls (funclat_split.bpf.h).
 * A thread without a --decompose record costs two loads of its task's storage pointer (and
 * when some BPF program gave it storage, a lookup that finds nothing), nothing else: not even
 * a clock read. A wait ends when the thread is queued to run,
 * which the kernel stamps (sched_info.last_queued) and this program reads at switch-in: no
 * program runs on wakeups at all.
 */
SEC("tp_btf/sched_switch")
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
 * --decompose: a thread in a lock wait is being woken; when its waker is the lock's holder
 * unlocking it, that thread and its stacks are the wait's holder (funclat_waker.bpf.h). The
 * same one-load exit as above for every task no BPF program gave storage.
 */
SEC("tp_btf/sched_waking")
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

/*
 * Open calls of a stack that is going away are counted as never returned, except those the
 * stack had already unwound past (deeper than LEVEL, where the thread's stack pointer was):
 * those were left by longjmp or an exception.
 */
static __always_inline void count_unreturned(const struct funclat_stack *st, __u64 level)
{
	__u32 open = st->depth < FUNCLAT_MAX_DEPTH ? st->depth : FUNCLAT_MAX_DEPTH;

	for (int i = 0; i < FUNCLAT_MAX_DEPTH; i++) {
		__u32 probe;

		if (i >= open)
			break;
		probe = st->frames[i].probe_id;
		if (st->frames[i].level > level) {
			count_for_probe(&unwound, probe);
			count_loss(FUNCLAT_LOSS_UNWOUND);
		} else {
			count_for_probe(&unreturned, probe);
		}
	}
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

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	__u32 tid = task->pid, tgid = task->tgid;
	struct funclat_stack *st = bpf_task_storage_get(&thread_stacks, task, 0, 0);

	if (st && st->tid) {
		/* The thread's own user registers: where its stack pointer was when it exited. */
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
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
