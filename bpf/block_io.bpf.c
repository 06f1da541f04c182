// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Block I/O collector: bytes and requests per submitting process and per disk, and queue,
 * service and total latency histograms per disk, from block_rq_insert/issue/complete.
 *
 * The submitter is who inserts the request (or issues it, when blk-mq sends it straight to
 * the driver without a scheduler queue); completion usually runs in interrupt context, so it
 * is charged to the submitter remembered per request, with its start time: a tgid is reused in
 * seconds on a fork-heavy machine, and each record holds one process's counts. A process's exit
 * marks its record, which userspace then takes out of the map (bpf/proc_exit.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "block_io.h"
#include "target_filter.bpf.h"
#include "log_hist.bpf.h"
#include "proc_exit.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PERFBPF_REQ_OP_MASK 0xff /* enum req_op lives in the low bits of cmd_flags */
#define PERFBPF_REQ_OP_READ 0
#define PERFBPF_REQ_OP_WRITE 1
#define PERFBPF_MINORBITS 20

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BLOCK_MAX_INFLIGHT);
	__type(key, __u64); /* struct request * */
	__type(value, struct block_start);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* made once, updated in place: allocated as used */
	__uint(max_entries, BLOCK_MAX_PROCS);
	__type(key, __u32); /* tgid */
	__type(value, struct block_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BLOCK_MAX_DEVICES);
	__type(key, __u32); /* dev_t */
	__type(value, struct block_traffic);
} devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* made once, updated in place: allocated as used */
	__uint(max_entries, BLOCK_HIST_ENTRIES);
	__type(key, struct log_hist_key);
	__type(value, __u64);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, BLOCK_MAX_EXITED);
	__type(value, struct block_exited);
} exited SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BLOCK_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline void remember_submitter(__u64 rq, __u64 insert_ns, __u64 issue_ns)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task = bpf_get_current_task_btf();
	struct block_start s = {
		.insert_ns = insert_ns,
		.issue_ns = issue_ns,
		.start_ns = task->group_leader->start_time,
		.tgid = id >> 32,
		.wanted = current_wanted(),
	};

	if (bpf_map_update_elem(&inflight, &rq, &s, BPF_ANY))
		count_loss(BLOCK_LOSS_INFLIGHT_FULL);
}

SEC("perfbpf.tp_btf/block_rq_insert")
int BPF_PROG(handle_insert, struct request *rq)
{
	remember_submitter((__u64)rq, bpf_ktime_get_ns(), 0);
	return 0;
}

SEC("perfbpf.tp_btf/block_rq_issue")
int BPF_PROG(handle_issue, struct request *rq)
{
	__u64 key = (__u64)rq;
	struct block_start *s = bpf_map_lookup_elem(&inflight, &key);

	if (s)
		s->issue_ns = bpf_ktime_get_ns();
	else
		remember_submitter(key, 0, bpf_ktime_get_ns());
	return 0;
}

static __always_inline struct block_traffic *device_traffic(__u32 dev)
{
	struct block_traffic zero = {}, *t = map_lookup_or_init(&devices, &dev, &zero);

	if (!t)
		count_loss(BLOCK_LOSS_DEVICES_FULL);
	return t;
}

static __always_inline void push_exited(struct block_exited *e)
{
	e->proc.exited = 1;
	if (bpf_map_push_elem(&exited, e, 0 /* fail when full */))
		count_loss(BLOCK_LOSS_EXITED_FULL);
}

/*
 * Where a completion of S's submitter counts: its record; NULL when the map is full. A record
 * of an older holder of the tgid (gone, since the tgid is the submitter's now) goes to userspace
 * through "exited", and the record starts from zero for the submitter (the swap lets one CPU do
 * that). A late completion of a process older than the record's holder (its own record was
 * displaced) counts in LATE, which the caller sends on through "exited".
 */
static __always_inline struct block_traffic *submitter_traffic(const struct block_start *s,
							       struct block_exited *late)
{
	struct block_proc init = { .start_ns = s->start_ns }, *p;
	__u32 tgid = s->tgid;
	__u64 start;

	p = map_lookup_or_init(&procs, &tgid, &init);
	if (!p) {
		count_loss(BLOCK_LOSS_PROCS_FULL);
		return NULL;
	}
	start = p->start_ns;
	if (start == s->start_ns)
		return &p->traffic;
	if (start > s->start_ns) {
		late->tgid = tgid;
		late->proc.start_ns = s->start_ns;
		return &late->proc.traffic;
	}
	if (__sync_val_compare_and_swap(&p->start_ns, start, s->start_ns) == start) {
		struct block_exited old = { .tgid = tgid, .proc = *p };

		old.proc.start_ns = start;
		push_exited(&old);
		p->traffic = (struct block_traffic){};
		p->exited = 0;
	}
	return &p->traffic;
}

static __always_inline void add_traffic(struct block_traffic *t, bool write, __u64 bytes, __u64 ios)
{
	if (!t)
		return;
	if (write) {
		__sync_fetch_and_add(&t->write_bytes, bytes);
		__sync_fetch_and_add(&t->write_ios, ios);
	} else {
		__sync_fetch_and_add(&t->read_bytes, bytes);
		__sync_fetch_and_add(&t->read_ios, ios);
	}
}

static __always_inline void record_latency(__u32 dev, __u32 kind, __u64 ns)
{
	if (!log_hist_record(&hists, dev, kind, ns))
		count_loss(BLOCK_LOSS_HIST_FULL);
}

/* May run once per partial completion: bytes every time, the request once, at its end. */
SEC("perfbpf.tp_btf/block_rq_complete")
int BPF_PROG(handle_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 now = bpf_ktime_get_ns(), key = (__u64)rq;
	struct block_start *s = bpf_map_lookup_elem(&inflight, &key);
	bool last = nr_bytes >= BPF_CORE_READ(rq, __data_len);
	struct block_exited late = {};
	__u32 op, dev;
	struct gendisk *disk;
	bool write;

	if (!s)
		return 0;
	op = BPF_CORE_READ(rq, cmd_flags) & PERFBPF_REQ_OP_MASK;
	if (!s->wanted || (op != PERFBPF_REQ_OP_READ && op != PERFBPF_REQ_OP_WRITE))
		goto done;
	write = op == PERFBPF_REQ_OP_WRITE;
	disk = BPF_CORE_READ(rq, q, disk);
	dev = ((__u32)BPF_CORE_READ(disk, major) << PERFBPF_MINORBITS) | BPF_CORE_READ(disk, first_minor);
	add_traffic(submitter_traffic(s, &late), write, nr_bytes, last);
	if (late.tgid)
		push_exited(&late);
	add_traffic(device_traffic(dev), write, nr_bytes, last);
	if (last && s->issue_ns) {
		__u64 begin = s->insert_ns ? s->insert_ns : s->issue_ns;

		if (s->insert_ns)
			record_latency(dev, BLOCK_HIST_QUEUE, s->issue_ns - s->insert_ns);
		record_latency(dev, BLOCK_HIST_SERVICE, now - s->issue_ns);
		record_latency(dev, BLOCK_HIST_TOTAL, now - begin);
	}
done:
	if (last)
		bpf_map_delete_elem(&inflight, &key);
	return 0;
}

SEC("perfbpf.tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	mark_exited(&procs, task, offsetof(struct block_proc, exited));
	return 0;
}
