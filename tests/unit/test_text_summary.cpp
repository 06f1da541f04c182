// The summary a person reads: losses first, functions by total time, durations readable; the
// resources block and the live interval line.
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

std::string fmt_name(uint32_t i) { return "proc" + std::to_string(i); }

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

// A pid session whose collectors all ran, with the figures of a busy server.
Profile with_resources() {
  Profile p = sample();
  SystemProfile& s = p.system;
  s.enabled = true;
  s.collectors = {"sched", "block", "memory", "network"};
  s.memory_total_bytes = 16ull << 30;
  s.memory_used_pct_last = 41.2;
  s.memory_used_pct_peak = 43.0;
  ResourceUsage& u = s.totals;
  u.cpu_time_ns = 4600000000;
  u.cpu_pct = 153.2;
  u.off_cpu_ns = {120000000, 2100000000, 25300000000};
  u.ctx_switches = {1234, 56};
  u.migrations = 7;
  u.memory.rss_peak_bytes = 512ull << 20;
  u.memory.rss_last_bytes = 498ull << 20;
  u.faults = {12034, 3};
  u.disk = {12ull << 20, 256ull << 20, 300, 260};
  u.net = {10ull << 20, 1536ull << 10, 800, 900, 3, 12};
  s.runqueue_latency_ns.summary.p50 = 4100;
  s.runqueue_latency_ns.summary.p99 = 1200000;
  s.runqueue_latency_ns.summary.max = 5000000;
  DiskDevice vda;
  vda.name = "vda";
  vda.traffic = u.disk;
  vda.total_ns.summary.p50 = 210000;
  vda.total_ns.summary.p99 = 3400000;
  vda.total_ns.summary.max = 9000000;
  s.disks = {vda};
  ProcessResources server;
  server.pid = 4242;
  server.comm = "server";
  server.usage = u;
  s.processes = {server};
  return p;
}

ProcessResources process(uint32_t pid, const std::string& comm, double cpu_pct) {
  ProcessResources p;
  p.pid = pid;
  p.comm = comm;
  p.usage.cpu_pct = cpu_pct;
  p.usage.cpu_time_ns = static_cast<uint64_t>(cpu_pct * 1e7);
  p.usage.memory.rss_peak_bytes = 64ull << 20;
  p.usage.disk = {1ull << 20, 2ull << 20, 1, 2};
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
  p.functions.clear();  // nothing was asked to be timed (sampling or resources only)
  CHECK_THAT(render(p), !Catch::Contains("no calls recorded"));
}

TEST_CASE("an IFUNC's row says which implementation it timed", "[summary]") {
  Profile p = sample();
  p.functions = {fn("strlen", 10, 1000)};
  p.functions[0].implementation = "__strlen_evex";
  p.functions[0].implementation_source = "target";
  CHECK_THAT(render(p), Catch::Contains("strlen: IFUNC, timed at its implementation __strlen_evex (bound by the target)"));
}

TEST_CASE("system and cgroup sessions name their scope, not a pid", "[summary]") {
  Profile p = sample();
  p.session.mode = "system";
  p.session.pid = 0;
  CHECK_THAT(render(p), Catch::Contains(": system-wide for"));
  p.session.mode = "cgroup";
  p.system.cgroup = "/sys/fs/cgroup/app.slice";
  CHECK_THAT(render(p), Catch::Contains(": cgroup /sys/fs/cgroup/app.slice for"));
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
  CHECK_THAT(s, Catch::Contains("probe overhead: the target ran ~1.20% slower"));
  CHECK_FALSE(Catch::Contains("over the").match(s));

  p.functions[2].overhead_pct = 7.5;
  p.overhead.target_slowdown_pct = 7.5;
  s = render(p);
  p.overhead.probe_share_pct = 7;
  s = render(p);
  CHECK_THAT(s, Catch::Contains("WARNING: the probes made the target run ~7.50% slower (7% of its busiest thread's time "
                                "in probes), over the 5% budget: middle (7.5%"));
  // Probes that took nearly all of a thread's time give a lower bound, as a factor.
  p.overhead.target_slowdown_pct = 1000;
  p.overhead.slowdown_at_least = true;
  CHECK_THAT(render(p), Catch::Contains("the target run at least 11x slower"));

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

TEST_CASE("byte sizes have three significant digits and a binary unit", "[summary]") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(850) == "850 B");
  CHECK(format_bytes(1536) == "1.50 KiB");
  CHECK(format_bytes(12.0 * (1 << 20)) == "12.0 MiB");
  CHECK(format_bytes(512.0 * (1 << 20)) == "512 MiB");
  CHECK(format_bytes(1.2 * (1 << 30)) == "1.20 GiB");
}

