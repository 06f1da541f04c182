// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Exact per-call function latency: a uprobe/uretprobe pair per target function, one program
 * pair attached many times with the attach cookie as probe id. A per-thread stack of open
 * calls times nested and recursive calls exactly; every loss is counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "funclat.h"
#include "map_helpers.bpf.h"

_Static_assert((FUNCLAT_MAX_DEPTH & (FUNCLAT_MAX_DEPTH - 1)) == 0, "depth masks need a power of two");

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings, written by userspace between open and load. */
const volatile bool filter_tgid = false; /* false: every process (system-wide) */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FUNCLAT_RINGBUF_BYTES);
} events SEC(".maps");

/* Open calls per thread; sized by userspace before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FUNCLAT_MAX_THREADS);
	__type(key, __u32); /* tid */
	__type(value, struct funclat_stack);
} stacks SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FUNCLAT_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

/* Calls still open when their thread exited (exit() inside a probed function, killed). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FUNCLAT_MAX_PROBES);
	__type(key, __u32); /* probe id */
	__type(value, __u64);
} unreturned SEC(".maps");

/*
 * Calibrated cost of one probed call (entry + return probe, as its caller sees it) per probe
 * id, written by userspace before attaching; 0 when not calibrated.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FUNCLAT_MAX_PROBES);
	__type(key, __u32); /* probe id */
	__type(value, __u64);
} probe_cost SEC(".maps");

/* A zeroed stack to insert from: the value is larger than the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct funclat_stack);
} scratch SEC(".maps");

static __always_inline bool is_target(__u32 tgid)
{
	return !filter_tgid || bpf_map_lookup_elem(&targets, &tgid);
}

static __always_inline struct funclat_stack *thread_stack(__u32 tid, __u32 tgid)
{
	struct funclat_stack *st = bpf_map_lookup_elem(&stacks, &tid);
	__u32 zero = 0;

	if (st)
		return st;
	st = bpf_map_lookup_elem(&scratch, &zero);
	if (!st)
		return NULL;
	st->depth = 0;
	st->tgid = tgid;
	bpf_map_update_elem(&stacks, &tid, st, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&stacks, &tid);
	if (!st)
		count_loss(FUNCLAT_LOSS_THREAD_MAP_FULL);
	return st;
}

SEC("uprobe")
int BPF_KPROBE(handle_entry)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct funclat_stack *st;
	__u32 d;

	if (!is_target(tgid))
		return 0;
	st = thread_stack(tid, tgid);
	if (!st)
		return 0;
	d = st->depth;
	if (d >= FUNCLAT_MAX_DEPTH) {
		/* Keep the logical depth so the matching return is recognised and skipped. */
		st->depth = d + 1;
		count_loss(FUNCLAT_LOSS_DEPTH_OVERFLOW);
		return 0;
	}
	st->frames[d].probe_id = (__u32)bpf_get_attach_cookie(ctx);
	st->frames[d].nested_calls = 0;
	st->frames[d].nested_cost_ns = 0;
	st->depth = d + 1;
	/* Last, so the handler's own work above is not inside the measured interval. */
	st->frames[d].start_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline __u64 wakeup_flag(void)
{
	/* Watermark wake-ups: one per FUNCLAT_WAKEUP_BYTES instead of one per record. */
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= FUNCLAT_WAKEUP_BYTES
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

SEC("uretprobe")
int BPF_KRETPROBE(handle_return)
{
	/* First, so the handler's own work below is not inside the measured interval. */
	__u64 now = bpf_ktime_get_ns();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	__u32 probe = (__u32)bpf_get_attach_cookie(ctx);
	struct funclat_event *e;
	struct funclat_stack *st;
	__u64 start = 0, nested_cost = 0, *own_cost;
	__u32 nested = 0;
	int found = -1;
	__u32 d;

	if (!is_target(tgid))
		return 0;
	st = bpf_map_lookup_elem(&stacks, &tid);
	if (!st || st->depth == 0) {
		count_loss(FUNCLAT_LOSS_MISSING_ENTRY);
		return 0;
	}
	d = st->depth;
	if (d > FUNCLAT_MAX_DEPTH) {
		st->depth = d - 1; /* an overflowed call: counted at entry, not timed */
		return 0;
	}
	/*
	 * Normally the top frame is ours. Frames above ours belong to calls whose return was
	 * skipped (longjmp, exceptions): they are dropped and counted, not mis-timed.
	 */
	for (__u32 i = 0; i < FUNCLAT_MAX_DEPTH; i++) {
		/* The mask changes nothing (i < d <= MAX) but lets the verifier see the bound. */
		__u32 idx = (d - 1 - i) & (FUNCLAT_MAX_DEPTH - 1);

		if (i >= d)
			break;
		if (st->frames[idx].probe_id != probe)
			continue;
		found = idx;
		start = st->frames[idx].start_ns;
		nested = st->frames[idx].nested_calls;
		nested_cost = st->frames[idx].nested_cost_ns;
		st->depth = idx;
		if (idx > 0) {
			/* The caller's interval holds this call's probes and all of its descendants'. */
			__u32 parent = (idx - 1) & (FUNCLAT_MAX_DEPTH - 1);

			own_cost = bpf_map_lookup_elem(&probe_cost, &probe);
			st->frames[parent].nested_calls += nested + 1;
			st->frames[parent].nested_cost_ns += nested_cost + (own_cost ? *own_cost : 0);
		}
		break;
	}
	if (found < 0) {
		count_loss(FUNCLAT_LOSS_MISSING_ENTRY);
		return 0;
	}
	if ((__u32)found + 1 < d)
		percpu_add(&losses, FUNCLAT_LOSS_UNWOUND, d - 1 - (__u32)found);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_loss(FUNCLAT_LOSS_RINGBUF_FULL);
		return 0;
	}
	e->start_ns = start;
	e->duration_ns = now - start;
	e->probe_id = probe;
	e->tgid = tgid;
	e->tid = tid;
	e->cpu = bpf_get_smp_processor_id();
	e->depth = found;
	e->nested_calls = nested;
	e->nested_cost_ns = nested_cost;
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	__u32 tid = BPF_CORE_READ(task, pid);
	struct funclat_stack *st = bpf_map_lookup_elem(&stacks, &tid);

	if (st) {
		__u32 open = st->depth < FUNCLAT_MAX_DEPTH ? st->depth : FUNCLAT_MAX_DEPTH;

		for (int i = 0; i < FUNCLAT_MAX_DEPTH; i++) {
			__u32 probe;
			__u64 *n;

			if (i >= open)
				break;
			probe = st->frames[i].probe_id;
			n = bpf_map_lookup_elem(&unreturned, &probe);
			if (n)
				__sync_fetch_and_add(n, 1);
		}
		bpf_map_delete_elem(&stacks, &tid);
	}
	return 0;
}
