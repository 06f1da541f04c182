// How many decoded call records per second the aggregator folds in on one core. The records
// are generated before the clock starts, so only Aggregator::add is timed.
//   aggregator_bench [--events N]      prints one JSON object
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "aggregate/aggregator.h"

int main(int argc, char** argv) {
  size_t events = 20000000;
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], "--events") == 0) events = std::strtoull(argv[i + 1], nullptr, 10);

  constexpr uint32_t kProbes = 64, kThreads = 16;
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> latency(9.0, 1.5);  // ~8 us median, long tail
  std::vector<perfbpf::CallRecord> records(events);
  for (size_t i = 0; i < events; i++) {
    auto& r = records[i];
    r.probe_id = static_cast<uint32_t>(rng() % kProbes);
    r.tgid = 4242;
    r.tid = 4242 + static_cast<uint32_t>(rng() % kThreads);
    r.duration_ns = 1 + static_cast<uint64_t>(latency(rng));
  }

  perfbpf::Aggregator aggregator(kProbes);
  auto start = std::chrono::steady_clock::now();
  for (const auto& r : records) aggregator.add(r);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  uint64_t counted = 0;
  for (uint32_t p = 0; p < kProbes; p++) counted += aggregator.histogram(p).count();
  if (counted != events) {
    std::fprintf(stderr, "aggregator_bench: counted %llu of %zu records\n", static_cast<unsigned long long>(counted), events);
    return 1;
  }
  std::printf("{\"events\": %zu, \"seconds\": %.6f, \"events_per_second\": %.0f}\n", events, seconds,
              static_cast<double>(events) / seconds);
  return 0;
}
