// The report writers of report/writers.h on profiles whose content is known: Prometheus
// exposition, pprof, speedscope, the SVG flame graph and the HTML report. Each also leaves a
// file in the build tree for the checks by independent tools (promtool, go tool pprof,
// Chromium) that ctest runs after these tests.
#include <zlib.h>

#include <catch2/catch.hpp>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>

#include <nlohmann/json.hpp>

#include "report/flamegraph_svg.h"
#include "report/html_report.h"
#include "report/json_report.h"
#include "report/pprof.h"
#include "report/prometheus.h"
#include "report/speedscope.h"
#include "report/writers.h"

using namespace perfbpf;
using nlohmann::json;

namespace {

// Stacks with known counts: main -> work -> {spin (600), recurse -> recurse -> spin (300)},
// main -> idle (100), and off-CPU [off-cpu: io] under write_log (5 ms) and sleep (20 ms).
StackProfile known_stacks() {
  StackProfile s;
  s.enabled = true;
  s.frequency_hz = 99;
  s.event = "cpu-clock";
  s.frames = {{"main", "/usr/bin/app", false, "app.c:10"},  {"work", "/usr/bin/app", false, "app.c:20"},
              {"spin", "/usr/bin/app", false, "app.c:30"},  {"recurse", "/usr/bin/app", false, ""},
              {"idle", "/lib/libc.so.6", false, ""},        {"schedule", "[kernel]", true, ""}};
  s.stacks = {{100, 101, {0, 1, 2}, 600}, {100, 102, {0, 1, 3, 3, 2}, 300}, {100, 101, {0, 4, 5}, 100}};
  s.samples = 1000;
  s.processes = {{100, "app"}};
  s.build_ids = {{"/usr/bin/app", "0123456789abcdef0123456789abcdef01234567"}};
  return s;
}

StackProfile known_off_cpu() {
  StackProfile s;
  s.enabled = true;
  s.unit = "ns";
  s.frames = {{"main", "/usr/bin/app", false, ""}, {"write_log", "/usr/bin/app", false, ""},
              {"[off-cpu: io]", "[off-cpu]", true, ""}, {"[off-cpu: sleep]", "[off-cpu]", true, ""}};
  s.stacks = {{100, 101, {0, 1, 2}, 5'000'000}, {100, 102, {0, 3}, 20'000'000}};
  s.samples = 25'000'000;
  s.processes = {{100, "app"}};
  return s;
}

// A session as long as the size target asks: DURATION_S seconds at one interval a second,
// FUNCTIONS functions each with a full latency spread, resources every interval.
Profile synthetic_profile(size_t functions, size_t duration_s) {
  Profile p;
  p.tool_version = "0.1.0";
  p.session = {"command", 100, {"/usr/bin/app", "--serve"}, false, "2026-11-30T06:00:00.000+00:00", 1, double(duration_s),
               "6.18", "host", "duration", 0, {}};
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(11, 1.5);  // ~60 us median, a long tail
  for (size_t i = 0; i < functions; i++) {
    FunctionProfile f;
    f.name = f.demangled = "handler_" + std::to_string(i);
    f.object = "/usr/bin/app";
    LatencyHistogram h;
    for (int c = 0; c < 20000; c++) h.record(static_cast<uint64_t>(latency(rng)));
    f.histogram = h.buckets();
    f.latency = f.latency_raw = summarize(h);
    f.calls = h.count();
    for (size_t t = 1; t <= duration_s; t++)
      f.series.push_back({double(t), 33, f.latency.p50, f.latency.p99, f.latency.max});
    f.threads = {{101, 100, f.calls / 2, f.latency.total / 2}, {102, 100, f.calls - f.calls / 2, f.latency.total / 2}};
    p.functions.push_back(std::move(f));
  }
  p.system.enabled = true;
  p.system.collectors = {"sched", "block", "memory", "network"};
  for (size_t t = 1; t <= duration_s; t++) {
    SeriesSample s;
    s.t = double(t);
    s.dt = 1;
    s.cpu_pct = 50 + double(t % 7);
    s.rss_bytes = (100 + t) << 20;
    s.disk_write_bytes = 4096 * t;
    s.net_tx_bytes = 1000 * t;
    s.runqueue_p99_ns = 20000 + t;
    p.system.series.push_back(s);
  }
  ProcessResources proc;
  proc.pid = 100;
  proc.comm = "app";
  proc.usage.cpu_time_ns = 3'000'000'000;
  proc.usage.memory.rss_last_bytes = 123 << 20;
  p.system.processes.push_back(proc);
  DiskDevice disk;
  disk.name = "vda";
  disk.traffic = {4096, 8192, 1, 2};
  p.system.disks.push_back(disk);
  p.stacks = known_stacks();
  p.off_cpu = known_off_cpu();
  p.events.received = 20000 * functions;
  p.events.lost_by_reason = {{"ringbuf_full", 0}};
  p.analysis.enabled = true;
  p.analysis.health.score = 85;
  p.analysis.health.grade = "B";
  p.analysis.alerts.push_back({12, "cpu_pct", "pid 100", 95, 85, "%"});
  Bottleneck b;
  b.id = "slow-function:handler_0";
  b.category = "latency";
  b.severity = "high";
  b.title = "handler_0 is slow <b>";
  b.evidence = {"latency.p99", 2e6, 1e6, "ns", 1, "p99 of all calls"};
  b.affects.function = "handler_0";
  p.analysis.bottlenecks.push_back(b);
  return p;
}

std::string artefact_dir(const std::string& name) {
  std::string dir = std::string(PERFBPF_WORKLOADS) + "/../" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

void save(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

std::string gunzip(const std::string& data) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(data.size() * 20 + 1024, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(inflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

std::string unbase64(const std::string& text) {
  std::string out;
  uint32_t bits = 0;
  int n = 0;
  for (char c : text) {
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* at = c ? std::strchr(alphabet, c) : nullptr;
    if (!at) continue;  // '=' and whitespace
    bits = (bits << 6) | static_cast<uint32_t>(at - alphabet);
    if ((n += 6) >= 8) {
      n -= 8;
      out += static_cast<char>((bits >> n) & 0xff);
    }
  }
  return out;
}

// A protobuf message as field number -> raw values (varints, or the bytes of length-delimited
// fields): an independent reader for the encoder.
struct Fields {
  std::multimap<uint32_t, uint64_t> ints;
  std::multimap<uint32_t, std::string> bytes;
  std::vector<uint64_t> packed(uint32_t field) const {
    std::vector<uint64_t> out;
    auto range = bytes.equal_range(field);
    for (auto it = range.first; it != range.second; ++it) {
      size_t at = 0;
      while (at < it->second.size()) out.push_back(varint(it->second, at));
    }
    return out;
  }
  static uint64_t varint(const std::string& s, size_t& at) {
    uint64_t v = 0;
    for (int shift = 0; at < s.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(s[at++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  }
};

Fields decode(const std::string& message) {
  Fields f;
  size_t at = 0;
  while (at < message.size()) {
    uint64_t key = Fields::varint(message, at);
    uint32_t field = static_cast<uint32_t>(key >> 3);
    switch (key & 7) {
      case 0: f.ints.emplace(field, Fields::varint(message, at)); break;
      case 2: {
        uint64_t n = Fields::varint(message, at);
        REQUIRE(at + n <= message.size());
        f.bytes.emplace(field, message.substr(at, n));
        at += n;
        break;
      }
      default: FAIL("unexpected wire type " << (key & 7));
    }
  }
  return f;
}

}  // namespace

TEST_CASE("Prometheus exposition: counters, cumulative histograms from the log-linear buckets, escaped labels",
          "[prometheus]") {
  Profile p = synthetic_profile(2, 10);
  p.functions[1].demangled = "ns::f<\"x\\y\">";
  // Known latencies far from any bound: 3 at 1.1 us, 5 at 30 us, 2 at 70 ms.
  LatencyHistogram h;
  h.record_n(1100, 3);
  h.record_n(30000, 5);
  h.record_n(70'000'000, 2);
  p.functions[0].histogram = h.buckets();
  p.functions[0].calls = 10;
  p.functions[0].latency = summarize(h);
  const std::string text = prometheus_exposition(p);
  save(artefact_dir("metrics") + "/synthetic.prom", text);

  auto value = [&](const std::string& series) -> double {
    size_t at = text.find("\n" + series + " ");
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + series.size() + 2));
  };
  const std::string l = "function=\"handler_0\",object=\"/usr/bin/app\",pid=\"100\"";
  CHECK(value("perfbpf_function_calls_total{" + l + "}") == 10);
  CHECK(value("perfbpf_function_latency_seconds_bucket{" + l + ",le=\"1e-06\"}") == 0);
  CHECK(value("perfbpf_function_latency_seconds_bucket{" + l + ",le=\"2.5e-06\"}") == 3);
  CHECK(value("perfbpf_function_latency_seconds_bucket{" + l + ",le=\"2.5e-05\"}") == 3);
  CHECK(value("perfbpf_function_latency_seconds_bucket{" + l + ",le=\"5e-05\"}") == 8);
  CHECK(value("perfbpf_function_latency_seconds_bucket{" + l + ",le=\"0.05\"}") == 8);
  CHECK(value("perfbpf_function_latency_seconds_bucket{" + l + ",le=\"0.1\"}") == 10);
  CHECK(value("perfbpf_function_latency_seconds_bucket{" + l + ",le=\"+Inf\"}") == 10);
  CHECK(value("perfbpf_function_latency_seconds_count{" + l + "}") == 10);
  CHECK(value("perfbpf_function_latency_seconds_sum{" + l + "}") == Approx((3 * 1100 + 5 * 30000 + 2 * 70e6) / 1e9));
  CHECK(text.find("function=\"ns::f<\\\"x\\\\y\\\">\"") != std::string::npos);
  CHECK(value("perfbpf_process_cpu_seconds_total{pid=\"100\",comm=\"app\"}") == 3);
  CHECK(value("perfbpf_cpu_samples_total") == 1000);
  CHECK(value("perfbpf_off_cpu_seconds_total{reason=\"io\"}") == Approx(0.005));
  CHECK(value("perfbpf_off_cpu_seconds_total{reason=\"sleep\"}") == Approx(0.02));
  CHECK(value("perfbpf_events_lost_total{source=\"functions\",reason=\"any\"}") == 0);
  CHECK(value("perfbpf_health_score") == 85);

  // Every family once, with HELP and TYPE before its samples; buckets cumulative.
  std::map<std::string, int> types;
  std::regex type_line("# TYPE ([a-z_]+) ([a-z]+)");
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it) types[(*it)[1]]++;
  for (const auto& [name, n] : types) CHECK(n == 1);
  CHECK(types.count("perfbpf_function_latency_seconds") == 1);

  SECTION("cumulative counts never decrease and end at the total") {
    std::vector<uint64_t> bounds;
    for (double b : prometheus_latency_bounds()) bounds.push_back(static_cast<uint64_t>(std::llround(b * 1e9)));
    std::vector<uint64_t> c = cumulative_counts(p.functions[1].histogram, bounds);
    CHECK(std::is_sorted(c.begin(), c.end()));
    uint64_t below_100s = 0;
    for (const auto& b : p.functions[1].histogram) below_100s += b.upper_ns <= 100'000'000'000ull ? b.count : 0;
    CHECK(c.back() == below_100s);
  }
}

TEST_CASE("pprof: gzipped profile.proto with both sample types, totals equal to the report, build-ids", "[pprof]") {
  Profile p = synthetic_profile(1, 5);
  const std::string gz = pprof_profile(p);
  save(artefact_dir("pprof") + "/synthetic.pb.gz", gz);
  save(artefact_dir("pprof") + "/synthetic.json", to_json(p).dump());
  REQUIRE(gz.size() > 2);
  CHECK(static_cast<uint8_t>(gz[0]) == 0x1f);  // gzip magic
  CHECK(static_cast<uint8_t>(gz[1]) == 0x8b);
  Fields profile = decode(gunzip(gz));
  std::vector<std::string> strings;
  auto range = profile.bytes.equal_range(6);
  for (auto it = range.first; it != range.second; ++it) strings.push_back(it->second);
  REQUIRE(!strings.empty());
  CHECK(strings[0].empty());

  // sample_type: samples/count, off_cpu/nanoseconds
  std::vector<std::pair<std::string, std::string>> types;
  for (auto [it, end] = profile.bytes.equal_range(1); it != end; ++it) {
    Fields vt = decode(it->second);
    types.emplace_back(strings.at(vt.ints.find(1)->second), strings.at(vt.ints.find(2)->second));
  }
  CHECK(types == std::vector<std::pair<std::string, std::string>>{{"samples", "count"}, {"off_cpu", "nanoseconds"}});

  uint64_t on_cpu = 0, off_cpu = 0, samples = 0;
  for (auto [it, end] = profile.bytes.equal_range(2); it != end; ++it) {
    Fields s = decode(it->second);
    std::vector<uint64_t> values = s.packed(2);
    REQUIRE(values.size() == 2);
    on_cpu += values[0];
    off_cpu += values[1];
    samples++;
    CHECK(!s.packed(1).empty());  // locations
  }
  CHECK(samples == p.stacks.stacks.size() + p.off_cpu.stacks.size());
  CHECK(on_cpu == p.stacks.samples);
  CHECK(off_cpu == p.off_cpu.samples);

  // The executable's mapping carries its build-id; functions their file and line.
  bool build_id_seen = false;
  for (auto [it, end] = profile.bytes.equal_range(3); it != end; ++it) {
    Fields m = decode(it->second);
    if (strings.at(m.ints.find(5)->second) == "/usr/bin/app") {
      REQUIRE(m.ints.count(6));
      CHECK(strings.at(m.ints.find(6)->second) == "0123456789abcdef0123456789abcdef01234567");
      build_id_seen = true;
    }
  }
  CHECK(build_id_seen);
  bool spin_seen = false;
  for (auto [it, end] = profile.bytes.equal_range(5); it != end; ++it) {
    Fields f = decode(it->second);
    if (strings.at(f.ints.find(2)->second) != "spin") continue;
    spin_seen = true;
    CHECK(strings.at(f.ints.find(4)->second) == "app.c");
    CHECK(f.ints.find(5)->second == 30);
  }
  CHECK(spin_seen);
}

TEST_CASE("speedscope: sampled profiles per process, root-first stacks, weights summing to the report", "[speedscope]") {
  Profile p = synthetic_profile(1, 5);
  json s = json::parse(speedscope_json(p));
  save(artefact_dir("speedscope") + "/synthetic.speedscope.json", s.dump());
  CHECK(s.at("$schema") == "https://www.speedscope.app/file-format-schema.json");
  REQUIRE(s.at("profiles").size() == 2);
  const json& frames = s.at("shared").at("frames");
  uint64_t weights[2] = {0, 0};
  for (size_t i = 0; i < 2; i++) {
    const json& prof = s.at("profiles")[i];
    CHECK(prof.at("type") == "sampled");
    CHECK(prof.at("samples").size() == prof.at("weights").size());
    for (const auto& w : prof.at("weights")) weights[i] += w.get<uint64_t>();
    CHECK(prof.at("endValue") == weights[i]);
    for (const auto& stack : prof.at("samples"))
      for (const auto& idx : stack) CHECK(idx.get<size_t>() < frames.size());
    CHECK(frames.at(prof.at("samples")[0][0].get<size_t>()).at("name") == "main");  // root first
  }
  CHECK(s.at("profiles")[0].at("unit") == "none");
  CHECK(weights[0] == p.stacks.samples);
  CHECK(s.at("profiles")[1].at("unit") == "nanoseconds");
  CHECK(weights[1] == p.off_cpu.samples);
  bool spin_line = false;
  for (const auto& f : frames)
    if (f.at("name") == "spin") spin_line = f.at("file") == "app.c" && f.at("line") == 30;
  CHECK(spin_line);
}

TEST_CASE("SVG flame graph: frames laid out in the profile's unit, script after the elements it uses", "[flamegraph]") {
  Profile p = synthetic_profile(1, 5);
  const std::string svg = flamegraph_svg_file(p.stacks, flamegraph_title(p, false));
  save(artefact_dir("svg") + "/synthetic-cpu.svg", svg);
  save(artefact_dir("svg") + "/synthetic-off-cpu.svg", flamegraph_svg_file(p.off_cpu, flamegraph_title(p, true)));
  // The root spans every sample; "spin" appears at two depths (under work and under recurse).
  CHECK(svg.find("data-name=\"all\" data-x=\"0\" data-w=\"1000\" data-depth=\"0\"") != std::string::npos);
  // Children left to right by name: under main, idle [0, 100) then work [100, 1000); under
  // work, recurse [100, 400) then spin [400, 1000).
  CHECK(svg.find("data-name=\"spin\" data-x=\"400\" data-w=\"600\" data-depth=\"4\"") != std::string::npos);
  CHECK(svg.find("data-name=\"spin\" data-x=\"100\" data-w=\"300\" data-depth=\"6\"") != std::string::npos);
  // The script runs once the frames exist: it comes after the last of them.
  CHECK(svg.rfind("<g class=\"frames\">") < svg.find("<script"));
  CHECK(svg.find("perfbpfFlameGraph(document.documentElement)") != std::string::npos);
}

TEST_CASE("HTML report: self-contained, the whole report inside, under 2 MB for 10 minutes of 20 functions", "[html]") {
  Profile p = synthetic_profile(20, 600);
  // A system-wide-sized stack profile on top: 3000 distinct stacks.
  for (uint32_t i = 0; i < 3000; i++) {
    p.stacks.frames.push_back({"fn_" + std::to_string(i), "/usr/lib/libbig.so", false, ""});
    p.stacks.stacks.push_back({100, 101, {0, 1, static_cast<uint32_t>(p.stacks.frames.size() - 1)}, 1});
    p.stacks.samples++;
  }
  const std::string html = html_report(p);
  save(artefact_dir("html") + "/synthetic-10min-20fn.html", html);
  INFO("HTML report size: " << html.size() << " bytes");
  CHECK(html.size() < 2'000'000);
  // Nothing loaded from elsewhere: no src= or href= to another place.
  CHECK(html.find("src=\"http") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK(html.find("<script src") == std::string::npos);
  CHECK(html.find("Chart.js v3.9.1") != std::string::npos);  // the Debian package's, embedded
  // The embedded data is the report (gzip, base64): it reads back to the same profile.
  const std::string open = "<script type=\"application/gzip+base64\" id=\"perfbpf-report\">";
  REQUIRE(html.find(open) != std::string::npos);
  size_t from = html.find(open) + open.size(), to = html.find("</script>", from);
  json embedded = json::parse(gunzip(unbase64(html.substr(from, to - from))));
  CHECK(embedded == to_json(p));
  CHECK(html.find("<b>") == std::string::npos);  // titles are data, not markup
  CHECK(html.find("id=\"flamegraph-cpu-svg\"") != std::string::npos);
  CHECK(html.find("id=\"flamegraph-off-cpu-svg\"") != std::string::npos);
}

TEST_CASE("report formats: one table, each renders from a loaded report as from the live one", "[writers]") {
  Profile p = synthetic_profile(3, 20);
  Profile loaded = profile_from_json(json::parse(to_json(p).dump()));
  for (const ReportFormat& f : report_formats()) {
    INFO(f.name);
    CHECK(f.option.substr(0, 2) == "--");
    CHECK(f.render(p) == f.render(loaded));
  }
  // One run, both views: --folded the on-CPU samples, --folded-off-cpu the off-CPU time.
  CHECK(&stacks_to_draw(p) == &p.stacks);
  CHECK(report_format("folded-off-cpu").render(p).find("[off-cpu: ") != std::string::npos);
  CHECK(report_format("folded").render(p).find("[off-cpu: ") == std::string::npos);
  Profile off_only = p;
  off_only.stacks = StackProfile{};
  CHECK(&stacks_to_draw(off_only) == &off_only.off_cpu);
  CHECK_THROWS(report_format("nope"));
}
