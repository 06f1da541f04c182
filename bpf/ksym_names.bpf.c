// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Names kernel addresses with the kernel's own symbol lookup (bpf_snprintf's %ps, the
 * kallsyms_lookup behind every oops): a report needs the names of a few hundred addresses, and
 * reading /proc/kallsyms makes the kernel format all of its ~200 000 lines (about 40 ms of a
 * short session's CPU). Run by userspace with BPF_PROG_TEST_RUN; nothing is attached. Needs no
 * kernel BTF, so loading it costs no parse of /sys/kernel/btf/vmlinux either.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ksym_names.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KSYM_BATCH);
	__type(key, __u32);
	__type(value, struct ksym_entry);
} ksyms SEC(".maps");

static long name_one(__u64 i, void *ctx)
{
	__u32 index = i;
	struct ksym_entry *e = bpf_map_lookup_elem(&ksyms, &index);

	if (!e)
		return 1;
	bpf_snprintf(e->name, sizeof(e->name), "%ps", &e->addr, sizeof(e->addr));
	return 0;
}

SEC("syscall")
int name_ksyms(struct ksym_query *q)
{
	__u32 n = q->count;

	if (n > KSYM_BATCH)
		n = KSYM_BATCH;
	bpf_loop(n, name_one, NULL, 0);
	return 0;
}
