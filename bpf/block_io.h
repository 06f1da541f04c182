/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/block_io.bpf.c (block I/O collector) and src/collect/block_collector.cpp.
 * A request is charged to the process that submitted it, even when it completes in interrupt
 * context. Devices are the whole disk, as the kernel's dev_t (major << 20 | minor).
 */
#ifndef PERFBPF_BLOCK_IO_H
#define PERFBPF_BLOCK_IO_H

#include "log_hist.h"

#ifndef BLOCK_MAX_INFLIGHT
#define BLOCK_MAX_INFLIGHT 16384 /* requests between insert/issue and completion */
#endif
#define BLOCK_MAX_PROCS 16384
#define BLOCK_MAX_DEVICES 256
#define BLOCK_HIST_ENTRIES 32768
#define BLOCK_MAX_EXITED 4096 /* records displaced between two reads (queue "exited") */

enum block_hist_kind { /* log_hist_key.kind; id is the device's dev_t */
	BLOCK_HIST_QUEUE = 0,	/* insert -> issue */
	BLOCK_HIST_SERVICE = 1, /* issue -> complete */
	BLOCK_HIST_TOTAL = 2,	/* insert (issue when it was never queued) -> complete */
};

enum block_loss {
	BLOCK_LOSS_INFLIGHT_FULL = 0, /* request not tracked: its bytes are not counted */
	BLOCK_LOSS_PROCS_FULL = 1,
	BLOCK_LOSS_DEVICES_FULL = 2,
	BLOCK_LOSS_HIST_FULL = 3,
	BLOCK_LOSS_EXITED_FULL = 4, /* a displaced record found no room: its counts are lost */
	BLOCK_LOSS_NR = 5,
};

/* Map "inflight", key: the request's address. */
struct block_start {
	__u64 insert_ns; /* 0 when it went straight to the driver */
	__u64 issue_ns;	 /* 0 until issued */
	__u64 start_ns;	 /* which process tgid was: its start (task->start_time, ns since boot) */
	__u32 tgid;	 /* submitting process */
	__u32 wanted;	 /* the submitter is in the target */
};

/* Values of map "devices" (key dev_t), and a process's part of "procs". */
struct block_traffic {
	__u64 read_bytes;
	__u64 write_bytes;
	__u64 read_ios; /* completed requests */
	__u64 write_ios;
};

/* Map "procs", key tgid. */
struct block_proc {
	struct block_traffic traffic;
	__u64 start_ns; /* the process's start (block_start.start_ns): which holder of the tgid */
	/*
	 * 1 once its last thread exited (bpf/proc_exit.bpf.h); userspace takes it out of the map a
	 * read later. A request of a newer holder of the tgid displaces it into "exited".
	 */
	__u64 exited;
};

/*
 * Queue "exited": a record a newer process with the same tgid displaced before userspace took
 * it (pid_max wraps in seconds on a fork-heavy machine), or a late completion of a process
 * whose record had been displaced. exited is 1.
 */
struct block_exited {
	__u32 tgid;
	__u32 pad;
	struct block_proc proc;
};

#ifdef __cplusplus
static_assert(sizeof(struct block_start) == 32, "block_start ABI changed");
static_assert(sizeof(struct block_traffic) == 32, "block_traffic ABI changed");
static_assert(sizeof(struct block_proc) == 48, "block_proc ABI changed");
static_assert(sizeof(struct block_exited) == 56, "block_exited ABI changed");
#else
_Static_assert(sizeof(struct block_start) == 32, "block_start ABI changed");
_Static_assert(sizeof(struct block_traffic) == 32, "block_traffic ABI changed");
_Static_assert(sizeof(struct block_proc) == 48, "block_proc ABI changed");
_Static_assert(sizeof(struct block_exited) == 56, "block_exited ABI changed");
#endif

#endif /* PERFBPF_BLOCK_IO_H */
