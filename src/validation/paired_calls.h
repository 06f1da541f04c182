// Each call as the probes measured it, next to the same call's own clocks: the comparison
// perfbpf validate judges timing by. Pure, so it is tested without BPF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "perfbpf/session.h"
#include "validation/workload.h"

namespace perfbpf::validation {

struct PairedCall {
  size_t call = 0;            // index into the workload's calls
  int64_t error_ns = 0;       // perfbpf's corrected duration less the body's own
  uint64_t off_cpu_ns = 0;    // CallTruth::off_cpu_ns
  uint64_t entry_gap_ns = 0;  // the entry probe's timestamp to the body's first clock read
  uint64_t exit_gap_ns = 0;   // the body's last clock read to the return probe's timestamp
};

struct PairedCalls {
  size_t calls = 0;              // calls the workload made
  size_t unmatched_records = 0;  // probe records that held no call's body
  std::vector<PairedCall> paired;  // in call order
};

// A call pairs with the probe record whose window [start, start + raw] holds its body; the
// calls run one after another on one thread, so both sides are walked in time order.
PairedCalls pair_calls(const std::vector<CallTruth>& truth, std::vector<CallTiming> records);

// Time off CPU from which a call counts as preempted: a switch out and back in takes longer,
// while the CPU-clock reads around an undisturbed call leave none (their window holds the
// wall clock's).
inline constexpr uint64_t kPreemptedNs = 5000;

// The per-call errors of a set of calls.
struct ErrorStats {
  size_t calls = 0;
  double median_ns = 0;  // median error
  double spread_ns = 0;  // 1.4826 x its median absolute deviation: the per-call noise
  double worst_ns = 0;   // largest |error|
  std::vector<double> abs_errors;  // |error| of each, ascending
  double quantile(double q) const;  // of |error|, nearest rank; 0 without calls
  double standard_error() const;    // of the median: 1.2533 x spread / sqrt(calls)
};

struct ErrorSummary {
  ErrorStats all;
  // Split by the workload's own clocks: calls off CPU for kPreemptedNs or more (preempted, or
  // the vCPU stolen) ran their probes after the machine had the CPU, on whatever it left.
  ErrorStats undisturbed, preempted;
};

// Errors of the paired calls whose index JUDGED marks.
ErrorSummary summarize_errors(const PairedCalls& calls, const std::vector<bool>& judged);

}  // namespace perfbpf::validation
