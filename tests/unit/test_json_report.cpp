// The JSON report: a lossless round trip, precise complaints about malformed input, and
// writes that never leave a half-written file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "perfbpf/error.h"
#include "process.h"
#include "report/json_report.h"

using namespace perfbpf;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

FunctionProfile function_with(const std::string& name, uint64_t seed, size_t calls) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(9, 1.5);
  LatencyHistogram h;
  for (size_t i = 0; i < calls; i++) h.record(static_cast<uint64_t>(d(rng)));
  FunctionProfile f;
  f.name = name;
  f.demangled = name == "_ZN2ns5parseEPKc" ? "ns::parse(char const*)" : name;
  f.object = "/usr/bin/server";
  f.address = 0x1670 + seed;
  f.file_offset = 0x670 + seed;
  f.calls = h.count();
  f.in_flight = seed % 3;
  f.latency = summarize(h);
  f.latency_raw = f.latency;
  f.latency_raw.p50 += 669;
  f.histogram = h.buckets();
  f.probe_site = seed == 1 ? "optimized" : "single-stepped";
  f.probe_offset = seed == 1 ? 4 : 0;
  f.bias_ns = 669.5;
  f.probe_cost_ns = 1690.25;
  f.overhead_pct = 0.75;
  f.threads = {{4243, 4242, calls / 2, f.latency.total / 2}, {4244, 4242, calls - calls / 2, f.latency.total / 2}};
  return f;
}

Profile rich_profile() {
  Profile p;
  p.tool_version = "0.1.0";
  p.session.mode = "command";
  p.session.pid = 4242;
  p.session.command = {"./server", "--port", "8080"};
  p.session.follow_children = true;
  p.session.start = "2026-11-24T12:43:10.123+00:00";
  p.session.start_monotonic_ns = 123456789012;
  p.session.duration_s = 30.25;
  p.session.kernel = "6.18.44";
  p.session.hostname = "vm";
  p.session.end_reason = "target-exited";
  p.session.exit_code = 3;
  p.functions = {function_with("handle_request", 1, 5000), function_with("_ZN2ns5parseEPKc", 2, 700)};
  p.events.received = 5700;
  p.events.lost_by_reason = {{"ringbuf_full", 0}, {"depth_overflow", 0}};
  p.calibration.method = "self-probe";
  p.calibration.cpu_model = "AMD EPYC";
  p.calibration.measured_at = "2026-11-24T12:00:00.000+00:00";
  p.calibration.from_cache = true;
  p.calibration.sites = {{"optimized", 570, 1, 0.5, 1510, 4000}, {"single-stepped", 9300, 328, 11, 11200, 1500}};
  p.overhead = {1.5, 5, 0.02, 37800000, "measured", 1560000, 6568, 100};
  p.calibration.bpf_ns_per_run = 118.5;
  p.stacks.enabled = true;
  p.stacks.frequency_hz = 99;
  p.stacks.samples = 30;
  p.stacks.coverage_pct = 87.5;
  p.stacks.shallow_user_pct = 12.5;
  p.stacks.lost_by_reason = {{"user_stack_failed", 2}};
  p.stacks.frames = {{"main", "/usr/bin/server", false, "server.c:10"},
                     {"handle", "/usr/bin/server", false, "server.c:42"},
                     {"do_syscall_64", "[kernel]", true, ""}};
  p.stacks.stacks = {{4242, 4243, {0, 1}, 20}, {4242, 4243, {0, 1, 2}, 10}};
  p.stacks.processes = {{4242, "server"}};
  p.stacks.top = {{"handle", "server.c:42", 20, 30, 66.7, 100}, {"do_syscall_64", "", 10, 10, 33.3, 33.3}};
  p.off_cpu = p.stacks;
  p.off_cpu.unit = "ns";
  p.off_cpu.frequency_hz = 0;
  p.off_cpu.samples = 1500000000;
  return p;
}

