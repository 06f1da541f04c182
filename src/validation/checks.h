// What every part of perfbpf validate builds its checks with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "perfbpf/validation.h"

namespace perfbpf::validation {

// The first hits of a fresh probe are slow (the kernel maps its uprobe pages and optimizes
// NOP sites on first use); a few empty calls first keep that out of the timed calls' tail.
// They are calls like any other: measured in-process and by perfbpf alike.
inline constexpr size_t kWarmupCalls = 5;

inline std::vector<uint64_t> with_warmup(std::vector<uint64_t> bodies) {
  bodies.insert(bodies.begin(), kWarmupCalls, 0);
  return bodies;
}

inline std::vector<uint64_t> series(uint64_t ns, size_t calls) { return std::vector<uint64_t>(calls, ns); }
inline std::vector<uint64_t> repeat(uint64_t ns, size_t calls) { return with_warmup(series(ns, calls)); }

// A check that passes when |MEASURED - EXPECTED| <= TOLERANCE.
ValidationCheck within(std::string category, std::string name, double measured, double expected, double tolerance,
                       std::string unit, std::string detail);

// The timing checks (ProfilingValidationSystem::validate_timing_accuracy) and, per probe site,
// the probe time they found inside calls.
std::vector<ValidationCheck> timing_checks(bool quick, std::vector<ProbeTimeRange>& probe_time);

}  // namespace perfbpf::validation
