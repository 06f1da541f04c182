// PerformanceProfiler's system monitoring from /proc: what an unprivileged caller gets.
#include <catch2/catch.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <unistd.h>

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

// The callee's own view of one call: its wall and thread CPU time from its first clock read to
// its last.
struct OwnClock {
  double wall_s = 0, cpu_s = 0;
};

double clock_s(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Time this thread could not run although it wanted to, so far: its run-queue wait
// (/proc/thread-self/schedstat, ns) plus the machine's steal time (/proc/stat, all CPUs: an upper
// bound for this thread's share), in seconds.
double cpu_wait_so_far_s() {
  std::ifstream schedstat("/proc/thread-self/schedstat"), stat("/proc/stat");
  uint64_t on_cpu_ns = 0, run_delay_ns = 0;
  schedstat >> on_cpu_ns >> run_delay_ns;
  std::string cpu;
  uint64_t field[8] = {};
  stat >> cpu;
  for (uint64_t& f : field) stat >> f;
  return static_cast<double>(run_delay_ns) / 1e9 + static_cast<double>(field[7]) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// One call of BODY through profile_function, paired with the callee's own clocks: the
// profiler's corrected figures for this very call (the change of NAME's exact totals) next to
// what the callee measured of itself, and how long the thread waited for a CPU meanwhile.
struct PairedCall {
  double wall_s = 0, cpu_s = 0;
  OwnClock own;
  double waited_s = 0;
};

template <typename Body>
PairedCall paired_call(PerformanceProfiler& profiler, const std::string& name, Body body) {
  const auto data = profiler.profiling_data();
  const auto before = data.count(name) ? data.at(name) : ProfilingMetrics{};
  PairedCall p;
  const double waited_before = cpu_wait_so_far_s();
  profiler.profile_function(name, [&] {
    const double wall = clock_s(CLOCK_MONOTONIC), cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
    body();
    p.own.cpu_s = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu;
    p.own.wall_s = clock_s(CLOCK_MONOTONIC) - wall;
  });
  p.waited_s = cpu_wait_so_far_s() - waited_before;
  const ProfilingMetrics after = profiler.metrics(name);
  p.wall_s = after.total_time - before.total_time;
  p.cpu_s = after.cpu_time - before.cpu_time;
  return p;
}

}  // namespace

TEST_CASE("profiler: profile_function times each call as the callee's own clocks do", "[profiler]") {
  PerformanceProfiler profiler(test::temp_path("out"));
  // Sleeping and spinning, each call against the callee's own clocks: however busy the machine,
  // preemption inside the call shows on both sides. What lies between the timer's clock read
  // and the callee's is a few clock reads (the callee's own take ~0.1-1 us here), and any wait
  // for a CPU that falls there: at most what the thread waited during the whole call.
  for (int i = 0; i < 5; i++) {
    PairedCall p = paired_call(profiler, "sleeper", [] { sleep_ms(20); });
    INFO("sleeper: profiler " << p.wall_s << " s, callee " << p.own.wall_s << " s, waited for a CPU " << p.waited_s << " s");
    CHECK(p.own.wall_s >= 0.020);
    CHECK(p.wall_s >= p.own.wall_s);
    CHECK(p.wall_s - p.own.wall_s < 20e-6 + p.waited_s);
    CHECK(p.cpu_s <= p.wall_s);
  }
  ProfilingMetrics m = profiler.metrics("sleeper");
  CHECK(m.function_name == "sleeper");
  CHECK(m.call_count == 5);
  CHECK(m.min_time <= m.p50_time);
  CHECK(m.p50_time <= m.max_time);
  CHECK(m.total_time == Approx(5 * m.avg_time).epsilon(1e-9));
  CHECK(m.cpu_percent < 10);  // asleep: a sleeper's CPU share cannot rise with the machine's load

  PairedCall spin = paired_call(profiler, "spinner", [] { test::spin_cpu(0.05); });
  INFO("spinner: profiler cpu " << spin.cpu_s << " s of " << spin.wall_s << " s; callee cpu " << spin.own.cpu_s
                                << " s of " << spin.own.wall_s << " s; waited for a CPU " << spin.waited_s << " s");
  CHECK(spin.own.cpu_s >= 0.05);
  CHECK(spin.cpu_s >= spin.own.cpu_s);  // the timer's CPU window holds the callee's
  CHECK(spin.cpu_s - spin.own.cpu_s < 20e-6);
  CHECK(spin.wall_s - spin.own.wall_s < 20e-6 + spin.waited_s);
  CHECK(profiler.metrics("spinner").cpu_percent == Approx(100 * spin.own.cpu_s / spin.own.wall_s).margin(0.1));

  auto data = profiler.profiling_data();
  REQUIRE(data.size() == 2);
  CHECK(data.at("sleeper").call_count == 5);
  profiler.clear_data();
  CHECK(profiler.profiling_data().empty());
  CHECK_THROWS_WITH(profiler.metrics("sleeper"), Catch::Contains("no function named sleeper"));
}

TEST_CASE("profiler: the timer's own cost is measured and subtracted, and raw figures are kept", "[profiler]") {
  PerformanceProfiler profiler(test::temp_path("out"));
  for (int i = 0; i < 2000; i++) profiler.profile_function("empty", [] {});
  ProfilingMetrics m = profiler.metrics("empty");
  INFO("p50 " << m.p50_time * 1e9 << " ns, raw p50 " << m.raw_p50_time * 1e9 << " ns, timer self "
              << m.timer_self_time * 1e9 << " ns, cost " << m.timer_cost * 1e9 << " ns a call");
  // An empty call is the timer's own time and nothing else: a median of the same code's
  // median, whatever else runs on the machine.
  CHECK(m.p50_time < 100e-9);
  CHECK(m.timer_self_time > 0);
  CHECK(m.raw_p50_time >= m.timer_self_time * 0.5);
  CHECK(m.raw_total_time >= m.total_time);
  CHECK(m.raw_max_time >= m.max_time);
  CHECK(m.timer_cost >= m.timer_self_time);
  CHECK(m.cpu_time <= m.total_time);
  // In the report: corrected latency, raw latency, and the timer in the probe's place.
  Profile p = profiler.profiling_report();
  REQUIRE(p.functions.size() == 1);
  const FunctionProfile& f = p.functions[0];
  CHECK(f.latency.p50 < 100);
  CHECK(f.latency_raw.p50 >= f.latency.p50);
  CHECK(f.bias_ns == Approx(m.timer_self_time * 1e9).margin(1));
  CHECK(f.probe_cost_ns == Approx(m.timer_cost * 1e9).margin(1));
  CHECK(p.overhead.target_slowdown_pct > 0);
}

TEST_CASE("profiler: profile_function passes the callee's result through, and scope() times a block", "[profiler]") {
  PerformanceProfiler profiler;
  CHECK(profiler.profile_function("twice", [](int x) { return 2 * x; }, 21) == 42);
  auto owned = profiler.profile_function("make", [] { return std::make_unique<int>(7); });  // move-only
  REQUIRE(owned);
  CHECK(*owned == 7);
  int value = 1;
  int& ref = profiler.profile_function("ref", [&]() -> int& { return value; });
  ref = 5;
  CHECK(value == 5);  // a reference stays a reference
  profiler.profile_function("void", [] {});
  {
    auto timer = profiler.scope("block");
    sleep_ms(2);
  }
  auto early = profiler.scope("stopped early");
  early.stop();
  early.stop();  // once only
  for (const char* name : {"twice", "make", "ref", "void", "block", "stopped early"}) {
    INFO(name);
    CHECK(profiler.metrics(name).call_count == 1);
  }
  CHECK(profiler.metrics("block").total_time >= 0.002 - profiler.metrics("block").timer_self_time);
}

TEST_CASE("profiler: an exception passes through, and the call is recorded and counted", "[profiler]") {
  PerformanceProfiler profiler;
  CHECK_THROWS_WITH(profiler.profile_function("thrower", [] { throw std::runtime_error("boom"); }), "boom");
  profiler.profile_function("thrower", [] {});
  try {
    auto timer = profiler.scope("scoped thrower");
    throw std::runtime_error("left the scope");
  } catch (const std::runtime_error&) {
  }
  ProfilingMetrics m = profiler.metrics("thrower");
  CHECK(m.call_count == 2);
  CHECK(m.exceptions == 1);
  CHECK(profiler.metrics("scoped thrower").exceptions == 1);
}

TEST_CASE("profiler: memory a call keeps shows as its memory delta", "[profiler]") {
  PerformanceProfiler profiler;
  std::vector<char> kept;
  constexpr size_t kBytes = 64 << 20;
  profiler.profile_function("allocate", [&] {
    kept.resize(kBytes);
    for (size_t i = 0; i < kept.size(); i += 4096) kept[i] = 1;  // resident, not just reserved
  });
  const ProfilingMetrics m = profiler.metrics("allocate");
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
  CHECK(m.total_time >= 0.001 - m.timer_self_time);  // it spun 1 ms of CPU inside the timer's window
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
  for (int i = 0; i < 200; i++) {
    profiler.profile_function("tiny", [] {});
    CHECK(profiler.metrics("tiny").cpu_percent <= 100.0);
  }
}
