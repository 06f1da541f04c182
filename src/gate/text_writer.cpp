// The gate's table for a terminal or a CI log.
#include <fmt/format.h>

#include "gate/format.h"
#include "gate/writers.h"

namespace perfbpf::gate {

void write_gate_text(const GateResult& r, std::ostream& out) {
  out << "perfbpf gate: " << verdict_line(r) << "\n" << method_line(r) << "\n";
  for (const auto& reason : r.reasons) out << "inconclusive: " << reason << "\n";
  for (const auto& note : r.notes) out << "note: " << note << "\n";
  if (r.checks.empty()) return;
  size_t width = 8;
  for (const auto& c : r.checks) width = std::max(width, c.subject().size());
  out << fmt::format("\n{:<{}} {:<10} {:>10} {:>10} {:>8} {:>20} {:>8}  {}\n", "FUNCTION", width, "STAT", "BASELINE",
                     "CANDIDATE", "CHANGE", "INTERVAL", "ALLOWED", "OUTCOME");
  for (const Check* c : display_order(r)) {
    const Estimate& e = c->estimate;
    const bool values = e.baseline_runs && e.candidate_runs;
    std::string outcome = c->outcome;
    if (c->outcome == "regression") outcome += " (" + c->severity + (c->fails ? ")" : ", below --fail-on)");
    if (c->outcome == "unresolved") outcome += "; detectable " + format_change(c->detectable);
    if (c->outcome == "inconclusive") outcome += for_global_reason(r, *c) ? " (see above)" : ": " + c->reason;
    out << fmt::format("{:<{}} {:<10} {:>10} {:>10} {:>8} {:>20} {:>8}  {}\n", c->subject(), width,
                       stat_info(c->stat).name, values ? format_value(c->stat, e.baseline) : "-",
                       values ? format_value(c->stat, e.candidate) : "-", values ? format_change(e.change) : "-",
                       format_interval(e), format_change(c->allowed), outcome);
  }
}

}  // namespace perfbpf::gate
