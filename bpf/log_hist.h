/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI of the in-kernel latency histograms (bpf/log_hist.bpf.h): the log-linear layout of
 * include/perfbpf/histogram.h, so userspace adds BPF buckets into a LatencyHistogram as they
 * are. Values below 2 << LOG_HIST_SUB_BUCKET_BITS ns get a bucket each; above, every power of
 * two is split into 1 << LOG_HIST_SUB_BUCKET_BITS buckets (quantile error <= 0.4 %).
 */
#ifndef PERFBPF_LOG_HIST_H
#define PERFBPF_LOG_HIST_H

#define LOG_HIST_SUB_BUCKET_BITS 7
#define LOG_HIST_SUM 0xffffffffu /* bucket field of the entry holding the sum of values, ns */
#define LOG_HIST_MAX 0xfffffffeu /* bucket field of the entry holding the largest value, ns */

/*
 * One histogram in a per-CPU array (a family that keeps a single one where it is recorded on
 * every scheduler event): entry i counts bucket i, then the sum and the largest value of this
 * CPU. Buckets cover every u64: log_hist_bucket(~0ULL) == LOG_HIST_NR_BUCKETS - 1.
 */
#define LOG_HIST_NR_BUCKETS ((64 - LOG_HIST_SUB_BUCKET_BITS + 1) << LOG_HIST_SUB_BUCKET_BITS)
#define LOG_HIST_PERCPU_SUM LOG_HIST_NR_BUCKETS
#define LOG_HIST_PERCPU_MAX (LOG_HIST_NR_BUCKETS + 1)
#define LOG_HIST_PERCPU_ENTRIES (LOG_HIST_NR_BUCKETS + 2)

/* Key of a histogram map; value: __u64 count (or sum / max for the two special buckets). */
struct log_hist_key {
	__u32 id;     /* which histogram: a device, a process ... as the family says */
	__u32 kind;   /* which latency of it, enum of the family */
	__u32 bucket; /* bucket index, LOG_HIST_SUM or LOG_HIST_MAX */
	__u32 pad;
};

#ifdef __cplusplus
static_assert(sizeof(struct log_hist_key) == 16, "log_hist_key ABI changed");
#else
_Static_assert(sizeof(struct log_hist_key) == 16, "log_hist_key ABI changed");
#endif

#endif /* PERFBPF_LOG_HIST_H */
