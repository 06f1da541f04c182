#include "gate/fail_on.h"

#include <fmt/format.h>

#include "analysis/bottleneck_rules.h"
#include "analysis/thresholds.h"
#include "perfbpf/error.h"

namespace perfbpf::gate {

void check_severity(const std::string& severity, const std::string& option) {
  if (severity_rank(severity) > severity_rank("low"))
    throw Error::usage(option + " '" + severity + "' is not a severity", "choose critical, high, medium or low");
}

std::vector<std::string> findings_at_or_above(const AnalysisSection& analysis, const std::string& severity) {
  const int limit = severity_rank(severity);
  std::vector<std::string> out;
  for (const auto& b : analysis.bottlenecks)
    if (severity_rank(b.severity) <= limit) out.push_back(fmt::format("{} ({}): {}", b.id, b.severity, b.title));
  if (severity_rank("high") <= limit)
    for (const auto& a : analysis.alerts) out.push_back("alert (high): " + format_alert(a).substr(sizeof("perfbpf: ") - 1));
  return out;
}

}  // namespace perfbpf::gate