TEST_CASE("the resources block shows what the collectors measured", "[summary]") {
  std::string s = render(with_resources());
  CHECK_THAT(s, Catch::Contains("resources (sched, block, memory, network; pid 4242, 2.0 s):"));
  CHECK_THAT(s, Catch::Contains("  cpu 153.2% (4.60 s on CPU), off CPU: run queue 120 ms, io 2.10 s, sleep 25.3 s; "
                                "switches 1234 vol / 56 invol, 7 migrations; run-queue latency p50 4.10 us p99 1.20 ms\n"));
  CHECK_THAT(s, Catch::Contains("  memory rss peak 512 MiB, last 498 MiB; faults 12034 minor / 3 major; machine memory "
                                "used 41.2% (peak 43.0%) of 16.0 GiB\n"));
  CHECK_THAT(s, Catch::Contains("  disk read 12.0 MiB (300 ios) write 256 MiB (260 ios); vda: total latency p50 210 us "
                                "p99 3.40 ms\n"));
  CHECK_THAT(s, Catch::Contains("  net tx 10.0 MiB rx 1.50 MiB, 3 retransmits, 12 connections\n"));
  // After the functions, before the closing event counts.
  CHECK(s.find("resources (") > s.find("%SESSION"));
  CHECK(s.find("resources (") < s.find("\nevents:"));
  // One process in pid scope: the header already says everything a table would.
  CHECK_FALSE(Catch::Contains("top processes").match(s));
  CHECK_FALSE(Catch::Contains("resource events lost").match(s));
  CHECK_FALSE(Catch::Contains("resources (").match(render(sample())));
}

TEST_CASE("the cpu line says how busy the machine's CPUs were", "[summary]") {
  Profile p = with_resources();
  p.system.machine_cpu_pct = 62.5;
  p.system.machine_cpu_pct_peak = 97.25;
  CHECK_THAT(render(p), Catch::Contains("p99 1.20 ms; machine CPUs 62.5% busy (peak 97.2%)\n"));
}

TEST_CASE("the memory line says when nothing was alive at the end, and why a sum can pass the machine", "[summary]") {
  Profile p = with_resources();
  p.system.totals.memory.rss_last_bytes = 0;
  CHECK_THAT(render(p), Catch::Contains("memory rss peak 512 MiB, last 0 B (no process alive at the end); faults"));
  p.system.totals.memory.rss_peak_bytes = 20ull << 30;
  CHECK_THAT(render(p), Catch::Contains("(RSS counts shared pages once per process: the sum exceeds the machine's memory)"));
}

TEST_CASE("the resources block has lines only for the collectors that ran", "[summary]") {
  Profile p = with_resources();
  p.system.collectors = {"memory"};
  std::string s = render(p);
  CHECK_THAT(s, Catch::Contains("resources (memory; pid 4242"));
  CHECK_THAT(s, Catch::Contains("  memory rss peak 512 MiB"));
  CHECK_FALSE(Catch::Contains("  cpu ").match(s));
  CHECK_FALSE(Catch::Contains("  disk read").match(s));
  CHECK_FALSE(Catch::Contains("  net tx").match(s));

  p.system.lost_by_reason = {{"mem_map_full", 5}, {"other", 0}};
  CHECK_THAT(render(p), Catch::Contains("WARNING: 5 resource events lost (5 mem_map_full)"));
}

TEST_CASE("system scope lists the top processes by CPU", "[summary]") {
  Profile p = with_resources();
  p.system.scope = "system";
  p.system.processes.clear();
  for (uint32_t i = 0; i < 12; i++) p.system.processes.push_back(process(100 + i, fmt_name(i), 1.5 * i));
  p.system.processes[3].exited = true;
  p.system.processes_omitted = 30;
  std::string s = render(p);
  CHECK_THAT(s, Catch::Contains("resources (sched, block, memory, network; system-wide, 2.0 s):"));
  REQUIRE_THAT(s, Catch::Contains("top processes by CPU:"));
  CHECK_THAT(s, Catch::Contains("DISK R/W"));
  size_t hottest = s.find("proc11"), next = s.find("proc10");
  REQUIRE(hottest != std::string::npos);
  CHECK(hottest < next);
  CHECK_THAT(s, Catch::Contains("16.5"));
  CHECK_THAT(s, Catch::Contains("64.0M"));
  CHECK_THAT(s, Catch::Contains("1.0M/2.0M"));
  CHECK_THAT(s, Catch::Contains("proc3*"));
  // 10 rows; the 2 coolest and the 30 never tracked are counted.
  CHECK_FALSE(Catch::Contains("proc1 ").match(s));
  CHECK_FALSE(Catch::Contains("proc0 ").match(s));
  CHECK_THAT(s, Catch::Contains("... and 32 more processes"));
}

