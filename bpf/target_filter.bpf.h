/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes a program looks at, shared by every probe family: all of them but perfbpf
 * (system mode), or those in the "targets" set. Userspace points every object's "targets" at
 * one map (bpf_map__reuse_fd): the session's target set (bpf/target_set.bpf.c), kept current
 * from exec/fork/exit and, for --pid and --cgroup, by userspace. The size declared here is
 * replaced by the shared map's own (--max-processes).
 */
#ifndef PERFBPF_TARGET_FILTER_BPF_H
#define PERFBPF_TARGET_FILTER_BPF_H

#ifndef TARGET_FILTER_MAX_TGIDS
#define TARGET_FILTER_MAX_TGIDS 8192
#endif

const volatile bool filter_tgid = false; /* false: every process but perfbpf */
const volatile __u32 self_tgid = 0;	 /* perfbpf itself, never counted */

/* Unused where nothing is filtered (system mode): allocated as used, not zeroed at creation. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TARGET_FILTER_MAX_TGIDS);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} targets SEC(".maps");

/* The idle task (pid 0) is not a process: counting it would inflate switches and CPU. */
static __always_inline bool wanted(__u32 tgid, __u32 tid)
{
	if (tid == 0 || tgid == self_tgid)
		return false;
	return !filter_tgid || bpf_map_lookup_elem(&targets, &tgid);
}

static __always_inline bool current_wanted(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	return wanted(id >> 32, (__u32)id);
}

#endif /* PERFBPF_TARGET_FILTER_BPF_H */
