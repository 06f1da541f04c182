// The CI gate: runs of a baseline and a candidate in, one verdict out.
//
// For every probed function and every statistic a --max-regression rule names (and each
// resource total a rule names), the change from baseline to candidate is estimated with a
// simultaneous confidence interval over runs (gate/compare.h). A check is
//   regression    when the interval's lower bound exceeds the allowed growth,
//   pass          when its upper bound does not reach it (improved: below 0),
//   unresolved    when the interval holds the allowed growth: noise cannot tell; never a failure,
//   inconclusive  when there is no trustworthy interval: one run on a side, the function missing
//                 or without calls on one side, data lost, probe overhead over budget.
// Exit codes: 0 pass, 1 regression (at or above --fail-on), 3 inconclusive (0 with
// allow_inconclusive); the CLI uses 2 for usage errors and inputs it cannot read.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gate/compare.h"
#include "gate/rules.h"
#include "perfbpf/profile.h"

namespace perfbpf::gate {

struct RunSet {
  std::vector<Profile> runs;
  std::vector<std::string> sources;  // where each run came from (a path), same order
};

enum class Pairing { Auto, Paired, Unpaired };

struct GateOptions {
  std::vector<RegressionRule> rules = default_rules();
  double confidence = 0.99;       // family-wise: all intervals hold together with this probability
  double power = 0.95;            // for the smallest detectable change of each check
  std::string fail_on = "low";    // regressions below this severity are reported, not failed
  bool allow_inconclusive = false;
  Pairing pairing = Pairing::Auto;  // Auto: paired when the runs alternate in time
};

struct Check {
  std::string function;  // key from function_keys; "" for resource totals
  Stat stat = Stat::Mean;
  std::string rule;      // the --max-regression rule that gates it
  double allowed = 0;    // fraction
  Estimate estimate;
  std::string outcome;   // regression, unresolved, pass, improved, inconclusive
  std::string severity;  // regressions: critical (lower bound >= +50 %), high (>= +20 %), medium (>= +10 %), low
  bool fails = false;    // a regression at or above fail_on
  std::string reason;    // inconclusive: why; others: "" (the outputs phrase the estimate)
  double detectable = 0; // smallest true change caught with probability `power` at this noise and
                         // these rounds (fraction; infinity without an interval)
  std::string subject() const { return function.empty() ? "target" : function; }
};

struct GateResult {
  std::string verdict;  // pass, regression, inconclusive
  int exit_code = 0;
  std::vector<std::string> reasons;  // why the whole comparison is inconclusive
  std::vector<std::string> notes;    // what to know to read it (pairing, hosts, calibration)
  std::vector<Check> checks;         // gated checks: by function (first seen), then statistic; totals last
  size_t baseline_runs = 0, candidate_runs = 0;
  bool paired = false;
  double confidence = 0;   // family-wise
  double check_level = 0;  // two-sided level of each interval (Bonferroni over the checks)
  double power = 0;
  std::string fail_on;
  bool allow_inconclusive = false;
  std::vector<std::string> baseline_sources, candidate_sources;
  size_t count(const std::string& outcome) const;
};

GateResult run_gate(const RunSet& baseline, const RunSet& candidate, const GateOptions& options);

// Orders RUN's indexes by start time (CLOCK_MONOTONIC when every run has one and names the same
// host, the RFC 3339 wall clock otherwise) and says whether baseline and candidate alternate:
// each consecutive pair of runs holds one of each (A B A B or A B B A ...). Then baseline[i] and
// candidate[i] of the returned orders ran next to each other.
struct Interleaving {
  bool interleaved = false;
  std::vector<size_t> baseline_order, candidate_order;
};
Interleaving interleaving(const RunSet& baseline, const RunSet& candidate);

// A regression's severity from what the data guarantees, its interval's lower bound: critical
// >= +50 %, high >= +20 %, medium >= +10 %, low below.
std::string regression_severity(double lower_bound);

}  // namespace perfbpf::gate
