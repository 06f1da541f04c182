// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * On-CPU sampling: a cpu-clock perf event per CPU runs this program; it counts samples per
 * (thread, user stack, kernel stack). The software cpu-clock event works on VMs without
 * hardware counters. Stacks are read in userspace after the session.
 *
 * With copy_user_stack (the default), each sample's kernel stack, user registers and the top of
 * its user stack go to ring "samples" instead, and userspace unwinds them with the binaries' CFI
 * (.eh_frame): most software is built without frame pointers, which bpf_get_stackid needs.
 * Map "stacks" and "counts" then serve only samples the full ring turned away.
 *
 * Off-CPU time (--off-cpu): each wait from switch-out to switch-in, by the stacks it began in,
 * split at its wakeup into asleep (I/O or sleep) and runnable; waits open when the session
 * begins or ends count for their part inside it.
 *
 * The task's mm is read with BPF_CORE_READ, not loaded directly: the verifier answers each direct
 * load of a trusted task's pointer field with a search of the kernel's BTF by name
 * (btf_nested_type_is_trusted, a linear scan), once per state that reaches it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "profile.h"
#define TARGET_FILTER_MAX_TGIDS PROFILE_MAX_TGIDS
#include "target_filter.bpf.h"
#include "task_state.bpf.h"
#include "map_helpers.bpf.h"
#include "ring_wakeup.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, PROFILE_MAX_STACKS);
	__type(key, __u32);
	__uint(value_size, PROFILE_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_COUNTS);
	__type(key, struct profile_key);
	__type(value, __u64);
} counts SEC(".maps");

/*
 * Each sampled process's name, taken at its first sample: a short-lived process has often
 * exited before userspace could read /proc, and its stacks still need a name.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_TGIDS);
	__type(key, __u32); /* tgid */
	__type(value, char[PROFILE_COMM_LEN]);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_LOSS_NR);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

#include "offcpu_book.bpf.h"

const volatile bool copy_user_stack = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); /* bytes; userspace sizes it by CPUs and frequency */
} samples SEC(".maps");

/* The samples ring's wake-up state (bpf/ring_wakeup.bpf.h); the count is for tests. */
__u32 samples_wakeup_armed;
__u64 samples_forced_wakeups;

#include "code_maps.bpf.h"

/* One sample being assembled per CPU: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_sample);
} sample_scratch SEC(".maps");

#ifdef __TARGET_ARCH_x86
/*
 * The user half of a sample into S: the task's user registers (saved at its entry to the
 * kernel, whether the sample hit user or kernel code, as perf's user-regs are) and its stack
 * from sp. Returns the bytes of stack copied.
 */
static __always_inline __u32 copy_user_part(struct stack_sample *s, struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 size = 0, first;
	__u64 sp;

	s->regs[0] = BPF_CORE_READ(regs, ax);
	s->regs[1] = BPF_CORE_READ(regs, dx);
	s->regs[2] = BPF_CORE_READ(regs, cx);
	s->regs[3] = BPF_CORE_READ(regs, bx);
	s->regs[4] = BPF_CORE_READ(regs, si);
	s->regs[5] = BPF_CORE_READ(regs, di);
	s->regs[6] = BPF_CORE_READ(regs, bp);
	s->regs[7] = BPF_CORE_READ(regs, sp);
	s->regs[8] = BPF_CORE_READ(regs, r8);
	s->regs[9] = BPF_CORE_READ(regs, r9);
	s->regs[10] = BPF_CORE_READ(regs, r10);
	s->regs[11] = BPF_CORE_READ(regs, r11);
	s->regs[12] = BPF_CORE_READ(regs, r12);
	s->regs[13] = BPF_CORE_READ(regs, r13);
	s->regs[14] = BPF_CORE_READ(regs, r14);
	s->regs[15] = BPF_CORE_READ(regs, r15);
	s->regs[16] = BPF_CORE_READ(regs, ip);
	/*
	 * From sp (what lies below it is no frame's: perf copies from sp too) to the end of its
	 * page, then whole pages: the first page that faults is the top of the stack (or not
	 * resident: the copy ends there and userspace marks the stack truncated if its frames go
	 * on). Each read's size is bounded for the verifier: 1 to a page, then a page.
	 */
	sp = s->regs[7];
	s->stack_start = sp;
	first = PROFILE_PAGE_SIZE - (sp & (PROFILE_PAGE_SIZE - 1));
	if (first <= PROFILE_PAGE_SIZE && !bpf_probe_read_user(s->stack, first, (void *)sp)) {
		size = first;
		for (int i = 0; i < PROFILE_STACK_PAGES - 1; i++) {
			__u32 off = size;

			/* Kept opaque: clang would fold the bound the verifier needs into an OR. */
			barrier_var(off);
			if (off > (PROFILE_STACK_PAGES - 1) * PROFILE_PAGE_SIZE ||
			    bpf_probe_read_user(s->stack + off, PROFILE_PAGE_SIZE, (void *)(sp + off)))
				break;
			size = off + PROFILE_PAGE_SIZE;
		}
	}
	return size;
}
#endif

