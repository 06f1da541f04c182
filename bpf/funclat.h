/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/funclat.bpf.c and the C++ decoder (src/collect/funclat_decoder.cpp).
 * Every field is fixed-width with explicit padding; both sides assert the sizes.
 * Linux naming trap: "tgid" is what userspace calls a process id, "tid" (the kernel's pid)
 * is a thread id.
 */
#ifndef PERFBPF_FUNCLAT_H
#define PERFBPF_FUNCLAT_H

#ifndef FUNCLAT_MAX_DEPTH
/* Per-thread nesting tracked exactly; deeper calls are counted as overflow, never timed. */
#define FUNCLAT_MAX_DEPTH 32
#endif

#ifndef FUNCLAT_MAX_PROBES
/* Upper bound on attached functions; probe ids index per-probe arrays. */
#define FUNCLAT_MAX_PROBES 4096
#endif

#ifndef FUNCLAT_MAX_THREADS
#define FUNCLAT_MAX_THREADS 65536
#endif

#ifndef FUNCLAT_MAX_TGIDS
#define FUNCLAT_MAX_TGIDS 8192
#endif

/*
 * Ring buffer: 4 MiB holds ~87k records, 16 wake-up watermarks: at the ~1.3M calls/s two
 * CPUs of optimized uprobes allow, userspace is woken every ~4 ms with ~60 ms to spare. The
 * kernel maps all of it into perfbpf at once, data pages twice, so its size is RSS twice over.
 */
#ifndef FUNCLAT_RINGBUF_BYTES
#define FUNCLAT_RINGBUF_BYTES (4u << 20)
#endif

/* Wake userspace once this much is queued; the poll loop's timeout collects the rest. */
#ifndef FUNCLAT_WAKEUP_BYTES
#define FUNCLAT_WAKEUP_BYTES (256u << 10)
#endif

/* Indexes of the per-CPU loss counters (map "losses"). */
enum funclat_loss {
	FUNCLAT_LOSS_RINGBUF_FULL = 0,	 /* record dropped: ring buffer had no room */
	FUNCLAT_LOSS_DEPTH_OVERFLOW = 1, /* call deeper than FUNCLAT_MAX_DEPTH: not timed */
	FUNCLAT_LOSS_MISSING_ENTRY = 2,	 /* return seen without its entry (attached mid-call) */
	FUNCLAT_LOSS_UNWOUND = 3,	 /* entry whose return never came (longjmp, exception) */
	FUNCLAT_LOSS_THREAD_MAP_FULL = 4, /* no room to track a new thread's call stack */
	FUNCLAT_LOSS_NR = 5,
};

/* One completed call, as written to the ring buffer. */
struct funclat_event {
	__u64 start_ns;	      /* entry time, bpf_ktime_get_ns() == CLOCK_MONOTONIC */
	__u64 duration_ns;    /* return time - entry time, raw (probe cost included) */
	__u64 nested_cost_ns; /* calibrated probe cost of all probed descendants (map probe_cost) */
	__u32 probe_id;	      /* attach cookie: index into userspace's target list */
	__u32 tgid;	      /* process id (kernel tgid) */
	__u32 tid;	      /* thread id (kernel pid) */
	__u32 cpu;	      /* CPU the return ran on */
	__u32 depth;	      /* nesting depth of this call among probed calls, 0 = outermost */
	__u32 nested_calls;   /* probed calls completed inside this one (all descendants) */
};

/* One open call on a thread's stack. */
struct funclat_frame {
	__u64 start_ns;	      /* entry time, CLOCK_MONOTONIC */
	__u64 nested_cost_ns; /* probe cost of probed descendants completed so far */
	__u32 probe_id;	      /* attach cookie of the function */
	__u32 nested_calls;   /* probed descendants completed so far */
};

/* Per-thread call stack, key: tid (kernel pid). */
struct funclat_stack {
	__u32 depth;	/* logical depth; may exceed FUNCLAT_MAX_DEPTH (frames beyond are not kept) */
	__u32 tgid;	/* owning process, so userspace can attribute in-flight calls */
	struct funclat_frame frames[FUNCLAT_MAX_DEPTH];
};

#ifdef __cplusplus
static_assert(sizeof(struct funclat_event) == 48, "funclat_event ABI changed");
static_assert(sizeof(struct funclat_frame) == 24, "funclat_frame ABI changed");
static_assert(sizeof(struct funclat_stack) == 8 + 24 * FUNCLAT_MAX_DEPTH, "funclat_stack ABI changed");
#else
_Static_assert(sizeof(struct funclat_event) == 48, "funclat_event ABI changed");
_Static_assert(sizeof(struct funclat_frame) == 24, "funclat_frame ABI changed");
_Static_assert(sizeof(struct funclat_stack) == 8 + 24 * FUNCLAT_MAX_DEPTH, "funclat_stack ABI changed");
#endif

#endif /* PERFBPF_FUNCLAT_H */
