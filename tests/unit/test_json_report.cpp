// The JSON report: a lossless round trip, precise complaints about malformed input, and
// writes that never leave a half-written file.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "analysis/analyze.h"
#include "perfbpf/error.h"
#include "process.h"
#include "report/json_report.h"
#include "report/json_stream.h"
#include "report/output_file.h"

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
  p.session.target_set = {true, 8192, 8200, 9, {{"target_set_full", 9}}};
  p.functions = {function_with("handle_request", 1, 5000), function_with("_ZN2ns5parseEPKc", 2, 700),
                 function_with("strlen", 3, 900)};
  // An IFUNC, probed at the implementation the target runs, with its symbol version.
  p.functions[2].version = "GLIBC_2.2.5";
  p.functions[2].implementation = "__strlen_evex";
  p.functions[2].implementation_source = "target";
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
  p.stacks.probe_samples = 3;
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

LatencyDistribution distribution_of(uint64_t seed, size_t samples, double log_mean) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(log_mean, 1);
  LatencyHistogram h;
  for (size_t i = 0; i < samples; i++) h.record(static_cast<uint64_t>(d(rng)));
  return {summarize(h), h.buckets()};
}

// Every field distinct (scaled by K), so a key read into the wrong field shows.
ResourceUsage usage_with(uint64_t k) {
  ResourceUsage u;
  u.cpu_time_ns = 1500000000 * k;
  u.cpu_pct = 50.25 * static_cast<double>(k);
  u.off_cpu_ns = {1000 * k, 2000 * k, 3000 * k, 700 * k};
  u.ctx_switches = {40 * k, 5 * k};
  u.migrations = 6 * k;
  u.memory = {(512ull << 20) * k, (498ull << 20) * k, (400ull << 20) * k, (90ull << 20) * k, (8ull << 20) * k};
  u.faults = {12034 * k, 3 * k};
  u.disk = {(12ull << 20) * k, (256ull << 20) * k, 300 * k, 260 * k};
  u.net = {10000 * k, 20000 * k, 30 * k, 40 * k, 3 * k, 12 * k};
  return u;
}

// Threads carry the scheduler's fields only.
ResourceUsage sched_usage(uint64_t k) {
  ResourceUsage full = usage_with(k), u;
  u.cpu_time_ns = full.cpu_time_ns;
  u.cpu_pct = full.cpu_pct;
  u.off_cpu_ns = full.off_cpu_ns;
  u.ctx_switches = full.ctx_switches;
  u.migrations = full.migrations;
  return u;
}

// A cgroup session: 2 processes (one exited) with a thread each, 1 disk, 3 intervals.
SystemProfile system_section() {
  SystemProfile s;
  s.enabled = true;
  s.source = "bpf";
  s.scope = "cgroup";
  s.cgroup = "/sys/fs/cgroup/system.slice/server.service";
  s.collectors = {"sched", "block", "memory", "network"};
  s.interval_s = 1;
  s.cpus = 4;
  s.memory_total_bytes = 16ull << 30;
  s.memory_used_pct_peak = 43.0;
  s.memory_used_pct_last = 41.25;
  s.machine_cpu_pct = 62.5;
  s.machine_cpu_pct_peak = 97.25;
  s.totals = usage_with(3);
  s.runqueue_latency_ns = distribution_of(11, 2000, 8);
  s.connect_latency_ns = distribution_of(12, 12, 11);
  s.processes = {{4242, 1, "server", false, usage_with(2), {{4243, "worker", sched_usage(2)}}},
                 {4300, 4242, "helper", true, usage_with(1), {{4300, "helper", sched_usage(1)}}}};
  s.processes_omitted = 7;
  s.disks = {{"vda", 253, 0, {12ull << 20, 256ull << 20, 300, 260}, distribution_of(13, 560, 9),
              distribution_of(14, 560, 11), distribution_of(15, 560, 12)}};
  s.interfaces = {{"eth0", 1500000, 10200000, 1200, 7300}};
  for (int i = 1; i <= 3; i++) {
    SeriesSample x;
    x.t = i;
    x.dt = 1;
    x.cpu_pct = 150.5 + i;
    x.cpu_clamped_ns = 3000000u * static_cast<unsigned>(i);
    x.rss_bytes = (500ull << 20) + static_cast<uint64_t>(i);
    x.minor_faults = 100u * static_cast<unsigned>(i);
    x.major_faults = static_cast<uint64_t>(i) - 1;
    x.disk_read_bytes = 4096u * static_cast<unsigned>(i);
    x.disk_write_bytes = 25300000;
    x.disk_ios = 100;
    x.disk_p99_ns = 3100000;
    x.net_tx_bytes = 1200000;
    x.net_rx_bytes = 100000;
    x.runqueue_p99_ns = 45000;
    x.memory_used_pct = 41.25 + i;
    x.machine_cpu_pct = 50.5 + i;
    s.series.push_back(x);
  }
  s.series_merges = 1;
  s.lost_by_reason = {{"sched_map_full", 0}, {"block_map_full", 2}};
  return s;
}

