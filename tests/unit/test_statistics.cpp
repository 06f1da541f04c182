// The statistics behind `perfbpf validate`'s verdicts.
#include <catch2/catch.hpp>

#include "validation/statistics.h"
#include "validation/workload.h"

using namespace perfbpf::validation;

TEST_CASE("exact permutation test", "[statistics]") {
  // Completely separated groups of 5: only the observed split and its mirror are as extreme.
  CHECK(permutation_test_p({1, 2, 3, 4, 5}, {10, 11, 12, 13, 14}) == Approx(2.0 / 252));
  // Identical groups: every relabelling is at least as extreme as a zero difference.
  CHECK(permutation_test_p({5, 5, 5}, {5, 5, 5}) == Approx(1.0));
  // Interleaved values are not called different.
  CHECK(permutation_test_p({1, 3, 5, 7, 9}, {2, 4, 6, 8, 10}) > 0.5);
  // Larger groups fall back to sampling and still separate clear differences.
  std::vector<double> a, b;
  for (int i = 0; i < 20; i++) {
    a.push_back(100 + i % 3);
    b.push_back(110 + i % 3);
  }
  CHECK(permutation_test_p(a, b) < 0.001);
  CHECK(permutation_test_p({}, {1}) == 1);
}

TEST_CASE("runs are called different only when significant and large enough", "[statistics]") {
  std::vector<double> base = {100.0, 100.1, 99.9, 100.05, 99.95};
  auto slower = compare_runs(base, {110.0, 110.1, 109.9, 110.05, 109.95});
  CHECK(slower.different);
  CHECK(slower.change_pct == Approx(10).epsilon(0.001));
  CHECK(slower.p_value < kSignificance);
  // Separated but tiny: significant, not practically different.
  auto drift = compare_runs(base, {100.3, 100.4, 100.2, 100.35, 100.25});
  CHECK(drift.p_value < kSignificance);
  CHECK_FALSE(drift.different);
  // Large but noisy: not significant.
  CHECK_FALSE(compare_runs({100, 130, 90, 120, 80}, {105, 125, 95, 140, 85}).different);
}

TEST_CASE("binomial bound: how many calls a 1% tail may put beyond a bound", "[statistics]") {
  // P(Binomial(100, 0.01) > 5) = 0.00053, > 4 = 0.0034.
  CHECK(binomial_upper_bound(100, 0.01, 0.001) == 5);
  // P(Binomial(20, 0.01) > 2) = 0.00100, > 3 = 0.000043.
  CHECK(binomial_upper_bound(20, 0.01, 0.001) == 3);
  CHECK(binomial_upper_bound(1000, 0.01, 0.001) == 21);
  CHECK(binomial_upper_bound(0, 0.01, 0.001) == 0);
}

TEST_CASE("coefficient of variation and quantiles", "[statistics]") {
  CHECK(coefficient_of_variation({10, 10, 10}) == 0);
  CHECK(coefficient_of_variation({9, 10, 11}) == Approx(0.1));
  CHECK(coefficient_of_variation({1}) == 0);
  CHECK(mean({1, 2, 3, 6}) == Approx(3));
  CHECK(exact_quantile({5, 1, 4, 2, 3}, 0.5) == 3);
  CHECK(exact_quantile({5, 1, 4, 2, 3}, 0.99) == 5);
  CHECK(exact_quantile({5, 1, 4, 2, 3}, 0.0) == 1);
  CHECK(exact_quantile({}, 0.5) == 0);
}
