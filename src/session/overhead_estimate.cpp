#include "session/overhead_estimate.h"

#include <algorithm>
#include <map>

namespace perfbpf {

SlowdownEstimate estimate_slowdown(const std::vector<FunctionProfile>& functions, const std::vector<ThreadSpan>& spans,
                                   double session_ns) {
  std::map<uint32_t, double> probe_ns;  // by tid
  for (const auto& f : functions)
    for (const auto& t : f.threads) probe_ns[t.tid] += static_cast<double>(t.calls) * f.probe_cost_ns;
  SlowdownEstimate worst;
  for (const ThreadSpan& s : spans) {
    const double p = probe_ns[s.tid];
    if (p <= 0 || s.calls == 0) continue;
    // Its CPU time where known: the probes' cost is CPU time, and on a busy machine the wall
    // time of both runs stretches alike. Else its wall span, which holds calls - 1 periods
    // between calls; one more stands for the time before the first and after the last. A
    // single call says nothing of its thread's pace.
    double active = s.cpu_ns ? static_cast<double>(s.cpu_ns)
                    : s.calls >= 2 ? static_cast<double>(s.last_ns - s.first_ns) * static_cast<double>(s.calls) /
                                         static_cast<double>(s.calls - 1)
                                   : session_ns;
    active = std::min(std::max(active, p), std::max(session_ns, p));
    const double unprobed = active - p, floor = kProbeCostUncertainty * p;
    SlowdownEstimate e;
    e.at_least = unprobed < floor;
    e.slowdown_pct = 100.0 * p / std::max(unprobed, floor);
    e.probe_share_pct = 100.0 * p / active;
    e.tid = s.tid;
    if (e.slowdown_pct > worst.slowdown_pct) worst = e;
  }
  return worst;
}

}  // namespace perfbpf