Profile lossy_profile() {
  Profile p = rich_profile();
  p.session.mode = "pid";
  p.session.command.clear();
  p.session.exit_code = -1;
  p.session.end_reason = "signal";
  p.events.lost_by_reason = {{"ringbuf_full", 120}, {"missing_entry", 3}};
  p.events.lost = 123;
  return p;
}

void require_equal(const Profile& a, const Profile& b) {
  CHECK(a.schema == b.schema);
  CHECK(a.tool_version == b.tool_version);
  CHECK(a.session.mode == b.session.mode);
  CHECK(a.session.pid == b.session.pid);
  CHECK(a.session.command == b.session.command);
  CHECK(a.session.follow_children == b.session.follow_children);
  CHECK(a.session.start == b.session.start);
  CHECK(a.session.start_monotonic_ns == b.session.start_monotonic_ns);
  CHECK(a.session.duration_s == b.session.duration_s);
  CHECK(a.session.kernel == b.session.kernel);
  CHECK(a.session.hostname == b.session.hostname);
  CHECK(a.session.end_reason == b.session.end_reason);
  CHECK(a.session.exit_code == b.session.exit_code);
  REQUIRE(a.functions.size() == b.functions.size());
  for (size_t i = 0; i < a.functions.size(); i++) {
    const auto &x = a.functions[i], &y = b.functions[i];
    CHECK(x.name == y.name);
    CHECK(x.demangled == y.demangled);
    CHECK(x.object == y.object);
    CHECK(x.address == y.address);
    CHECK(x.file_offset == y.file_offset);
    CHECK(x.calls == y.calls);
    CHECK(x.in_flight == y.in_flight);
    CHECK(x.latency.min == y.latency.min);
    CHECK(x.latency.max == y.latency.max);
    CHECK(x.latency.mean == y.latency.mean);
    CHECK(x.latency.stddev == y.latency.stddev);
    CHECK(x.latency.p50 == y.latency.p50);
    CHECK(x.latency.p90 == y.latency.p90);
    CHECK(x.latency.p99 == y.latency.p99);
    CHECK(x.latency.p999 == y.latency.p999);
    CHECK(x.latency.total == y.latency.total);
    CHECK(x.latency_raw.p50 == y.latency_raw.p50);
    CHECK(x.latency_raw.total == y.latency_raw.total);
    CHECK(x.probe_site == y.probe_site);
    CHECK(x.probe_offset == y.probe_offset);
    CHECK(x.bias_ns == y.bias_ns);
    CHECK(x.probe_cost_ns == y.probe_cost_ns);
    CHECK(x.overhead_pct == y.overhead_pct);
    REQUIRE(x.histogram.size() == y.histogram.size());
    for (size_t k = 0; k < x.histogram.size(); k++) {
      CHECK(x.histogram[k].upper_ns == y.histogram[k].upper_ns);
      CHECK(x.histogram[k].count == y.histogram[k].count);
    }
    REQUIRE(x.threads.size() == y.threads.size());
    for (size_t k = 0; k < x.threads.size(); k++) {
      CHECK(x.threads[k].tid == y.threads[k].tid);
      CHECK(x.threads[k].tgid == y.threads[k].tgid);
      CHECK(x.threads[k].calls == y.threads[k].calls);
      CHECK(x.threads[k].total_ns == y.threads[k].total_ns);
    }
  }
  CHECK(a.events.received == b.events.received);
  CHECK(a.events.lost == b.events.lost);
  CHECK(a.events.lost_by_reason == b.events.lost_by_reason);
  CHECK(a.calibration.method == b.calibration.method);
  CHECK(a.calibration.cpu_model == b.calibration.cpu_model);
  CHECK(a.calibration.from_cache == b.calibration.from_cache);
  CHECK(a.calibration.bpf_ns_per_run == b.calibration.bpf_ns_per_run);
  REQUIRE(a.calibration.sites.size() == b.calibration.sites.size());
  for (size_t i = 0; i < a.calibration.sites.size(); i++) {
    CHECK(a.calibration.sites[i].kind == b.calibration.sites[i].kind);
    CHECK(a.calibration.sites[i].bias_ns == b.calibration.sites[i].bias_ns);
    CHECK(a.calibration.sites[i].bias_uncertainty_ns == b.calibration.sites[i].bias_uncertainty_ns);
    CHECK(a.calibration.sites[i].cost_ns == b.calibration.sites[i].cost_ns);
    CHECK(a.calibration.sites[i].samples == b.calibration.sites[i].samples);
  }
  CHECK(a.overhead.target_slowdown_pct == b.overhead.target_slowdown_pct);
  CHECK(a.overhead.perfbpf_peak_rss_bytes == b.overhead.perfbpf_peak_rss_bytes);
  CHECK(a.overhead.bpf_stats == b.overhead.bpf_stats);
  CHECK(a.overhead.bpf_run_count == b.overhead.bpf_run_count);
  CHECK(a.overhead.completeness_pct == b.overhead.completeness_pct);
  CHECK(a.stacks.enabled == b.stacks.enabled);
  CHECK(a.stacks.unit == b.stacks.unit);
  CHECK(a.off_cpu.enabled == b.off_cpu.enabled);
  CHECK(a.off_cpu.unit == b.off_cpu.unit);
  CHECK(a.off_cpu.samples == b.off_cpu.samples);
  CHECK(a.off_cpu.stacks.size() == b.off_cpu.stacks.size());
  CHECK(a.stacks.samples == b.stacks.samples);
  CHECK(a.stacks.coverage_pct == b.stacks.coverage_pct);
  CHECK(a.stacks.shallow_user_pct == b.stacks.shallow_user_pct);
  CHECK(a.stacks.lost_by_reason == b.stacks.lost_by_reason);
  CHECK(a.stacks.processes == b.stacks.processes);
  REQUIRE(a.stacks.frames.size() == b.stacks.frames.size());
  for (size_t i = 0; i < a.stacks.frames.size(); i++) {
    CHECK(a.stacks.frames[i].name == b.stacks.frames[i].name);
    CHECK(a.stacks.frames[i].kernel == b.stacks.frames[i].kernel);
    CHECK(a.stacks.frames[i].source == b.stacks.frames[i].source);
  }
  REQUIRE(a.stacks.stacks.size() == b.stacks.stacks.size());
  for (size_t i = 0; i < a.stacks.stacks.size(); i++) {
    CHECK(a.stacks.stacks[i].frames == b.stacks.stacks[i].frames);
    CHECK(a.stacks.stacks[i].count == b.stacks.stacks[i].count);
    CHECK(a.stacks.stacks[i].tid == b.stacks.stacks[i].tid);
  }
  REQUIRE(a.stacks.top.size() == b.stacks.top.size());
  CHECK(a.stacks.top[0].name == b.stacks.top[0].name);
  CHECK(a.stacks.top[0].self == b.stacks.top[0].self);
  CHECK(a.stacks.top[0].source == b.stacks.top[0].source);
}

