/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map idioms every probe family uses: insert-if-missing, per-CPU loss counters, u64 adds. */
#ifndef PERFBPF_MAP_HELPERS_BPF_H
#define PERFBPF_MAP_HELPERS_BPF_H

/*
 * The value at KEY, inserted as a copy of INIT when missing; NULL only when the map is full.
 * Another CPU may insert the same key first (-EEXIST): its value is the one returned.
 */
static __always_inline void *map_lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Adds N to entry INDEX of a per-CPU array: no atomics, a CPU runs one program at a time. */
static __always_inline void percpu_add(void *map, __u32 index, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, &index);

	if (v)
		*v += n;
}

/* Every family counts what it could not keep in a per-CPU array map named "losses". */
#define count_loss(reason) percpu_add(&losses, (reason), 1)

/* Adds N to the u64 at KEY, creating it; false when the map is full. */
static __always_inline bool counter_add(void *map, const void *key, __u64 n)
{
	__u64 zero = 0, *v = map_lookup_or_init(map, key, &zero);

	if (!v)
		return false;
	__sync_fetch_and_add(v, n);
	return true;
}

#endif /* PERFBPF_MAP_HELPERS_BPF_H */
