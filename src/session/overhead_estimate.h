// How much the probes slowed the target, per call from the calibrated cost: each thread's
// probed calls cost it calls x cost; against the time it would have taken without them
// (its CPU time during the session, or its span of probed calls, less that cost),
// that is its slowdown; the target's is its most slowed thread's. A function called so often that the probes took nearly all of a thread's time
// leaves too little to measure the rest by: then the figure is a lower bound, said so.
#pragma once

#include <vector>

#include "aggregate/aggregator.h"
#include "perfbpf/profile.h"

namespace perfbpf {

// Relative uncertainty of a calibrated per-call cost on these machines (measured in bench/:
// calibrated vs in-loop cost within ~6 %); below this share of the probe time, what is left
// of a thread's time cannot be told from zero.
inline constexpr double kProbeCostUncertainty = 0.1;

struct SlowdownEstimate {
  double slowdown_pct = 0;    // (probed time / unprobed time - 1) x 100 for the most slowed thread
  bool at_least = false;      // a lower bound: the probes took nearly all of that thread's time
  double probe_share_pct = 0; // of that thread's active time, spent in probes
  uint32_t tid = 0;           // the thread, 0 when no call was probed
};

// FUNCTIONS: their probe_cost_ns and per-thread calls; SPANS: when each thread made its
// calls (Aggregator::thread_spans) and its CPU time when known; SESSION_NS: the session's length, the span of a thread
// with a single call.
SlowdownEstimate estimate_slowdown(const std::vector<FunctionProfile>& functions, const std::vector<ThreadSpan>& spans,
                                   double session_ns);

}  // namespace perfbpf