Profile system_profile() {
  Profile p = rich_profile();
  p.system = system_section();
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

// Every field of the analysis section set, and per-interval series on the functions.
Profile analysed_profile() {
  Profile p = system_profile();
  p.functions[0].series = {{1, 2500, 12000, 98000, 150000}, {2, 2500, 12500, 99000, 160000}};
  AnalysisSection& a = p.analysis;
  a.enabled = true;
  a.thresholds.function_time_warning = 0.25;
  a.thresholds.memory_usage_warning = 80;
  a.thresholds.cpu_usage_warning = 90.5;
  a.thresholds.process_cpu_warning = 150;
  a.thresholds.functions = {{"ns::parse*", "p99", 2e6}, {"handle_*", "mean", 1.5e6}};
  a.health.score = 72;
  a.health.grade = "C";
  a.health.deductions = {{"cpu-saturation:server[4242]", "high", 15}, {"io-wait:server[4242]", "medium", 7},
                         {"lost-events:system", "low", 1.5}, {"disk-latency:vda", "low", 3}};
  Bottleneck cpu;
  cpu.id = "cpu-saturation:server[4242]";
  cpu.category = "cpu";
  cpu.severity = "high";
  cpu.title = "server[4242] is CPU-bound: 100.5% CPU (100% = one CPU)";
  cpu.evidence = {"process.cpu_pct", 100.5, 90.5, "%", 1, "3.00 s on CPU over 30.2 s of session, 4 CPUs"};
  cpu.affects = {"", 4242, "server", ""};
  cpu.recommendations = {"rec:cpu-saturation:server[4242]"};
  Bottleneck disk;
  disk.id = "disk-latency:vda";
  disk.category = "io";
  disk.severity = "low";
  disk.title = "vda is slow";
  disk.evidence = {"disk.total_latency.p99", 60e6, 50e6, "ns", 0.25, "560 requests"};
  disk.affects.device = "vda";
  disk.recommendations = {"rec:disk-latency:vda"};
  Bottleneck fn;
  fn.id = "io-bound-function:ns::parse(char const*)";
  fn.category = "io";
  fn.severity = "medium";
  fn.title = "ns::parse(char const*) is I/O-bound";
  fn.evidence = {"off_cpu.io_share", 75, 50, "%", 0.8, "off-CPU stacks"};
  fn.affects = {"ns::parse(char const*)", 4242, "server", ""};
  a.bottlenecks = {cpu, disk, fn};
  a.trends = {{"system.rss_bytes", "bytes", 1048576.5, 0.0001, "increasing", 30},
              {"function:handle_request.p99", "ns", -2.5, 0.5, "stable", 12}};
  a.recommendations = {{"rec:cpu-saturation:server[4242]", "server (pid 4242) uses 100.5% CPU", {cpu.id}},
                       {"rec:disk-latency:vda", "vda: requests take 60.0 ms at p99", {disk.id, cpu.id}}};
  a.alerts = {{3.5, "cpu_pct", "pid 4242", 100.5, 90.5, "%"}, {4, "function.p99", "handle_request", 3e6, 2.5e8, "ns"}};
  return p;
}

void require_equal_analysis(const AnalysisSection& a, const AnalysisSection& b) {
  CHECK(a.enabled == b.enabled);
  CHECK(a.thresholds.function_time_warning == b.thresholds.function_time_warning);
  CHECK(a.thresholds.memory_usage_warning == b.thresholds.memory_usage_warning);
  CHECK(a.thresholds.cpu_usage_warning == b.thresholds.cpu_usage_warning);
  CHECK(a.thresholds.process_cpu_warning == b.thresholds.process_cpu_warning);
  REQUIRE(a.thresholds.functions.size() == b.thresholds.functions.size());
  for (size_t i = 0; i < a.thresholds.functions.size(); i++) {
    CHECK(a.thresholds.functions[i].pattern == b.thresholds.functions[i].pattern);
    CHECK(a.thresholds.functions[i].stat == b.thresholds.functions[i].stat);
    CHECK(a.thresholds.functions[i].value_ns == b.thresholds.functions[i].value_ns);
  }
  CHECK(a.health.score == b.health.score);
  CHECK(a.health.grade == b.health.grade);
  REQUIRE(a.health.deductions.size() == b.health.deductions.size());
  for (size_t i = 0; i < a.health.deductions.size(); i++) {
    CHECK(a.health.deductions[i].bottleneck == b.health.deductions[i].bottleneck);
    CHECK(a.health.deductions[i].severity == b.health.deductions[i].severity);
    CHECK(a.health.deductions[i].points == b.health.deductions[i].points);
  }
  REQUIRE(a.bottlenecks.size() == b.bottlenecks.size());
  for (size_t i = 0; i < a.bottlenecks.size(); i++) {
    const Bottleneck &x = a.bottlenecks[i], &y = b.bottlenecks[i];
    CHECK(x.id == y.id);
    CHECK(x.category == y.category);
    CHECK(x.severity == y.severity);
    CHECK(x.title == y.title);
    CHECK(x.evidence.metric == y.evidence.metric);
    CHECK(x.evidence.value == y.evidence.value);
    CHECK(x.evidence.threshold == y.evidence.threshold);
    CHECK(x.evidence.unit == y.evidence.unit);
    CHECK(x.evidence.data_share == y.evidence.data_share);
    CHECK(x.evidence.detail == y.evidence.detail);
    CHECK(x.affects.function == y.affects.function);
    CHECK(x.affects.pid == y.affects.pid);
    CHECK(x.affects.comm == y.affects.comm);
    CHECK(x.affects.device == y.affects.device);
    CHECK(x.recommendations == y.recommendations);
  }
  REQUIRE(a.trends.size() == b.trends.size());
  for (size_t i = 0; i < a.trends.size(); i++) {
    CHECK(a.trends[i].series == b.trends[i].series);
    CHECK(a.trends[i].unit == b.trends[i].unit);
    CHECK(a.trends[i].slope_per_s == b.trends[i].slope_per_s);
    CHECK(a.trends[i].p_value == b.trends[i].p_value);
    CHECK(a.trends[i].direction == b.trends[i].direction);
    CHECK(a.trends[i].samples == b.trends[i].samples);
  }
  REQUIRE(a.recommendations.size() == b.recommendations.size());
  for (size_t i = 0; i < a.recommendations.size(); i++) {
    CHECK(a.recommendations[i].id == b.recommendations[i].id);
    CHECK(a.recommendations[i].text == b.recommendations[i].text);
    CHECK(a.recommendations[i].because == b.recommendations[i].because);
  }
  REQUIRE(a.alerts.size() == b.alerts.size());
  for (size_t i = 0; i < a.alerts.size(); i++) {
    CHECK(a.alerts[i].t == b.alerts[i].t);
    CHECK(a.alerts[i].metric == b.alerts[i].metric);
    CHECK(a.alerts[i].subject == b.alerts[i].subject);
    CHECK(a.alerts[i].value == b.alerts[i].value);
    CHECK(a.alerts[i].threshold == b.alerts[i].threshold);
    CHECK(a.alerts[i].unit == b.alerts[i].unit);
  }
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
  CHECK(a.session.target_set.enabled == b.session.target_set.enabled);
  CHECK(a.session.target_set.max_processes == b.session.target_set.max_processes);
  CHECK(a.session.target_set.admitted == b.session.target_set.admitted);
  CHECK(a.session.target_set.lost == b.session.target_set.lost);
  CHECK(a.session.target_set.lost_by_reason == b.session.target_set.lost_by_reason);
  REQUIRE(a.functions.size() == b.functions.size());
  for (size_t i = 0; i < a.functions.size(); i++) {
    const auto &x = a.functions[i], &y = b.functions[i];
    CHECK(x.name == y.name);
    CHECK(x.demangled == y.demangled);
    CHECK(x.object == y.object);
    CHECK(x.version == y.version);
    CHECK(x.implementation == y.implementation);
    CHECK(x.implementation_source == y.implementation_source);
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
    REQUIRE(x.series.size() == y.series.size());
    for (size_t k = 0; k < x.series.size(); k++) {
      CHECK(x.series[k].t == y.series[k].t);
      CHECK(x.series[k].calls == y.series[k].calls);
      CHECK(x.series[k].p50 == y.series[k].p50);
      CHECK(x.series[k].p99 == y.series[k].p99);
      CHECK(x.series[k].max == y.series[k].max);
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
  CHECK(a.stacks.probe_samples == b.stacks.probe_samples);
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

void require_equal_usage(const ResourceUsage& a, const ResourceUsage& b) {
  CHECK(a.cpu_time_ns == b.cpu_time_ns);
  CHECK(a.cpu_pct == b.cpu_pct);
  CHECK(a.off_cpu_ns.runqueue == b.off_cpu_ns.runqueue);
  CHECK(a.off_cpu_ns.io == b.off_cpu_ns.io);
  CHECK(a.off_cpu_ns.sleep == b.off_cpu_ns.sleep);
  CHECK(a.off_cpu_ns.unknown == b.off_cpu_ns.unknown);
  CHECK(a.ctx_switches.voluntary == b.ctx_switches.voluntary);
  CHECK(a.ctx_switches.involuntary == b.ctx_switches.involuntary);
  CHECK(a.migrations == b.migrations);
  CHECK(a.memory.rss_peak_bytes == b.memory.rss_peak_bytes);
  CHECK(a.memory.rss_last_bytes == b.memory.rss_last_bytes);
  CHECK(a.memory.anon_bytes == b.memory.anon_bytes);
  CHECK(a.memory.file_bytes == b.memory.file_bytes);
  CHECK(a.memory.shmem_bytes == b.memory.shmem_bytes);
  CHECK(a.faults.minor == b.faults.minor);
  CHECK(a.faults.major == b.faults.major);
  CHECK(a.disk.read_bytes == b.disk.read_bytes);
  CHECK(a.disk.write_bytes == b.disk.write_bytes);
  CHECK(a.disk.read_ios == b.disk.read_ios);
  CHECK(a.disk.write_ios == b.disk.write_ios);
  CHECK(a.net.tx_bytes == b.net.tx_bytes);
  CHECK(a.net.rx_bytes == b.net.rx_bytes);
  CHECK(a.net.tx_calls == b.net.tx_calls);
  CHECK(a.net.rx_calls == b.net.rx_calls);
  CHECK(a.net.retransmits == b.net.retransmits);
  CHECK(a.net.connections == b.net.connections);
}

void require_equal_distribution(const LatencyDistribution& a, const LatencyDistribution& b) {
  CHECK(a.summary.min == b.summary.min);
  CHECK(a.summary.max == b.summary.max);
  CHECK(a.summary.mean == b.summary.mean);
  CHECK(a.summary.p50 == b.summary.p50);
  CHECK(a.summary.p99 == b.summary.p99);
  CHECK(a.summary.total == b.summary.total);
  REQUIRE(a.histogram.size() == b.histogram.size());
  for (size_t k = 0; k < a.histogram.size(); k++) {
    CHECK(a.histogram[k].upper_ns == b.histogram[k].upper_ns);
    CHECK(a.histogram[k].count == b.histogram[k].count);
  }
}

void require_equal_system(const SystemProfile& a, const SystemProfile& b) {
  CHECK(a.enabled == b.enabled);
  CHECK(a.source == b.source);
  CHECK(a.scope == b.scope);
  CHECK(a.cgroup == b.cgroup);
  CHECK(a.collectors == b.collectors);
  CHECK(a.interval_s == b.interval_s);
  CHECK(a.cpus == b.cpus);
  CHECK(a.memory_total_bytes == b.memory_total_bytes);
  CHECK(a.memory_used_pct_peak == b.memory_used_pct_peak);
  CHECK(a.memory_used_pct_last == b.memory_used_pct_last);
  CHECK(a.machine_cpu_pct == b.machine_cpu_pct);
  CHECK(a.machine_cpu_pct_peak == b.machine_cpu_pct_peak);
  require_equal_usage(a.totals, b.totals);
  require_equal_distribution(a.runqueue_latency_ns, b.runqueue_latency_ns);
  require_equal_distribution(a.connect_latency_ns, b.connect_latency_ns);
  REQUIRE(a.processes.size() == b.processes.size());
  for (size_t i = 0; i < a.processes.size(); i++) {
    const auto &x = a.processes[i], &y = b.processes[i];
    CHECK(x.pid == y.pid);
    CHECK(x.ppid == y.ppid);
    CHECK(x.comm == y.comm);
    CHECK(x.exited == y.exited);
    require_equal_usage(x.usage, y.usage);
    REQUIRE(x.threads.size() == y.threads.size());
    for (size_t k = 0; k < x.threads.size(); k++) {
      CHECK(x.threads[k].tid == y.threads[k].tid);
      CHECK(x.threads[k].comm == y.threads[k].comm);
      require_equal_usage(x.threads[k].usage, y.threads[k].usage);
    }
  }
  CHECK(a.processes_omitted == b.processes_omitted);
  REQUIRE(a.disks.size() == b.disks.size());
  for (size_t i = 0; i < a.disks.size(); i++) {
    const auto &x = a.disks[i], &y = b.disks[i];
    CHECK(x.name == y.name);
    CHECK(x.major == y.major);
    CHECK(x.minor == y.minor);
    CHECK(x.traffic.read_bytes == y.traffic.read_bytes);
    CHECK(x.traffic.write_ios == y.traffic.write_ios);
    require_equal_distribution(x.queue_ns, y.queue_ns);
    require_equal_distribution(x.service_ns, y.service_ns);
    require_equal_distribution(x.total_ns, y.total_ns);
  }
  REQUIRE(a.interfaces.size() == b.interfaces.size());
  for (size_t i = 0; i < a.interfaces.size(); i++) {
    CHECK(a.interfaces[i].name == b.interfaces[i].name);
    CHECK(a.interfaces[i].rx_bytes == b.interfaces[i].rx_bytes);
    CHECK(a.interfaces[i].tx_bytes == b.interfaces[i].tx_bytes);
    CHECK(a.interfaces[i].rx_packets == b.interfaces[i].rx_packets);
    CHECK(a.interfaces[i].tx_packets == b.interfaces[i].tx_packets);
  }
  REQUIRE(a.series.size() == b.series.size());
  for (size_t i = 0; i < a.series.size(); i++) {
    const auto &x = a.series[i], &y = b.series[i];
    CHECK(x.t == y.t);
    CHECK(x.dt == y.dt);
    CHECK(x.cpu_pct == y.cpu_pct);
    CHECK(x.cpu_clamped_ns == y.cpu_clamped_ns);
    CHECK(x.rss_bytes == y.rss_bytes);
    CHECK(x.minor_faults == y.minor_faults);
    CHECK(x.major_faults == y.major_faults);
    CHECK(x.disk_read_bytes == y.disk_read_bytes);
    CHECK(x.disk_write_bytes == y.disk_write_bytes);
    CHECK(x.disk_ios == y.disk_ios);
    CHECK(x.disk_p99_ns == y.disk_p99_ns);
    CHECK(x.net_tx_bytes == y.net_tx_bytes);
    CHECK(x.net_rx_bytes == y.net_rx_bytes);
    CHECK(x.runqueue_p99_ns == y.runqueue_p99_ns);
    CHECK(x.memory_used_pct == y.memory_used_pct);
    CHECK(x.machine_cpu_pct == y.machine_cpu_pct);
  }
  CHECK(a.series_merges == b.series_merges);
  CHECK(a.lost_by_reason == b.lost_by_reason);
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
  write_json_report(system_profile(), (dir / "system.json").string());
  write_json_report(analysed_profile(), (dir / "analysis.json").string());
  // And what the rules themselves write, on a profile they find something in.
  Profile ruled = lossy_profile();
  ruled.system = system_section();
  ruled.analysis = analyze_profile(ruled, {});
  CHECK(ruled.analysis.bottlenecks.size() >= 2);
  write_json_report(ruled, (dir / "analysed.json").string());
  for (const char* name : {"rich.json", "empty.json", "lossy.json", "system.json", "analysis.json", "analysed.json"})
    CHECK(fs::exists(dir / name));
}

TEST_CASE("the system section survives JSON and a file unchanged", "[report]") {
  Profile p = system_profile();
  require_equal_system(profile_from_json(to_json(p)).system, p.system);
  require_equal(profile_from_json(to_json(p)), p);
  std::string path = test::temp_path("system.json");
  write_json_report(p, path);
  require_equal_system(read_json_report(path).system, p.system);

  // Without a cgroup the key is left out, and reads back empty.
  p.system.scope = "system";
  p.system.cgroup.clear();
  json j = to_json(p);
  CHECK_FALSE(j["system"].contains("cgroup"));
  require_equal_system(profile_from_json(j).system, p.system);
}

TEST_CASE("the analysis section and function series survive JSON and a file unchanged", "[report]") {
  Profile p = analysed_profile();
  Profile back = profile_from_json(to_json(p));
  require_equal_analysis(back.analysis, p.analysis);
  require_equal(back, p);
  std::string path = test::temp_path("analysis.json");
  write_json_report(p, path);
  require_equal_analysis(read_json_report(path).analysis, p.analysis);
}

TEST_CASE("the analysis section has the documented shape", "[report]") {
  json j = to_json(analysed_profile());
  const json& a = j["analysis"];
  CHECK(a["health"]["score"] == 72.0);
  CHECK(a["health"]["grade"] == "C");
  CHECK(a["health"]["deductions"][2]["points"] == 1.5);
  CHECK(a["thresholds"]["functions"][0]["value_ns"] == 2e6);
  // affects carries only what applies: a device has no pid, a process no device.
  CHECK(a["bottlenecks"][0]["affects"] == json{{"pid", 4242}, {"comm", "server"}});
  CHECK(a["bottlenecks"][1]["affects"] == json{{"device", "vda"}});
  CHECK(a["bottlenecks"][0]["evidence"]["unit"] == "%");
  CHECK(a["trends"][0]["samples"] == 30);
  CHECK(a["recommendations"][1]["because"].size() == 2);
  CHECK(a["alerts"][1]["metric"] == "function.p99");
  CHECK(j["functions"][0]["series"][1] == json{{"t", 2.0}, {"calls", 2500}, {"p50", 12500}, {"p99", 99000}, {"max", 160000}});
  CHECK(j["functions"][1]["series"] == json::array());  // written even when empty
}

TEST_CASE("reports without analysis or function series read back as not analysed", "[report]") {
  json j = to_json(analysed_profile());
  j.erase("analysis");
  j["functions"][0].erase("series");
  Profile p = profile_from_json(j);
  CHECK_FALSE(p.analysis.enabled);
  CHECK(p.analysis.bottlenecks.empty());
  CHECK(p.functions[0].series.empty());
  CHECK_FALSE(to_json(rich_profile()).contains("analysis"));
}

TEST_CASE("a malformed analysis section names the field that is wrong", "[report]") {
  json good = to_json(analysed_profile());
  json j = good;
  j["analysis"]["health"]["score"] = "72";
  expect_malformed(j, "analysis.health.score should be a number");
  j = good;
  j["analysis"]["bottlenecks"][1].erase("evidence");
  expect_malformed(j, "analysis.bottlenecks[1].evidence is missing");
  j = good;
  j["analysis"]["bottlenecks"][0]["affects"]["pid"] = -1;
  expect_malformed(j, "analysis.bottlenecks[0].affects.pid should be a non-negative integer");
  j = good;
  j["functions"][0]["series"][0].erase("p99");
  expect_malformed(j, "functions[0].series[0].p99 is missing");
}

TEST_CASE("the system section is absent when no collector ran", "[report]") {
  json j = to_json(rich_profile());
  CHECK_FALSE(j.contains("system"));
  CHECK_FALSE(profile_from_json(j).system.enabled);
}

TEST_CASE("the system section has the documented shape", "[report]") {
  json s = to_json(system_profile())["system"];
  CHECK(s["scope"] == "cgroup");
  CHECK(s["cgroup"] == "/sys/fs/cgroup/system.slice/server.service");
  CHECK(s["memory_used_pct"]["peak"] == 43.0);
  CHECK(s["totals"]["cpu_time_ns"] == 4500000000ull);
  CHECK(s["totals"]["off_cpu_ns"]["io"] == 6000);
  CHECK(s["totals"]["net"]["connections"] == 36);
  // ResourceUsage is flattened into each process and thread, beside their own keys.
  CHECK(s["processes"][0]["pid"] == 4242);
  CHECK(s["processes"][0]["cpu_pct"] == 100.5);
  CHECK(s["processes"][0]["memory"]["rss_peak_bytes"] == 1024ull << 20);
  CHECK(s["processes"][1]["exited"] == true);
  CHECK(s["processes"][0]["threads"][0]["tid"] == 4243);
  CHECK(s["processes"][0]["threads"][0]["ctx_switches"]["voluntary"] == 80);
  CHECK(s["disks"][0]["read_ios"] == 300);
  const json& total = s["disks"][0]["latency_ns"]["total"];
  CHECK(total["p99"].is_number_unsigned());
  CHECK(total["histogram"]["scheme"] == "log-linear");
  CHECK(total["histogram"]["bounds_ns"].size() == total["histogram"]["counts"].size());
  CHECK(s["runqueue_latency_ns"]["histogram"]["sub_buckets"] == LatencyHistogram::kSubBuckets);
  CHECK(s["series"].size() == 3);
  CHECK(s["series"][2]["t"] == 3.0);
  CHECK(s["series"][2]["disk_p99_ns"] == 3100000);
  CHECK(s["lost_by_reason"]["block_map_full"] == 2);
}

TEST_CASE("a malformed system section names the field that is wrong", "[report]") {
  json good = to_json(system_profile());

  json j = good;
  j["system"]["totals"]["cpu_time_ns"] = "lots";
  expect_malformed(j, "system.totals.cpu_time_ns should be a non-negative integer");

  j = good;
  j["system"]["processes"][1]["threads"][0].erase("tid");
  expect_malformed(j, "system.processes[1].threads[0].tid is missing");

  j = good;
  j["system"]["disks"][0]["latency_ns"]["queue"]["histogram"]["counts"].push_back(1);
  expect_malformed(j, "system.disks[0].latency_ns.queue.histogram has");

  j = good;
  j["system"]["series"][2]["cpu_pct"] = nullptr;
  expect_malformed(j, "system.series[2].cpu_pct should be a number");

  j = good;
  j["system"]["collectors"][1] = 7;
  expect_malformed(j, "system.collectors[1] should be a string");

  j = good;
  j["system"]["lost_by_reason"]["block_map_full"] = -2;
  expect_malformed(j, "system.lost_by_reason.block_map_full should be a non-negative integer");

  j = good;
  j["system"] = "on";
  expect_malformed(j, "system should be an object");
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
  expect_malformed(j, "schema is 'perfbpf.report/99', not perfbpf.report/1");

  j = good;
  j["stacks"]["stacks"][0]["frames"].push_back(99);
  expect_malformed(j, "stacks.stacks[0].frames has an index outside the frame table");

  j = good;
  j.erase("events");
  expect_malformed(j, "events is missing");

  // Process names are keyed by tgid: anything but a 32-bit decimal is malformed, not a crash.
  for (const char* key : {"x", "12abc", "", "4294967296", "-1"}) {
    j = good;
    j["stacks"]["processes"][key] = "comm";
    expect_malformed(j, std::string("stacks.processes.") + key + " should be keyed by a pid");
  }
  j = good;
  j["stacks"]["processes"]["42"] = 42;
  expect_malformed(j, "stacks.processes.42 should be a string");

  expect_malformed(json::array(), "is not an object");

  // Unknown sections from later versions are ignored.
  j = good;
  j["verdict"] = {{"health", 97}};  // (analysis, once the example here, is a known section now)
  CHECK_NOTHROW(profile_from_json(j));
}

TEST_CASE("unreadable and invalid files", "[report]") {
  REQUIRE_THROWS_WITH(read_json_report("/nonexistent/r.json"), Catch::Contains("cannot read report /nonexistent/r.json"));
  std::string path = test::temp_path("bad.json");
  std::ofstream(path) << "{\"schema\": ";
  REQUIRE_THROWS_WITH(read_json_report(path), Catch::Contains("is not valid JSON"));
  // Found by the fuzzer: a number beyond a double escaped as the JSON library's out_of_range.
  REQUIRE_THROWS_AS(read_json_report(std::string(PERFBPF_SOURCE_DIR) + "/tests/fuzz/regressions/number-overflow-1e3089.json"),
                    Error);
  std::ofstream(path) << "{\"schema\": -1e3089}";
  REQUIRE_THROWS_WITH(read_json_report(path), Catch::Contains("is not valid JSON") && Catch::Contains("number overflow"));
}

TEST_CASE("report-loading errors name the file and the JSON path of the bad field, in our words", "[report]") {
  auto message = [](const std::string& path) -> std::string {
    try {
      read_json_report(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "accepted";
  };
  auto no_library_text = [](const std::string& m) {
    CHECK(m.find("json.exception") == std::string::npos);
    CHECK(m.find("basic_filebuf") == std::string::npos);
    CHECK(m.find("stoul") == std::string::npos);
  };
  std::string path = test::temp_path("r.json");
  json good = to_json(rich_profile());

  json j = good;
  j["stacks"]["processes"]["4242"] = true;  // was a raw type_error.302
  std::ofstream(path) << j.dump();
  std::string m = message(path);
  CHECK(m == "malformed report " + path + ": stacks.processes.4242 should be a string");
  no_library_text(m);

  j = good;
  j["stacks"]["processes"]["server"] = "x";  // was std::invalid_argument from stoul
  std::ofstream(path, std::ios::trunc) << j.dump();
  m = message(path);
  CHECK(m == "malformed report " + path + ": stacks.processes.server should be keyed by a pid");

  j = good;
  j["session"]["target_set"]["lost"] = "some";
  std::ofstream(path, std::ios::trunc) << j.dump();
  CHECK(message(path) == "malformed report " + path + ": session.target_set.lost should be a non-negative integer");

  std::ofstream(path, std::ios::trunc) << "{\"schema\": ";
  m = message(path);
  CHECK_THAT(m, Catch::StartsWith("report " + path + " is not valid JSON: "));
  no_library_text(m);

  const std::string dir = fs::path(path).parent_path().string();
  m = message(dir);
  CHECK(m == "cannot read report " + dir + ": Is a directory");
  no_library_text(m);
}

TEST_CASE("a report without session.target_set (system mode, older reports) still loads", "[report]") {
  json j = to_json(rich_profile());
  j["session"].erase("target_set");
  CHECK_FALSE(profile_from_json(j).session.target_set.enabled);
}

TEST_CASE("unwritable outputs fail early and leave nothing behind", "[report]") {
  REQUIRE_THROWS_WITH(OutputFile::check_writable("/nonexistent-dir/r.json", "-o"),
                      Catch::Contains("cannot write '/nonexistent-dir/r.json': No such file or directory"));
  std::string dir = fs::path(test::temp_path("x")).parent_path().string();
  REQUIRE_THROWS_WITH(OutputFile::check_writable(dir, "-o"), Catch::Contains("Is a directory"));
  REQUIRE_THROWS(write_json_report(rich_profile(), dir));
  CHECK(fs::is_empty(dir));
  CHECK_NOTHROW(OutputFile::check_writable("-", "-o"));
  CHECK_NOTHROW(OutputFile::check_writable(dir + "/fine.json", "-o"));
  CHECK(fs::is_empty(dir));  // the check's temporary is gone
}

TEST_CASE("a report to /dev/null is discarded, and /dev/null stays a device", "[report]") {
  CHECK_NOTHROW(write_json_report(rich_profile(), "/dev/null"));
  struct stat st {};
  REQUIRE(stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK_FALSE(fs::exists("/dev/null.tmp"));
}

TEST_CASE("the report file is streamed with the same bytes the JSON document dumps to", "[report]") {
  // write_json_report writes the report as it is made (issue 17: the whole document and its
  // text doubled RSS at a long session's end); readers and the schema see no difference.
  Profile with_off_cpu = rich_profile();
  with_off_cpu.off_cpu = with_off_cpu.stacks;
  with_off_cpu.off_cpu.unit = "ns";
  with_off_cpu.off_cpu.frames[0].name = "quote\"and\nnewline\tin a name";
  Profile empty = rich_profile();
  empty.functions.clear();
  empty.stacks.frames.clear();
  empty.stacks.stacks.clear();
  empty.stacks.top.clear();
  Profile no_stacks = lossy_profile();
  no_stacks.stacks = StackProfile{};
  const std::string path = test::temp_path("streamed.json");
  for (const Profile& p : {rich_profile(), with_off_cpu, empty, no_stacks, system_profile(), analysed_profile()}) {
    write_json_report(p, path);
    std::ifstream in(path);
    std::stringstream bytes;
    bytes << in.rdbuf();
    REQUIRE(bytes.str() == to_json(p).dump(2) + "\n");
    CHECK(to_json(read_json_report(path)) == to_json(p));  // and it reads back
  }
}

TEST_CASE("the JSON stream writer lays out any document as dump(2) does", "[report]") {
  const json doc = json::parse(R"({"b": [1, [], {}, [{"x": "a\nb", "y": [null, true, 2.5]}]], "a": {"": -1, "z": {}},
                                  "c": "", "d": [[[]]]})");
  std::string out;
  JsonStreamWriter w([&out](std::string_view s) { out += s; });
  // "b" and "d" streamed element by element, the rest dumped whole.
  write_object(w, doc,
               {{"b", [&](JsonStreamWriter& s) { write_array(s, doc["b"].size(), [&](size_t i) { return doc["b"][i]; }); }},
                {"d", [](JsonStreamWriter& s) {
                   s.begin_array();
                   s.begin_array();
                   s.value(json::array());
                   s.end();
                   s.end();
                 }}});
  w.finish();
  CHECK(out == doc.dump(2));
}
