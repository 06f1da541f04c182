// --decompose: each function's slowest calls as the report shows them, their longest wait's
// stacks symbolized and a lock's holder named by its open probed call.
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
void fill_slow_calls(std::vector<FunctionProfile>& functions, const Aggregator& aggregator,
                     const FuncLatSession& bpf, Symbolizer& symbols, uint64_t session_start_ns);

}  // namespace perfbpf
