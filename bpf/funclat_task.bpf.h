/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the timing programs (funclat.bpf.c) and the --decompose scheduler programs
 * (funclat_sched.bpf.c) both use: each thread's open calls in its task storage, and the loss
 * counters. Two objects, so that plain function timing loads without the kernel's full BTF
 * (the scheduler programs are tp_btf); userspace shares the maps by descriptor.
 */
#ifndef PERFBPF_FUNCLAT_TASK_BPF_H
#define PERFBPF_FUNCLAT_TASK_BPF_H

#define FRAME_MASK (FUNCLAT_MAX_DEPTH - 1)
_Static_assert((FUNCLAT_MAX_DEPTH & FRAME_MASK) == 0, "depth masks need a power of two");

/*
 * Open calls of each thread: task-local storage, found from the task itself in a few loads
 * where a hash map would hash and compare a key twice per call (entry and return). Created
 * at a thread's first kept call, freed with the task.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct funclat_stack);
} thread_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FUNCLAT_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

#endif /* PERFBPF_FUNCLAT_TASK_BPF_H */
