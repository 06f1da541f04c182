/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/profile.bpf.c (cpu-clock sampling) and src/collect/cpu_sampler.cpp.
 * "tgid" is a process id, "tid" a thread id (the kernel's pid).
 */
#ifndef PERFBPF_PROFILE_H
#define PERFBPF_PROFILE_H

#ifndef PROFILE_MAX_STACK_DEPTH
#define PROFILE_MAX_STACK_DEPTH 127 /* frames kept per stack (the kernel's default limit) */
#endif

#ifndef PROFILE_MAX_STACKS
#define PROFILE_MAX_STACKS 16384 /* distinct stacks, user and kernel together */
#endif

#ifndef PROFILE_MAX_COUNTS
#define PROFILE_MAX_COUNTS 32768 /* distinct (tgid, tid, user stack, kernel stack) */
#endif

#define PROFILE_COMM_LEN 16 /* TASK_COMM_LEN */

#ifndef PROFILE_MAX_TGIDS
#define PROFILE_MAX_TGIDS 8192
#endif

/* Per-CPU counters of samples that could not be kept whole (map "losses"). */
enum profile_loss {
	PROFILE_LOSS_USER_STACK = 0,   /* user stack capture failed (not for kernel threads) */
	PROFILE_LOSS_KERNEL_STACK = 1, /* kernel stack capture failed (not for samples in user code) */
	PROFILE_LOSS_COUNTS_FULL = 2,  /* no room for a new (thread, stacks) key: sample dropped */
	PROFILE_LOSS_WAITS_FULL = 3,   /* no room to remember a thread's open wait: its time lost */
	PROFILE_LOSS_MISSED_SWITCH_IN = 4, /* a wait whose end went unseen and unstamped: its runnable part dropped */
	PROFILE_LOSS_STACK_COPY = 5,   /* ring "samples" full: the sample kept with its frame-pointer stack */
	PROFILE_LOSS_CODE_MAPPING = 6, /* ring "samples" full: a process's code mappings not all sent */
	PROFILE_LOSS_NR = 7,
};

#ifndef PROFILE_MAX_START_STACKS
#define PROFILE_MAX_START_STACKS 8192 /* threads already waiting when the session began */
#endif

/* Key of the sample counts; value: __u64 samples. */
struct profile_key {
	__u32 tgid;	       /* process id */
	__u32 tid;	       /* thread id */
	__s32 user_stack_id;   /* id in map "stacks", < 0 when none (kernel thread) or failed */
	__s32 kernel_stack_id; /* id in map "stacks", < 0 when failed */
};

/*
 * Why a thread was off CPU. A wait is asleep (I/O or sleep, by its state when switched out)
 * until its wakeup, then runnable until it runs again: the kernel's run_delay definition.
 */
enum offcpu_state {
	OFFCPU_RUNNABLE = 0, /* waiting for a CPU: woken, or preempted while runnable */
	OFFCPU_IO = 1,	     /* uninterruptible (D): I/O and the like */
	OFFCPU_SLEEP = 2,    /* interruptible (S) and the rest: sleeps, locks, waits */
};

enum offcpu_flags {
	/*
	 * The wait began before the session: counted from its start, with no user stack (the
	 * kernel cannot walk another task's) and the kernel stack in map "start_stacks" by tid.
	 */
	OFFCPU_SINCE_START = 1,
};

/* Key of the off-CPU time map; value: __u64 ns off CPU within the session. */
struct offcpu_key {
	struct profile_key where; /* stacks at the moment of switching out */
	__u32 state;		  /* enum offcpu_state */
	__u32 flags;		  /* enum offcpu_flags */
};

/* A thread's open wait (map "switched_out", key tid). */
struct offcpu_start {
	__u64 ts_ns;	/* CLOCK_MONOTONIC at switch-out (or the session's start) */
	__u64 woken_ns; /* its first wakeup since, 0 before */
	struct offcpu_key key;
};

/* A kernel stack captured with bpf_get_task_stack (map "start_stacks"), zero-padded. */
struct task_stack {
	__u64 ips[PROFILE_MAX_STACK_DEPTH];
};

/* What a record of ring "samples" is: its first __u32. */
enum profile_record {
	PROFILE_RECORD_STACK = 1,   /* struct stack_sample */
	PROFILE_RECORD_MAPPING = 2, /* struct code_mapping */
	PROFILE_RECORD_FORK = 3,    /* struct code_fork */
};

/*
 * A sampled process forked: the child runs a copy of the parent's code mappings until it execs
 * (sent in the parent's context, before any sample of the child).
 */
struct code_fork {
	__u32 kind;	  /* PROFILE_RECORD_FORK */
	__u32 tgid;	  /* the new process's id */
	__u32 parent_tgid; /* the process it is a copy of */
	__u32 _pad;
};

/*
 * A sample whose user stack is unwound in userspace from its registers and a copy of the top of
 * its stack (ring "samples"): perf's --call-graph dwarf way, for code without frame pointers.
 * The copy starts at sp and runs to the end of sp's page and up to PROFILE_STACK_PAGES - 1 pages
 * more, ending early at the first page that cannot be read (the top of the stack).
 */
#ifndef PROFILE_STACK_PAGES
#define PROFILE_STACK_PAGES 4
#endif
#define PROFILE_PAGE_SIZE 4096
#define PROFILE_NR_REGS 17 /* x86-64 DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */

enum stack_sample_flags {
	/* The process's code mappings changed; a set of them follows this sample in the ring. */
	STACK_SAMPLE_MAPPINGS_PENDING = 1,
	/* A kernel thread's: no user registers or stack. */
	STACK_SAMPLE_NO_USER = 2,
};

struct stack_sample {
	__u32 kind;	       /* PROFILE_RECORD_STACK */
	__u32 flags;	       /* enum stack_sample_flags */
	__u32 tgid;	       /* process id */
	__u32 tid;	       /* thread id */
	__u32 kernel_depth;    /* frames in kernel_ips: 0 when the sample hit user code (or the read failed) */
	__u32 stack_size;      /* bytes of stack[] copied: 0, or to the end of sp's page and whole pages on */
	__u64 stack_start;     /* user address of stack[0]: sp */
	__u64 regs[PROFILE_NR_REGS]; /* user registers at the sample (at kernel entry if in the kernel) */
	/*
	 * The kernel stack, innermost first, in the record rather than map "stacks": that map's
	 * buckets are allocated and zeroed whole when it is created (16 MiB, most of a short
	 * --system session's start-up), and a hash collision there loses the stack.
	 */
	__u64 kernel_ips[PROFILE_MAX_STACK_DEPTH];
	__u8 stack[PROFILE_STACK_PAGES * PROFILE_PAGE_SIZE];
};
#define PROFILE_STACK_SAMPLE_HEADER (6 * 4 + 8 + 8 * PROFILE_NR_REGS + 8 * PROFILE_MAX_STACK_DEPTH)

/*
 * One executable file mapping of a process, sent to ring "samples" before the first sample that
 * needs it (its process's first, and the first after its code mappings changed: exec, dlopen):
 * a process that exits before userspace could read /proc/PID/maps still has them. The file is
 * named by its path as the process saw it, component by component (the kernel walks dentries;
 * userspace joins them and checks the file it opens is DEV:INO).
 */
#define PROFILE_PATH_DEPTH 16 /* components kept; a deeper path is not named */
#define PROFILE_NAME_LEN 64   /* bytes of a component, with its NUL; a longer one is cut */

enum code_mapping_flags {
	CODE_MAPPING_FIRST = 1,  /* the first of a new set: the process's earlier code mappings are gone */
	CODE_MAPPING_NEW_MM = 2, /* ... and so is its whole address space (a new process or an exec) */
	CODE_MAPPING_PATH_CUT = 4, /* the path had more than PROFILE_PATH_DEPTH components */
	CODE_MAPPING_VDSO = 8,	   /* the vDSO: no file, no path (the kernel's own image) */
};

struct code_mapping {
	__u32 kind;   /* PROFILE_RECORD_MAPPING */
	__u32 tgid;   /* process id */
	__u64 start;  /* user address of the mapping's first byte */
	__u64 end;    /* user address just past its last byte */
	__u64 offset; /* file offset mapped at start, bytes */
	__u64 dev;    /* the file's device, the kernel's encoding: major << 20 | minor */
	__u64 ino;    /* the file's inode number */
	__u32 flags;  /* enum code_mapping_flags */
	__u32 depth;  /* components in names[] */
	char names[PROFILE_PATH_DEPTH][PROFILE_NAME_LEN]; /* the path's components, the file's own name first */
};

#ifdef __cplusplus
static_assert(sizeof(struct stack_sample) == PROFILE_STACK_SAMPLE_HEADER + PROFILE_STACK_PAGES * PROFILE_PAGE_SIZE,
              "stack_sample ABI changed");
static_assert(sizeof(struct profile_key) == 16, "profile_key ABI changed");
static_assert(sizeof(struct code_fork) == 16, "code_fork ABI changed");
static_assert(sizeof(struct code_mapping) == 56 + PROFILE_PATH_DEPTH * PROFILE_NAME_LEN, "code_mapping ABI changed");
static_assert(sizeof(struct offcpu_key) == 24, "offcpu_key ABI changed");
#else
_Static_assert(sizeof(struct stack_sample) == PROFILE_STACK_SAMPLE_HEADER + PROFILE_STACK_PAGES * PROFILE_PAGE_SIZE,
	       "stack_sample ABI changed");
_Static_assert(sizeof(struct profile_key) == 16, "profile_key ABI changed");
_Static_assert(sizeof(struct code_fork) == 16, "code_fork ABI changed");
_Static_assert(sizeof(struct code_mapping) == 56 + PROFILE_PATH_DEPTH * PROFILE_NAME_LEN, "code_mapping ABI changed");
_Static_assert(sizeof(struct offcpu_key) == 24, "offcpu_key ABI changed");
#endif

#endif /* PERFBPF_PROFILE_H */
