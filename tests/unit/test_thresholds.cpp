// Thresholds from --threshold and --config, and alerts that fire once per crossing.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "analysis/thresholds.h"
#include "cli/options.h"
#include "perfbpf/error.h"
#include "process.h"

using namespace perfbpf;

TEST_CASE("thresholds: durations, percentages and per-function keys", "[thresholds]") {
  CHECK(parse_duration_s("0.5") == Approx(0.5));
  CHECK(parse_duration_s("500ms") == Approx(0.5));
  CHECK(parse_duration_s("20us") == Approx(20e-6));
  CHECK(parse_duration_s("7ns") == Approx(7e-9));
  CHECK(parse_duration_s("2s") == Approx(2));
  for (const char* bad : {"", "ms", "-1", "0", "1h", "1.5x", "nan"}) CHECK_THROWS_AS(parse_duration_s(bad), Error);

  PerformanceThresholds t;
  apply_threshold(t, "function_time_warning=250ms");
  apply_threshold(t, "memory_usage_warning=90%");
  apply_threshold(t, "cpu_usage_warning=50");
  apply_threshold(t, "function:parse*.p99=20ms");
  apply_threshold(t, "function:parse*.p99=30ms");  // the same key again replaces it
  apply_threshold(t, "function:ns::*.mean=1ms");
  CHECK(t.function_time_warning == Approx(0.25));
  CHECK(t.memory_usage_warning == 90);
  CHECK(t.cpu_usage_warning == 50);
  REQUIRE(t.functions.size() == 2);
  CHECK(t.functions[0].pattern == "parse*");
  CHECK(t.functions[0].value_ns == Approx(30e6));
  CHECK(t.functions[1].stat == "mean");

  CHECK_THROWS_WITH(apply_threshold(t, "memory_warning=1"), Catch::Contains("unknown threshold 'memory_warning'"));
  CHECK_THROWS_WITH(apply_threshold(t, "cpu_usage_warning=lots"), Catch::Contains("positive percentage"));
  // The machine's utilisation cannot pass 100; a per-process figure has its own key.
  try {
    apply_threshold(t, "cpu_usage_warning=150");
    FAIL("cpu_usage_warning=150 was taken");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("share of the machine's CPUs"));
    CHECK_THAT(e.hint(), Catch::Contains("process_cpu_warning=150"));
  }
  apply_threshold(t, "process_cpu_warning=150");
  CHECK(t.process_cpu_warning == 150);
  CHECK_THROWS_WITH(apply_threshold(t, "function:parse.p50=1ms"), Catch::Contains("bad per-function threshold"));
  CHECK_THROWS_WITH(apply_threshold(t, "nokey"), Catch::Contains("KEY=VALUE"));
}

TEST_CASE("thresholds: a config file, with misspelt keys refused", "[thresholds]") {
  std::string path = test::temp_path("perfbpf.json");
  std::ofstream(path) << R"({"thresholds": {"function_time_warning": "100ms", "cpu_usage_warning": 70,
    "functions": [{"pattern": "handle_*", "value": "5ms"}, {"pattern": "db_*", "stat": "mean", "value": 0.002}]}})";
  PerformanceThresholds t = load_thresholds_config(path);
  CHECK(t.function_time_warning == Approx(0.1));
  CHECK(t.cpu_usage_warning == 70);
  CHECK(t.memory_usage_warning == 75);  // untouched: the default
  REQUIRE(t.functions.size() == 2);
  CHECK(t.functions[0].stat == "p99");
  CHECK(t.functions[1].value_ns == Approx(2e6));

  std::ofstream(path) << R"({"thresholds": {"cpu_usage_warnign": 70}})";
  CHECK_THROWS_WITH(load_thresholds_config(path), Catch::Contains("unknown threshold 'cpu_usage_warnign'"));
  std::ofstream(path) << R"({"treshold": {}})";
  CHECK_THROWS_WITH(load_thresholds_config(path), Catch::Contains("unknown key 'treshold'"));
  std::ofstream(path) << "{not json";
  CHECK_THROWS_WITH(load_thresholds_config(path), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(load_thresholds_config("/nonexistent/x.json"), Catch::Contains("cannot read config"));
  // A directory is named, not reported in the C++ library's words.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  CHECK_THROWS_WITH(load_thresholds_config(dir), "cannot read config " + dir + ": Is a directory");

  // The CLI applies the config first and --threshold over it.
  std::ofstream(path) << R"({"thresholds": {"cpu_usage_warning": 70}})";
  auto parsed = cli::parse_command_line({"--pid", "1", "--config", path, "--threshold", "cpu_usage_warning=60"});
  CHECK(parsed.options.session.thresholds.cpu_usage_warning == 60);
  CHECK_THROWS_AS(cli::parse_command_line({"--pid", "1", "--threshold", "x=1"}), Error);
  auto analyze = cli::parse_command_line({"analyze", "a.json", "b.json", "--threshold", "function_time_warning=1s"});
  CHECK(analyze.options.command == cli::Command::Analyze);
  CHECK(analyze.options.analyze_paths == std::vector<std::string>{"a.json", "b.json"});
  CHECK(analyze.options.session.thresholds.function_time_warning == 1);
}

TEST_CASE("alerts: raised when a condition starts to hold, not while it holds, again after it cleared", "[thresholds]") {
  PerformanceThresholds t;
  t.cpu_usage_warning = 80;
  t.functions.push_back({"parse", "p99", 1e6});
  AlertTracker tracker(t);
  auto interval = [](double t_s, double cpu, uint64_t parse_p99, uint64_t calls = 10) {
    IntervalView v;
    v.t = t_s;
    v.machine_cpu_pct = cpu;
    v.memory_used_pct = 10;
    FunctionInterval f;
    f.calls = calls;
    f.p99 = parse_p99;
    v.functions.emplace_back("parse", f);
    return v;
  };
  CHECK(tracker.check(interval(1, 50, 500'000)).empty());
  auto first = tracker.check(interval(2, 90, 2'000'000));
  REQUIRE(first.size() == 2);  // cpu and parse's p99
  CHECK(first[0].metric == "machine_cpu_pct");
  CHECK(first[0].t == 2);
  CHECK(first[0].value == 90);
  CHECK(first[1].subject == "parse");
  CHECK(tracker.check(interval(3, 95, 3'000'000)).empty());            // still holding: quiet
  CHECK(tracker.check(interval(4, 95, 0, /*calls=*/0)).empty());       // no calls: no news
  CHECK(tracker.check(interval(5, 40, 100'000)).empty());              // cleared
  CHECK(tracker.check(interval(6, 85, 100'000)).size() == 1);          // cpu crossed again
  CHECK(tracker.all().size() == 3);
  CHECK_THAT(format_alert(first[0]), Catch::Contains("machine_cpu_pct of machine is 90.0%"));
  CHECK_THAT(alert_json_line(first[1]), Catch::Contains("\"subject\":\"parse\""));
}
