/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Global BPF functions (__noinline, not static): the verifier checks each once, on its own,
 * instead of along every path of every caller it would be inlined into. Used where inlining
 * multiplied the states to verify (load time is a session's start-up), on paths that run
 * rarely enough that the call costs nothing measurable.
 */
#ifndef PERFBPF_GLOBAL_FUNC_BPF_H
#define PERFBPF_GLOBAL_FUNC_BPF_H

/*
 * A global function's argument that is a trusted kernel pointer (kernel 6.8+): libbpf 1.4's
 * bpf_helpers.h names it, the 1.1 headers here do not.
 */
#ifndef __arg_trusted
#define __arg_trusted __attribute__((btf_decl_tag("arg:trusted")))
#endif

#endif /* PERFBPF_GLOBAL_FUNC_BPF_H */
