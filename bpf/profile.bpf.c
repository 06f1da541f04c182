// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * On-CPU sampling: a cpu-clock perf event per CPU runs this program; it counts samples per
 * (thread, user stack, kernel stack). The software cpu-clock event works on VMs without
 * hardware counters. Stacks are read in userspace after the session.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "profile.h"
#define TARGET_FILTER_MAX_TGIDS PROFILE_MAX_TGIDS
#include "target_filter.bpf.h"
#include "task_state.bpf.h"
#include "map_helpers.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u64 min_block_ns = 1000; /* shorter off-CPU spells are not worth a record */

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, PROFILE_MAX_STACKS);
	__type(key, __u32);
	__uint(value_size, PROFILE_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_COUNTS);
	__type(key, struct profile_key);
	__type(value, __u64);
} counts SEC(".maps");

/*
 * Each sampled process's name, taken at its first sample: a short-lived process has often
 * exited before userspace could read /proc, and its stacks still need a name.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_TGIDS);
	__type(key, __u32); /* tgid */
	__type(value, char[PROFILE_COMM_LEN]);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_COUNTS);
	__type(key, __u32); /* tid */
	__type(value, struct offcpu_start);
} switched_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_COUNTS);
	__type(key, struct offcpu_key);
	__type(value, __u64);
} offcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline void remember_comm(__u32 tgid)
{
	char comm[PROFILE_COMM_LEN];
	struct task_struct *task;

	if (bpf_map_lookup_elem(&comms, &tgid))
		return;
	task = (struct task_struct *)bpf_get_current_task_btf();
	BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm);
	bpf_map_update_elem(&comms, &tgid, &comm, BPF_NOEXIST); /* full: userspace says pid-N */
}

SEC("perf_event")
int handle_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct profile_key key = {};

	key.tgid = id >> 32;
	key.tid = (__u32)id;
	if (!wanted(key.tgid, key.tid))
		return 0;
	remember_comm(key.tgid);

	key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	if (key.kernel_stack_id < 0)
		count_loss(PROFILE_LOSS_KERNEL_STACK);
	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	/* Kernel threads have no user stack: that is not a loss. */
	if (key.user_stack_id < 0 && bpf_get_current_task_btf()->mm)
		count_loss(PROFILE_LOSS_USER_STACK);

	if (!counter_add(&counts, &key, 1))
		count_loss(PROFILE_LOSS_COUNTS_FULL);
	return 0;
}

static __always_inline __u32 offcpu_state_of(struct task_struct *t)
{
	long state = task_state(t);

	if (state == PERFBPF_TASK_RUNNING)
		return OFFCPU_RUNNABLE;
	return task_state_is_io(state) ? OFFCPU_IO : OFFCPU_SLEEP;
}

/*
 * Off-CPU time: at switch-out remember the thread's stacks (this runs in its context) and
 * state; at switch-in add the time it was away to those stacks.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 prev_tid = BPF_CORE_READ(prev, pid), next_tid = BPF_CORE_READ(next, pid);
	__u32 prev_tgid = BPF_CORE_READ(prev, tgid);
	struct offcpu_start start = {}, *s;

	if (wanted(prev_tgid, prev_tid)) {
		start.ts_ns = now;
		start.key.where.tgid = prev_tgid;
		start.key.where.tid = prev_tid;
		start.key.where.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
		start.key.where.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		start.key.state = offcpu_state_of(prev);
		bpf_map_update_elem(&switched_out, &prev_tid, &start, BPF_ANY);
	}
	s = bpf_map_lookup_elem(&switched_out, &next_tid);
	if (!s)
		return 0;
	if (now - s->ts_ns >= min_block_ns) {
		struct offcpu_key key = s->key;
		__u64 delta = now - s->ts_ns;

		if (!counter_add(&offcpu, &key, delta))
			count_loss(PROFILE_LOSS_COUNTS_FULL);
	}
	bpf_map_delete_elem(&switched_out, &next_tid);
	return 0;
}
