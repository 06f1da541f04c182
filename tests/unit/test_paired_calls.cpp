// perfbpf validate's pairing of each probed call with the same call's own clocks.
#include <catch2/catch.hpp>

#include <cmath>

#include "validation/paired_calls.h"

using namespace perfbpf;
using namespace perfbpf::validation;

namespace {

// A call whose body ran [START, START + BODY) with no time off CPU, the caller around it.
CallTruth call_at(uint64_t start, uint64_t body) {
  CallTruth t;
  t.body_start_ns = start;
  t.body_end_ns = start + body;
  t.call_start_ns = start - 1000;
  t.call_end_ns = start + body + 1000;
  t.call_cpu_ns = body + 2000;
  return t;
}

// What the probes saw of it: entry 400 ns before the body, return 300 ns after.
CallTiming record_of(const CallTruth& t, uint64_t corrected) {
  CallTiming c;
  c.start_ns = t.body_start_ns - 400;
  c.raw_ns = t.body_ns() + 700;
  c.corrected_ns = corrected;
  return c;
}

}  // namespace

TEST_CASE("pairing: each record with the call whose body it holds", "[validation]") {
  std::vector<CallTruth> truth = {call_at(10'000, 5000), call_at(20'000, 5000), call_at(30'000, 5000)};
  std::vector<CallTiming> records = {record_of(truth[2], 5010), record_of(truth[0], 5100)};  // any order
  CallTiming stray;  // a call that held no body the workload timed
  stray.start_ns = 16'000;
  stray.raw_ns = 1000;
  records.push_back(stray);
  PairedCalls p = pair_calls(truth, records);
  CHECK(p.calls == 3);
  REQUIRE(p.paired.size() == 2);  // the middle call's record was lost: it stays unpaired
  CHECK(p.paired[0].call == 0);
  CHECK(p.paired[0].error_ns == 100);
  CHECK(p.paired[0].entry_gap_ns == 400);
  CHECK(p.paired[0].exit_gap_ns == 300);
  CHECK(p.paired[1].call == 2);
  CHECK(p.paired[1].error_ns == 10);
  CHECK(p.unmatched_records == 1);
  CHECK(pair_calls(truth, {}).paired.empty());
}

TEST_CASE("pairing: time off CPU in a call, from the workload's own clocks", "[validation]") {
  CallTruth t = call_at(100'000, 5000);
  CHECK(t.off_cpu_ns() == 0);  // the CPU-clock window holds the wall clock's
  t.call_end_ns += 40'000;     // the call took 40 us longer on the wall clock, not on the CPU
  CHECK(t.off_cpu_ns() == 40'000);
}

TEST_CASE("errors: median, spread and tail, split by preemption the workload's clocks show", "[validation]") {
  PairedCalls p;
  p.calls = 102;
  for (size_t i = 0; i < 100; i++) p.paired.push_back({i, static_cast<int64_t>(50 + i % 3), 0, 0, 0});
  // One call preempted for 30 us, its probes run on cold caches after ...
  p.paired.push_back({100, 30'051, 30'000, 0, 0});
  // ... and one whose error no time off CPU explains.
  p.paired.push_back({101, 8000, 100, 0, 0});
  ErrorSummary e = summarize_errors(p, std::vector<bool>(102, true));
  CHECK(e.all.calls == 102);
  CHECK(e.all.median_ns == Approx(51));
  CHECK(e.all.spread_ns == Approx(1.4826));
  CHECK(e.preempted.calls == 1);
  CHECK(e.preempted.worst_ns == Approx(30'051));
  REQUIRE(e.undisturbed.calls == 101);
  CHECK(e.undisturbed.worst_ns == 8000);  // stays in the tail
  CHECK(e.undisturbed.quantile(0.99) <= 52);  // p99 of 101 calls: the worst one is above it
  CHECK(e.undisturbed.quantile(1.0) == 8000);
  CHECK(e.undisturbed.standard_error() == Approx(1.2533 * e.undisturbed.spread_ns / std::sqrt(101.0)));
  std::vector<bool> some(102, false);
  some[0] = some[1] = true;
  CHECK(summarize_errors(p, some).all.calls == 2);
  CHECK(summarize_errors(p, std::vector<bool>(102, false)).all.quantile(0.99) == 0);
}
