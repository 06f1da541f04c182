// The histogram's promise: any quantile within 1% of the exact nearest-rank value, exact
// count/sum/min/max, on distributions shaped like real latencies.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "perfbpf/histogram.h"
#include "perfbpf/profile.h"

using perfbpf::LatencyHistogram;

namespace {

uint64_t exact_quantile(const std::vector<uint64_t>& sorted, double q) {
  size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
  return sorted[std::min(rank, sorted.size()) - 1];
}

// Worst relative error over a sweep of quantiles, q = 0.001 ... 0.999 and the tails.
double worst_relative_error(std::vector<uint64_t> values) {
  LatencyHistogram h;
  for (uint64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());
  std::vector<double> qs = {0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
  for (int i = 1; i < 1000; i++) qs.push_back(i / 1000.0);
  double worst = 0;
  for (double q : qs) {
    double exact = static_cast<double>(exact_quantile(values, q));
    double got = static_cast<double>(h.quantile(q));
    worst = std::max(worst, std::fabs(got - exact) / exact);
  }
  return worst;
}

std::vector<uint64_t> draw(size_t n, const std::function<double(std::mt19937_64&)>& dist) {
  std::mt19937_64 rng(20261124);
  std::vector<uint64_t> v(n);
  for (auto& x : v) x = static_cast<uint64_t>(std::max(1.0, dist(rng)));
  return v;
}

}  // namespace

TEST_CASE("quantiles are within 1% of exact on latency-like distributions", "[histogram]") {
  const size_t n = 200000;
  std::uniform_real_distribution<double> uniform(1e3, 1e6);
  std::exponential_distribution<double> exponential(1.0 / 5e4);
  std::lognormal_distribution<double> heavy(10.0, 2.5);  // ns to tens of seconds
  std::normal_distribution<double> fast(2e3, 1e2), slow(2e6, 5e4);
  std::uniform_int_distribution<uint64_t> small(0, 255);

  struct Case {
    const char* name;
    std::vector<uint64_t> values;
  };
  std::vector<Case> cases = {
      {"uniform", draw(n, [&](auto& r) { return uniform(r); })},
      {"exponential", draw(n, [&](auto& r) { return exponential(r); })},
      {"heavy tail (log-normal, sigma 2.5)", draw(n, [&](auto& r) { return heavy(r); })},
      {"bimodal (2 us and 2 ms)",
       draw(n, [&, i = 0](auto& r) mutable { return (i++ % 10 == 0) ? slow(r) : fast(r); })},
      {"pareto (alpha 1.1)", draw(n, [&](auto& r) {
         return 1e3 / std::pow(1.0 - std::uniform_real_distribution<double>(0, 1)(r), 1.0 / 1.1);
       })},
  };
  double worst = 0;
  for (auto& c : cases) {
    double err = worst_relative_error(c.values);
    INFO(c.name << ": worst relative error " << err * 100 << "%");
    CHECK(err <= 0.01);
    worst = std::max(worst, err);
  }
  WARN("worst quantile relative error over all distributions: " << worst * 100 << "%");
  CHECK(worst <= LatencyHistogram::kMaxRelativeError + 1e-12);
}

TEST_CASE("count, sum, min and max are exact, and small values are exact", "[histogram]") {
  LatencyHistogram h;
  uint64_t sum = 0;
  for (uint64_t v = 0; v < 256; v++) {
    h.record(v);
    sum += v;
  }
  CHECK(h.count() == 256);
  CHECK(h.sum() == sum);
  CHECK(h.min() == 0);
  CHECK(h.max() == 255);
  for (int q = 1; q <= 256; q++) CHECK(h.quantile(q / 256.0) == static_cast<uint64_t>(q - 1));
}

TEST_CASE("empty, single-value and extreme histograms", "[histogram]") {
  LatencyHistogram empty;
  CHECK(empty.count() == 0);
  CHECK(empty.quantile(0.5) == 0);
  CHECK(empty.min() == 0);
  CHECK(empty.max() == 0);
  CHECK(empty.mean() == 0);
  CHECK(empty.buckets().empty());

  LatencyHistogram one;
  one.record(123456789);
  for (double q : {0.0, 0.5, 1.0}) CHECK(one.quantile(q) == 123456789);  // clamped to [min, max]
  CHECK(one.stddev() == 0);

  LatencyHistogram huge;
  huge.record(UINT64_MAX);
  huge.record(UINT64_MAX - 1);
  huge.record(uint64_t{1} << 63);
  CHECK(huge.count() == 3);
  CHECK(huge.max() == UINT64_MAX);
  CHECK(huge.quantile(1.0) == UINT64_MAX);
  CHECK(huge.quantile(0.1) >= uint64_t{1} << 63);
}

TEST_CASE("bucket bounds tile the whole range", "[histogram]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; i++) {
    uint64_t v = rng() >> (rng() % 64);
    size_t idx = LatencyHistogram::bucket_index(v);
    REQUIRE(LatencyHistogram::bucket_lower(idx) <= v);
    REQUIRE(v <= LatencyHistogram::bucket_upper(idx));
  }
  for (size_t idx = 0; idx + 1 < LatencyHistogram::bucket_index(UINT64_MAX); idx++) {
    REQUIRE(LatencyHistogram::bucket_upper(idx) + 1 == LatencyHistogram::bucket_lower(idx + 1));
    // Relative bucket width bounds the error the quantiles can make.
    double lower = static_cast<double>(LatencyHistogram::bucket_lower(idx));
    double width = static_cast<double>(LatencyHistogram::bucket_upper(idx)) - lower + 1;
    if (lower >= 256) REQUIRE(width / lower <= 1.0 / LatencyHistogram::kSubBuckets + 1e-12);
  }
  CHECK(LatencyHistogram::bucket_upper(LatencyHistogram::bucket_index(UINT64_MAX)) == UINT64_MAX);
}

