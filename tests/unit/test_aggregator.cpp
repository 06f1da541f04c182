// The aggregator folds decoded records into per-function histograms and per-thread totals.
#include <catch2/catch.hpp>

#include "aggregate/aggregator.h"

using namespace perfbpf;

namespace {

CallRecord call(uint32_t probe, uint32_t tid, uint64_t duration_ns, uint32_t tgid = 100) {
  CallRecord r;
  r.probe_id = probe;
  r.tid = tid;
  r.tgid = tgid;
  r.duration_ns = duration_ns;
  return r;
}

}  // namespace

TEST_CASE("per-function and per-thread totals are exact", "[aggregator]") {
  Aggregator agg(3);
  for (int i = 0; i < 1000; i++) agg.add(call(0, 101, 10));
  for (int i = 0; i < 500; i++) agg.add(call(0, 102, 100));
  for (int i = 0; i < 7; i++) agg.add(call(2, 103, 5000, 200));
  CHECK(agg.received() == 1507);
  CHECK(agg.unknown_probe() == 0);

  std::vector<FunctionProfile> functions(3);
  functions[1].name = "kept";
  agg.fill(functions);
  CHECK(functions[0].calls == 1500);
  CHECK(functions[0].latency.total == 1000 * 10 + 500 * 100);
  CHECK(functions[0].latency.min == 10);
  CHECK(functions[0].latency.max == 100);
  REQUIRE(functions[0].threads.size() == 2);
  // Sorted by total time: thread 102 (50000 ns) before 101 (10000 ns).
  CHECK(functions[0].threads[0].tid == 102);
  CHECK(functions[0].threads[0].calls == 500);
  CHECK(functions[0].threads[0].total_ns == 50000);
  CHECK(functions[0].threads[1].tid == 101);
  CHECK(functions[0].threads[1].calls == 1000);

  CHECK(functions[1].calls == 0);
  CHECK(functions[1].threads.empty());
  CHECK(functions[1].name == "kept");  // fill() only touches what it computes

  CHECK(functions[2].calls == 7);
  REQUIRE(functions[2].threads.size() == 1);
  CHECK(functions[2].threads[0].tgid == 200);
  uint64_t bucketed = 0;
  for (const auto& b : functions[2].histogram) bucketed += b.count;
  CHECK(bucketed == 7);
}

TEST_CASE("records for unknown probes are counted, not crashed on", "[aggregator]") {
  Aggregator agg(2);
  agg.add(call(2, 1, 1));
  agg.add(call(4000000000u, 1, 1));
  agg.add(call(1, 1, 1));
  CHECK(agg.received() == 3);
  CHECK(agg.unknown_probe() == 2);
  CHECK(agg.histogram(1).count() == 1);
  CHECK(agg.histogram(0).count() == 0);
}
