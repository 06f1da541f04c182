// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory collector: resident set per process split anon / file / shmem with its peak, from
 * the kmem rss_stat tracepoint (fired whenever an mm counter changes), minor and major page
 * faults from the software page-fault perf events, one per CPU, and when a process exits
 * (sched_process_exit): its pages no longer count towards what is resident now.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "mem_stats.h"
#include "target_filter.bpf.h"
#include "map_helpers.bpf.h"
#include "proc_exit.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* enum mm counters (include/linux/mm_types_task.h), stable since 4.x. */
#define PERFBPF_MM_FILEPAGES 0
#define PERFBPF_MM_ANONPAGES 1
#define PERFBPF_MM_SHMEMPAGES 3

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* made once, updated in place: allocated as used */
	__uint(max_entries, MEMORY_MAX_PROCS);
	__type(key, __u32); /* tgid */
	__type(value, struct memory_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MEMORY_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline struct memory_proc *proc_of(__u32 tgid)
{
	struct memory_proc zero = {}, *p = map_lookup_or_init(&procs, &tgid, &zero);

	if (!p)
		count_loss(MEMORY_LOSS_PROCS_FULL);
	return p;
}

/*
 * Linux 6.2 (commit f1a7941243c1, "mm: convert mm's rss stats into percpu_counter") made
 * each counter a percpu_counter; before, an atomic_long_t in struct mm_rss_stat.
 */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

static __always_inline __u64 mm_pages(struct mm_struct *mm, int member)
{
	long v;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62))
		v = BPF_CORE_READ((struct mm_struct___pre62 *)mm, rss_stat.count[member].counter);
	else
		v = BPF_CORE_READ(mm, rss_stat[member].count);
	return v > 0 ? v : 0; /* per-CPU batching can leave the shared count briefly negative */
}

/*
 * The task an mm belongs to: its owner (CONFIG_MEMCG), else the current task; NULL if neither
 * uses it yet. A child's mm is filled by fork (dup_mmap) before the child has its own tgid or
 * its mm pointer: those counts would land on the parent, so a task counts only once its mm is
 * this one (and any later change reads all counters again).
 */
static __always_inline struct task_struct *mm_task(struct mm_struct *mm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();

	if (bpf_core_field_exists(mm->owner)) {
		struct task_struct *owner = BPF_CORE_READ(mm, owner);

		if (owner)
			task = owner;
	}
	return BPF_CORE_READ(task, mm) == mm ? task : NULL;
}

SEC("perfbpf.tp_btf/rss_stat")
int BPF_PROG(handle_rss_stat, struct mm_struct *mm, int member)
{
	struct task_struct *task = mm_task(mm);
	struct memory_proc *p;
	__u32 tgid;
	__u64 total;

	if (!task)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (!tgid || !wanted(tgid, tgid))
		return 0;
	/*
	 * An exited process keeps its pages as at exit; a change after that is a new process
	 * that was given the same tgid, unless it is the dying one's last unmapping. Userspace
	 * takes exited records out of the map: a dying process without one is not a new process.
	 */
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p || p->exited) {
		if (process_dying(task))
			return 0;
		p = p ? p : proc_of(tgid);
		if (!p)
			return 0;
		p->exited = 0;
	}
	/* All three are read each time: another CPU may have changed any of them. */
	p->file_pages = mm_pages(mm, PERFBPF_MM_FILEPAGES);
	p->anon_pages = mm_pages(mm, PERFBPF_MM_ANONPAGES);
	p->shmem_pages = mm_pages(mm, PERFBPF_MM_SHMEMPAGES);
	total = p->file_pages + p->anon_pages + p->shmem_pages;
	if (total > p->peak_pages)
		p->peak_pages = total;
	p->rss_updates++;
	return 0;
}

static __always_inline int count_fault(bool major)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct memory_proc *p;

	if (!wanted(id >> 32, (__u32)id))
		return 0;
	p = proc_of(id >> 32);
	if (!p)
		return 0;
	if (major)
		__sync_fetch_and_add(&p->major_faults, 1);
	else
		__sync_fetch_and_add(&p->minor_faults, 1);
	return 0;
}

SEC("perf_event")
int handle_minor_fault(struct bpf_perf_event_data *ctx)
{
	return count_fault(false);
}

SEC("perf_event")
int handle_major_fault(struct bpf_perf_event_data *ctx)
{
	return count_fault(true);
}

/*
 * The last thread of a wanted process exits: its memory is going, whatever rss_stat sees of
 * the teardown (exit_mm clears mm->owner first, so usually nothing). Only processes with a
 * record are marked: the target set may already have dropped this one.
 */
SEC("perfbpf.tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	mark_exited(&procs, task, offsetof(struct memory_proc, exited));
	return 0;
}
