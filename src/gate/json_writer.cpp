// The gate's verdict as JSON (docs/gate-schema.json). Percentages are in percent; a figure that
// does not exist (no interval, nothing detectable) is null, never a made-up number.
#include <cmath>

#include "gate/writers.h"

namespace perfbpf::gate {
namespace {

nlohmann::json pct_or_null(double fraction) {
  return std::isfinite(fraction) ? nlohmann::json(fraction * 100) : nlohmann::json(nullptr);
}

nlohmann::json or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

nlohmann::json check_json(const Check& c) {
  const Estimate& e = c.estimate;
  const bool interval = e.has_interval();
  const bool values = e.baseline_runs && e.candidate_runs;
  return {
      {"function", or_null(c.function)},
      {"statistic", stat_info(c.stat).name},
      {"unit", stat_info(c.stat).unit},
      {"rule", c.rule},
      {"allowed_pct", c.allowed * 100},
      {"outcome", c.outcome},
      {"severity", or_null(c.severity)},
      {"fails", c.fails},
      {"reason", or_null(c.reason)},
      {"method", method_name(e.method)},
      {"baseline_runs", e.baseline_runs},
      {"candidate_runs", e.candidate_runs},
      {"baseline", values ? nlohmann::json(e.baseline) : nlohmann::json(nullptr)},
      {"candidate", values ? nlohmann::json(e.candidate) : nlohmann::json(nullptr)},
      {"change_pct", values ? pct_or_null(e.change) : nlohmann::json(nullptr)},
      {"lower_pct", interval ? pct_or_null(e.lower) : nlohmann::json(nullptr)},
      {"upper_pct", interval ? pct_or_null(e.upper) : nlohmann::json(nullptr)},
      {"noise_pct", interval ? pct_or_null(std::expm1(e.noise)) : nlohmann::json(nullptr)},
      {"df", interval && std::isfinite(e.df) ? nlohmann::json(e.df) : nlohmann::json(nullptr)},
      {"detectable_pct", pct_or_null(c.detectable)},
  };
}

}  // namespace

nlohmann::json gate_to_json(const GateResult& r) {
  nlohmann::json checks = nlohmann::json::array();
  size_t failing = 0;
  for (const auto& c : r.checks) {
    checks.push_back(check_json(c));
    failing += c.fails;
  }
  return {
      {"schema", kGateSchema},
      {"verdict", r.verdict},
      {"exit_code", r.exit_code},
      {"confidence", r.confidence},
      {"check_level", r.check_level},
      {"power", r.power},
      {"fail_on", r.fail_on},
      {"allow_inconclusive", r.allow_inconclusive},
      {"paired", r.paired},
      {"baseline", {{"runs", r.baseline_runs}, {"sources", r.baseline_sources}}},
      {"candidate", {{"runs", r.candidate_runs}, {"sources", r.candidate_sources}}},
      {"reasons", r.reasons},
      {"notes", r.notes},
      {"summary",
       {{"checks", r.checks.size()},
        {"failing", failing},
        {"regression", r.count("regression")},
        {"inconclusive", r.count("inconclusive")},
        {"unresolved", r.count("unresolved")},
        {"improved", r.count("improved")},
        {"pass", r.count("pass")}}},
      {"checks", checks},
  };
}

}  // namespace perfbpf::gate
