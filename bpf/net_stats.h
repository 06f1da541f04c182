/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/net_stats.bpf.c (network collector) and src/collect/net_collector.cpp.
 * Bytes are socket payload (what send/recv calls moved), inet sockets only.
 */
#ifndef PERFBPF_NET_STATS_H
#define PERFBPF_NET_STATS_H

#include "log_hist.h"

#define NET_MAX_PROCS 16384
#define NET_MAX_CONNECTING 8192
#define NET_HIST_ENTRIES 4096
#define NET_MAX_EXITED 4096 /* records displaced between two reads (queue "exited") */

enum net_hist_kind { /* log_hist_key.kind, id 0 */
	NET_HIST_CONNECT = 0, /* SYN_SENT -> ESTABLISHED */
};

enum net_loss {
	NET_LOSS_PROCS_FULL = 0,
	NET_LOSS_CONNECTING_FULL = 1,
	NET_LOSS_HIST_FULL = 2,
	NET_LOSS_EXITED_FULL = 3, /* a displaced record found no room: its counts are lost */
	NET_LOSS_NR = 4,
};

/* Map "procs", key tgid. */
struct net_proc {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls; /* send calls that moved bytes */
	__u64 rx_calls;
	__u64 retransmits; /* TCP segments retransmitted on its sockets */
	__u64 connections; /* TCP connects that reached ESTABLISHED */
	/*
	 * 1 once its last thread exited (bpf/proc_exit.bpf.h); userspace takes it out of the map a
	 * read later. A new process given the tgid meanwhile displaces it into "exited".
	 */
	__u64 exited;
};

/*
 * Queue "exited": a record a new process with the same tgid displaced before userspace took it
 * (pid_max wraps in seconds on a fork-heavy machine), or counts of a process whose record had
 * left the map already (a retransmit after its exit). exited is 1.
 */
struct net_exited {
	__u32 tgid;
	__u32 pad;
	struct net_proc proc;
};

/* Map "connecting", key: the socket's address. */
struct net_connect {
	__u64 start_ns;
	__u32 tgid;
	__u32 pad;
};

#ifdef __cplusplus
static_assert(sizeof(struct net_proc) == 56, "net_proc ABI changed");
static_assert(sizeof(struct net_exited) == 64, "net_exited ABI changed");
static_assert(sizeof(struct net_connect) == 16, "net_connect ABI changed");
#else
_Static_assert(sizeof(struct net_proc) == 56, "net_proc ABI changed");
_Static_assert(sizeof(struct net_exited) == 64, "net_exited ABI changed");
_Static_assert(sizeof(struct net_connect) == 16, "net_connect ABI changed");
#endif

#endif /* PERFBPF_NET_STATS_H */
