// PerformanceProfiler's system monitoring from /proc: what an unprivileged caller gets.
#include <catch2/catch.hpp>

#include <filesystem>
#include <thread>
#include <vector>

#include "process.h"
#include "report/json_report.h"

#include "perfbpf/error.h"
#include "perfbpf/profiler.h"
#include "profiler_api_check.h"

using namespace perfbpf;

TEST_CASE("profiler: monitoring this process from /proc follows its CPU time", "[profiler]") {
  SystemProfile p = test::check_self_monitoring(MonitoringSource::Proc, "proc", 0.03);
  CHECK(p.collectors == std::vector<std::string>{"proc"});
}

TEST_CASE("profiler: bad monitoring requests are clear errors", "[profiler]") {
  PerformanceProfiler profiler;
  CHECK_THROWS_WITH(profiler.start_system_monitoring(0), Catch::Contains("interval"));
  CHECK_THROWS_WITH(profiler.start_system_monitoring(1.0, 999999999, MonitoringSource::Proc), Catch::Contains("no process"));
  CHECK_FALSE(profiler.monitoring_active());
  CHECK(profiler.performance_thresholds.function_time_warning == 0.5);
  CHECK(profiler.performance_thresholds.memory_usage_warning == 75.0);
  CHECK(profiler.performance_thresholds.cpu_usage_warning == 85.0);
}

namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

TEST_CASE("profiler: profile_function times each call, and CPU share tells spinning from sleeping", "[profiler]") {
  PerformanceProfiler profiler(test::temp_path("out"));
  ProfilingMetrics m;
  for (int i = 0; i < 5; i++) m = profiler.profile_function("sleeper", sleep_ms, 20);
  CHECK(m.function_name == "sleeper");
  CHECK(m.call_count == 5);
  // nanosleep overshoots by up to a timer slack (50 us) plus scheduling: 20-23 ms a call.
  CHECK(m.avg_time >= 0.020);
  CHECK(m.avg_time < 0.023);
  CHECK(m.min_time <= m.p50_time);
  CHECK(m.p50_time <= m.max_time);
  CHECK(m.total_time == Approx(5 * m.avg_time).epsilon(1e-9));
  CHECK(m.cpu_percent < 10);

  ProfilingMetrics spin = profiler.profile_function("spinner", [] { test::spin_cpu(0.05); });
  CHECK(spin.cpu_percent > 90);  // its thread CPU clock ran throughout
  CHECK(spin.cpu_time >= 0.05);

  auto data = profiler.profiling_data();
  REQUIRE(data.size() == 2);
  CHECK(data.at("sleeper").call_count == 5);
  profiler.clear_data();
  CHECK(profiler.profiling_data().empty());
}

TEST_CASE("profiler: memory a call keeps shows as its memory delta", "[profiler]") {
  PerformanceProfiler profiler;
  std::vector<char> kept;
  constexpr size_t kBytes = 64 << 20;
  ProfilingMetrics m = profiler.profile_function("allocate", [&] {
    kept.resize(kBytes);
    for (size_t i = 0; i < kept.size(); i += 4096) kept[i] = 1;  // resident, not just reserved
  });
  INFO("delta " << m.memory_delta << " peak " << m.peak_memory);
  CHECK(static_cast<double>(m.memory_delta) == Approx(static_cast<double>(kBytes)).epsilon(0.05));
  CHECK(m.peak_memory >= kBytes);
}

TEST_CASE("profiler: start/stop by hand, from several threads at once", "[profiler]") {
  PerformanceProfiler profiler;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; i++) {
        uint64_t id = profiler.start_function_profiling("worker");
        test::spin_cpu(0.0002);
        profiler.stop_function_profiling(id);
      }
    });
  for (auto& t : threads) t.join();
  CHECK(profiler.profiling_data().at("worker").call_count == 200);
  CHECK_THROWS_WITH(profiler.stop_function_profiling(123456), Catch::Contains("no function profiling with id"));
  uint64_t id = profiler.start_function_profiling("once");
  profiler.stop_function_profiling(id);
  CHECK_THROWS(profiler.stop_function_profiling(id));  // an id is good for one stop
}

TEST_CASE("profiler: generate_profiling_report writes a report perfbpf reads back, with analysis", "[profiler]") {
  const std::string dir = test::temp_path("reports");
  PerformanceProfiler profiler(dir);
  profiler.performance_thresholds.function_time_warning = 0.001;  // 1 ms: slow_call is slow
  for (int i = 0; i < 3; i++) profiler.profile_function("slow_call", sleep_ms, 5);
  std::string path = profiler.generate_profiling_report();
  CHECK(path.rfind(dir + "/perfbpf-report-", 0) == 0);
  Profile p = read_json_report(path);
  REQUIRE(p.functions.size() == 1);
  CHECK(p.functions[0].name == "slow_call");
  CHECK(p.functions[0].calls == 3);
  CHECK(p.functions[0].probe_site == "in-process");
  REQUIRE(p.analysis.enabled);
  bool slow = false;
  for (const auto& b : p.analysis.bottlenecks) slow |= b.affects.function == "slow_call";
  CHECK(slow);
  CHECK(profiler.generate_profiling_report() != path);  // a second report does not overwrite
  // For the schema test: a library-made report must validate like the CLI's.
  const auto reports = std::filesystem::path(PERFBPF_WORKLOADS) / ".." / "reports";
  std::filesystem::create_directories(reports);
  std::filesystem::copy_file(path, reports / "library.json", std::filesystem::copy_options::overwrite_existing);
}

TEST_CASE("profiler: quick_profile and an unwritable output_dir", "[profiler]") {
  ProfilingMetrics m = quick_profile("quick", [] { test::spin_cpu(0.001); });
  CHECK(m.call_count == 1);
  CHECK(m.total_time >= 0.001);
  PerformanceProfiler profiler("/proc/perfbpf-cannot-be-here");
  profiler.profile_function("x", [] {});
  CHECK_THROWS_WITH(profiler.generate_profiling_report(), Catch::Contains("cannot create"));
}

TEST_CASE("profiler: a library report is not flagged for missing probe calibration", "[profiler]") {
  PerformanceProfiler profiler(test::temp_path("out"));
  profiler.profile_function("f", [] { test::spin_cpu(0.0001); });
  Profile p = profiler.profiling_report();
  for (const auto& b : p.analysis.bottlenecks) CHECK(b.id.rfind("uncalibrated", 0) != 0);
  // A call's CPU share never passes 100 %: the CPU clock is read inside the wall-clock window.
  for (int i = 0; i < 200; i++) CHECK(profiler.profile_function("tiny", [] {}).cpu_percent <= 100.0);
}
