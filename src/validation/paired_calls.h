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
  size_t call = 0;                  // index into the workload's calls
  int64_t error_ns = 0;             // perfbpf's corrected duration less the body's own
  uint64_t off_cpu_outside_ns = 0;  // CallTruth::off_cpu_outside_body_ns
  uint64_t entry_gap_ns = 0;        // the entry probe's timestamp to the body's first clock read
  uint64_t exit_gap_ns = 0;         // the body's last clock read to the return probe's timestamp
};

struct PairedCalls {
  size_t calls = 0;              // calls the workload made
  size_t unmatched_records = 0;  // probe records that held no call's body
  std::vector<PairedCall> paired;  // in call order
};

// A call pairs with the probe record whose window [start, start + raw] holds its body; the
// calls run one after another on one thread, so both sides are walked in time order.
PairedCalls pair_calls(const std::vector<CallTruth>& truth, std::vector<CallTiming> records);

struct ErrorSummary {
  size_t judged = 0;        // paired calls judged
  double median_ns = 0;     // median per-call error
  double spread_ns = 0;     // 1.4826 x its median absolute deviation: the per-call noise
  double quantile = 0.99;   // which quantile high_ns is
  double high_ns = 0;       // that quantile of |error|, preemption outside the body credited
  size_t preempted = 0;     // calls whose excess error was time off CPU outside the body
  uint64_t preempted_ns = 0;  // the time credited to them
  std::vector<double> abs_errors;  // |error| of each judged call, preemption credited, ascending
};

// Errors of the paired calls whose index JUDGED marks. A call that was off CPU outside its
// body (between a probe's timestamp and the body's clock: preempted, or its vCPU stolen)
// lasted longer than its body for real, so the excess of its error over the median, up to
// that off-CPU time, is credited before the QUANTILE of |error| is taken; such calls are
// counted.
ErrorSummary summarize_errors(const PairedCalls& calls, const std::vector<bool>& judged, double quantile);

}  // namespace perfbpf::validation
