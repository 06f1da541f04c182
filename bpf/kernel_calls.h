/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel functions (kfuncs) perfbpf's BPF programs call, and the ELF sections of programs that
 * attach by the kernel's BTF ids: shared by the BPF objects and the loader
 * (src/bpf_load/kernel_ids.h).
 *
 * Why not `extern ... __ksym` and SEC("tp_btf/...") as libbpf documents them: libbpf 1.1 (Debian
 * 12) resolves either by parsing the kernel's whole BTF at every object's load (5.5 MiB read and
 * copied: ~11 MiB of peak memory and ~10-15 ms of CPU, five times over in a --system session)
 * to find a handful of ids. perfbpf keeps those ids with the CO-RE projection in its cache
 * (bpf_load/core_btf.h) and gives them to the kernel itself:
 * - a kfunc is called through a numbered stand-in, like a helper: "call PERFBPF_KCALL_BASE + N",
 *   which the loader turns into the kernel's kfunc call (BPF_PSEUDO_KFUNC_CALL, the function's
 *   BTF id) before the verifier sees it; a function the kernel lacks gets id 0, as libbpf does
 *   for an unresolved __weak kfunc (the verifier accepts the call only in dead code);
 * - SEC("perfbpf.tp_btf/NAME") and SEC("perfbpf.iter/NAME") are tp_btf and iter programs whose
 *   attach ids (typedef btf_trace_NAME, func bpf_iter_NAME) come from the same cache;
 *   SEC("perfbpf.perf_event") is a perf_event program that calls a kfunc.
 * The loader must see every call here: only programs in these sections are patched.
 */
#ifndef PERFBPF_KERNEL_CALLS_H
#define PERFBPF_KERNEL_CALLS_H

/* Above every helper id (~210 in 6.18) and below 2^31: an immediate clang emits as is. */
#define PERFBPF_KCALL_BASE 0x7e500000

/* X(name) for each kfunc, in the order of their numbers. */
#define PERFBPF_KERNEL_CALLS(X)         \
	X(bpf_iter_task_vma_new)        \
	X(bpf_iter_task_vma_next)       \
	X(bpf_iter_task_vma_destroy)    \
	X(bpf_task_work_schedule_resume_impl) \
	X(bpf_task_from_pid)            \
	X(bpf_task_release)

#define PERFBPF_KCALL_ENUM(name) PERFBPF_KCALL_##name,
enum perfbpf_kernel_call { PERFBPF_KERNEL_CALLS(PERFBPF_KCALL_ENUM) PERFBPF_KCALL_COUNT };
#undef PERFBPF_KCALL_ENUM

/* BPF side: declares kfunc NAME returning RET with ARGS (in parentheses) as its stand-in. */
#define PERFBPF_KERNEL_CALL(ret, name, args) \
	static ret(*const name) args = (void *)(PERFBPF_KCALL_BASE + PERFBPF_KCALL_##name)

#endif /* PERFBPF_KERNEL_CALLS_H */
