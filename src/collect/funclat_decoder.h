// Decoding of funclat ring-buffer records and loss counters into plain C++ values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "aggregate/aggregator.h"

namespace perfbpf {

// False when SIZE is not the record size this build was compiled against.
bool decode_funclat_event(const void* data, size_t size, CallRecord& out);

// Names of bpf/funclat.h's loss reasons as they appear in reports ("ringbuf_full", ...).
const char* funclat_loss_name(unsigned reason);
unsigned funclat_loss_count();

// Per-reason totals (already summed over CPUs) to the report's {name: count} map.
std::map<std::string, uint64_t> funclat_losses_by_name(const std::vector<uint64_t>& totals);

// --decompose's own counters: calls not split (split_no_storage), waits closed at a later probe
// or switch-out because their switch-in was not seen (split_switch_in_unseen), wait stacks not
// kept (wait_stack_lost).
std::map<std::string, uint64_t> funclat_split_losses_by_name(const std::vector<uint64_t>& totals);

}  // namespace perfbpf
