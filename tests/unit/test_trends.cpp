// Theil-Sen slopes and the Mann-Kendall trend test behind trend verdicts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

#include "analysis/trends.h"

using perfbpf::trend_test;

namespace {

std::vector<double> times(size_t n) {
  std::vector<double> t(n);
  std::iota(t.begin(), t.end(), 0.0);
  return t;
}

// y = SLOPE * t + N(0, SIGMA) at t = 0..N-1, reproducible from SEED.
std::vector<double> noisy_line(size_t n, double slope, double sigma, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, sigma);
  std::vector<double> y(n);
  for (size_t i = 0; i < n; i++) y[i] = slope * static_cast<double>(i) + noise(rng);
  return y;
}

// S by its definition, every pair ordered by t, to check the O(n log n) count against.
double brute_force_s(const std::vector<double>& t, const std::vector<double>& y) {
  double s = 0;
  for (size_t i = 0; i < t.size(); i++)
    for (size_t j = 0; j < t.size(); j++)
      if (t[i] < t[j]) s += (y[j] > y[i]) - (y[j] < y[i]);
  return s;
}

}  // namespace

TEST_CASE("Theil-Sen recovers a perfect line exactly", "[trends]") {
  auto t = times(50);
  std::vector<double> y;
  for (double x : t) y.push_back(3 * x + 7);
  auto r = trend_test(t, y);
  CHECK(r.n == 50);
  CHECK(r.slope == Approx(3));
  CHECK(r.intercept == Approx(7));
  CHECK(r.s == 50 * 49 / 2);
  CHECK(r.direction == "increasing");
}

TEST_CASE("Theil-Sen ignores 20% outliers", "[trends]") {
  auto t = times(100);
  std::vector<double> y;
  for (double x : t) y.push_back(0.5 * x + 10);
  // Every fifth point thrown far up: a least-squares fit would be pulled off, but pairs of clean
  // points (64% of all pairs) all have slope exactly 0.5, so the median cannot move.
  for (size_t i = 0; i < y.size(); i += 5) y[i] += 1000;
  auto r = trend_test(t, y);
  CHECK(r.slope == Approx(0.5));
  CHECK(r.intercept == Approx(10));
}

TEST_CASE("Theil-Sen subsamples long series and still finds the slope", "[trends]") {
  // 4000 points exceed the 2000-point pairing limit.
  auto t = times(4000);
  std::vector<double> y;
  for (double x : t) y.push_back(-0.25 * x + 3);
  auto r = trend_test(t, y);
  CHECK(r.n == 4000);
  CHECK(r.slope == Approx(-0.25));
  CHECK(r.intercept == Approx(3));
  CHECK(r.direction == "decreasing");

  auto noisy = trend_test(times(4000), noisy_line(4000, 0.01, 1, 7 /* seed */));
  CHECK(noisy.slope == Approx(0.01).margin(0.002));
}

TEST_CASE("a planted linear growth is detected", "[trends]") {
  auto r = trend_test(times(60), noisy_line(60, 2, 5, 1 /* seed */));
  CHECK(r.direction == "increasing");
  CHECK(r.p_value < 0.01);
  CHECK(r.slope == Approx(2).margin(0.3));

  int detected = 0;
  for (uint64_t seed = 1000; seed < 1200; seed++) {
    auto s = trend_test(times(60), noisy_line(60, 2, 5, seed));
    if (s.direction == "increasing" && s.p_value < 0.01) detected++;
  }
  WARN("planted y = 2t + N(0, 5), n = 60: detected " << detected << "/200 at p < 0.01");
  CHECK(detected == 200);
}

TEST_CASE("pure noise is called stable", "[trends]") {
  int stable = 0;
  for (uint64_t seed = 2000; seed < 2200; seed++) {
    auto r = trend_test(times(60), noisy_line(60, 0, 1, seed));
    if (r.direction == "stable") stable++;
  }
  // At alpha = 0.01 about 1% of trendless series are expected to be flagged.
  WARN("noise N(0, 1), n = 60: " << stable << "/200 stable (" << stable * 100.0 / 200 << "%)");
  CHECK(stable >= 190);
}

TEST_CASE("a decreasing series is called decreasing", "[trends]") {
  auto r = trend_test(times(60), noisy_line(60, -1.5, 5, 3 /* seed */));
  CHECK(r.direction == "decreasing");
  CHECK(r.s < 0);
  CHECK(r.z < 0);
  CHECK(r.p_value < 0.01);
  CHECK(r.slope == Approx(-1.5).margin(0.3));
}

