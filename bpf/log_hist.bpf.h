/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Counters and log-linear histograms kept in hash maps, shared by the collector families. */
#ifndef PERFBPF_LOG_HIST_BPF_H
#define PERFBPF_LOG_HIST_BPF_H

#include "log_hist.h"
#include "map_helpers.bpf.h"

/* floor(log2(v)) for v > 0, without loops the verifier would have to bound. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xffffffffULL) << 5;
	v >>= r;
	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	return r | (__u32)(v >> 1);
}

/* LatencyHistogram::bucket_index, in BPF. */
static __always_inline __u32 log_hist_bucket(__u64 v)
{
	const __u64 sub_buckets = 1ULL << LOG_HIST_SUB_BUCKET_BITS;
	__u32 magnitude, shift;

	if (v < 2 * sub_buckets)
		return (__u32)v;
	magnitude = log2_u64(v);
	shift = magnitude - LOG_HIST_SUB_BUCKET_BITS;
	return 2 * sub_buckets + (magnitude - LOG_HIST_SUB_BUCKET_BITS - 1) * sub_buckets +
	       ((v >> shift) - sub_buckets);
}

/* Records VALUE_NS; false when the map is full (the caller counts the loss). */
static __always_inline bool log_hist_record(void *map, __u32 id, __u32 kind, __u64 value_ns)
{
	struct log_hist_key key = { .id = id, .kind = kind };
	__u64 *max;

	key.bucket = log_hist_bucket(value_ns);
	if (!counter_add(map, &key, 1))
		return false;
	key.bucket = LOG_HIST_SUM;
	counter_add(map, &key, value_ns);
	key.bucket = LOG_HIST_MAX;
	if (!counter_add(map, &key, 0))
		return true;
	max = bpf_map_lookup_elem(map, &key);
	if (max && *max < value_ns)
		*max = value_ns; /* a racing larger value may be lost: max is a best effort */
	return true;
}

/*
 * Records VALUE_NS in the histogram of per-CPU array MAP (LOG_HIST_PERCPU_ENTRIES entries):
 * array lookups the verifier inlines and plain adds, where a hash map costs four lookups and
 * three atomic adds on lines every CPU shares.
 */
static __always_inline void log_hist_percpu_record(void *map, __u64 value_ns)
{
	__u32 key = log_hist_bucket(value_ns);
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		*v += 1;
	key = LOG_HIST_PERCPU_SUM;
	v = bpf_map_lookup_elem(map, &key);
	if (v)
		*v += value_ns;
	key = LOG_HIST_PERCPU_MAX;
	v = bpf_map_lookup_elem(map, &key);
	if (v && *v < value_ns)
		*v = value_ns;
}

#endif /* PERFBPF_LOG_HIST_BPF_H */
