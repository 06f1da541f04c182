/* What the ring fixture (tests/bpf/ring_fixture.bpf.c) writes, shared with its test: record SEQ
 * holds ring_fixture_words(SEQ) 32-bit words, word K being ring_fixture_word(SEQ, K). Lengths
 * 12..60 bytes, so most records need padding to the ring's 8-byte rounding. */
#ifndef PERFBPF_TESTS_RING_FIXTURE_H
#define PERFBPF_TESTS_RING_FIXTURE_H

#define RING_FIXTURE_BYTES 4096     /* one page of data: a lap every ~70 records */
#define RING_FIXTURE_MAX_WORDS 16   /* reserved (discarded, held) records are this long */
#define RING_FIXTURE_MAX_BATCH 64

struct ring_fixture_args {
	__u32 first;          /* sequence number of the first record */
	__u32 count;          /* records to write (emit), at most RING_FIXTURE_MAX_BATCH */
	__u32 discard_every;  /* records whose number is a multiple of this are discarded (0: none) */
	__u32 pad;
	__u64 gate;           /* hold: a user address read before the held record is committed */
};

static inline __u32 ring_fixture_words(__u32 seq) { return 3 + seq % 13; }
static inline __u32 ring_fixture_word(__u32 seq, __u32 k) { return seq * 2654435761u + k; }

#endif
