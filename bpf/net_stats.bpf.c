// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Network collector: bytes and calls sent and received per process on inet sockets
 * (sock_send_length / sock_recv_length, Linux 6.3+), TCP retransmits and connects with their
 * latency (tcp_retransmit_skb, inet_sock_set_state).
 *
 * Retransmits and connection set-up happen in softirq context, not in the owner's: the
 * owning process is remembered per socket when it sends, receives or connects.
 *
 * A process's exit marks its record, which userspace then takes out of the map
 * (bpf/proc_exit.bpf.h), so the map holds the live processes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "net_stats.h"
#include "target_filter.bpf.h"
#include "log_hist.bpf.h"
#include "proc_exit.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PERFBPF_AF_INET 2
#define PERFBPF_AF_INET6 10
#define PERFBPF_IPPROTO_TCP 6
#define PERFBPF_MSG_PEEK 2 /* a peek leaves the data queued: not received yet */
#define PERFBPF_TCP_ESTABLISHED 1
#define PERFBPF_TCP_SYN_SENT 2
#define PERFBPF_TCP_CLOSE 7

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* made once, updated in place: allocated as used */
	__uint(max_entries, NET_MAX_PROCS);
	__type(key, __u32); /* tgid */
	__type(value, struct net_proc);
} procs SEC(".maps");

/*
 * Each socket's owner, the target process that last sent, received or connected on it (tgid):
 * socket-local storage, made as used and freed with the socket, where an LRU hash of every
 * socket's address would be allocated and zeroed whole at start-up (17 ms of 65 536 entries)
 * and could drop a busy server's long-lived sockets.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} owners SEC(".maps");

static __always_inline void set_owner(const struct sock *sk, __u32 tgid)
{
	__u32 *owner = bpf_sk_storage_get(&owners, (struct sock *)sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);

	if (owner)
		*owner = tgid;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_MAX_CONNECTING);
	__type(key, __u64); /* struct sock * */
	__type(value, struct net_connect);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* made once, updated in place: allocated as used */
	__uint(max_entries, NET_HIST_ENTRIES);
	__type(key, struct log_hist_key);
	__type(value, __u64);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, NET_MAX_EXITED);
	__type(value, struct net_exited);
} exited SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NET_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline struct net_proc *proc_of(__u32 tgid)
{
	struct net_proc zero = {}, *p = map_lookup_or_init(&procs, &tgid, &zero);

	if (!p)
		count_loss(NET_LOSS_PROCS_FULL);
	return p;
}

/* COUNTS, of a process TGID that is gone, to userspace through "exited". */
static __always_inline void push_exited(__u32 tgid, const struct net_proc *counts)
{
	struct net_exited e = { .tgid = tgid, .proc = *counts };

	e.proc.exited = 1;
	if (bpf_map_push_elem(&exited, &e, 0 /* fail when full */))
		count_loss(NET_LOSS_EXITED_FULL);
}

/*
 * The current process's record. One marked exited is still its own while the process dies;
 * otherwise a new process was given the tgid before userspace took the dead one's record: its
 * counts go to userspace through "exited" and the new process starts from zero. The swap lets
 * one thread of the new process do that; another CPU's add to P meanwhile may land on either.
 */
static __always_inline struct net_proc *own_proc(__u32 tgid)
{
	struct net_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p && !p->exited)
		return p;
	if (!p)
		return proc_of(tgid);
	if (!process_dying(bpf_get_current_task_btf()) &&
	    __sync_val_compare_and_swap(&p->exited, 1, 0) == 1) {
		push_exited(tgid, p);
		*p = (struct net_proc){};
	}
	return p;
}

/*
 * The record of TGID, a socket's owner, from another context (softirq). A retransmit may come
 * long after the owner exited and its record left the map: without a record (one is made at the
 * owner's first send, receive or connect) the owner is gone, and ADD goes to userspace as
 * its exited counts rather than into a record no exit would mark.
 */
static __always_inline void add_to_owner(__u32 tgid, const struct net_proc *add)
{
	struct net_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (!p) {
		push_exited(tgid, add);
		return;
	}
	__sync_fetch_and_add(&p->retransmits, add->retransmits);
	__sync_fetch_and_add(&p->connections, add->connections);
}

static __always_inline bool is_inet(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return family == PERFBPF_AF_INET || family == PERFBPF_AF_INET6;
}

static __always_inline int count_transfer(struct sock *sk, int bytes, bool send)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct net_proc *p;

	if (bytes <= 0 || !is_inet(sk) || !wanted(tgid, (__u32)id))
		return 0;
	set_owner(sk, tgid);
	p = own_proc(tgid);
	if (!p)
		return 0;
	if (send) {
		__sync_fetch_and_add(&p->tx_bytes, bytes);
		__sync_fetch_and_add(&p->tx_calls, 1);
	} else {
		__sync_fetch_and_add(&p->rx_bytes, bytes);
		__sync_fetch_and_add(&p->rx_calls, 1);
	}
	return 0;
}

SEC("perfbpf.tp_btf/sock_send_length")
int BPF_PROG(handle_send, struct sock *sk, int ret, int flags)
{
	return count_transfer(sk, ret, true);
}

SEC("perfbpf.tp_btf/sock_recv_length")
int BPF_PROG(handle_recv, struct sock *sk, int ret, int flags)
{
	if (flags & PERFBPF_MSG_PEEK)
		return 0;
	return count_transfer(sk, ret, false);
}

SEC("perfbpf.tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	__u32 *tgid = bpf_sk_storage_get(&owners, (struct sock *)sk, NULL, 0);
	struct net_proc one = { .retransmits = 1 };

	if (tgid)
		add_to_owner(*tgid, &one);
	return 0;
}

SEC("perfbpf.tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	struct net_connect *c;

	if (BPF_CORE_READ(sk, sk_protocol) != PERFBPF_IPPROTO_TCP)
		return 0;
	if (newstate == PERFBPF_TCP_SYN_SENT) {
		/* connect() runs in the caller's context */
		__u64 id = bpf_get_current_pid_tgid();
		struct net_connect start = { .start_ns = now, .tgid = id >> 32 };

		if (!wanted(start.tgid, (__u32)id))
			return 0;
		own_proc(start.tgid); /* the record add_to_owner finds at ESTABLISHED */
		set_owner(sk, start.tgid);
		if (bpf_map_update_elem(&connecting, &key, &start, BPF_ANY))
			count_loss(NET_LOSS_CONNECTING_FULL);
		return 0;
	}
	if (oldstate != PERFBPF_TCP_SYN_SENT)
		return 0;
	c = bpf_map_lookup_elem(&connecting, &key);
	if (!c)
		return 0;
	if (newstate == PERFBPF_TCP_ESTABLISHED) {
		struct net_proc one = { .connections = 1 };

		if (!log_hist_record(&hists, 0, NET_HIST_CONNECT, now - c->start_ns))
			count_loss(NET_LOSS_HIST_FULL);
		add_to_owner(c->tgid, &one);
	}
	bpf_map_delete_elem(&connecting, &key); /* established, or failed (CLOSE) */
	return 0;
}

SEC("perfbpf.tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	mark_exited(&procs, task, offsetof(struct net_proc, exited));
	return 0;
}
