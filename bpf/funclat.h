/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/funclat.bpf.c and the C++ side (src/collect/funclat_decoder.cpp,
 * src/session/funclat_session.cpp). Every field is fixed-width with explicit padding; both
 * sides assert the sizes. Linux naming trap: "tgid" is what userspace calls a process id,
 * "tid" (the kernel's pid) is a thread id.
 *
 * Two probe methods time a call (chosen per function by userspace, docs/probe-cost.md):
 *  - entry + uretprobe: the kernel swaps the return address for a trampoline. Cheap, but Go
 *    (goroutines move between threads, stacks are copied) and C++ exceptions (the unwinder
 *    meets the trampoline) break on it.
 *  - entry + probes on the function's return instructions and jumps out ("return sites"):
 *    nothing in the target changes; entries and returns are paired by stack position.
 * Either way each open call is kept with the stack position of its return address, so a
 * frame abandoned by longjmp or an exception is recognised once the stack unwinds past it.
 */
#ifndef PERFBPF_FUNCLAT_H
#define PERFBPF_FUNCLAT_H

#ifndef FUNCLAT_MAX_DEPTH
/* Per-thread nesting tracked exactly; deeper calls are counted as overflow, never timed. */
#define FUNCLAT_MAX_DEPTH 32
#endif

#ifndef FUNCLAT_MAX_PROBES
/*
 * Upper bound on attached functions. Probe ids index the per-probe arrays, which userspace
 * sizes to the plan before load (8 bytes per function in each); this bounds what one session
 * may ask of the kernel.
 */
#define FUNCLAT_MAX_PROBES (1u << 20)
#endif

#ifndef FUNCLAT_MAX_INDIRECT
/* Indirect jumps probed as possible exits (map "indirect_sites", sized to the plan): the
 * cookie's 20-bit slot. */
#define FUNCLAT_MAX_INDIRECT (1u << 20)
#endif

#ifndef FUNCLAT_MAX_THREADS
#define FUNCLAT_MAX_THREADS 65536
#endif

#ifndef FUNCLAT_MAX_TGIDS
#define FUNCLAT_MAX_TGIDS 8192
#endif

/*
 * Ring buffer: the largest size userspace may give it before load (funclat_session.cpp sizes
 * it per CPU: a CPU makes at most ~770k probed calls/s whatever the functions, ~1.3 us each on
 * NOP5 sites). The kernel maps all of it into perfbpf at once, data pages twice, so its size
 * is RSS twice over.
 */
#ifndef FUNCLAT_RINGBUF_BYTES
#define FUNCLAT_RINGBUF_BYTES (4u << 20)
#endif

/* Wake userspace once each time this much gets queued (rodata wakeup_bytes, set with the
 * ring's size; bpf/ring_wakeup.bpf.h); the poll loop's timeout collects the rest. */
#ifndef FUNCLAT_WAKEUP_BYTES
#define FUNCLAT_WAKEUP_BYTES (256u << 10)
#endif

/* Indexes of the per-CPU loss counters (map "losses"). */
enum funclat_loss {
	FUNCLAT_LOSS_RINGBUF_FULL = 0,	 /* record dropped: ring buffer had no room */
	FUNCLAT_LOSS_DEPTH_OVERFLOW = 1, /* call deeper than FUNCLAT_MAX_DEPTH: not timed */
	FUNCLAT_LOSS_MISSING_ENTRY = 2,	 /* return inside a tracked caller without its entry */
	FUNCLAT_LOSS_UNWOUND = 3,	 /* left by longjmp or an exception: counted, not timed */
	FUNCLAT_LOSS_THREAD_MAP_FULL = 4, /* no room to track a new thread's call stack */
	FUNCLAT_LOSS_NO_GOROUTINE = 5,	 /* Go: the goroutine (R14) could not be read */
	FUNCLAT_LOSS_SPLIT_NO_STORAGE = 6, /* --decompose: no per-thread record, call not split */
	FUNCLAT_LOSS_SPLIT_SWITCH_IN_UNSEEN = 7, /* a wait closed later, from the kernel's stamps */
	FUNCLAT_LOSS_WAIT_STACK = 8,	 /* a wait's stack could not be kept (map full) */
	FUNCLAT_LOSS_USER_COPY = 9,	 /* a lock wait's or holder's user stack top could not be copied */
	FUNCLAT_LOSS_NR = 10,
};

/* Session phase (global "phase", written by userspace). */
enum funclat_phase {
	FUNCLAT_ATTACHING = 0, /* links going in: nothing is recorded */
	FUNCLAT_RUNNING = 1,
	FUNCLAT_ENDING = 2, /* links going out: no new calls, open ones still complete */
};

/*
 * Attach cookie: the low 32 bits are the probe id (index into userspace's function list),
 * the high ones say how the function is probed and, for return sites, what the site is.
 */
#define FUNCLAT_PROBE_ID(cookie) ((__u32)(cookie))
#define FUNCLAT_F_GO (1ull << 32)	    /* Go: paired by goroutine (R14), position from g.stack.hi */
#define FUNCLAT_F_RETURN_SITES (1ull << 33) /* returns probed on their instructions */
#define FUNCLAT_F_AT_ENTRY_SP (1ull << 34)  /* exit site known to run at the entry stack pointer */
#define FUNCLAT_EXIT_KIND(cookie) ((__u32)((cookie) >> 36) & 3)
#define FUNCLAT_EXIT_COND(cookie) ((__u32)((cookie) >> 40) & 15)
#define FUNCLAT_EXIT_INDIRECT(cookie) ((__u32)((cookie) >> 44) & 0xfffff)
#define FUNCLAT_COOKIE_EXIT(kind, cond, indirect) \
	(((__u64)(kind) << 36) | ((__u64)(cond) << 40) | ((__u64)(indirect) << 44))

enum funclat_exit_kind {
	FUNCLAT_EXIT_RET = 0,	   /* ret */
	FUNCLAT_EXIT_JMP = 1,	   /* jmp rel out of the function: tail call */
	FUNCLAT_EXIT_JCC = 2,	   /* jcc rel out of the function, when its condition holds */
	FUNCLAT_EXIT_INDIRECT = 3, /* jmp through a pointer, when the target is outside */
};

/*
 * Registers an indirect jump's target is computed from, as their slot in x86-64 struct
 * pt_regs (the ptrace user_regs_struct order, which is ABI).
 */
enum funclat_reg {
	FUNCLAT_REG_R15 = 0, FUNCLAT_REG_R14 = 1, FUNCLAT_REG_R13 = 2, FUNCLAT_REG_R12 = 3,
	FUNCLAT_REG_RBP = 4, FUNCLAT_REG_RBX = 5, FUNCLAT_REG_R11 = 6, FUNCLAT_REG_R10 = 7,
	FUNCLAT_REG_R9 = 8, FUNCLAT_REG_R8 = 9, FUNCLAT_REG_RAX = 10, FUNCLAT_REG_RCX = 11,
	FUNCLAT_REG_RDX = 12, FUNCLAT_REG_RSI = 13, FUNCLAT_REG_RDI = 14, FUNCLAT_REG_RSP = 19,
	FUNCLAT_REG_SLOTS = 21, /* u64 slots in struct pt_regs */
	FUNCLAT_REG_NONE = 0xff,
};

#define FUNCLAT_TARGET_MEMORY 1 /* the target is the 8 bytes at the address, not the address */
#define FUNCLAT_TARGET_RIP 2	/* base is the next instruction's address */

/* An indirect jump probed as a possible exit: how to find its target, and the bounds. */
struct funclat_indirect {
	__s32 disp;
	__u32 offset;	/* of the jump from the function's start, bytes */
	__u32 size;	/* of the function, bytes */
	__u8 base;	/* enum funclat_reg */
	__u8 index;	/* enum funclat_reg */
	__u8 scale;
	__u8 flags;	/* FUNCLAT_TARGET_* */
	__u8 length;	/* of the jump instruction, bytes */
	__u8 pad[3];
};

/* One completed call, as written to the ring buffer. */
struct funclat_event {
	__u64 start_ns;	      /* entry time, bpf_ktime_get_ns() == CLOCK_MONOTONIC */
	__u64 duration_ns;    /* return time - entry time, raw (probe cost included) */
	__u64 nested_cost_ns; /* calibrated probe cost of all probed descendants (map probe_cost) */
	__u32 probe_id;	      /* attach cookie: index into userspace's target list */
	__u32 tgid;	      /* process id (kernel tgid) */
	__u32 tid;	      /* thread id (kernel pid) the call returned on */
	__u32 cpu;	      /* CPU the return ran on */
	__u32 depth;	      /* nesting depth of this call among probed calls, 0 = outermost */
	__u32 nested_calls;   /* probed calls completed inside this one (all descendants) */
};

/*
 * --decompose: why a thread was off CPU while it had open probed calls. Waiting for a CPU
 * (runnable) is not a wait kind: it is the kernel's own sched_info.run_delay.
 */
enum funclat_wait {
	FUNCLAT_WAIT_IO = 0,	/* uninterruptible (D) or in_iowait: block I/O and the like */
	FUNCLAT_WAIT_LOCK = 1,	/* blocked in futex(2) (pthread mutexes, condition variables) */
	FUNCLAT_WAIT_SLEEP = 2, /* any other sleep: nanosleep, poll, read on a pipe... */
	FUNCLAT_WAIT_NR = 3,
};

#define FUNCLAT_SPLIT_HOLDER_PI 1	/* holder_tid from a PI futex word: the kernel's owner */
#define FUNCLAT_SPLIT_HOLDER_OWNER 2	/* holder_tid from a glibc mutex's __owner field: a guess */
#define FUNCLAT_SPLIT_MISSED 4		/* a switch or wakeup went unseen during the call */

#ifndef FUNCLAT_WAIT_STACK_DEPTH
#define FUNCLAT_WAIT_STACK_DEPTH 32 /* frames kept of a wait's user and kernel stacks */
#endif
#ifndef FUNCLAT_MAX_WAIT_STACKS
#define FUNCLAT_MAX_WAIT_STACKS 4096
#endif

/*
 * Where a call's time went (--decompose), written after its funclat_event. On-CPU time is
 * the rest: duration_ns - runq_ns - io_ns - lock_ns - sleep_ns, so the parts sum to the
 * call's duration. Every open probed frame of the thread gets the time (nested calls too).
 */
struct funclat_split {
	__u64 runq_ns;	/* runnable but not running: the task's sched_info.run_delay delta */
	__u64 io_ns;	/* blocked, by kind (enum funclat_wait): switch-out to wakeup */
	__u64 lock_ns;
	__u64 sleep_ns;
	__u64 wait_ns;	/* the longest single blocked wait inside the call */
	__s32 wait_kstack; /* its kernel and user stack at switch-out (map wait_stacks), < 0: none */
	__s32 wait_ustack;
	__u32 wait_kind;   /* enum funclat_wait of that wait */
	__u32 holder_tid;  /* a lock wait: the thread that held the lock (kernel pid), 0: unknown */
	__u32 holder_probe; /* probe id of the holder's innermost open probed call, ~0: none */
	__u32 flags;	   /* FUNCLAT_SPLIT_* */
	/*
	 * A lock wait ended by a futex wake on its word from a thread of the same process, in its
	 * own syscall (its unlock, seen at sched_waking; bpf/funclat_waker.bpf.h): that thread,
	 * 0: none; its user stack by frame pointers (map wait_stacks), < 0: none; and the copy of
	 * its registers and stack top (map user_copies, struct funclat_user_copy.seq), 0: none.
	 */
	__u32 waker_tid;
	__s32 waker_ustack;
	__u32 waker_copy;
	__u32 wait_copy; /* a lock wait: the waiting thread's registers and stack top at its
			  * switch-out (map user_copies), 0: none */
};

/*
 * A thread's user registers and the top of its stack, taken where a lock wait begins (the
 * waiter, at its switch-out) and where it ends (the holder, at its futex wake): userspace
 * unwinds them with the binaries' CFI, which frame pointers cannot do through a libc built
 * without them (the caller of pthread_mutex_lock / _unlock would be skipped). Map user_copies
 * holds the latest FUNCLAT_MAX_USER_COPIES, slot (seq - 1) % that; a slot whose seq is not the
 * one a split names was reused (or is being written).
 */
#ifndef FUNCLAT_USER_COPY_BYTES
#define FUNCLAT_USER_COPY_BYTES 2048
#endif
#ifndef FUNCLAT_MAX_USER_COPIES
#define FUNCLAT_MAX_USER_COPIES 1024
#endif
#define FUNCLAT_NR_REGS 17 /* x86-64 DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */

struct funclat_user_copy {
	__u64 seq;	 /* 1, 2, ...; 0: never written */
	__u32 tgid;	 /* the thread's process */
	__u32 tid;	 /* the thread (kernel pid) */
	__u64 start;	 /* user address of stack[0]: its sp */
	__u32 size;	 /* bytes of stack[] read: FUNCLAT_USER_COPY_BYTES, or to the end of sp's page */
	__u32 pad;
	__u64 trampoline; /* the process's uretprobe trampoline (its "[uprobes]" page), 0: none: a
			   * return address there was taken over by a uretprobe */
	__u64 regs[FUNCLAT_NR_REGS]; /* its user registers (saved at its entry to the kernel) */
	__u8 stack[FUNCLAT_USER_COPY_BYTES];
};

/* A completed call with its split: the record --decompose writes for threads (not goroutines). */
struct funclat_split_event {
	struct funclat_event call;
	struct funclat_split split;
};

/* Whose call stack: a thread's, or (Go) a goroutine's, which moves between threads. */
struct funclat_key {
	__u32 tgid;	 /* process (kernel tgid) */
	__u32 tid;	 /* thread (kernel pid); 0 for a goroutine */
	__u64 goroutine; /* address of the runtime.g; 0 for a thread */
};

/* One open call on a stack. */
struct funclat_frame {
	__u64 start_ns;	      /* entry time, CLOCK_MONOTONIC */
	__u64 nested_cost_ns; /* probe cost of probed descendants completed so far */
	/*
	 * Where its return address sits, larger = deeper: 0 - SP on a thread's stack,
	 * g.stack.hi - SP on a goroutine's (unchanged when Go copies the stack to grow it).
	 */
	__u64 level;
	__u32 probe_id;	      /* attach cookie's probe id */
	__u32 nested_calls;   /* probed descendants completed so far */
};

/* Open calls of one thread or goroutine, outermost first. */
struct funclat_stack {
	__u32 depth;	/* frames kept, <= FUNCLAT_MAX_DEPTH */
	__u32 overflow; /* calls open beyond FUNCLAT_MAX_DEPTH, not kept */
	__u32 tgid;	/* owning process, so userspace can attribute in-flight calls */
	__u32 tid;	/* thread that last ran it */
	struct funclat_frame frames[FUNCLAT_MAX_DEPTH];
};

/* CPU time of a thread that made probed calls and exited (map "thread_cpu", key: tid). */
struct funclat_thread_cpu {
	__u64 cpu_ns; /* its sum_exec_runtime at exit: all its life's CPU time */
	__u32 tgid;
	__u32 pad;
};

#ifdef __cplusplus
#define FUNCLAT_ASSERT static_assert
#else
#define FUNCLAT_ASSERT _Static_assert
#endif
FUNCLAT_ASSERT(sizeof(struct funclat_event) == 48, "funclat_event ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_split) == 80, "funclat_split ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_user_copy) == 40 + 8 * FUNCLAT_NR_REGS + FUNCLAT_USER_COPY_BYTES,
	       "funclat_user_copy ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_split_event) == 128, "funclat_split_event ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_key) == 16, "funclat_key ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_frame) == 32, "funclat_frame ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_stack) == 16 + 32 * FUNCLAT_MAX_DEPTH, "funclat_stack ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_thread_cpu) == 16, "funclat_thread_cpu ABI changed");
FUNCLAT_ASSERT(sizeof(struct funclat_indirect) == 20, "funclat_indirect ABI changed");
#undef FUNCLAT_ASSERT

#endif /* PERFBPF_FUNCLAT_H */
