// Shared by the unit ([proc] source) and [bpf] tests of PerformanceProfiler's monitoring:
// monitor this process while it spins a known CPU time, and compare with getrusage.
#pragma once

#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>

#include "perfbpf/profiler.h"

namespace perfbpf::test {

inline double process_cpu_s() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

inline void spin_cpu(double seconds) {
  timespec start{}, now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  do {
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while (static_cast<double>(now.tv_sec - start.tv_sec) + static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
}

// TOLERANCE_S: the source's resolution (/proc counts 10 ms clock ticks).
inline SystemProfile check_self_monitoring(MonitoringSource source, const char* expected_source, double tolerance_s) {
  PerformanceProfiler profiler;
  CHECK_FALSE(profiler.monitoring_active());
  // Truth over the monitored span only: loading BPF programs costs this process CPU too.
  profiler.start_system_monitoring(0.1, 0, source);
  const double cpu_before = process_cpu_s();
  CHECK(profiler.monitoring_active());
  CHECK_THROWS_WITH(profiler.start_system_monitoring(0.1, 0, source), Catch::Contains("already active"));
  spin_cpu(0.6);
  const double cpu = process_cpu_s() - cpu_before;
  profiler.stop_system_monitoring();
  CHECK_FALSE(profiler.monitoring_active());
  std::vector<SystemMetrics> m = profiler.system_metrics();
  CHECK(m.size() >= 4);  // 0.6 s at 0.1 s intervals, the last one possibly dropped as too short
  SystemProfile p = profiler.system_profile();
  CHECK(p.source == expected_source);
  REQUIRE(p.processes.size() == 1);
  const double measured = static_cast<double>(p.processes[0].usage.cpu_time_ns) / 1e9;
  // The intervals hold the spin: their CPU adds up to the total, but for the last interval,
  // which may be dropped as too short (at most 0.1 s of one spinning thread). Not how busy
  // each interval was: that depends on what else the machine runs.
  double in_intervals = 0;
  for (const auto& s : m) in_intervals += s.cpu_percent / 100 * s.interval_s;
  INFO("monitored " << measured << " s, in the intervals " << in_intervals << " s, getrusage " << cpu << " s");
  CHECK(in_intervals <= measured + 0.05 * measured + tolerance_s);
  CHECK(in_intervals >= measured - 0.1 - 0.05 * measured - tolerance_s);
  CHECK(std::abs(measured - cpu) <= 0.05 * cpu + tolerance_s);
  CHECK(p.processes[0].usage.memory.rss_peak_bytes > 0);
  profiler.stop_system_monitoring();  // a second stop is a no-op
  return p;
}

}  // namespace perfbpf::test
