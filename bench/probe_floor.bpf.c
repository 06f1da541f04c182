// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor of timing a call in a uprobe session, piece by piece, for bench/probe_floor.py to
 * set perfbpf's handle_session against (BPF program time per call, the kernel's statistics):
 *  - floor_noop: nothing (what bpftrace's no-op pair costs, in a session);
 *  - floor_clocks: entry or return told apart (bpf_get_func_ip), a clock read at each, and one
 *    record to a ring buffer at the return: the least any timer that streams calls does;
 *  - floor_stamp: that, and the entry's time kept per thread in task storage and found again
 *    at the return, with the attach cookie read at both: the least a correct per-thread timer
 *    does (perfbpf adds nesting, unwinding and loss accounting on top).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} floor_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} floor_stamps SEC(".maps");

struct floor_record {
	__u64 start_ns, duration_ns, cookie;
};

SEC("uprobe")
int floor_noop(struct pt_regs *ctx)
{
	return 0;
}

SEC("uprobe")
int floor_clocks(struct pt_regs *ctx)
{
	struct floor_record r = {};

	if (ctx->ip == bpf_get_func_ip(ctx)) {
		r.start_ns = bpf_ktime_get_ns();
		return r.start_ns == 0; /* used, so the read is not optimized away */
	}
	r.duration_ns = bpf_ktime_get_ns();
	bpf_ringbuf_output(&floor_events, &r, sizeof(r), BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int floor_stamp(struct pt_regs *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct floor_record r = {};
	__u64 *stamp;

	if (ctx->ip == bpf_get_func_ip(ctx)) {
		r.cookie = bpf_get_attach_cookie(ctx);
		stamp = bpf_task_storage_get(&floor_stamps, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!stamp)
			return 1;
		*stamp = bpf_ktime_get_ns() + (r.cookie & 0);
		return 0;
	}
	r.duration_ns = bpf_ktime_get_ns();
	r.cookie = bpf_get_attach_cookie(ctx);
	stamp = bpf_task_storage_get(&floor_stamps, task, 0, 0);
	if (!stamp)
		return 0;
	r.start_ns = *stamp;
	r.duration_ns -= r.start_ns;
	bpf_ringbuf_output(&floor_events, &r, sizeof(r), BPF_RB_NO_WAKEUP);
	return 0;
}