/*
 * Sends the sample with its kernel stack and, unless it is a kernel thread's (HAS_USER false),
 * its user half (copy_user_part) to ring "samples"; false when the ring is full (or there is no
 * scratch).
 */
static __always_inline bool send_stack_sample(struct bpf_perf_event_data *ctx, struct task_struct *task, __u32 tgid,
					      __u32 tid, bool has_user, bool wake, bool pending)
{
#ifdef __TARGET_ARCH_x86
	struct stack_sample *s;
	__u32 zero = 0, size = 0;
	long kernel_bytes;
	__u64 flags;

	s = bpf_map_lookup_elem(&sample_scratch, &zero);
	if (!s)
		return false;
	s->kind = PROFILE_RECORD_STACK;
	s->flags = pending ? STACK_SAMPLE_MAPPINGS_PENDING : 0;
	s->tgid = tgid;
	s->tid = tid;
	/* 0 bytes in user code: no kernel stack there, and no loss. */
	kernel_bytes = bpf_get_stack(ctx, s->kernel_ips, sizeof(s->kernel_ips), 0);
	if (kernel_bytes < 0)
		count_loss(PROFILE_LOSS_KERNEL_STACK);
	s->kernel_depth = kernel_bytes > 0 ? kernel_bytes / sizeof(__u64) : 0;
	s->stack_start = 0;
	if (has_user)
		size = copy_user_part(s, task);
	else
		s->flags |= STACK_SAMPLE_NO_USER;
	s->stack_size = size;
	if (size > sizeof(s->stack))
		return false;
	/*
	 * Wake the reader once per climb past a quarter of the ring (bpf/ring_wakeup.bpf.h: not
	 * once per sample while it lags; its loop also drains on every tick), and when code
	 * mappings were sent (a process's first sample): it opens the files while the process
	 * lives, through /proc/PID/map_files (any mount namespace).
	 */
	flags = wake ? BPF_RB_FORCE_WAKEUP
		     : ring_wakeup_flag(&samples, bpf_ringbuf_query(&samples, BPF_RB_RING_SIZE) / 4,
					&samples_wakeup_armed, &samples_forced_wakeups);
	if (bpf_ringbuf_output(&samples, s, PROFILE_STACK_SAMPLE_HEADER + size, flags)) {
		ring_wakeup_unsent(flags, &samples_wakeup_armed);
		return false;
	}
	return true;
#else
	return false; /* no register layout for this architecture yet: frame pointers only */
#endif
}

/* True at the process's first sample. */
static __always_inline bool remember_comm(__u32 tgid)
{
	char comm[PROFILE_COMM_LEN];
	struct task_struct *task;

	if (bpf_map_lookup_elem(&comms, &tgid))
		return false;
	task = (struct task_struct *)bpf_get_current_task_btf();
	BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm);
	bpf_map_update_elem(&comms, &tgid, &comm, BPF_NOEXIST); /* full: userspace says pid-N */
	return true;
}

/*
 * The sample interrupted kernel code: elsewhere an empty kernel stack is no loss (kernel
 * addresses are the upper half on the 64-bit architectures this builds for).
 */
static __always_inline bool sample_in_kernel(struct bpf_perf_event_data *ctx)
{
	return (long)PT_REGS_IP(&ctx->regs) < 0;
}

SEC("perfbpf.perf_event")
int handle_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct profile_key key = {};
	bool wake;

	key.tgid = id >> 32;
	key.tid = (__u32)id;
	if (!wanted(key.tgid, key.tid))
		return 0;
	wake = remember_comm(key.tgid);

	if (copy_user_stack) {
		struct task_struct *task = bpf_get_current_task_btf();
		bool has_user = BPF_CORE_READ(task, mm) != NULL;
		/*
		 * In execve the registers are still the old image's, whose mappings userspace
		 * has (its parent's at fork): the sample must not wait for the new image's.
		 */
		bool pending = has_user && !BPF_CORE_READ_BITFIELD(task, in_execve) && code_mappings_pending(task, key.tgid);

		if (send_stack_sample(ctx, task, key.tgid, key.tid, has_user, wake, pending))
			return 0;
		count_loss(PROFILE_LOSS_STACK_COPY);
	}
	key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	if (key.kernel_stack_id < 0 && sample_in_kernel(ctx))
		count_loss(PROFILE_LOSS_KERNEL_STACK);
	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	/* Kernel threads have no user stack: that is not a loss. */
	if (key.user_stack_id < 0 && BPF_CORE_READ(bpf_get_current_task_btf(), mm))
		count_loss(PROFILE_LOSS_USER_STACK);

	if (!counter_add(&counts, &key, 1))
		count_loss(PROFILE_LOSS_COUNTS_FULL);
	return 0;
}