void expect_malformed(json j, const std::string& says) {
  try {
    profile_from_json(j);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains(says));
  }
}

}  // namespace

TEST_CASE("a profile survives JSON and a file unchanged", "[report]") {
  Profile p = rich_profile();
  require_equal(profile_from_json(to_json(p)), p);
  std::string path = test::temp_path("report.json");
  write_json_report(p, path);
  require_equal(read_json_report(path), p);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // A re-read histogram gives back the same quantiles.
  const Profile reread = read_json_report(path);  // kept: f must not refer into a temporary
  const auto& f = reread.functions[0];
  auto h = LatencyHistogram::from_buckets(f.histogram, f.latency.total, f.latency.min, f.latency.max, 0);
  CHECK(h.quantile(0.99) == f.latency.p99);
}

TEST_CASE("the JSON has the documented shape", "[report]") {
  json j = to_json(rich_profile());
  CHECK(j["schema"] == "perfbpf.report/1");
  CHECK(j["tool"]["version"] == "0.1.0");
  CHECK(j["functions"][1]["demangled"] == "ns::parse(char const*)");
  CHECK(j["functions"][0]["latency_ns"]["p999"].is_number_unsigned());
  CHECK(j["functions"][0]["histogram"]["bounds_ns"].size() == j["functions"][0]["histogram"]["counts"].size());
  CHECK(j["events"]["lost_by_reason"]["ringbuf_full"] == 0);
}

