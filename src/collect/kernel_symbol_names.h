// Kernel addresses named by the kernel's own symbol lookup, through a BPF program run on demand
// (bpf/ksym_names.bpf.c): a report needs a few hundred names, and /proc/kallsyms makes the
// kernel format all of its ~200 000 lines to give them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace perfbpf {

// For each of ADDRESSES, the name of the kernel text symbol holding it (no offset, no module),
// as kallsyms_lookup finds it: the core kernel, modules and BPF programs. An address no symbol
// holds has no entry. nullopt when the program cannot be loaded or run (no privilege, a kernel
// without bpf_snprintf or syscall programs): the caller reads /proc/kallsyms instead.
std::optional<std::unordered_map<uint64_t, std::string>> kernel_symbol_names(const std::vector<uint64_t>& addresses);

}  // namespace perfbpf
