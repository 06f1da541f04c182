// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The set of processes a session profiles. Every probe family filters on its "targets" map
 * (bpf/target_filter.bpf.h; userspace shares it with bpf_map__reuse_fd). This object keeps it
 * current:
 *  - the command perfbpf forked joins at its exec, not at fork: between fork and exec the child
 *    runs perfbpf's own code (malloc in initgroups, signal set-up), which is not the command's;
 *  - with follow_children, a target's forked children join at fork and leave once reaped, so
 *    the set holds live processes (and zombies) only;
 *  - a process that finds the set full is counted by name (never silently dropped).
 * Each target's name is kept as of its exec, fork and reaping, so a process that is gone is
 * still named after the program it ran, whatever collectors ran.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "target_set.h"
#include "map_helpers.bpf.h"

#ifndef EEXIST
#define EEXIST 17 /* errno values are not in vmlinux.h */
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings, written by userspace between open and load. */
const volatile bool follow_children = false; /* forked children of targets join the set */

/*
 * The process that joins at its next exec (the command perfbpf forked and holds before exec);
 * 0: none. Userspace writes it before releasing the command and waits for it to go back to 0.
 */
__u32 pending_tgid = 0;

/*
 * Sized by userspace before load (--max-processes). Written when a process joins or leaves, so
 * allocated as used (BPF_F_NO_PREALLOC): a preallocated hash is zeroed whole at creation, in the
 * session's start-up.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TARGET_SET_MAX_PROCESSES);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} targets SEC(".maps");

/* Kept after a process leaves the set (its row still needs a name); the oldest go first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TARGET_SET_MAX_PROCESSES);
	__type(key, __u32); /* tgid */
	__type(value, struct target_set_name);
} names SEC(".maps");

/*
 * Which process a member admitted here is: its start time (task->start_time, ns since boot),
 * by tgid. A process's leaving comes an RCU grace period after its reaping released the pid,
 * and on a fork-heavy machine (pid_max 32 768 wraps in seconds) a new process may have been
 * given the tgid meanwhile and joined under it; the old one's leaving must not take the new
 * one's entry. Members userspace added have none (any leaving takes them).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TARGET_SET_MAX_PROCESSES);
	__type(key, __u32); /* tgid */
	__type(value, __u64);
} started SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TARGET_SET_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TARGET_SET_ADMISSION_NR);
	__type(key, __u32);
	__type(value, __u64);
} admissions SEC(".maps");

static __always_inline void remember_name(__u32 tgid, struct task_struct *task)
{
	struct target_set_name n = {};

	BPF_CORE_READ_STR_INTO(&n.comm, task, comm);
	bpf_map_update_elem(&names, &tgid, &n, BPF_ANY);
}

/* TASK (whose comm names the process) joins the set; a full set is a counted loss. */
static __always_inline void admit(__u32 tgid, struct task_struct *task, __u32 how)
{
	__u8 one = 1;
	__u64 start = BPF_CORE_READ(task, start_time);
	long err = bpf_map_update_elem(&targets, &tgid, &one, BPF_NOEXIST);

	if (err == 0) {
		percpu_add(&admissions, how, 1);
		remember_name(tgid, task);
	} else if (err != -EEXIST) {
		count_loss(TARGET_SET_LOSS_FULL);
		return;
	}
	/* Already there: an earlier process's entry whose leaving has not come yet; now this one's. */
	bpf_map_update_elem(&started, &tgid, &start, BPF_ANY);
}

SEC("perfbpf.tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	/* The new image is in place and has not run an instruction yet. */
	if (pending_tgid != 0 && tgid == pending_tgid) {
		admit(tgid, task, TARGET_SET_ADMITTED_EXEC);
		pending_tgid = 0;
		return 0;
	}
	if (bpf_map_lookup_elem(&targets, &tgid))
		remember_name(tgid, task); /* a target that runs another program is named after it */
	return 0;
}

SEC("perfbpf.tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid, child_tgid;

	if (!follow_children)
		return 0;
	parent_tgid = BPF_CORE_READ(parent, tgid);
	child_tgid = BPF_CORE_READ(child, tgid);
	/* A new thread (same tgid) is already covered by its process. */
	if (parent_tgid == child_tgid)
		return 0;
	if (!bpf_map_lookup_elem(&targets, &parent_tgid)) {
		/*
		 * No target's child, given a tgid the set still holds: that member died and its
		 * leaving has not come yet (lazy RCU can hold it back for seconds). The entry is
		 * not this process's, which would be counted as a target meanwhile.
		 */
		if (bpf_map_lookup_elem(&targets, &child_tgid)) {
			bpf_map_delete_elem(&targets, &child_tgid);
			bpf_map_delete_elem(&started, &child_tgid);
		}
		return 0;
	}
	admit(child_tgid, child, TARGET_SET_ADMITTED_FORK);
	return 0;
}

/*
 * A process leaves the set when its leader's task is freed, after it was reaped: not at exit,
 * because every family's own sched_process_exit program must still see it as a target then,
 * and tracepoint programs run in no order we may rely on. The leader is freed last: it stays
 * a zombie until the other threads are gone.
 */
SEC("perfbpf.tp_btf/sched_process_free")
int BPF_PROG(handle_free, struct task_struct *task)
{
	__u32 tid = BPF_CORE_READ(task, pid), tgid = BPF_CORE_READ(task, tgid);
	__u64 *start;

	if (!follow_children || tid != tgid || !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	start = bpf_map_lookup_elem(&started, &tgid);
	if (start && *start != BPF_CORE_READ(task, start_time))
		return 0; /* the entry is a newer process's, given the tgid since */
	remember_name(tgid, task); /* its name at the end, which a prctl may have changed */
	bpf_map_delete_elem(&targets, &tgid);
	bpf_map_delete_elem(&started, &tgid);
	return 0;
}
