/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Whether a probed jump out of a function is taken right now: a conditional tail call's
 * condition from the flags, an indirect jump's target from registers and memory (it may be
 * a jump table inside the function). Userspace found the sites (src/symbols/function_code).
 */
#ifndef PERFBPF_FUNCLAT_EXITS_BPF_H
#define PERFBPF_FUNCLAT_EXITS_BPF_H

/* Indirect jumps that may leave their function, by the index in their cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* sized to the plan by userspace before load */
	__type(key, __u32);
	__type(value, struct funclat_indirect);
} indirect_sites SEC(".maps");

/* x86 condition codes in opcode order: o, b, e, be, s, p, l, le; odd codes negate. */
static __always_inline bool condition_holds(__u32 cc, __u64 flags)
{
	bool cf = flags & (1 << 0), pf = flags & (1 << 2), zf = flags & (1 << 6);
	bool sf = flags & (1 << 7), of = flags & (1 << 11), holds;

	switch (cc >> 1) {
	case 0: holds = of; break;
	case 1: holds = cf; break;
	case 2: holds = zf; break;
	case 3: holds = cf || zf; break;
	case 4: holds = sf; break;
	case 5: holds = pf; break;
	case 6: holds = sf != of; break;
	default: holds = zf || sf != of; break;
	}
	return (cc & 1) ? !holds : holds;
}

/* Register SLOT of a copy of pt_regs (a computed offset into ctx itself is not allowed). */
static __always_inline __u64 reg_value(const __u64 *regs, __u8 slot)
{
	return slot < FUNCLAT_REG_SLOTS ? regs[slot] : 0;
}

/* The probe sits on the jump itself (regs->ip is its address while handlers run). */
static __always_inline bool jumps_out(const struct pt_regs *ctx, __u32 index)
{
	struct funclat_indirect *s = bpf_map_lookup_elem(&indirect_sites, &index);
	__u64 regs[FUNCLAT_REG_SLOTS], ip = ctx->ip, start, target, addr;

	_Static_assert(sizeof(regs) == sizeof(struct pt_regs), "pt_regs slots");
	if (!s || bpf_probe_read_kernel(regs, sizeof(regs), ctx))
		return false;
	start = ip - s->offset;
	if (s->flags & FUNCLAT_TARGET_MEMORY) {
		addr = (s->flags & FUNCLAT_TARGET_RIP) ? ip + s->length : reg_value(regs, s->base);
		addr += reg_value(regs, s->index) * s->scale + (__s64)s->disp;
		if (bpf_probe_read_user(&target, sizeof(target), (void *)addr))
			return false;
	} else {
		target = reg_value(regs, s->base);
	}
	return target < start || target >= start + s->size;
}

/* Whether the exit site of COOKIE ends its function's call now. */
static __always_inline bool exit_taken(const struct pt_regs *ctx, __u64 cookie)
{
	switch (FUNCLAT_EXIT_KIND(cookie)) {
	case FUNCLAT_EXIT_JCC:
		return condition_holds(FUNCLAT_EXIT_COND(cookie), ctx->flags);
	case FUNCLAT_EXIT_INDIRECT:
		return jumps_out(ctx, FUNCLAT_EXIT_INDIRECT(cookie));
	default:
		return true;
	}
}

#endif /* PERFBPF_FUNCLAT_EXITS_BPF_H */