TEST_CASE("merge equals recording everything in one histogram", "[histogram]") {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(9, 2);
  LatencyHistogram a, b, all;
  for (int i = 0; i < 50000; i++) {
    auto v = static_cast<uint64_t>(d(rng));
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  CHECK(a.count() == all.count());
  CHECK(a.sum() == all.sum());
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
  for (double q : {0.5, 0.9, 0.99, 0.999}) CHECK(a.quantile(q) == all.quantile(q));
  CHECK(a.stddev() == Approx(all.stddev()).epsilon(1e-9));
}

TEST_CASE("buckets round-trip through from_buckets", "[histogram]") {
  std::mt19937_64 rng(5);
  std::exponential_distribution<double> d(1.0 / 1e5);
  LatencyHistogram h;
  double sum_squares = 0;
  for (int i = 0; i < 30000; i++) {
    auto v = static_cast<uint64_t>(d(rng));
    h.record(v);
    sum_squares += static_cast<double>(v) * static_cast<double>(v);
  }
  auto copy = LatencyHistogram::from_buckets(h.buckets(), h.sum(), h.min(), h.max(), sum_squares);
  CHECK(copy.count() == h.count());
  CHECK(copy.sum() == h.sum());
  CHECK(copy.min() == h.min());
  CHECK(copy.max() == h.max());
  CHECK(copy.buckets().size() == h.buckets().size());
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999}) CHECK(copy.quantile(q) == h.quantile(q));
  CHECK(copy.stddev() == Approx(h.stddev()).epsilon(1e-9));
}

TEST_CASE("summarize gives the report's latency fields", "[histogram]") {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000; v++) h.record(v * 1000);
  perfbpf::LatencySummary s = perfbpf::summarize(h);
  CHECK(s.min == 1000);
  CHECK(s.max == 1000000);
  CHECK(s.total == 500500000);
  CHECK(s.mean == Approx(500500));
  CHECK(s.stddev == Approx(288675.0).epsilon(0.001));
  CHECK(s.p50 == Approx(500000).epsilon(0.01));
  CHECK(s.p90 == Approx(900000).epsilon(0.01));
  CHECK(s.p99 == Approx(990000).epsilon(0.01));
  CHECK(s.p999 == Approx(999000).epsilon(0.01));
}
