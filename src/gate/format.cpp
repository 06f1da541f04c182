#include "gate/format.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "analysis/bottleneck_rules.h"
#include "report/text_summary.h"

namespace perfbpf::gate {

std::string format_value(Stat stat, double value) {
  const std::string unit = stat_info(stat).unit;
  if (unit == "ns") return format_duration_ns(value);
  if (unit == "bytes") return format_bytes(value);
  return fmt::format("{:.6g}", value);
}

std::string format_change(double f) {
  if (!std::isfinite(f)) return "n/a";
  const double pct = f * 100;
  // Small changes keep two significant digits: +0.02% is not +0.0%.
  return std::fabs(pct) < 0.1 && pct != 0 ? fmt::format("{:+.2g}%", pct) : fmt::format("{:+.1f}%", pct);
}

std::string format_interval(const Estimate& e) {
  if (!e.has_interval()) return "n/a";
  return fmt::format("[{}, {}]", format_change(e.lower), format_change(e.upper));
}

std::string check_name(const Check& c) { return c.subject() + " " + stat_info(c.stat).name; }

std::string check_sentence(const Check& c) {
  if (c.outcome == "inconclusive")
    return fmt::format("inconclusive: {}{}", c.reason.empty() ? "no interval" : c.reason,
                       c.estimate.baseline_runs && c.estimate.candidate_runs
                           ? fmt::format(" (point estimate {})", format_change(c.estimate.change))
                           : "");
  std::string s = fmt::format("{} {}, allowed {}: ", format_change(c.estimate.change), format_interval(c.estimate),
                              format_change(c.allowed));
  if (c.outcome == "regression")
    return s + fmt::format("regression ({}{})", c.severity, c.fails ? "" : ", below --fail-on");
  if (c.outcome == "unresolved")
    return s + fmt::format("unresolved: the interval holds the allowed growth; this noise needs a change of {} to "
                           "be caught",
                           format_change(c.detectable));
  return s + c.outcome;
}

std::string verdict_line(const GateResult& r) {
  const size_t failing =
      static_cast<size_t>(std::count_if(r.checks.begin(), r.checks.end(), [](const Check& c) { return c.fails; }));
  std::string extra;
  for (const char* o : {"inconclusive", "unresolved", "improved"})
    if (size_t n = r.count(o)) extra += fmt::format(", {} {}", n, o);
  if (r.verdict == "regression")
    return fmt::format("REGRESSION: {} of {} checks failed{}", failing, r.checks.size(), extra);
  if (r.verdict == "inconclusive")
    return fmt::format("INCONCLUSIVE{}: {} checks{}", r.allow_inconclusive ? " (allowed)" : "", r.checks.size(), extra);
  return fmt::format("PASS: {} checks{}", r.checks.size(), extra);
}

std::string method_line(const GateResult& r) {
  return fmt::format("{} baseline and {} candidate runs, {}; {:g}% simultaneous intervals (each {:.6g}%)",
                     r.baseline_runs, r.candidate_runs, r.paired ? "paired" : "unpaired", r.confidence * 100,
                     r.check_level * 100);
}

bool for_global_reason(const GateResult& r, const Check& c) {
  return c.outcome == "inconclusive" && std::find(r.reasons.begin(), r.reasons.end(), c.reason) != r.reasons.end();
}

std::vector<const Check*> display_order(const GateResult& r) {
  auto rank = [](const Check& c) {
    if (c.fails) return severity_rank(c.severity);
    if (c.outcome == "inconclusive") return 5;
    if (c.outcome == "regression") return 6;
    if (c.outcome == "unresolved") return 7;
    if (c.outcome == "improved") return 8;
    return 9;
  };
  std::vector<const Check*> out;
  for (const auto& c : r.checks) out.push_back(&c);
  std::stable_sort(out.begin(), out.end(), [&](const Check* a, const Check* b) { return rank(*a) < rank(*b); });
  return out;
}

}  // namespace perfbpf::gate
