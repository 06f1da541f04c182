/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Open calls of each thread (or goroutine) and how entries and returns pair up: by the
 * stack position of the call's return address ("level", bpf/funclat.h), never by the order
 * of events alone. A frame the stack has unwound past (longjmp, an exception, a Go panic)
 * is recognised at the next probe at or above its position and counted as unwound; a
 * return without an open call at its position is told apart as "in flight at attach".
 */
#ifndef PERFBPF_FUNCLAT_STACK_BPF_H
#define PERFBPF_FUNCLAT_STACK_BPF_H

#include "funclat_maps.bpf.h"
#include "funclat_owner.bpf.h"
#include "funclat_split.bpf.h"
#include "funclat_emit.bpf.h"

const volatile bool decompose = false; /* split each call's time (funclat_sched.bpf.c loaded) */

static __always_inline void count_for_probe(void *map, __u32 probe)
{
	__u64 *n = bpf_map_lookup_elem(map, &probe);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Drops the top frame: its call was left without a return (longjmp, exception, panic). While
 * the session ends, links go one by one and a return can go unseen because its probe went
 * first (a libc function's, inside a call of the program's): that call was in flight at the
 * end, not unwound.
 */
static __always_inline void drop_top(struct funclat_stack *st)
{
	__u32 d = st->depth, probe;

	if (!d)
		return;
	probe = st->frames[(d - 1) & FRAME_MASK].probe_id;
	if (phase == FUNCLAT_ENDING) {
		count_for_probe(&unreturned, probe);
	} else {
		count_for_probe(&unwound, probe);
		count_loss(FUNCLAT_LOSS_UNWOUND);
	}
	st->depth = d - 1;
	st->overflow = 0; /* calls beyond the kept frames were deeper still: gone too */
}

#define KEEP_AT_LEVEL 0xffffffffu /* no probe id: see drop_left_frames */

/* Whether the top frame is one to drop_left_frames (see there); false on an empty stack. */
static __always_inline bool top_left(const struct funclat_stack *st, __u64 level, __u32 keep, bool keep_all)
{
	const struct funclat_frame *top;
	__u32 d = st->depth;

	if (!d)
		return false;
	top = &st->frames[(d - 1) & FRAME_MASK];
	return top->level > level || (top->level == level && !keep_all && top->probe_id != keep);
}

/* drop_left_frames's loop state, for bpf_loop. */
struct drop_left {
	struct funclat_stack *st;
	__u64 level;
	__u32 keep;
	bool keep_all;
};

static long drop_left_one(__u64 i, void *data)
{
	struct drop_left *c = data;

	if (!top_left(c->st, c->level, c->keep, c->keep_all))
		return 1;
	drop_top(c->st);
	return 0;
}

/*
 * Drops the frames of calls the stack has already left: those deeper than LEVEL, and those
 * at LEVEL unless KEEP_ALL, or unless they are probe KEEP's (a returning call's own frame).
 * The loop is a bpf_loop: the verifier checks its body once, where a bounded loop (even in a
 * global function) is checked iteration by iteration, 32 times: most of each probe program's
 * verification, itself the largest step of a function-timing session's start-up. It runs only
 * when there is a frame to drop: the usual path costs the one check.
 */
static __always_inline void drop_left_frames(struct funclat_stack *st, __u64 level, __u32 keep, bool keep_all)
{
	if (top_left(st, level, keep, keep_all)) {
		struct drop_left c = {.st = st, .level = level, .keep = keep, .keep_all = keep_all};

		bpf_loop(FUNCLAT_MAX_DEPTH, drop_left_one, &c, 0);
	}
}

/* Whether the innermost open call's return address sits at LEVEL. */
static __always_inline bool top_at(const struct funclat_stack *st, __u64 level)
{
	__u32 d = st->depth;

	return d && st->frames[(d - 1) & FRAME_MASK].level == level;
}

/*
 * A frame at the same position as a new call is stale, unless a uretprobe took over its
 * return address: then the new call is a tail call from it and it returns after this one.
 */
static __always_inline bool tail_called_from(__u64 entry_sp)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 trampoline = BPF_CORE_READ(task, mm, uprobes_state.xol_area, vaddr), ret = 0;

	return trampoline && !bpf_probe_read_user(&ret, sizeof(ret), (void *)entry_sp) && ret == trampoline;
}