TEST_CASE("a constant series is stable with p = 1", "[trends]") {
  auto r = trend_test(times(20), std::vector<double>(20, 4.2));
  CHECK(r.s == 0);
  CHECK(r.z == 0);
  CHECK(r.p_value == 1);
  CHECK(r.direction == "stable");
  CHECK(r.slope == 0);
  CHECK(r.intercept == Approx(4.2));
}

TEST_CASE("fewer than 4 points is always stable", "[trends]") {
  auto r = trend_test({0, 1, 2}, {1, 100, 10000}, 0.5);
  CHECK(r.n == 3);
  CHECK(r.p_value == 1);
  CHECK(r.direction == "stable");
  // The slope is still estimated: median of the pairwise slopes {99, 4999.5, 9900}.
  CHECK(r.slope == Approx(4999.5));
}

TEST_CASE("empty and mismatched input", "[trends]") {
  auto r = trend_test({}, {});
  CHECK(r.n == 0);
  CHECK(r.direction == "stable");
  CHECK(r.p_value == 1);
  CHECK_THROWS_AS(trend_test({0, 1, 2, 3}, {1, 2, 3}), std::invalid_argument);
  CHECK_THROWS_AS(trend_test({0, 1, 2, 3, 4}, {1, 2, NAN, 4, 5}), std::invalid_argument);
}

TEST_CASE("Mann-Kendall p-value matches a hand computation", "[trends]") {
  // y = 1..5 at t = 0..4: all 10 pairs rise, S = 10. No ties: Var = n(n-1)(2n+5)/18
  // = 5*4*15/18 = 50/3. z = (S-1)/sqrt(Var) = 9/sqrt(50/3) = 2.2045408,
  // p = erfc(z/sqrt(2)) = 0.0274863.
  auto r = trend_test(times(5), {1, 2, 3, 4, 5}, 0.05);
  CHECK(r.s == 10);
  CHECK(r.z == Approx(2.2045407685));
  CHECK(r.p_value == Approx(0.0274863361));
  CHECK(r.direction == "increasing");
  // At the default alpha = 0.01 the same series is not enough evidence.
  CHECK(trend_test(times(5), {1, 2, 3, 4, 5}).direction == "stable");

  // y = {1, 2, 2, 3, 4}: the tied pair (2, 2) counts 0, the other 9 rise, S = 9. One tie group
  // of g = 2 removes 2*1*9 = 18: Var = (300 - 18)/18 = 47/3. z = 8/sqrt(47/3) = 2.0211646,
  // p = 0.0432627.
  auto tied = trend_test(times(5), {1, 2, 2, 3, 4}, 0.05);
  CHECK(tied.s == 9);
  CHECK(tied.z == Approx(2.0211646106));
  CHECK(tied.p_value == Approx(0.0432627278));

  // The mirror image gives the same p and the opposite sign.
  auto down = trend_test(times(5), {5, 4, 3, 2, 1}, 0.05);
  CHECK(down.s == -10);
  CHECK(down.z == Approx(-2.2045407685));
  CHECK(down.p_value == Approx(0.0274863361));
  CHECK(down.direction == "decreasing");
}

TEST_CASE("S follows time order, with ties in t and y", "[trends]") {
  std::mt19937_64 rng(42 /* seed */);
  std::uniform_int_distribution<int> small(0, 9);  // few distinct values: many ties in both
  std::vector<double> t, y;
  for (int i = 0; i < 300; i++) {
    t.push_back(small(rng));
    y.push_back(small(rng) + 0.1 * t.back());
  }
  auto r = trend_test(t, y);
  CHECK(r.s == brute_force_s(t, y));

  // Samples handed over out of order give the same answer as sorted ones.
  std::vector<size_t> order(t.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return t[a] < t[b]; });
  std::vector<double> ts, ys;
  for (size_t i : order) {
    ts.push_back(t[i]);
    ys.push_back(y[i]);
  }
  auto sorted = trend_test(ts, ys);
  CHECK(sorted.s == r.s);
  CHECK(sorted.slope == Approx(r.slope));
  CHECK(sorted.intercept == Approx(r.intercept));
  CHECK(sorted.p_value == Approx(r.p_value));
}
