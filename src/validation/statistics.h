// Small, exact statistics for comparing repeated runs.
#pragma once

#include <cstddef>
#include <vector>

namespace perfbpf::validation {

double mean(const std::vector<double>& v);
// Sample standard deviation / mean; 0 for fewer than two values or a zero mean.
double coefficient_of_variation(const std::vector<double>& v);
// Two-sided permutation test on the difference of means: the share of all relabellings of
// A and B whose |mean difference| is at least the observed one. Exact enumeration up to
// 20000 relabellings, a fixed-seed sample beyond.
double permutation_test_p(const std::vector<double>& a, const std::vector<double>& b);

// The most of N trials a rate of P may exceed a bound in, but for a chance of ALPHA: the
// smallest k with P(Binomial(N, P) > k) <= ALPHA. How a "p99 within X" claim is tested on N
// calls: more than this many calls beyond X refute it.
size_t binomial_upper_bound(size_t n, double p, double alpha);

// How two sets of runs are told apart: statistically (exact permutation p below
// kSignificance) and practically (the means differ by at least kMinEffectPct): a 0.1% drift
// that a permutation test can resolve is not a regression anyone should be paged for.
inline constexpr double kSignificance = 0.01;
inline constexpr double kMinEffectPct = 1.0;

struct Comparison {
  double change_pct = 0;  // (mean(b) - mean(a)) / mean(a) * 100
  double p_value = 1;
  bool different = false;
};
Comparison compare_runs(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace perfbpf::validation
