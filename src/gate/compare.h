// The comparison statistics of the gate, on per-run values (one number per run and side).
//
// Changes are ratios: each run's value is taken as a logarithm, the change is the difference of
// the sides' mean logs (the ratio of geometric means, minus 1), and its confidence interval is
// Student's t over runs: paired differences when the runs were interleaved (round i of the
// baseline next to round i of the candidate, so machine state that drifts over minutes cancels),
// Welch's unequal-variance t otherwise. Per-run values come from exact histograms, so the noise
// these intervals carry is the run-to-run one, which is the noise that matters on shared CI
// machines (docs/ci-gate.md has the reasoning and the measured false-alarm rates).
//
// Intervals are simultaneous: with m checks at family confidence C each is taken at 1 - (1-C)/m
// (Bonferroni), so the chance that any interval misses its true change is at most 1 - C.
#pragma once

#include <cstddef>
#include <vector>

namespace perfbpf::gate {

enum class Method { Paired, Welch, WithinRun, None };
const char* method_name(Method m);  // "paired-t", "welch-t", "within-run", "none"

struct Estimate {
  Method method = Method::None;
  size_t baseline_runs = 0, candidate_runs = 0;
  double baseline = 0, candidate = 0;  // geometric means of the per-run values, in their unit
  double change = 0;                   // candidate / baseline - 1
  double lower = 0, upper = 0;         // the interval of that change (fractions: 0.05 = +5 %)
  double log_se = 0;                   // standard error of the log ratio
  double df = 0;                       // degrees of freedom of t (infinite: within-run, normal)
  double noise = 0;  // run-to-run standard deviation of one run's log value (paired: of one
                     // pair's log ratio / sqrt 2), the noise floor the rounds fight
  bool has_interval() const { return method != Method::None; }
};

// Per-run values of one statistic on each side; values below FLOOR (1 ns, 1 byte, 1 call) are
// raised to it before the log so that a zero does not become minus infinity. PAIRED needs equal
// counts (baseline[i] and candidate[i] ran next to each other). A side with one run gives no
// interval (Method::None): run-to-run noise cannot be estimated from one run.
Estimate compare_runs(const std::vector<double>& baseline, const std::vector<double>& candidate, bool paired,
                      double two_sided_level, double floor = 1);

// One run per side: the interval from the runs' own sampling error only (see within_run_log_se),
// normal quantiles. What `perfbpf diff` shows for two single reports; never used for a verdict.
Estimate compare_within_run(double baseline, double baseline_log_se, double candidate, double candidate_log_se,
                            double two_sided_level, double floor = 1);

// The per-check two-sided level that makes M intervals hold together at family level C.
double bonferroni_level(double family_confidence, size_t checks);

// Student's t quantile (df = infinity: normal), p in (0, 1).
double t_quantile(double p, double df);

// The smallest true change (a fraction) whose interval's lower bound exceeds ALLOWED (a fraction)
// with probability POWER, for NOISE as Estimate::noise, ROUNDS runs per side, paired or not, at
// the per-check two-sided LEVEL (from bonferroni_level). Exact for normal per-run log values:
// the t statistic is then non-central t. Infinity when ROUNDS < 2.
double detectable_change(double noise, size_t rounds, bool paired, double allowed, double level, double power);

// The fewest rounds per side (2 .. max_rounds) for which detectable_change <= CHANGE; 0 when even
// MAX_ROUNDS are not enough or CHANGE does not exceed ALLOWED.
size_t rounds_needed(double noise, double change, bool paired, double allowed, double level, double power,
                     size_t max_rounds = 1000);

}  // namespace perfbpf::gate
