/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/mem_stats.bpf.c (memory collector) and src/collect/memory_collector.cpp.
 * Pages are the kernel's base pages (userspace multiplies by the page size).
 */
#ifndef PERFBPF_MEM_STATS_H
#define PERFBPF_MEM_STATS_H

#define MEMORY_MAX_PROCS 16384

enum memory_loss {
	MEMORY_LOSS_PROCS_FULL = 0, /* no room for a process: its RSS and faults are not kept */
	MEMORY_LOSS_NR = 1,
};

/* Map "procs", key tgid. RSS figures are the kernel's mm counters as /proc shows them. */
struct memory_proc {
	__u64 file_pages;  /* resident file-backed pages, last seen */
	__u64 anon_pages;  /* resident anonymous pages, last seen */
	__u64 shmem_pages; /* resident shared-memory pages, last seen */
	__u64 peak_pages;  /* highest file + anon + shmem seen */
	__u64 minor_faults;
	__u64 major_faults;
	__u64 rss_updates; /* rss_stat events seen: 0 means the RSS figures were never set */
	/*
	 * 1 once the last thread exited: the pages above are as at exit. Userspace takes the
	 * record out of the map a read later (its teardown is over), so the map holds the live.
	 */
	__u64 exited;
};

#ifdef __cplusplus
static_assert(sizeof(struct memory_proc) == 64, "memory_proc ABI changed");
#else
_Static_assert(sizeof(struct memory_proc) == 64, "memory_proc ABI changed");
#endif

#endif /* PERFBPF_MEM_STATS_H */
