/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/target_set.bpf.c and src/session/target_set.cpp: the set of processes a
 * session profiles (map "targets", tgid -> 1), which every probe family filters on through
 * bpf/target_filter.bpf.h. Linux naming trap: "tgid" is what userspace calls a process id.
 */
#ifndef PERFBPF_TARGET_SET_H
#define PERFBPF_TARGET_SET_H

#ifndef TARGET_SET_MAX_PROCESSES
/* Default capacity: processes profiled at once (the command and its live descendants). */
#define TARGET_SET_MAX_PROCESSES 8192
#endif

#ifndef TARGET_SET_COMM_LEN
#define TARGET_SET_COMM_LEN 16 /* TASK_COMM_LEN */
#endif

/* Indexes of the per-CPU loss counters (map "losses"). */
enum target_set_loss {
	TARGET_SET_LOSS_FULL = 0, /* a process that should have joined found the set full: never profiled */
	TARGET_SET_LOSS_NR = 1,
};

/* Indexes of the per-CPU counters of map "admissions". */
enum target_set_admission {
	TARGET_SET_ADMITTED_EXEC = 0, /* the command, at its exec */
	TARGET_SET_ADMITTED_FORK = 1, /* descendants of targets, at fork */
	TARGET_SET_ADMISSION_NR = 2,
};

/* A target's name (map "names", key: tgid), as of its last exec, fork or reaping. */
struct target_set_name {
	char comm[TARGET_SET_COMM_LEN];
};

#ifdef __cplusplus
static_assert(sizeof(struct target_set_name) == 16, "target_set_name ABI changed");
#else
_Static_assert(sizeof(struct target_set_name) == 16, "target_set_name ABI changed");
#endif

#endif /* PERFBPF_TARGET_SET_H */