/*
 * Off-CPU time: at switch-out remember the thread's stacks (this runs in its context) and
 * state; at switch-in book the time it was away to those stacks.
 */
SEC("perfbpf.tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 prev_tid = BPF_CORE_READ(prev, pid), next_tid = BPF_CORE_READ(next, pid);
	__u32 prev_tgid = BPF_CORE_READ(prev, tgid);
	struct offcpu_start start = {};

	if (!window_open())
		return 0;
	/* A dead task's last switch: no wait follows. */
	if (wanted(prev_tgid, prev_tid) && !(task_state(prev) & PERFBPF_TASK_DEAD)) {
		start.ts_ns = now;
		start.key.where.tgid = prev_tgid;
		start.key.where.tid = prev_tid;
		start.key.where.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
		start.key.where.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		start.key.state = offcpu_state_of(prev);
		close_unended_wait(prev, prev_tid, now);
		open_wait(prev_tid, &start, BPF_ANY);
	}
	if (take_wait(next_tid, &start))
		book_wait(&start, now);
	return 0;
}

/* The wait for a CPU begins (the task is queued already): the first wakeup since switch-out. */
SEC("perfbpf.tp_btf/sched_wakeup")
int BPF_PROG(handle_wakeup, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	struct offcpu_start *s;

	if (!window_open())
		return 0;
	s = bpf_map_lookup_elem(&switched_out, &tid);
	if (s && !s->woken_ns)
		s->woken_ns = bpf_ktime_get_ns();
	return 0;
}

/* A new thread waits for its first run: runnable from now, no stack of its own yet. */
SEC("perfbpf.tp_btf/sched_wakeup_new")
int BPF_PROG(handle_wakeup_new, struct task_struct *p)
{
	struct offcpu_start start = {};

	if (!window_open())
		return 0;
	start.key.where.tgid = BPF_CORE_READ(p, tgid);
	start.key.where.tid = BPF_CORE_READ(p, pid);
	if (!wanted(start.key.where.tgid, start.key.where.tid))
		return 0;
	start.ts_ns = start.woken_ns = bpf_ktime_get_ns();
	start.key.where.user_stack_id = start.key.where.kernel_stack_id = -1;
	start.key.state = OFFCPU_RUNNABLE;
	open_wait(start.key.where.tid, &start, BPF_ANY);
	return 0;
}

/*
 * Run once as the window opens: every wanted thread off CPU now has been waiting since before
 * the session; its wait counts from the window's start, with the kernel stack it waits in.
 */
SEC("perfbpf.iter/task")
int open_waits(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct offcpu_start start = {};
	struct task_stack *scratch;
	__u32 zero = 0, tid;

	if (!task || BPF_CORE_READ(task, on_cpu) || (BPF_CORE_READ(task, flags) & PERFBPF_PF_EXITING))
		return 0;
	tid = BPF_CORE_READ(task, pid);
	start.key.where.tgid = BPF_CORE_READ(task, tgid);
	start.key.where.tid = tid;
	if (!wanted(start.key.where.tgid, tid))
		return 0;
	start.ts_ns = window_start_ns;
	start.key.where.user_stack_id = start.key.where.kernel_stack_id = -1;
	start.key.state = offcpu_state_of(task);
	start.key.flags = OFFCPU_SINCE_START;
	scratch = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (!scratch || bpf_get_task_stack(task, scratch->ips, sizeof(scratch->ips), 0) <= 0 ||
	    bpf_map_update_elem(&start_stacks, &tid, scratch, BPF_ANY))
		count_loss(PROFILE_LOSS_KERNEL_STACK);
	/* A wait the switch program opened already is the better record. */
	open_wait(tid, &start, BPF_NOEXIST);
	/* Switched in meanwhile, its wait over before this one was stored: none is open. */
	if (BPF_CORE_READ(task, on_cpu)) {
		struct offcpu_start *s = bpf_map_lookup_elem(&switched_out, &tid);

		if (s && (s->key.flags & OFFCPU_SINCE_START))
			bpf_map_delete_elem(&switched_out, &tid);
	}
	return 0;
}

/* Run once as the window closes: waits still open count up to its end. */
SEC("perfbpf.iter/task")
int close_waits(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct offcpu_start s;

	if (task && take_wait(BPF_CORE_READ(task, pid), &s))
		book_wait(&s, window_end_ns);
	return 0;
}
