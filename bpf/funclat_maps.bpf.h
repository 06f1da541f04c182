/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The funclat family's maps and the session phase, shared by its programs (funclat.bpf.c). */
#ifndef PERFBPF_FUNCLAT_MAPS_BPF_H
#define PERFBPF_FUNCLAT_MAPS_BPF_H

#include "funclat_task.bpf.h"

volatile __u32 phase = FUNCLAT_ATTACHING; /* enum funclat_phase, written by userspace */

/* Queued bytes that wake userspace: a fraction of the ring, whose size userspace sets. */
const volatile __u64 wakeup_bytes = FUNCLAT_WAKEUP_BYTES;

/* Sized by userspace before load (per CPU, at most FUNCLAT_RINGBUF_BYTES). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FUNCLAT_RINGBUF_BYTES);
} events SEC(".maps");

/*
 * The hashes of this family are written once per thread, goroutine or process, never per call:
 * BPF_F_NO_PREALLOC allocates an entry when it is first written, where a preallocated hash is
 * allocated and zeroed whole when the map is created, before the first probe (8 192 goroutine
 * stacks of 1 KiB and 65 536 exited threads: 50 of the 80 ms from launch to the first probed call
 * on a slow VM, strace -T).
 *
 * Threads with a stack in thread_stacks (tid -> tgid), written once per thread: what userspace
 * walks to find them (task storage is read by pidfd, not listed), and the --max-threads bound
 * on their kernel memory. Sized by userspace before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FUNCLAT_MAX_THREADS);
	__type(key, __u32);   /* tid */
	__type(value, __u32); /* tgid */
} threads SEC(".maps");

/* Open calls per goroutine (Go: they move between threads); sized by userspace before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FUNCLAT_MAX_THREADS);
	__type(key, struct funclat_key);
	__type(value, struct funclat_stack);
} stacks SEC(".maps");

/* Per probe id: calls abandoned by longjmp or an exception (also in losses, summed). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* per probe id: sized to the plan by userspace before load */
	__type(key, __u32);
	__type(value, __u64);
} unwound SEC(".maps");

/*
 * Per probe id: calls still open when their thread exited (exit() inside a probed function,
 * killed), or whose return probe went while the session ended.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* per probe id: sized to the plan by userspace before load */
	__type(key, __u32);
	__type(value, __u64);
} unreturned SEC(".maps");

/* Per probe id: returns of calls that were already running when the probes attached. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* per probe id: sized to the plan by userspace before load */
	__type(key, __u32);
	__type(value, __u64);
} attach_orphans SEC(".maps");

/*
 * Calibrated cost of one probed call (entry and return probes, as its caller sees it) per
 * probe id, written by userspace before attaching; 0 when not calibrated.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* per probe id: sized to the plan by userspace before load */
	__type(key, __u32);
	__type(value, __u64);
} probe_cost SEC(".maps");

/* Processes with goroutine stacks, which their exit must clear (they belong to no thread). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FUNCLAT_MAX_TGIDS);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} go_tgids SEC(".maps");

/* A zeroed stack to insert from: the value is larger than the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct funclat_stack);
} scratch SEC(".maps");

#endif /* PERFBPF_FUNCLAT_MAPS_BPF_H */
