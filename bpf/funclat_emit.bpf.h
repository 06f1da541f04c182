/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A returning call's record to the ring buffer, with its split under --decompose. */
#ifndef PERFBPF_FUNCLAT_EMIT_BPF_H
#define PERFBPF_FUNCLAT_EMIT_BPF_H

#include "ring_wakeup.bpf.h"

/* The events ring's wake-up state (bpf/ring_wakeup.bpf.h); the count is read by userspace. */
__u32 events_wakeup_armed;
__u64 events_forced_wakeups;

static __always_inline __u64 wakeup_flag(void)
{
	return ring_wakeup_flag(&events, wakeup_bytes, &events_wakeup_armed, &events_forced_wakeups);
}

static __always_inline void fill_event(struct funclat_event *e, const struct funclat_frame *f, __u32 depth,
				       __u64 id, __u64 now)
{
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
 * The top frame's call (its owner at POS) returned at NOW: pass its cost to its caller and
 * record it, with its split when the thread (TASK, current) has a --decompose record T.
 */
static __always_inline void complete_top(struct funclat_stack *st, const struct frame_pos *pos, __u64 now,
					 struct split_thread *t, struct task_struct *task)
{
	__u32 idx = (st->depth - 1) & FRAME_MASK;
	struct funclat_frame f = st->frames[idx];
	__u64 id = (__u64)pos->tgid << 32 | pos->tid;

	st->depth = idx;
	st->overflow = 0;
	if (idx > 0) {
		/*
		 * The caller's interval holds this call's probes and all of its descendants'. An
		 * array lookup (inlined by the verifier, no call), and only for nested calls.
		 */
		struct funclat_frame *parent = &st->frames[(idx - 1) & FRAME_MASK];
		__u64 *own_cost = bpf_map_lookup_elem(&probe_cost, &f.probe_id);

		parent->nested_calls += f.nested_calls + 1;
		parent->nested_cost_ns += f.nested_cost_ns + (own_cost ? *own_cost : 0);
	}
	if (t) {
		struct funclat_split_event *se = bpf_ringbuf_reserve(&events, sizeof(*se), 0);

		if (!se) {
			count_loss(FUNCLAT_LOSS_RINGBUF_FULL);
			return;
		}
		fill_event(&se->call, &f, idx, id, now);
		split_fill(t, idx, &se->split, task);
		bpf_ringbuf_submit(se, wakeup_flag());
	} else {
		/* Built on the stack and copied in by one helper call, where reserve and submit are
		 * two (~25 ns each with this VM's return-thunk mitigations). */
		struct funclat_event e;
		__u64 flag;

		fill_event(&e, &f, idx, id, now);
		flag = wakeup_flag();
		if (bpf_ringbuf_output(&events, &e, sizeof(e), flag)) {
			count_loss(FUNCLAT_LOSS_RINGBUF_FULL);
			ring_wakeup_unsent(flag, &events_wakeup_armed);
		}
	}
}

#endif /* PERFBPF_FUNCLAT_EMIT_BPF_H */