/*
 * A call enters. SESSION: the return runs only if this returns 0 (uprobe session links), so
 * a call that is not kept must say so rather than count on its return being ignored.
 * Returns 0 when the call's return should be seen.
 */
static __always_inline int enter(struct pt_regs *ctx, __u64 cookie, bool session)
{
	struct funclat_stack *st;
	struct frame_pos pos;
	__u32 d;

	if (phase != FUNCLAT_RUNNING)
		return 1;
	st = stack_for(ctx, cookie, ctx->sp, true, &pos);
	if (!st)
		return 1;
	drop_left_frames(st, pos.level, KEEP_AT_LEVEL, true);
	if (top_at(st, pos.level) && ((cookie & FUNCLAT_F_GO) || !tail_called_from(ctx->sp)))
		drop_left_frames(st, pos.level, KEEP_AT_LEVEL, false);
	if (pos.goroutine)
		st->tid = (__u32)bpf_get_current_pid_tgid(); /* the thread that last ran it */
	d = st->depth;
	if (d >= FUNCLAT_MAX_DEPTH) {
		count_loss(FUNCLAT_LOSS_DEPTH_OVERFLOW);
		if (session)
			return 1;
		st->overflow++; /* its return will come: recognised as deeper than every kept frame */
		return 0;
	}
	st->frames[d].probe_id = FUNCLAT_PROBE_ID(cookie);
	st->frames[d].level = pos.level;
	st->frames[d].nested_calls = 0;
	st->frames[d].nested_cost_ns = 0;
	st->depth = d + 1;
	if (decompose && !(cookie & FUNCLAT_F_GO)) {
		/* Goroutines move between threads: a thread's scheduler times are not theirs. */
		struct task_struct *task = bpf_get_current_task_btf();
		struct split_thread *t = split_of(task, true);

		if (t) {
			if (t->off_ns)
				split_heal(t, task, bpf_ktime_get_ns());
			split_enter(t, d, task);
			t->open = d + 1;
		} else {
			count_loss(FUNCLAT_LOSS_SPLIT_NO_STORAGE);
		}
	}
	/* Last, so the handler's own work above is not inside the measured interval. */
	st->frames[d].start_ns = bpf_ktime_get_ns();
	return 0;
}

/*
 * A call of probe COOKIE leaves at NOW, its return address at ENTRY_SP. CERTAIN: the site
 * always ends a call (a ret, a jump known to run at the entry stack pointer); otherwise only
 * a frame found exactly there makes it a return.
 */
static __always_inline void leave(struct pt_regs *ctx, __u64 cookie, __u64 entry_sp, bool certain, __u64 now)
{
	__u32 probe = FUNCLAT_PROBE_ID(cookie), p = phase;
	struct split_thread *t = NULL;
	struct task_struct *task = NULL;
	struct funclat_stack *st;
	struct frame_pos pos;
	__u32 d = 0;

	if (p == FUNCLAT_ATTACHING)
		return;
	st = stack_for(ctx, cookie, entry_sp, false, &pos);
	if (!pos.target)
		return;
	if (decompose && !(cookie & FUNCLAT_F_GO)) {
		task = bpf_get_current_task_btf();
		t = split_of(task, false);
		if (t && t->off_ns)
			split_heal(t, task, now);
	}
	if (st) {
		/* Frames deeper than this one, or another function's at its place, are gone. */
		drop_left_frames(st, pos.level, probe, false);
		d = st->depth;
	}
	if (st && top_at(st, pos.level)) {
		complete_top(st, &pos, now, t, task);
	} else if (!certain) {
		if (t)
			t->open = st ? st->depth : 0;
		return;
	} else if (st && st->overflow) {
		st->overflow--;
	} else if (!d) {
		/* Entered before the probes were in: at most one per open frame per thread. */
		if (p == FUNCLAT_RUNNING)
			count_for_probe(&attach_orphans, probe);
	} else {
		count_loss(FUNCLAT_LOSS_MISSING_ENTRY);
	}
	if (t)
		t->open = st ? st->depth : 0;
	if (st)
		release_goroutine_stack(st, &pos);
}

#endif /* PERFBPF_FUNCLAT_STACK_BPF_H */
