// Trend statistics for time series: Theil-Sen slope (median of pairwise slopes, robust to
// outliers) and the Mann-Kendall test for a monotonic trend (two-sided, ties corrected).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace perfbpf {

struct TrendTest {
  size_t n = 0;
  double slope = 0;      // Theil-Sen, y units per t unit
  double intercept = 0;  // median of y - slope * t
  double s = 0;          // Mann-Kendall S statistic
  double z = 0;          // normal score of S (continuity corrected)
  double p_value = 1;    // two-sided
  std::string direction = "stable";  // "increasing" / "decreasing" when p < alpha, else "stable"
};

// T and Y of equal length; fewer than 4 points is always "stable" with p = 1.
TrendTest trend_test(const std::vector<double>& t, const std::vector<double>& y, double alpha = 0.01);

}  // namespace perfbpf
