// --max-regression: how much each statistic may grow before the gate calls it a regression.
//   'parse_request.p99=10%'   a function (glob over demangled names) and a statistic
//   '*.mean=5%'               every function's mean
//   'cpu_time=10%'            a resource total of the whole target (no function part)
// When several rules name the same statistic for a function, the most specific pattern (most
// characters that are not wildcards) wins, then the one given first.
#pragma once

#include <string>
#include <vector>

#include "gate/statistic.h"

namespace perfbpf::gate {

struct RegressionRule {
  std::string text;     // as given: "*.mean=5%"
  std::string pattern;  // "*"; empty for resource totals
  Stat stat = Stat::Mean;
  double allowed = 0;   // the growth allowed, as a fraction (0.05 = 5 %)
};

// Throws Error::usage naming --max-regression and the expected form.
RegressionRule parse_regression_rule(const std::string& text);

// Without --max-regression: every function's mean, p50 and p90 may grow 5 %, its p99 10 %.
std::vector<RegressionRule> default_rules();

// The rule that governs STAT of FUNCTION (a key from function_keys; ignored for resource totals),
// or nullptr when no rule names it: the statistic is then shown but not gated.
const RegressionRule* rule_for(const std::vector<RegressionRule>& rules, const std::string& function, Stat stat);

}  // namespace perfbpf::gate