TEST_CASE("the interval line has the fields of the collectors that ran", "[summary]") {
  SeriesSample x;
  x.t = 3;
  x.dt = 2;  // rates are per second: the counters cover two
  x.cpu_pct = 98.1;
  x.rss_bytes = 512ull << 20;
  x.minor_faults = 120;
  x.disk_write_bytes = 50600000;
  x.disk_ios = 40;
  x.disk_p99_ns = 3100000;
  x.net_tx_bytes = 2400000;
  x.net_rx_bytes = 200000;
  x.runqueue_p99_ns = 45000;
  CHECK(format_interval_line(x, {"sched", "block", "memory", "network"}) ==
        "[  3.0s] cpu 98.1% rss 512.0M flt 120/0 disk r 0.0 w 25.3 MB/s p99 3.1ms net tx 1.2 rx 0.1 MB/s rq p99 45us");
  CHECK(format_interval_line(x, {"memory"}) == "[  3.0s] rss 512.0M flt 120/0");
  CHECK(format_interval_line(x, {"sched"}) == "[  3.0s] cpu 98.1% rq p99 45us");
  CHECK(format_interval_line(x, {"network", "block"}) ==
        "[  3.0s] disk r 0.0 w 25.3 MB/s p99 3.1ms net tx 1.2 rx 0.1 MB/s");
  CHECK(format_interval_line(x, {}) == "[  3.0s]");
  x.disk_ios = 0;  // no request completed: no latency to speak of
  CHECK_THAT(format_interval_line(x, {"block"}), Catch::EndsWith("p99 -"));
}

namespace {

AnalysisSection analysed() {
  AnalysisSection a;
  a.enabled = true;
  a.health = {72, "C", {{"cpu-saturation:server[4242]", "high", 15}, {"io-wait:server[4242]", "medium", 7},
                        {"lost-events:events", "low", 1.5}, {"disk-latency:vda", "low", 3}, {"x:y", "low", 1.5}}};
  Bottleneck cpu;
  cpu.id = "cpu-saturation:server[4242]";
  cpu.category = "cpu";
  cpu.severity = "high";
  cpu.title = "server[4242] is CPU-bound: 97.0% CPU (100% = one CPU)";
  cpu.evidence = {"process.cpu_pct", 97, 85, "%", 1, ""};
  Bottleneck disk;
  disk.id = "disk-latency:vda";
  disk.category = "io";
  disk.severity = "medium";
  disk.title = "vda is slow: I/O request latency p99 60.0 ms";
  disk.evidence = {"disk.total_latency.p99", 60e6, 50e6, "ns", 1, ""};
  a.bottlenecks = {cpu, disk};
  a.trends = {{"system.rss_bytes", "bytes", 1048576, 0.0001, "increasing", 30},
              {"system.cpu_pct", "%", 0.01, 0.6, "stable", 30}};
  a.recommendations = {{"rec:cpu-saturation:server[4242]", "server (pid 4242) uses 97.0% CPU: optimise", {cpu.id}}};
  return a;
}

}  // namespace

TEST_CASE("the analysis block: health, bottlenecks, significant trends, recommendations", "[summary]") {
  Profile p = with_resources();
  p.analysis = analysed();
  std::string text = render(p);
  CHECK_THAT(text, Catch::Contains("health: 72/100 (C)  -15 high cpu-saturation:server[4242], -7 medium"));
  CHECK_THAT(text, Catch::Contains("-1.5 low lost-events:events"));
  CHECK_THAT(text, Catch::Contains("HIGH     server[4242] is CPU-bound: 97.0% CPU (100% = one CPU) "
                                   "(process.cpu_pct 97.0% vs 85.0%)"));
  CHECK_THAT(text, Catch::Contains("MEDIUM   vda is slow: I/O request latency p99 60.0 ms (disk.total_latency.p99 60.0 ms vs 50.0 ms)"));
  CHECK_THAT(text, Catch::Contains("system.rss_bytes increasing, +1.00 MiB per s (p 0.0001, 30 samples)"));
  CHECK_THAT(text, !Catch::Contains("system.cpu_pct stable"));
  CHECK_THAT(text, Catch::Contains("  - server (pid 4242) uses 97.0% CPU: optimise"));
  // After the resources block, before the event counts.
  CHECK(text.find("resources (") < text.find("health: "));
  CHECK(text.find("health: ") < text.find("\nevents: "));

  // write_analysis prints the same block on its own.
  std::ostringstream alone;
  write_analysis(p.analysis, alone);
  CHECK_THAT(text, Catch::Contains(alone.str()));

  p.analysis.enabled = false;
  CHECK_THAT(render(p), !Catch::Contains("health:"));
}

TEST_CASE("an analysis with nothing found says so", "[summary]") {
  AnalysisSection a;
  a.enabled = true;
  std::ostringstream out;
  write_analysis(a, out);
  CHECK_THAT(out.str(), Catch::Contains("health: 100/100 (A)"));
  CHECK_THAT(out.str(), Catch::Contains("no bottlenecks found"));
  CHECK_THAT(out.str(), !Catch::Contains("recommendations:"));
}
