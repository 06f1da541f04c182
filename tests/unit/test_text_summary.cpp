// The summary a person reads: losses first, functions by total time, durations readable.
#include <catch2/catch.hpp>

#include <sstream>

#include "report/text_summary.h"

using namespace perfbpf;

namespace {

FunctionProfile fn(const std::string& name, uint64_t calls, uint64_t total_ns) {
  FunctionProfile f;
  f.name = f.demangled = name;
  f.calls = calls;
  f.latency.total = total_ns;
  f.latency.mean = calls ? static_cast<double>(total_ns) / calls : 0;
  f.latency.p50 = f.latency.p90 = f.latency.p99 = f.latency.max = calls ? total_ns / calls : 0;
  return f;
}

std::string render(const Profile& p) {
  std::ostringstream out;
  write_text_summary(p, out);
  return out.str();
}

Profile sample() {
  Profile p;
  p.tool_version = "0.1.0";
  p.session.mode = "pid";
  p.session.pid = 4242;
  p.session.duration_s = 2;
  p.session.end_reason = "signal";
  p.functions = {fn("small", 10, 1000), fn("big", 5, 1500000000), fn("middle", 100, 2000000)};
  p.events.received = 115;
  return p;
}

}  // namespace

TEST_CASE("rows are sorted by total time, with the session share", "[summary]") {
  std::string s = render(sample());
  size_t big = s.find("big"), middle = s.find("middle"), small = s.find("small");
  REQUIRE(big != std::string::npos);
  CHECK(big < middle);
  CHECK(middle < small);
  CHECK_THAT(s, Catch::Contains("75.0"));  // 1.5 s of a 2 s session
  CHECK_THAT(s, Catch::Contains("1.50 s"));
  CHECK_THAT(s, Catch::Contains("pid 4242"));
  CHECK_THAT(s, Catch::Contains("P99"));
  CHECK_FALSE(Catch::Contains("WARNING").match(s));
}

TEST_CASE("lost events make the first line a warning", "[summary]") {
  Profile p = sample();
  p.events.lost = 42;
  p.events.lost_by_reason = {{"ringbuf_full", 40}, {"missing_entry", 2}, {"unwound", 0}};
  std::string s = render(p);
  CHECK_THAT(s, Catch::StartsWith("WARNING: data incomplete: 42 events lost"));
  std::string first_line = s.substr(0, s.find('\n'));
  CHECK_THAT(first_line, Catch::Contains("40 ringbuf_full"));
  CHECK_THAT(first_line, Catch::Contains("2 missing_entry"));
  CHECK_FALSE(Catch::Contains("unwound").match(first_line));
}

TEST_CASE("no calls and in-flight calls are said plainly", "[summary]") {
  Profile p = sample();
  p.functions = {fn("idle", 0, 0)};
  p.functions[0].in_flight = 1;
  std::string s = render(p);
  CHECK_THAT(s, Catch::Contains("1 in flight"));
  p.functions[0].in_flight = 0;
  CHECK_THAT(render(p), Catch::Contains("no calls recorded"));
  p.functions.clear();
  CHECK_THAT(render(p), Catch::Contains("no calls recorded"));
}

TEST_CASE("probe cost: corrected or raw, and over-budget probes named", "[summary]") {
  Profile p = sample();
  for (auto& f : p.functions) f.probe_site = "emulated";
  p.calibration.method = "self-probe";
  p.calibration.sites = {{"emulated", 669, 0, 0, 1690, 4000}};
  p.overhead.budget_pct = 5;
  p.overhead.target_slowdown_pct = 1.2;
  std::string s = render(p);
  CHECK_THAT(s, Catch::Contains("3 emulated"));
  CHECK_THAT(s, Catch::Contains("latencies less probe cost (emulated 669 ns"));
  CHECK_THAT(s, Catch::Contains("probe overhead: ~1.20%"));
  CHECK_FALSE(Catch::Contains("over the").match(s));

  p.functions[2].overhead_pct = 7.5;
  p.overhead.target_slowdown_pct = 7.5;
  s = render(p);
  CHECK_THAT(s, Catch::Contains("WARNING: probes cost the target ~7.5% of the session's time, over the 5% budget: middle (7.5%"));

  p.calibration = {};
  CHECK_THAT(render(p), Catch::Contains("latencies are raw"));
}

TEST_CASE("durations have three significant digits and a unit", "[summary]") {
  CHECK(format_duration_ns(0) == "0 ns");
  CHECK(format_duration_ns(850) == "850 ns");
  CHECK(format_duration_ns(1234) == "1.23 us");
  CHECK(format_duration_ns(12345) == "12.3 us");
  CHECK(format_duration_ns(123456) == "123 us");
  CHECK(format_duration_ns(4560000) == "4.56 ms");
  CHECK(format_duration_ns(1.23e9) == "1.23 s");
  CHECK(format_duration_ns(125e9) == "125 s");
}