TEST_CASE("JSON report files are written for schema validation", "[report]") {
  // tests/validate_reports.py checks these against docs/report-schema.json with an
  // independent validator (python3-jsonschema).
  fs::path dir = fs::path(PERFBPF_WORKLOADS) / ".." / "reports";
  fs::create_directories(dir);
  Profile empty = rich_profile();
  empty.functions.clear();
  write_json_report(rich_profile(), (dir / "rich.json").string());
  write_json_report(empty, (dir / "empty.json").string());
  write_json_report(lossy_profile(), (dir / "lossy.json").string());
  for (const char* name : {"rich.json", "empty.json", "lossy.json"}) CHECK(fs::exists(dir / name));
}

TEST_CASE("malformed reports name the field that is wrong", "[report]") {
  json good = to_json(rich_profile());

  json j = good;
  j["functions"][1]["latency_ns"].erase("p99");
  expect_malformed(j, "functions[1].latency_ns.p99 is missing");

  j = good;
  j["functions"][0]["calls"] = "many";
  expect_malformed(j, "functions[0].calls should be a non-negative integer");

  j = good;
  j["session"]["duration_s"] = "long";
  expect_malformed(j, "session.duration_s should be a number");

  j = good;
  j["functions"][0]["histogram"]["counts"].push_back(1);
  expect_malformed(j, "functions[0].histogram has");

  j = good;
  j["schema"] = "perfbpf.report/99";
  expect_malformed(j, "unsupported report schema 'perfbpf.report/99'");

  j = good;
  j["stacks"]["stacks"][0]["frames"].push_back(99);
  expect_malformed(j, "stacks.stacks[0].frames has an index outside the frame table");

  j = good;
  j.erase("events");
  expect_malformed(j, "events is missing");

  expect_malformed(json::array(), "is not an object");

  // Unknown sections from later versions are ignored.
  j = good;
  j["analysis"] = {{"health", 97}};
  CHECK_NOTHROW(profile_from_json(j));
}

TEST_CASE("unreadable and invalid files", "[report]") {
  REQUIRE_THROWS_WITH(read_json_report("/nonexistent/r.json"), Catch::Contains("cannot read report /nonexistent/r.json"));
  std::string path = test::temp_path("bad.json");
  std::ofstream(path) << "{\"schema\": ";
  REQUIRE_THROWS_WITH(read_json_report(path), Catch::Contains("is not valid JSON"));
}

TEST_CASE("unwritable outputs fail early and leave nothing behind", "[report]") {
  REQUIRE_THROWS_WITH(check_output_writable("/nonexistent-dir/r.json"),
                      Catch::Contains("cannot write report to /nonexistent-dir/r.json"));
  std::string dir = fs::path(test::temp_path("x")).parent_path().string();
  REQUIRE_THROWS_WITH(check_output_writable(dir), Catch::Contains("Is a directory"));
  REQUIRE_THROWS(write_json_report(rich_profile(), dir));
  CHECK_FALSE(fs::exists(dir + ".tmp"));
  CHECK_NOTHROW(check_output_writable("-"));
  CHECK_NOTHROW(check_output_writable(dir + "/fine.json"));
}
