/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/ksym_names.bpf.c (kernel addresses named by the kernel itself) and
 * src/collect/kernel_symbol_names.cpp.
 */
#ifndef PERFBPF_KSYM_NAMES_H
#define PERFBPF_KSYM_NAMES_H

#define KSYM_BATCH 1024	   /* addresses named per run of the program */
#define KSYM_NAME_BYTES 120 /* bytes of a name with its NUL ("name [module]"); a longer one is cut */

/* The program's context (BPF_PROG_TEST_RUN's ctx_in). */
struct ksym_query {
	__u32 count; /* entries of map "ksyms" to name, from index 0 */
	__u32 _pad;
};

/*
 * An entry of map "ksyms" (an mmapable array of KSYM_BATCH): userspace writes addr, the
 * program writes its name as the kernel prints it with %ps: "name", "name [module]", or
 * "0x..." when no symbol holds the address.
 */
struct ksym_entry {
	__u64 addr; /* a kernel text address */
	char name[KSYM_NAME_BYTES];
};

#ifdef __cplusplus
static_assert(sizeof(struct ksym_entry) == 128, "ksym_entry ABI changed");
#else
_Static_assert(sizeof(struct ksym_entry) == 128, "ksym_entry ABI changed");
#endif

#endif /* PERFBPF_KSYM_NAMES_H */
