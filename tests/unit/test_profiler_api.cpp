// PerformanceProfiler's system monitoring from /proc: what an unprivileged caller gets.
#include <catch2/catch.hpp>

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
