// SPDX-License-Identifier: GPL-2.0
/*
 * A ring buffer filled by the kernel with a sequence the test knows, for the ring reader's tests
 * (tests/bpf/test_ring_reader.cpp). Run through BPF_PROG_TEST_RUN (SEC("syscall")): the test
 * says which records to write; every record's length and bytes follow from its sequence number,
 * so the reader's output can be checked byte for byte.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "ring_fixture.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_FIXTURE_BYTES);
} ring SEC(".maps");

__u32 payload[RING_FIXTURE_MAX_WORDS];
__u64 lost;           /* records that found no room */
__u64 discarded;      /* records reserved then discarded */
__u64 avail_after;    /* BPF_RB_AVAIL_DATA, for the query program */
volatile __u32 holding;  /* set while a record is reserved and not yet submitted */
long gate_read;          /* bpf_copy_from_user's result on the gate page (0: read) */
__u32 gate_word;         /* the word read there */

/* A length the verifier can bound: clang knows it is at most 60 and would drop a plain mask. */
static __always_inline __u64 bounded_bytes(__u32 words)
{
	__u64 bytes = words * 4;

	asm volatile("" : "+r"(bytes));
	return bytes & (sizeof(payload) - 1);
}

static __always_inline void fill(__u32 *words, __u32 seq, __u32 n)
{
	for (__u32 k = 0; k < RING_FIXTURE_MAX_WORDS; k++)
		if (k < n)
			words[k] = ring_fixture_word(seq, k);
}

SEC("syscall")
int emit(struct ring_fixture_args *args)
{
	__u32 first = args->first, count = args->count, discard_every = args->discard_every;

	for (__u32 i = 0; i < RING_FIXTURE_MAX_BATCH && i < count; i++) {
		__u32 seq = first + i;

		if (discard_every && seq % discard_every == 0) {
			__u32 *r = bpf_ringbuf_reserve(&ring, RING_FIXTURE_MAX_WORDS * 4, 0);

			if (!r) {
				lost++;
				continue;
			}
			fill(r, seq, RING_FIXTURE_MAX_WORDS);
			bpf_ringbuf_discard(r, 0);
			discarded++;
			continue;
		}
		__u32 words = ring_fixture_words(seq);

		fill(payload, seq, words);
		if (bpf_ringbuf_output(&ring, payload, bounded_bytes(words), 0))
			lost++;
	}
	return 0;
}

/*
 * Reserves record SEQ (so it is BUSY in the ring), writes record SEQ + 1 after it and commits
 * that one, then reads a word at args->gate before filling and committing SEQ. The test makes
 * that page a userfaultfd page it has not filled: the read sleeps (a syscall program may) until
 * the test fills it, so the record stays BUSY for as long as the test wants, without a CPU spinning.
 */
SEC("syscall")
int hold(struct ring_fixture_args *args)
{
	__u32 seq = args->first, word = 0;
	__u32 *held = bpf_ringbuf_reserve(&ring, RING_FIXTURE_MAX_WORDS * 4, 0);

	if (!held) {
		lost++;
		return 0;
	}
	fill(payload, seq + 1, ring_fixture_words(seq + 1));
	if (bpf_ringbuf_output(&ring, payload, bounded_bytes(ring_fixture_words(seq + 1)), 0))
		lost++;
	holding = 1;
	gate_read = bpf_copy_from_user(&word, sizeof(word), (const void *)args->gate);
	gate_word = word;
	holding = 0;
	fill(held, seq, RING_FIXTURE_MAX_WORDS);
	bpf_ringbuf_submit(held, 0);
	return 0;
}

SEC("syscall")
int query(void *args)
{
	avail_after = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA);
	return 0;
}
