/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-process records that leave their map once the process is gone, shared by the memory,
 * network and block families (their "procs" maps, keyed by tgid, whose records carry a __u64
 * "exited"). The last thread's exit marks the record; userspace takes marked records out a read
 * later into a table of its own (src/collect/exited_procs.h). Nothing else empties these maps:
 * on a fork-heavy machine (pid_max 32 768 wraps in seconds) they would fill with the dead, and
 * from then on no new process would be counted.
 */
#ifndef PERFBPF_PROC_EXIT_BPF_H
#define PERFBPF_PROC_EXIT_BPF_H

/* signal->live drops to zero in do_exit when the last thread of a process exits. */
static __always_inline bool process_dying(struct task_struct *task)
{
	return BPF_CORE_READ(task, signal, live.counter) == 0;
}

/*
 * TASK exits: if it is its process's last thread, marks the process's record in PROCS, whose
 * values hold a __u64 at EXITED_OFFSET (offsetof the record's "exited"). Whatever record holds
 * the tgid is marked, so even one left by an earlier holder of the tgid leaves the map.
 */
static __always_inline void mark_exited(void *procs, struct task_struct *task, __u32 exited_offset)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	char *p;

	if (!process_dying(task))
		return;
	p = bpf_map_lookup_elem(procs, &tgid);
	if (p)
		*(__u64 *)(p + exited_offset) = 1;
}

#endif /* PERFBPF_PROC_EXIT_BPF_H */
