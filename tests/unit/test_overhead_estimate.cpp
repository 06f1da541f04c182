// The probes' cost to the target, per call from the calibrated cost, as a slowdown of its
// most slowed thread: exact on planted figures, and a lower bound where nothing is left.
#include <catch2/catch.hpp>

#include "session/overhead_estimate.h"

using namespace perfbpf;

namespace {

FunctionProfile probed(double cost_ns, std::vector<ThreadCalls> threads) {
  FunctionProfile f;
  f.probe_cost_ns = cost_ns;
  f.threads = std::move(threads);
  return f;
}

}  // namespace

TEST_CASE("slowdown: calls x cost against the thread's time without them", "[overhead]") {
  // 1001 calls, one every 10 us: 10.01 ms active, 1.001 ms of it probes -> 9.01 ms unprobed.
  auto f = probed(1000, {{7, 7, 1001, 0}});
  SlowdownEstimate e = estimate_slowdown({f}, {{7, 7, 0, 10'000'000, 1001}}, 5e9);
  CHECK(e.tid == 7);
  CHECK_FALSE(e.at_least);
  CHECK(e.slowdown_pct == Approx(100.0 * 1.001 / 9.009).epsilon(1e-6));
  CHECK(e.probe_share_pct == Approx(10.0).epsilon(1e-6));
}

TEST_CASE("slowdown: probes that took nearly everything give a lower bound, not a guess", "[overhead]") {
  // A 1 ns function probed at 1.4 us: 1000x slower in truth; the cost's own uncertainty
  // (kProbeCostUncertainty) is larger than what is left, so only "at least" is known.
  auto f = probed(1400, {{7, 7, 100000, 0}});
  SlowdownEstimate e = estimate_slowdown({f}, {{7, 7, 0, 140'100'000, 100000}}, 1e9);
  CHECK(e.at_least);
  CHECK(e.slowdown_pct == Approx(100.0 / kProbeCostUncertainty));
  CHECK(e.probe_share_pct > 99);
}

TEST_CASE("slowdown: the most slowed thread is the target's, and one call says nothing of a pace", "[overhead]") {
  auto f = probed(2000, {{1, 1, 1, 0}, {2, 1, 501, 0}, {3, 1, 501, 0}});
  std::vector<ThreadSpan> spans = {{1, 1, 0, 500, 1},             // one call: judged over the session
                                   {2, 1, 0, 100'000'000, 501},   // 2 ms of probes in 100 ms
                                   {3, 1, 0, 10'000'000, 501}};   // 2 ms of probes in 10 ms
  SlowdownEstimate e = estimate_slowdown({f}, spans, 1e9);
  CHECK(e.tid == 3);
  CHECK(e.slowdown_pct == Approx(100.0 * 1.002 / (10.02 - 1.002)).epsilon(1e-6));
  CHECK(estimate_slowdown({f}, {spans[0]}, 1e9).slowdown_pct == Approx(100.0 * 2000 / (1e9 - 2000)));
  CHECK(estimate_slowdown({}, spans, 1e9).slowdown_pct == 0);
}
