/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * When a record submitted to a ring buffer wakes its reader: once per climb of the queued
 * bytes past MARK, never once per record.
 *
 * Forcing a wake-up on every record while MARK or more is queued made a hot target pay an
 * irq_work self-IPI (microseconds in a VM) per probed call whenever the reader lagged: 7.0-7.4
 * us per call instead of ~1.4 (tests/bpf/test_ring_wakeup.cpp). Waking only on the record that
 * crosses MARK by its own size can lose the wake-up: with several CPUs reserving at once, each
 * submitter's query already holds the others' records and none sees itself cross.
 *
 * So the crossing is kept as state: ARMED is set by any submitter that sees less than MARK
 * queued, and the first submitter that sees MARK or more while it is set clears it (one
 * compare-and-swap wins) and forces the wake-up. No wake-up is lost: the reader goes to sleep
 * only on an empty ring (its poll reports any queued byte), so the first record after that sees
 * less than MARK and arms, and the first to see MARK queued wakes it (then at most MARK plus a
 * record per CPU submitting at once is queued). A submitter delayed between its query and its update can
 * only add a wake-up, never take one away. Below MARK the reader's own poll timeout collects.
 */
#ifndef PERFBPF_RING_WAKEUP_BPF_H
#define PERFBPF_RING_WAKEUP_BPF_H

/* FORCED counts the wake-ups forced so far: the BPF side's own count, for tests. */
static __always_inline __u64 ring_wakeup_flag(void *ring, __u64 mark, __u32 *armed, __u64 *forced)
{
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) < mark) {
		if (!*(volatile __u32 *)armed) /* written once per climb, not per record */
			*(volatile __u32 *)armed = 1;
		return BPF_RB_NO_WAKEUP;
	}
	if (!*(volatile __u32 *)armed || __sync_val_compare_and_swap(armed, 1, 0) != 1)
		return BPF_RB_NO_WAKEUP;
	__sync_fetch_and_add(forced, 1);
	return BPF_RB_FORCE_WAKEUP;
}

/*
 * A record sent with bpf_ringbuf_output, whose FLAG was taken before it, did not fit: a wake-up
 * it was to force was not, so the next record may force it again.
 */
static __always_inline void ring_wakeup_unsent(__u64 flag, __u32 *armed)
{
	if (flag == BPF_RB_FORCE_WAKEUP)
		*(volatile __u32 *)armed = 1;
}

#endif /* PERFBPF_RING_WAKEUP_BPF_H */
