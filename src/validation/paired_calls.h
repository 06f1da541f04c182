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

struct ErrorSummary {
  size_t judged = 0;        // paired calls judged
  double median_ns = 0;     // median per-call error
  double spread_ns = 0;     // 1.4826 x its median absolute deviation: the per-call noise
  // Calls the workload's own clocks show off CPU (preempted, or the vCPU stolen) for at least
  // kPreemptedNs: their probes ran after the machine had the CPU, on whatever it left.
  size_t preempted = 0;
  double preempted_worst_ns = 0;  // their largest |error|
  double quantile = 0.99;         // which quantile high_ns is
  double high_ns = 0;             // that quantile of |error| over the calls not preempted
  std::vector<double> undisturbed_abs_errors;  // |error| of the calls not preempted, ascending
};

// Errors of the paired calls whose index JUDGED marks: median and spread over all of them;
// the tail over those the workload's clocks do not show preempted.
ErrorSummary summarize_errors(const PairedCalls& calls, const std::vector<bool>& judged, double quantile);

}  // namespace perfbpf::validation
