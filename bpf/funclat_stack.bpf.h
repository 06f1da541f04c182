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

#define FRAME_MASK (FUNCLAT_MAX_DEPTH - 1)
_Static_assert((FUNCLAT_MAX_DEPTH & FRAME_MASK) == 0, "depth masks need a power of two");

#include "funclat_maps.bpf.h"
#include "funclat_split.bpf.h"

struct frame_pos {
	struct funclat_key key;
	__u64 level;
};

/*
 * Whose stack and how deep. ENTRY_SP is the stack pointer with the return address on top.
 * Go keeps the current goroutine in R14 (ABIInternal, amd64, Go >= 1.17); its stack bounds
 * are the first field of runtime.g, and the distance from the top survives a stack copy.
 */
static __always_inline bool frame_position(struct pt_regs *ctx, __u64 cookie, __u64 entry_sp,
					   struct frame_pos *pos)
{
	__u64 id = bpf_get_current_pid_tgid();

	pos->key.tgid = id >> 32;
	if (cookie & FUNCLAT_F_GO) {
		__u64 g = ctx->r14, hi = 0;

		if (!g || bpf_probe_read_user(&hi, sizeof(hi), (void *)(g + 8)) || hi < entry_sp) {
			count_loss(FUNCLAT_LOSS_NO_GOROUTINE);
			return false;
		}
		pos->key.tid = 0;
		pos->key.goroutine = g;
		pos->level = hi - entry_sp;
	} else {
		pos->key.tid = (__u32)id;
		pos->key.goroutine = 0;
		pos->level = 0 - entry_sp;
	}
	return true;
}

static __always_inline struct funclat_stack *stack_of(const struct frame_pos *pos, bool create)
{
	struct funclat_stack *st = bpf_map_lookup_elem(&stacks, &pos->key);
	__u32 zero = 0;
	__u8 one = 1;

	if (st || !create)
		return st;
	st = bpf_map_lookup_elem(&scratch, &zero);
	if (!st)
		return NULL;
	st->depth = 0;
	st->overflow = 0;
	st->tgid = pos->key.tgid;
	bpf_map_update_elem(&stacks, &pos->key, st, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&stacks, &pos->key);
	if (!st)
		count_loss(FUNCLAT_LOSS_THREAD_MAP_FULL);
	else if (pos->key.goroutine)
		bpf_map_update_elem(&go_tgids, &pos->key.tgid, &one, BPF_ANY);
	return st;
}

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

/*
 * Drops the frames of calls the stack has already left: those deeper than LEVEL, and those
 * at LEVEL unless KEEP_ALL, or unless they are probe KEEP's (a returning call's own frame).
 */
static __always_inline void drop_left_frames(struct funclat_stack *st, __u64 level, __u32 keep, bool keep_all)
{
	for (int i = 0; i < FUNCLAT_MAX_DEPTH; i++) {
		struct funclat_frame *top;
		__u32 d = st->depth;

		if (!d)
			break;
		top = &st->frames[(d - 1) & FRAME_MASK];
		if (top->level < level)
			break; /* a caller, still running */
		if (top->level == level && (keep_all || top->probe_id == keep))
			break;
		drop_top(st);
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

	if (phase != FUNCLAT_RUNNING || !is_target(bpf_get_current_pid_tgid() >> 32))
		return 1;
	if (!frame_position(ctx, cookie, ctx->sp, &pos))
		return 1;
	st = stack_of(&pos, true);
	if (!st)
		return 1;
	drop_left_frames(st, pos.level, KEEP_AT_LEVEL, true);
	if (top_at(st, pos.level) && ((cookie & FUNCLAT_F_GO) || !tail_called_from(ctx->sp)))
		drop_left_frames(st, pos.level, KEEP_AT_LEVEL, false);
	st->tid = (__u32)bpf_get_current_pid_tgid();
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
		struct split_thread *t = split_of_current(true);

		if (t) {
			if (t->off_ns)
				split_heal(t, bpf_get_current_task_btf(), bpf_ktime_get_ns());
			split_enter(t, d);
			t->open = d + 1;
		} else {
			count_loss(FUNCLAT_LOSS_SPLIT_NO_STORAGE);
		}
	}
	/* Last, so the handler's own work above is not inside the measured interval. */
	st->frames[d].start_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline __u64 wakeup_flag(void)
{
	/* Watermark wake-ups: one per wakeup_bytes instead of one per record. */
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_event(struct funclat_event *e, const struct funclat_frame *f, __u32 depth,
				       __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->start_ns = f->start_ns;
	e->duration_ns = now - f->start_ns;
	e->probe_id = f->probe_id;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->cpu = bpf_get_smp_processor_id();
	e->depth = depth;
	e->nested_calls = f->nested_calls;
	e->nested_cost_ns = f->nested_cost_ns;
}

/*
 * The top frame's call returned at NOW: pass its cost to its caller and record it, with its
 * split when the thread has a --decompose record T.
 */
static __always_inline void complete_top(struct funclat_stack *st, __u64 now, struct split_thread *t)
{
	__u32 idx = (st->depth - 1) & FRAME_MASK;
	struct funclat_frame f = st->frames[idx];
	__u64 *own_cost;

	st->depth = idx;
	st->overflow = 0;
	if (idx > 0) {
		/* The caller's interval holds this call's probes and all of its descendants'. */
		struct funclat_frame *parent = &st->frames[(idx - 1) & FRAME_MASK];

		own_cost = bpf_map_lookup_elem(&probe_cost, &f.probe_id);
		parent->nested_calls += f.nested_calls + 1;
		parent->nested_cost_ns += f.nested_cost_ns + (own_cost ? *own_cost : 0);
	}
	if (t) {
		struct funclat_split_event *se = bpf_ringbuf_reserve(&events, sizeof(*se), 0);

		if (!se) {
			count_loss(FUNCLAT_LOSS_RINGBUF_FULL);
			return;
		}
		fill_event(&se->call, &f, idx, now);
		split_fill(t, idx, &se->split);
		bpf_ringbuf_submit(se, wakeup_flag());
	} else {
		struct funclat_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

		if (!e) {
			count_loss(FUNCLAT_LOSS_RINGBUF_FULL);
			return;
		}
		fill_event(e, &f, idx, now);
		bpf_ringbuf_submit(e, wakeup_flag());
	}
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
	struct funclat_stack *st;
	struct frame_pos pos;
	__u32 d = 0;

	if (p == FUNCLAT_ATTACHING || !is_target(bpf_get_current_pid_tgid() >> 32))
		return;
	if (!frame_position(ctx, cookie, entry_sp, &pos))
		return;
	st = stack_of(&pos, false);
	if (decompose && !(cookie & FUNCLAT_F_GO))
		t = split_of_current(false);
	if (t && t->off_ns)
		split_heal(t, bpf_get_current_task_btf(), now);
	if (st) {
		/* Frames deeper than this one, or another function's at its place, are gone. */
		drop_left_frames(st, pos.level, probe, false);
		d = st->depth;
	}
	if (st && top_at(st, pos.level)) {
		complete_top(st, now, t);
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
	/* A goroutine's entry goes once it has no open call: goroutines come and go by the thousand. */
	if (st && pos.key.goroutine && !st->depth && !st->overflow)
		bpf_map_delete_elem(&stacks, &pos.key);
}

#endif /* PERFBPF_FUNCLAT_STACK_BPF_H */
