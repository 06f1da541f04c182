#include "validation/statistics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace perfbpf::validation {
namespace {

double mean_diff(const std::vector<double>& pooled, const std::vector<bool>& in_a, size_t na) {
  double sa = 0, sb = 0;
  for (size_t i = 0; i < pooled.size(); i++) (in_a[i] ? sa : sb) += pooled[i];
  return std::fabs(sa / static_cast<double>(na) - sb / static_cast<double>(pooled.size() - na));
}

double binomial(size_t n, size_t k) {
  double r = 1;
  for (size_t i = 1; i <= k; i++) r = r * static_cast<double>(n - k + i) / static_cast<double>(i);
  return r;
}

}  // namespace

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double coefficient_of_variation(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double m = mean(v), ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return m == 0 ? 0 : std::sqrt(ss / static_cast<double>(v.size() - 1)) / std::fabs(m);
}

double permutation_test_p(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) return 1;
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  const size_t n = pooled.size(), na = a.size();
  std::vector<bool> labels(n, false);
  std::fill(labels.begin(), labels.begin() + static_cast<long>(na), true);
  // Small tolerance so relabellings equal to the observed split count as "at least".
  const double observed = mean_diff(pooled, labels, na) * (1 - 1e-12);

  size_t extreme = 0, total = 0;
  if (binomial(n, na) <= 20000) {
    // Every way to choose which na values are "A": prev_permutation walks all of them.
    std::vector<bool> pick(labels);
    do {
      total++;
      if (mean_diff(pooled, pick, na) >= observed) extreme++;
    } while (std::prev_permutation(pick.begin(), pick.end()));
  } else {
    std::mt19937_64 rng(12345);
    std::vector<bool> pick(labels);
    for (total = 0; total < 20000; total++) {
      std::shuffle(pick.begin(), pick.end(), rng);
      if (mean_diff(pooled, pick, na) >= observed) extreme++;
    }
  }
  return static_cast<double>(extreme) / static_cast<double>(total);
}

size_t binomial_upper_bound(size_t n, double p, double alpha) {
  // P(X = k) term by term from P(X = 0) = (1 - p)^n; the tail above k is 1 less the sum so far.
  double term = std::pow(1 - p, static_cast<double>(n)), cumulative = 0;
  for (size_t k = 0; k < n; k++) {
    cumulative += term;
    if (1 - cumulative <= alpha) return k;
    term *= static_cast<double>(n - k) / static_cast<double>(k + 1) * p / (1 - p);
  }
  return n;
}

Comparison compare_runs(const std::vector<double>& a, const std::vector<double>& b) {
  Comparison c;
  const double ma = mean(a);
  c.change_pct = ma != 0 ? (mean(b) - ma) / ma * 100 : 0;
  c.p_value = permutation_test_p(a, b);
  c.different = c.p_value < kSignificance && std::fabs(c.change_pct) >= kMinEffectPct;
  return c;
}

}  // namespace perfbpf::validation
