#include "analysis/trends.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace perfbpf {
namespace {

// Theil-Sen pairs every point with every other; 2000 points is ~2M slopes (16 MB, well under a
// second), while 100k points would be 5e9. Above this, the estimate is taken on an evenly spaced
// subsample: deterministic, so the same input always gives the same slope, and the median of
// pairwise slopes barely moves when points are thinned evenly along t.
constexpr size_t kMaxTheilSenPoints = 2000;

// Median of V (reordered in place); V must not be empty.
double median_inplace(std::vector<double>& v) {
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  // Even count: the lower middle is the largest element left of MID after nth_element.
  double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return lower + (upper - lower) / 2;
}

// Slope and intercept on points already sorted by t.
void theil_sen(const std::vector<double>& t, const std::vector<double>& y, TrendTest& out) {
  size_t n = t.size();
  std::vector<size_t> idx(std::min(n, kMaxTheilSenPoints));
  if (n <= kMaxTheilSenPoints) {
    std::iota(idx.begin(), idx.end(), size_t{0});
  } else {
    // Evenly spaced, first and last points kept so the subsample spans the whole series.
    size_t m = idx.size();
    for (size_t i = 0; i < m; i++) idx[i] = i * (n - 1) / (m - 1);
  }

  std::vector<double> slopes;
  slopes.reserve(idx.size() * (idx.size() - 1) / 2);
  for (size_t a = 0; a < idx.size(); a++)
    for (size_t b = a + 1; b < idx.size(); b++) {
      double dt = t[idx[b]] - t[idx[a]];
      // Points sharing a time say nothing about the rate of change.
      if (dt != 0) slopes.push_back((y[idx[b]] - y[idx[a]]) / dt);
    }
  // All times equal: no slope is defined; report a flat line through the median.
  out.slope = slopes.empty() ? 0 : median_inplace(slopes);

  std::vector<double> residual(n);
  for (size_t i = 0; i < n; i++) residual[i] = y[i] - out.slope * t[i];
  out.intercept = median_inplace(residual);
}

// Mann-Kendall S on points sorted by t: for each point, (earlier points below it) minus
// (earlier points above it). A Fenwick tree over the ranks of y makes this O(n log n) instead of
// comparing all pairs, so long series cost no more than the sort. Points sharing a time are
// queried before any of them is inserted: like equal y, equal t gives a pair no sign.
double mann_kendall_s(const std::vector<double>& t, const std::vector<double>& y) {
  size_t n = y.size();
  std::vector<double> levels = y;
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  std::vector<size_t> rank(n);  // 1-based, equal y share a rank
  for (size_t i = 0; i < n; i++)
    rank[i] = static_cast<size_t>(std::lower_bound(levels.begin(), levels.end(), y[i]) - levels.begin()) + 1;

  std::vector<long long> tree(levels.size() + 1, 0);
  auto count_at_most = [&](size_t r) {
    long long c = 0;
    for (; r > 0; r -= r & (~r + 1)) c += tree[r];
    return c;
  };
  long long s = 0;
  long long inserted = 0;
  for (size_t group = 0; group < n;) {
    size_t end = group;
    while (end < n && t[end] == t[group]) end++;
    for (size_t i = group; i < end; i++) {
      long long below = count_at_most(rank[i] - 1);
      long long above = inserted - count_at_most(rank[i]);
      s += below - above;
    }
    for (size_t i = group; i < end; i++) {
      for (size_t r = rank[i]; r < tree.size(); r += r & (~r + 1)) tree[r]++;
      inserted++;
    }
    group = end;
  }
  return static_cast<double>(s);
}

// Var(S) under no trend, less what tied y values remove: each tie group of size g would have
// contributed g(g-1)(2g+5)/18 had its values been distinct.
double mann_kendall_variance(const std::vector<double>& y) {
  auto term = [](double g) { return g * (g - 1) * (2 * g + 5); };
  std::vector<double> sorted = y;
  std::sort(sorted.begin(), sorted.end());
  double var = term(static_cast<double>(sorted.size()));
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j < sorted.size() && sorted[j] == sorted[i]) j++;
    var -= term(static_cast<double>(j - i));
    i = j;
  }
  return var / 18;
}

}  // namespace

TrendTest trend_test(const std::vector<double>& t, const std::vector<double>& y, double alpha) {
  if (t.size() != y.size())
    throw std::invalid_argument("trend_test: " + std::to_string(t.size()) + " times but " +
                                std::to_string(y.size()) + " values");
  // NaN breaks the ordering that sorting, ranking and medians rely on (undefined behaviour in
  // std::sort), and an infinity turns slopes into NaN: refuse rather than answer nonsense.
  for (size_t i = 0; i < t.size(); i++)
    if (!std::isfinite(t[i]) || !std::isfinite(y[i]))
      throw std::invalid_argument("trend_test: non-finite value at index " + std::to_string(i));

  TrendTest out;
  out.n = t.size();
  if (out.n == 0) return out;

  // Both statistics are defined along time, whatever order the caller's samples came in.
  std::vector<size_t> order(out.n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return t[a] < t[b]; });
  std::vector<double> ts(out.n), ys(out.n);
  for (size_t i = 0; i < out.n; i++) {
    ts[i] = t[order[i]];
    ys[i] = y[order[i]];
  }

  theil_sen(ts, ys, out);
  out.s = mann_kendall_s(ts, ys);
  // Below 4 points even a perfect monotone run has p > 0.08 under the normal approximation, and
  // the approximation itself is poor: no verdict is the honest answer.
  if (out.n < 4) return out;

  // Ties in t are not corrected for: they only drop pairs from S, so the variance is slightly
  // too large and the test errs toward "stable".
  double var = mann_kendall_variance(ys);
  if (var <= 0) return out;  // all y equal: S = 0 and nothing to test
  // Continuity correction: S moves in steps of 2, so shrink it by 1 toward 0 before scaling.
  if (out.s > 0) out.z = (out.s - 1) / std::sqrt(var);
  else if (out.s < 0) out.z = (out.s + 1) / std::sqrt(var);
  out.p_value = std::erfc(std::fabs(out.z) / std::sqrt(2.0));
  if (out.p_value < alpha) out.direction = out.s > 0 ? "increasing" : "decreasing";
  return out;
}

}  // namespace perfbpf
