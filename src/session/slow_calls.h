// --decompose: each function's slowest calls as the report shows them, their longest wait's
// stacks symbolized, and a lock's holder named by its open probed call and, when it was seen
// waking the waiter, by its user stack then.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

class Aggregator;
class FuncLatSession;
class Symbolizer;

inline constexpr size_t kSlowCallsKept = 5;

// FUNCTIONS[i] is probe i (before refused functions are taken out).
// A user stack taken both ways, innermost first: CFI's frames (CFI, unwound from a window of the
// stack; CFI_WHOLE: to the outermost frame), continued by the frame-pointer walk FP after the
// first return address both found (frame pointers skip the caller of a libc function built
// without them). Without such a meeting point, CFI's frames alone. A CFI frame inside
// TRAMPOLINE ([start, end) of the process's "[uprobes]" mapping) is a return address a uretprobe
// took over: the walk FP has the original, which replaces it.
std::vector<uint64_t> join_user_stack(std::vector<uint64_t> cfi, bool cfi_whole, const std::vector<uint64_t>& fp,
                                      std::pair<uint64_t, uint64_t> trampoline = {0, 0});

void fill_slow_calls(std::vector<FunctionProfile>& functions, const Aggregator& aggregator,
                     const FuncLatSession& bpf, Symbolizer& symbols, uint64_t session_start_ns);

}  // namespace perfbpf
