// Snapshots into the report's figures (aggregate/system_aggregate): counters sum every process
// of the session, resident memory only the processes alive at that read.
#include <catch2/catch.hpp>

#include "aggregate/system_aggregate.h"

using namespace perfbpf;

namespace {

constexpr uint64_t kMiB = 1ull << 20;

ProcessSnapshot process(uint32_t pid, bool live, uint64_t rss, uint64_t peak, uint64_t cpu_ns) {
  ProcessSnapshot p;
  p.pid = pid;
  p.live = live;
  p.exited = !live;
  p.usage.cpu_time_ns = cpu_ns;
  p.usage.memory.rss_last_bytes = rss;
  p.usage.memory.anon_bytes = rss;
  p.usage.memory.rss_peak_bytes = peak;
  return p;
}

}  // namespace

TEST_CASE("interval RSS sums the live processes: exited ones' last RSS is no longer held", "[aggregate]") {
  ResourceSnapshot before, after;
  before.at_ns = 1'000'000'000;
  after.at_ns = 2'000'000'000;
  before.processes[1] = process(1, true, 30 * kMiB, 30 * kMiB, 100'000'000);
  after.processes[1] = process(1, true, 30 * kMiB, 30 * kMiB, 300'000'000);
  // Ten short-lived processes of 8 MiB that exited during the interval.
  for (uint32_t pid = 100; pid < 110; pid++) after.processes[pid] = process(pid, false, 8 * kMiB, 9 * kMiB, 10'000'000);
  SeriesSample s = interval_sample(before, after, 2.0);
  CHECK(s.rss_bytes == 30 * kMiB);
  // Their CPU time still counts: it was spent in the interval.
  CHECK(s.cpu_pct == Approx(100.0 * (200'000'000 + 10 * 10'000'000) / 1e9));
}

TEST_CASE("the total RSS peak is a sum that occurred, never a sum of peaks of different moments", "[aggregate]") {
  ResourceSnapshot end;
  end.processes[1] = process(1, true, 30 * kMiB, 31 * kMiB, 0);
  for (uint32_t pid = 100; pid < 125; pid++) end.processes[pid] = process(pid, false, 8 * kMiB, 9 * kMiB, 0);
  std::vector<SeriesSample> series(3);
  series[0].rss_bytes = 38 * kMiB;  // the holder and one short-lived process at that read
  series[1].rss_bytes = 30 * kMiB;
  series[2].rss_bytes = 30 * kMiB;
  ResourceUsage total = total_usage(end, series, 1000000000);
  CHECK(total.memory.rss_last_bytes == 30 * kMiB);
  CHECK(total.memory.anon_bytes == 30 * kMiB);
  CHECK(total.memory.rss_peak_bytes == 38 * kMiB);

  // With no series, the largest single process's own peak: a figure that occurred.
  total = total_usage(end, {}, 1000000000);
  CHECK(total.memory.rss_peak_bytes == 31 * kMiB);
}
