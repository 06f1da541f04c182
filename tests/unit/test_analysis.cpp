// The analysis rules on synthetic profiles: each rule fires on the profile that plants its
// problem, with the severity and the evidence of the input; none fires on a healthy profile.
// Health is a monotonic sum; recommendations name the subject and a measured figure.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "analysis/analyze.h"
#include "report/text_summary.h"

using namespace perfbpf;

namespace {

constexpr uint32_t kPid = 4242;

FunctionProfile function(const std::string& name, uint64_t calls, double mean_ns, uint64_t p99_ns) {
  FunctionProfile f;
  f.name = f.demangled = name;
  f.calls = calls;
  f.latency.mean = mean_ns;
  f.latency.p50 = static_cast<uint64_t>(mean_ns);
  f.latency.p99 = f.latency.max = p99_ns;
  f.latency.total = static_cast<uint64_t>(mean_ns * static_cast<double>(calls));
  f.threads = {{kPid + 1, kPid, calls, f.latency.total}};
  return f;
}

// A pid session of 10 s with everything well inside the thresholds.
Profile healthy() {
  Profile p;
  p.session.mode = "pid";
  p.session.pid = kPid;
  p.session.duration_s = 10;
  p.session.hostname = "vm";
  p.functions = {function("parse", 1000, 1e6, 5000000), function("write_records", 100, 2e6, 9000000)};
  p.events.received = 2200;
  p.calibration.method = "self-probe";
  p.overhead.target_slowdown_pct = 1;
  p.overhead.budget_pct = 5;
  SystemProfile& s = p.system;
  s.enabled = true;
  s.collectors = {"sched", "block", "memory", "network"};
  s.cpus = 4;
  s.memory_total_bytes = 16ull << 30;
  s.memory_used_pct_peak = 40;
  s.memory_used_pct_last = 38;
  ResourceUsage& u = s.totals;
  u.cpu_time_ns = 5000000000;  // 50% of one CPU over 10 s
  u.cpu_pct = 50;
  u.off_cpu_ns = {100000000, 500000000, 4000000000};
  u.faults = {5000, 3};
  u.memory = {200ull << 20, 190ull << 20, 150ull << 20, 40ull << 20, 0};
  u.net = {1 << 20, 1 << 20, 1000, 1000, 0, 2};
  ProcessResources server;
  server.pid = kPid;
  server.comm = "server";
  server.usage = u;
  s.processes = {server};
  DiskDevice vda;
  vda.name = "vda";
  vda.traffic = {1 << 20, 4 << 20, 100, 200};
  vda.total_ns.summary.p99 = 3000000;
  vda.total_ns.summary.max = 5000000;
  s.disks = {vda};
  for (int i = 1; i <= 10; i++) {
    SeriesSample x;
    x.t = i;
    x.dt = 1;
    x.cpu_pct = 50 + (i % 3);
    x.rss_bytes = (200ull << 20) + static_cast<uint64_t>((i * 7919) % 5) * 4096;  // flat, a few pages of noise
    x.memory_used_pct = 38 + (i % 2);
    s.series.push_back(x);
  }
  return p;
}

ProcessResources& server(Profile& p) { return p.system.processes.front(); }

const Bottleneck* find(const std::vector<Bottleneck>& bs, const std::string& id) {
  for (const auto& b : bs)
    if (b.id == id) return &b;
  return nullptr;
}

// The bottlenecks of P, requiring ID among them; returns it.
Bottleneck only(const Profile& p, const std::string& id, const PerformanceThresholds& th = {}) {
  std::vector<Bottleneck> bs = identify_bottlenecks(p, th);
  INFO("bottlenecks: " << [&] {
    std::string ids;
    for (const auto& b : bs) ids += b.id + " ";
    return ids;
  }());
  const Bottleneck* b = find(bs, id);
  REQUIRE(b);
  CHECK(bs.size() == 1);
  return *b;
}

// A leak: RSS from BASE growing RATE bytes/s over N one-second intervals, with page noise.
void plant_rss_growth(Profile& p, uint64_t base, double rate, int n) {
  p.system.series.clear();
  for (int i = 1; i <= n; i++) {
    SeriesSample x;
    x.t = i;
    x.dt = 1;
    x.cpu_pct = 50;
    x.rss_bytes = base + static_cast<uint64_t>(rate * i) + static_cast<uint64_t>(i % 3) * 4096;
    x.memory_used_pct = 40;
    p.system.series.push_back(x);
  }
  p.session.duration_s = n;
}

}  // namespace

TEST_CASE("a healthy profile raises nothing and scores 100", "[analysis]") {
  Profile p = healthy();
  CHECK(identify_bottlenecks(p, {}).empty());
  AnalysisSection a = analyze_profile(p, {});
  CHECK(a.enabled);
  CHECK(a.bottlenecks.empty());
  CHECK(a.recommendations.empty());
  CHECK(a.health.score == 100);
  CHECK(a.health.grade == "A");
  for (const auto& t : a.trends) CHECK(t.direction == "stable");
}

TEST_CASE("latency: p99 over function_time_warning is high, a mean over it critical", "[analysis]") {
  Profile p = healthy();
  p.functions[0].latency.p99 = 600000000;  // 0.6 s against 0.5 s
  Bottleneck b = only(p, "slow-function:parse");
  CHECK(b.category == "latency");
  CHECK(b.severity == "high");
  CHECK(b.evidence.metric == "latency.p99");
  CHECK(b.evidence.value == 600000000);
  CHECK(b.evidence.threshold == 500000000);
  CHECK(b.evidence.unit == "ns");
  CHECK(b.evidence.data_share == Approx(1000.0 / 1100));
  CHECK(b.affects.function == "parse");
  CHECK(b.affects.pid == kPid);
  CHECK(b.affects.comm == "server");

  p.functions[0].latency.mean = 700000000;
  p.functions[0].latency.total = 700000000000;
  p.session.duration_s = 1000;  // keep the function from filling the session
  b = only(p, "slow-function:parse");
  CHECK(b.severity == "critical");
  CHECK(b.evidence.metric == "latency.mean");
  CHECK(b.evidence.value == 700000000);
}

TEST_CASE("latency: a per-function threshold replaces the global one for what it matches", "[analysis]") {
  Profile p = healthy();
  PerformanceThresholds th;
  th.functions = {{"pars*", "p99", 1000000}};  // 1 ms; parse has p99 5 ms
  Bottleneck b = only(p, "slow-function:parse", th);
  CHECK(b.severity == "high");
  CHECK(b.evidence.value == 5000000);
  CHECK(b.evidence.threshold == 1000000);
  CHECK_THAT(b.evidence.detail, Catch::Contains("function:pars*.p99"));

  th.functions = {{"write_*", "mean", 1500000}};  // write_records has mean 2 ms
  b = only(p, "slow-function:write_records", th);
  CHECK(b.severity == "critical");
  CHECK(b.evidence.value == 2000000);

  // A per-function threshold the function meets keeps the global one from applying to it.
  p.functions[0].latency.p99 = 600000000;
  th.functions = {{"parse", "p99", 1e9}};
  CHECK(identify_bottlenecks(p, th).empty());
}

TEST_CASE("cpu: a process over process_cpu_warning is CPU-bound, with advice that fits its kind", "[analysis]") {
  Profile p = healthy();
  server(p).usage.cpu_pct = 90;
  // Its main thread waits while one worker does the work: single-threaded for what CPUs can do.
  ThreadResources main_thread{kPid, "server", {}}, worker{kPid + 1, "worker", {}};
  main_thread.usage.cpu_time_ns = 1'000'000;
  worker.usage.cpu_time_ns = server(p).usage.cpu_time_ns;
  server(p).threads = {main_thread, worker};
  Bottleneck b = only(p, "cpu-bound:server[4242]");
  CHECK(b.category == "cpu");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == 90);
  CHECK(b.evidence.threshold == 85);
  CHECK(b.affects.pid == kPid);
  auto advice = [](const Bottleneck& x) {
    std::vector<Bottleneck> one{x};
    return recommend(one).at(0).text;
  };
  // One thread: one CPU is its ceiling; no thread pool to size.
  CHECK_THAT(advice(b), Catch::Contains("one CPU is its ceiling"));
  CHECK_FALSE(Catch::Contains("thread pool").match(advice(b)));

  server(p).threads[0].usage.cpu_time_ns = worker.usage.cpu_time_ns;  // now both work
  b = only(p, "cpu-bound:server[4242]");
  CHECK_THAT(b.evidence.detail, Catch::Contains("2 threads working"));
  CHECK_THAT(advice(b), Catch::Contains("more threads help only while the machine has CPUs free"));

  // A kernel thread: the work is the kernel's, done for others.
  server(p).comm = "kswapd0";
  server(p).ppid = 2;
  b = only(p, "cpu-bound:kswapd0[4242]");
  CHECK_THAT(b.title, Catch::Contains("kernel thread kswapd0[4242]"));
  CHECK_THAT(advice(b), Catch::Contains("kswapd reclaims memory"));
  CHECK_FALSE(Catch::Contains("thread pool").match(advice(b)));

  PerformanceThresholds th;
  th.process_cpu_warning = 95;
  CHECK(identify_bottlenecks(p, th).empty());
}

namespace {

// A saturated 2-CPU machine, seen system-wide for 10 s: two CPU hogs took it; a single-threaded
// copy job and 18 kernel threads waited for it. /proc/stat said 97 % busy.
Profile saturated_machine() {
  Profile p = healthy();
  p.session.mode = "system";
  p.session.pid = 0;
  p.functions.clear();
  SystemProfile& s = p.system;
  s.scope = "system";
  s.cpus = 2;
  s.machine_cpu_pct = 97;
  s.machine_cpu_pct_peak = 99.5;
  s.processes.clear();
  auto add = [&](uint32_t pid, uint32_t ppid, const std::string& comm, double cpu_s, double rq_s) {
    ProcessResources r;
    r.pid = pid;
    r.ppid = ppid;
    r.comm = comm;
    r.usage.cpu_time_ns = static_cast<uint64_t>(cpu_s * 1e9);
    r.usage.cpu_pct = cpu_s * 10;  // of a 10 s session
    r.usage.off_cpu_ns.runqueue = static_cast<uint64_t>(rq_s * 1e9);
    r.threads = {ThreadResources{pid, comm, r.usage}};
    s.processes.push_back(r);
  };
  add(100, 1, "stress-ng-cpu", 9.5, 0.5);
  add(101, 1, "stress-ng-cpu", 9.3, 0.7);
  add(200, 50, "dd", 0.2, 0.8);
  for (uint32_t i = 0; i < 18; i++) add(300 + i, 2, "kworker/" + std::to_string(i), 0.02, 0.05);
  s.totals = {};
  for (const auto& r : s.processes) {
    s.totals.cpu_time_ns += r.usage.cpu_time_ns;
    s.totals.off_cpu_ns.runqueue += r.usage.off_cpu_ns.runqueue;
  }
  s.totals.cpu_pct = static_cast<double>(s.totals.cpu_time_ns) / 1e8;
  return p;
}

}  // namespace

TEST_CASE("cpu: a saturated machine is one finding naming who took the CPU and who waited", "[analysis]") {
  Profile p = saturated_machine();
  Bottleneck b = only(p, "cpu-saturation:machine");  // and nothing per process
  CHECK(b.category == "cpu");
  CHECK(b.severity == "critical");
  CHECK(b.evidence.metric == "system.machine_cpu_pct");
  CHECK(b.evidence.value == 97);
  CHECK(b.evidence.threshold == Approx(95));
  CHECK_THAT(b.title, Catch::Contains("the machine's 2 CPUs were 97.0% busy; 19 processes waited for a CPU"));
  CHECK_THAT(b.evidence.detail, Catch::Contains("busiest interval 99.5%"));
  CHECK_THAT(b.evidence.detail, Catch::Contains("stress-ng-cpu[100] 9.50 s on CPU (47.5% of the machine)"));
  CHECK_THAT(b.evidence.detail, Catch::Contains("stress-ng-cpu[101] 9.30 s on CPU (46.5% of the machine)"));
  CHECK_THAT(b.evidence.detail, Catch::Contains("dd[200] waited 800 ms (80.0% of its runnable time)"));
  CHECK_THAT(b.evidence.detail, Catch::Contains("and 15 more; 18 of them kernel threads"));
  std::vector<Bottleneck> all{b};
  const std::string advice = recommend(all).at(0).text;
  CHECK_FALSE(Catch::Contains("thread pool").match(advice));
  CHECK_THAT(advice, Catch::Contains("97.0%"));

  // Under 95 % it is high; under cpu_usage_warning the machine is not saturated: the waits are
  // told once, as contention, and the hogs are CPU-bound each on its one thread.
  p.system.machine_cpu_pct = 90;
  CHECK(only(p, "cpu-saturation:machine").severity == "high");
  CHECK(only(p, "cpu-saturation:machine").evidence.threshold == 85);
  PerformanceThresholds th;
  th.cpu_usage_warning = 92;
  std::vector<Bottleneck> bs = identify_bottlenecks(p, th);
  std::set<std::string> ids;
  for (const auto& x : bs) ids.insert(x.id);
  CHECK(ids == std::set<std::string>{"cpu-contention:machine", "cpu-bound:stress-ng-cpu[100]",
                                     "cpu-bound:stress-ng-cpu[101]"});
  std::string texts;
  for (const auto& r : recommend(bs)) texts += r.text + "\n";
  INFO(texts);
  CHECK_FALSE(Catch::Contains("thread pool").match(texts));
  CHECK_THAT(texts, Catch::Contains("only reflect the contention"));
  CHECK_THAT(texts, Catch::Contains("one CPU is its ceiling"));
  const Bottleneck* contention = find(bs, "cpu-contention:machine");
  REQUIRE(contention);
  CHECK(contention->evidence.value == Approx(100.0 * (0.8 + 18 * 0.05) / (1.0 + 18 * 0.07)));

  // Reports without /proc/stat's figure: in system scope the processes' total is the machine's.
  p.system.machine_cpu_pct = 0;
  CHECK(only(p, "cpu-saturation:machine").evidence.value == Approx(p.system.totals.cpu_pct / 2));
}

TEST_CASE("scheduling: a process whose own threads want more CPUs than there are waits for itself", "[analysis]") {
  Profile p = healthy();  // 4 CPUs, 10 s
  ResourceUsage& u = server(p).usage;
  u.cpu_time_ns = 30'000'000'000;
  u.off_cpu_ns.runqueue = 15'000'000'000;  // 4.5 threads wanted a CPU on average
  Bottleneck b = only(p, "runqueue-wait:server[4242]");
  CHECK(b.category == "scheduling");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == Approx(100.0 * 15 / 45).epsilon(1e-12));
  CHECK(b.evidence.threshold == 20);
  CHECK_THAT(b.evidence.detail, Catch::Contains("its threads wanted 4.50 CPUs on average, the machine has 4"));
  std::vector<Bottleneck> one{b};
  CHECK_THAT(recommend(one).at(0).text, Catch::Contains("Size its thread pools to fewer runnable threads than CPUs"));

  u.off_cpu_ns.runqueue = 35'000'000'000;
  b = only(p, "runqueue-wait:server[4242]");
  CHECK(b.severity == "high");
  CHECK(b.evidence.threshold == 50);
}

// A demand that shows as the machine's CPUs (4.004 on 4 is a tick of counter lag) is not its
// own story: the finding would read "wanted 4.00 CPUs, the machine has 4" under a title that
// says more than there are.
TEST_CASE("scheduling: a demand that rounds to the machine's CPUs is contention, never its own thread pool",
          "[analysis]") {
  Profile p = healthy();  // 4 CPUs, 10 s
  ResourceUsage& u = server(p).usage;
  u.cpu_time_ns = 30'000'000'000;
  u.off_cpu_ns.runqueue = 10'040'000'000;  // 4.004 threads wanted a CPU on average
  CHECK_FALSE(find(identify_bottlenecks(p, {}), "runqueue-wait:server[4242]"));
  u.off_cpu_ns.runqueue = 10'060'000'000;  // 4.006: shown as 4.01
  CHECK_THAT(only(p, "runqueue-wait:server[4242]").evidence.detail,
             Catch::Contains("its threads wanted 4.01 CPUs on average, the machine has 4"));
}

TEST_CASE("scheduling: a process that waits behind other work is contention, not its thread pool", "[analysis]") {
  Profile p = healthy();
  ResourceUsage& u = server(p).usage;
  u.cpu_time_ns = 1000000000;
  u.off_cpu_ns.runqueue = 300000000;
  Bottleneck b = only(p, "cpu-contention:machine");
  CHECK(b.category == "scheduling");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == Approx(100.0 * 3e8 / 1.3e9).epsilon(1e-12));
  CHECK(b.evidence.threshold == 20);
  CHECK(b.affects.pid == kPid);
  CHECK_THAT(b.title, Catch::Contains("server[4242] waited for a CPU 23.1% of the time it was runnable"));

  u.off_cpu_ns.runqueue = 1500000000;
  b = only(p, "cpu-contention:machine");
  CHECK(b.severity == "high");
  CHECK(b.evidence.value == Approx(60).epsilon(1e-12));
  CHECK(b.evidence.threshold == 50);
}

TEST_CASE("io: a process waiting on I/O, and a slow disk", "[analysis]") {
  Profile p = healthy();
  ResourceUsage& u = server(p).usage;
  u.cpu_time_ns = 1000000000;
  u.off_cpu_ns = {10000000, 1000000000, 500000000};
  Bottleneck b = only(p, "io-wait:server[4242]");
  CHECK(b.category == "io");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == Approx(100.0 * 1e9 / 2.51e9).epsilon(1e-12));
  CHECK(b.evidence.threshold == 30);

  u.off_cpu_ns.io = 3000000000;
  b = only(p, "io-wait:server[4242]");
  CHECK(b.severity == "high");
  CHECK(b.evidence.value == Approx(100.0 * 3e9 / 4.51e9).epsilon(1e-12));
  CHECK(b.evidence.threshold == 60);

  p = healthy();
  p.system.disks[0].total_ns.summary.p99 = 60000000;
  b = only(p, "disk-latency:vda");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == 60000000);
  CHECK(b.evidence.threshold == 50000000);
  CHECK(b.affects.device == "vda");
  p.system.disks[0].total_ns.summary.p99 = 600000000;
  CHECK(only(p, "disk-latency:vda").severity == "high");
}

TEST_CASE("io: off-CPU stacks name the function the waits are in", "[analysis]") {
  Profile p = healthy();
  StackProfile& oc = p.off_cpu;
  oc.enabled = true;
  oc.unit = "ns";
  oc.frames = {{"main", "/srv", false, ""},
               {"write_records", "/srv", false, ""},
               {"[off-cpu: io]", "[off-cpu]", true, ""},
               {"[off-cpu: sleep]", "[off-cpu]", true, ""},
               {"wait_lock", "/srv", false, ""},
               {"[off-cpu: runnable]", "[off-cpu]", true, ""}};
  // write_records: 100 calls of 2 ms = 200 ms; 150 ms of it in I/O wait, 10 ms asleep.
  oc.stacks = {{kPid, kPid + 1, {0, 1, 2}, 150000000},
               {kPid, kPid + 1, {0, 1, 3}, 10000000},
               {kPid, kPid + 1, {0, 2}, 900000000},  // I/O outside it
               {kPid, kPid + 1, {0, 4, 3}, 700000000},
               {kPid, kPid + 1, {0, 4, 5}, 50000000}};
  oc.samples = 1810000000;
  // wait_lock: 1000 calls of 1 ms, 700 ms of it asleep.
  p.functions.push_back(function("wait_lock", 1000, 1e6, 3000000));
  std::vector<Bottleneck> bs = identify_bottlenecks(p, {});
  REQUIRE(bs.size() == 2);
  const Bottleneck* io = find(bs, "io-bound-function:write_records");
  REQUIRE(io);
  CHECK(io->severity == "high");
  CHECK(io->category == "io");
  CHECK(io->evidence.metric == "off_cpu.io_share");
  CHECK(io->evidence.value == Approx(75).epsilon(1e-12));
  CHECK(io->evidence.threshold == 50);
  CHECK(io->evidence.data_share == Approx(0.8).epsilon(1e-12));
  CHECK(io->affects.function == "write_records");
  const Bottleneck* sleep = find(bs, "sleep-bound-function:wait_lock");
  REQUIRE(sleep);
  CHECK(sleep->severity == "medium");
  // 700 ms of its 1 s, less the 50 ms it waited for a CPU: 700 / 950.
  CHECK(sleep->evidence.value == Approx(100.0 * 700 / 950).epsilon(1e-12));
  CHECK(sleep->evidence.data_share == Approx(0.75).epsilon(1e-12));
  CHECK(bs[0].id == io->id);  // high before medium
}

TEST_CASE("io: without off-CPU stacks, a function filling an I/O-bound process is named by correlation",
          "[analysis]") {
  Profile p = healthy();
  p.functions[1].latency.total = 6000000000;  // 60% of the 10 s session
  ResourceUsage& u = server(p).usage;
  u.cpu_time_ns = 1000000000;
  u.off_cpu_ns = {10000000, 1000000000, 500000000};  // io share 39.8%: io-wait medium as well
  std::vector<Bottleneck> bs = identify_bottlenecks(p, {});
  const Bottleneck* b = find(bs, "io-bound-function:write_records");
  REQUIRE(b);
  CHECK(find(bs, "io-wait:server[4242]"));
  CHECK(bs.size() == 2);
  CHECK(b->severity == "medium");
  CHECK(b->evidence.metric == "process.off_cpu.io_share");
  CHECK(b->evidence.value == Approx(100.0 * 1e9 / 2.51e9).epsilon(1e-12));
  CHECK(b->evidence.data_share < 0.5);
  CHECK_THAT(b->evidence.detail, Catch::Contains("correlation"));
  std::vector<Recommendation> recs = recommend(bs);
  bool names_off_cpu = std::any_of(recs.begin(), recs.end(), [](const Recommendation& r) {
    return r.id == "rec:io-bound-function:write_records" && r.text.find("--off-cpu") != std::string::npos;
  });
  CHECK(names_off_cpu);
}

TEST_CASE("memory: machine pressure, major faults", "[analysis]") {
  Profile p = healthy();
  p.system.memory_used_pct_peak = 80;
  Bottleneck b = only(p, "memory-pressure:machine");
  CHECK(b.category == "memory");
  CHECK(b.severity == "high");
  CHECK(b.evidence.value == 80);
  CHECK(b.evidence.threshold == 75);
  p.system.memory_used_pct_peak = 97;
  b = only(p, "memory-pressure:machine");
  CHECK(b.severity == "critical");
  CHECK(b.evidence.threshold == 95);

  p = healthy();
  server(p).usage.faults.major = 150;
  b = only(p, "major-faults:server[4242]");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == 150);
  CHECK(b.evidence.threshold == 100);
  CHECK(b.evidence.unit == "count");
}

TEST_CASE("memory: RSS that keeps growing is a possible leak, at the planted rate", "[analysis]") {
  Profile p = healthy();
  // 1 GiB growing 200 KiB/s over 60 s: 11.7 MiB/min, under the 17 MiB/min that doubles it in an hour.
  const double rate = 200 * 1024;
  plant_rss_growth(p, 1ull << 30, rate, 60);
  Bottleneck b = only(p, "rss-growth:server[4242]");
  CHECK(b.category == "memory");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.unit == "bytes/min");
  CHECK(b.evidence.value == Approx(rate * 60).epsilon(0.01));
  CHECK_THAT(b.evidence.detail, Catch::Contains("anon"));
  CHECK_THAT(b.title, Catch::Contains("possible memory leak"));

  // 100 MiB growing 1 MiB/s: doubles in well under an hour.
  plant_rss_growth(p, 100ull << 20, 1 << 20, 30);
  b = only(p, "rss-growth:server[4242]");
  CHECK(b.severity == "high");
  CHECK(b.evidence.value == Approx(60.0 * (1 << 20)).epsilon(0.01));
  CHECK(b.evidence.threshold == Approx(static_cast<double>(p.system.series.back().rss_bytes) / 60));

  // Too few intervals to tell, and a flat series: nothing.
  plant_rss_growth(p, 100ull << 20, 1 << 20, 7);
  CHECK(identify_bottlenecks(p, {}).empty());
  plant_rss_growth(p, 100ull << 20, 0, 30);
  CHECK(identify_bottlenecks(p, {}).empty());
}

TEST_CASE("memory: reads after every process exited do not hide a leak, nor make one", "[analysis]") {
  Profile p = healthy();
  // A command that grew 1 MiB/s for 30 s and exited: the last reads hold nothing.
  plant_rss_growth(p, 100ull << 20, 1 << 20, 30);
  for (int i = 0; i < 2; i++) {
    SeriesSample gone = p.system.series.back();
    gone.t += 1;
    gone.rss_bytes = 0;
    p.system.series.push_back(gone);
  }
  p.system.totals.memory = {};  // nothing alive at the end
  server(p).exited = true;
  server(p).usage.memory.anon_bytes = 130ull << 20;
  Bottleneck b = only(p, "rss-growth:server[4242]");
  CHECK(b.severity == "high");
  CHECK(b.evidence.value == Approx(60.0 * (1 << 20)).epsilon(0.01));
  CHECK_THAT(b.evidence.detail, Catch::Contains("over 30 intervals"));
  CHECK_THAT(b.evidence.detail, Catch::Contains("anon 130 MiB"));

  // Flat while alive, then gone: no leak.
  plant_rss_growth(p, 100ull << 20, 0, 30);
  SeriesSample gone = p.system.series.back();
  gone.t += 1;
  gone.rss_bytes = 0;
  p.system.series.push_back(gone);
  CHECK(identify_bottlenecks(p, {}).empty());
}

TEST_CASE("network: retransmits against the sends", "[analysis]") {
  Profile p = healthy();
  NetTraffic& n = server(p).usage.net;
  n.tx_calls = 100;
  n.retransmits = 3;
  Bottleneck b = only(p, "tcp-retransmits:server[4242]");
  CHECK(b.category == "network");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == Approx(3).epsilon(1e-12));
  CHECK(b.evidence.threshold == 1);
  n.retransmits = 10;
  b = only(p, "tcp-retransmits:server[4242]");
  CHECK(b.severity == "high");
  CHECK(b.evidence.threshold == 5);
  n.tx_calls = 0;
  n.retransmits = 2;
  b = only(p, "tcp-retransmits:server[4242]");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == 2);
  CHECK(b.evidence.unit == "count");
  n.tx_calls = 1000;
  n.retransmits = 1;  // 0.1%
  CHECK(identify_bottlenecks(p, {}).empty());
}

TEST_CASE("data quality: losses, probe overhead, no calibration", "[analysis]") {
  Profile p = healthy();
  p.events.lost = 5;
  p.events.lost_by_reason = {{"ringbuf_full", 5}};
  Bottleneck b = only(p, "lost-events:events");
  CHECK(b.category == "data-quality");
  CHECK(b.severity == "low");
  CHECK(b.evidence.value == Approx(100.0 * 5 / 2205).epsilon(1e-12));
  CHECK_THAT(b.evidence.detail, Catch::Contains("5 ringbuf_full"));
  p.events.lost = 50;
  CHECK(only(p, "lost-events:events").severity == "high");

  p = healthy();
  p.stacks.enabled = true;
  p.stacks.samples = 1000;
  p.stacks.lost = 3;
  CHECK(only(p, "lost-events:stacks").severity == "low");
  p = healthy();
  p.off_cpu.enabled = true;
  p.off_cpu.lost = 3;
  CHECK(only(p, "lost-events:off_cpu").evidence.value == 3);
  p = healthy();
  p.system.lost_by_reason = {{"block_map_full", 2}, {"sched_map_full", 0}};
  CHECK(only(p, "lost-events:system").evidence.value == 2);

  p = healthy();
  p.overhead.target_slowdown_pct = 8;
  p.functions[1].overhead_pct = 6;
  b = only(p, "probe-overhead:target");
  CHECK(b.severity == "medium");
  CHECK(b.evidence.value == 8);
  CHECK(b.evidence.threshold == 5);
  CHECK(b.affects.function == "write_records");

  p = healthy();
  p.calibration.method = "none";
  b = only(p, "uncalibrated:probes");
  CHECK(b.severity == "low");
  CHECK(b.evidence.value == 2);
  p.functions.clear();
  CHECK(identify_bottlenecks(p, {}).empty());
}

TEST_CASE("bottlenecks are sorted by severity, then evidence value", "[analysis]") {
  Profile p = healthy();
  server(p).usage.cpu_pct = 90;                            // medium, 90
  p.system.memory_used_pct_peak = 80;                      // high, 80
  p.system.disks[0].total_ns.summary.p99 = 60000000;       // medium
  p.functions[0].latency.mean = 7e8;                       // critical
  p.functions[0].latency.total = 700000000000;
  p.session.duration_s = 1000;
  std::vector<Bottleneck> bs = identify_bottlenecks(p, {});
  REQUIRE(bs.size() == 4);
  CHECK(bs[0].id == "slow-function:parse");
  CHECK(bs[1].id == "memory-pressure:machine");
  CHECK(bs[2].id == "disk-latency:vda");        // medium, 60 ms
  CHECK(bs[3].id == "cpu-bound:server[4242]");  // medium, 90 %
}

namespace {

Bottleneck bottleneck(const std::string& id, const std::string& category, const std::string& severity) {
  Bottleneck b;
  b.id = id;
  b.category = category;
  b.severity = severity;
  return b;
}

// One profile with every rule's problem planted.
Profile everything_wrong() {
  Profile p = healthy();
  p.functions[0].latency.p99 = 600000000;
  ResourceUsage& u = server(p).usage;
  u.cpu_pct = 390;
  u.cpu_time_ns = 1000000000;
  u.off_cpu_ns = {1500000000, 3000000000, 500000000};
  u.faults.major = 150;
  u.net.tx_calls = 100;
  u.net.retransmits = 10;
  p.system.memory_used_pct_peak = 80;
  p.system.disks[0].total_ns.summary.p99 = 600000000;
  plant_rss_growth(p, 100ull << 20, 1 << 20, 30);
  p.functions[1].latency.total = 20000000000;  // 2/3 of the session, in an I/O-bound process
  p.events.lost = 50;
  p.stacks.enabled = true;
  p.stacks.samples = 100;
  p.stacks.lost = 3;
  p.system.lost_by_reason = {{"block_map_full", 2}};
  p.overhead.target_slowdown_pct = 8;
  p.calibration.method = "none";
  return p;
}

}  // namespace

TEST_CASE("health: the points, the grades, the floor", "[analysis]") {
  HealthScore h = health_score({bottleneck("cpu-saturation:x", "cpu", "high"), bottleneck("slow-function:f", "latency", "low")});
  CHECK(h.score == 82);
  CHECK(h.grade == "B");
  REQUIRE(h.deductions.size() == 2);
  CHECK(h.deductions[0].bottleneck == "cpu-saturation:x");
  CHECK(h.deductions[0].severity == "high");
  CHECK(h.deductions[0].points == 15);
  CHECK(h.deductions[1].points == 3);

  // Data-quality findings count half.
  CHECK(health_score({bottleneck("lost-events:events", "data-quality", "high")}).score == 92.5);
  CHECK(health_score({bottleneck("a", "cpu", "critical")}).score == 70);
  CHECK(health_score({bottleneck("a", "cpu", "critical")}).grade == "C");
  CHECK(health_score({bottleneck("a", "io", "medium")}).score == 93);
  CHECK(health_score({bottleneck("a", "io", "medium")}).grade == "A");
  CHECK(health_score({bottleneck("a", "cpu", "critical"), bottleneck("b", "io", "medium"), bottleneck("c", "io", "low")})
            .grade == "D");  // 60
  std::vector<Bottleneck> many(5, bottleneck("a", "cpu", "critical"));
  CHECK(health_score(many).score == 0);
  CHECK(health_score(many).grade == "F");
  CHECK(health_score({}).score == 100);
}

TEST_CASE("health: adding any bottleneck never raises the score", "[analysis]") {
  std::vector<Bottleneck> all = identify_bottlenecks(everything_wrong(), {});
  // Every rule is represented.
  std::set<std::string> rules;
  for (const auto& b : all) rules.insert(b.id.substr(0, b.id.find(':')));
  for (const char* rule : {"slow-function", "cpu-bound", "cpu-contention", "io-wait", "disk-latency",
                           "io-bound-function", "memory-pressure", "major-faults", "rss-growth", "tcp-retransmits",
                           "lost-events", "probe-overhead", "uncalibrated"})
    CHECK(rules.count(rule) == 1);
  // In order, in reverse order, and each kind alone on top of the others.
  for (bool reverse : {false, true}) {
    std::vector<Bottleneck> list;
    double last = health_score(list).score;
    for (size_t i = 0; i < all.size(); i++) {
      list.push_back(all[reverse ? all.size() - 1 - i : i]);
      double now = health_score(list).score;
      CHECK(now <= last);
      CHECK(now >= 0);
      last = now;
    }
  }
  for (size_t i = 0; i < all.size(); i++) {
    std::vector<Bottleneck> without = all;
    without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
    CHECK(health_score(all).score <= health_score(without).score);
  }
  CHECK(health_score(all).score == 0);
}

TEST_CASE("recommendations name the subject and a measured figure, and point at their bottleneck", "[analysis]") {
  Profile p = everything_wrong();
  std::vector<Bottleneck> bs = identify_bottlenecks(p, {});
  std::vector<Recommendation> recs = recommend(bs);
  REQUIRE(recs.size() == bs.size());
  for (const auto& r : recs) {
    INFO(r.id << ": " << r.text);
    CHECK(r.id.rfind("rec:", 0) == 0);
    REQUIRE(r.because.size() == 1);
    const Bottleneck* b = find(bs, r.because[0]);
    REQUIRE(b);
    CHECK(r.id == "rec:" + b->id);
    REQUIRE(b->recommendations.size() == 1);
    CHECK(b->recommendations[0] == r.id);
    // The subject: the function, the process, the device, or the machine / the probes.
    std::string subject = !b->affects.function.empty() ? b->affects.function
                          : !b->affects.comm.empty()   ? b->affects.comm
                          : !b->affects.device.empty() ? b->affects.device
                                                       : "";
    if (!subject.empty()) CHECK_THAT(r.text, Catch::Contains(subject));
    // A figure of the evidence, in one of the forms the texts use.
    const double v = b->evidence.value;
    std::vector<std::string> forms = {fmt::format("{:.1f}", v), fmt::format("{:.0f}", v), fmt::format("{:.2f}", v),
                                      format_duration_ns(v), format_bytes(v)};
    CHECK(std::any_of(forms.begin(), forms.end(), [&](const std::string& f) { return r.text.find(f) != std::string::npos; }));
  }
  // Specific advice, not generic text.
  auto text_of = [&](const std::string& id) {
    for (const auto& r : recs)
      if (r.id == id) return r.text;
    return std::string();
  };
  CHECK_THAT(text_of("rec:cpu-contention:machine"), Catch::Contains("fewer threads would not help"));
  CHECK_THAT(text_of("rec:cpu-contention:machine"), Catch::Contains("60.0%"));
  CHECK_THAT(text_of("rec:io-bound-function:write_records"), Catch::Contains("fsync"));
  CHECK_THAT(text_of("rec:rss-growth:server[4242]"), Catch::Contains("/min"));
  CHECK_THAT(text_of("rec:rss-growth:server[4242]"), Catch::Contains("anon"));
  // Every hint names an option that exists (there is no ring buffer size option).
  CHECK_THAT(text_of("rec:lost-events:events"), Catch::Contains("-f patterns"));
  CHECK_THAT(text_of("rec:lost-events:events"), Catch::Contains("--sample-freq"));
  CHECK_FALSE(Catch::Contains("ring buffer").match(text_of("rec:lost-events:events")));
}

TEST_CASE("trends: every series of the profile, the planted growth found", "[analysis]") {
  Profile p = healthy();
  plant_rss_growth(p, 100ull << 20, 1 << 20, 30);
  for (int i = 1; i <= 6; i++) p.functions[0].series.push_back({static_cast<double>(i), 10, 1000, 2000 + 100u * static_cast<uint64_t>(i), 5000});
  p.functions[1].series = {{1, 0, 0, 0, 0}, {2, 5, 1, 2, 3}};  // too few intervals with calls
  std::vector<Trend> ts = analyze_trends(p);
  auto trend = [&](const std::string& series) -> const Trend* {
    for (const auto& t : ts)
      if (t.series == series) return &t;
    return nullptr;
  };
  for (const char* s : {"system.cpu_pct", "system.rss_bytes", "system.disk_bytes_per_s", "system.net_bytes_per_s",
                        "system.runqueue_p99_ns", "system.memory_used_pct", "function:parse.p99"})
    CHECK(trend(s));
  CHECK_FALSE(trend("function:write_records.p99"));
  CHECK_FALSE(trend("system.machine_cpu_pct"));  // a report without /proc/stat's figure
  p.system.machine_cpu_pct = 55;
  for (auto& x : p.system.series) x.machine_cpu_pct = 50 + x.t;
  ts = analyze_trends(p);
  REQUIRE(trend("system.machine_cpu_pct"));
  CHECK(trend("system.machine_cpu_pct")->slope_per_s == Approx(1));
  const Trend* rss = trend("system.rss_bytes");
  REQUIRE(rss);
  CHECK(rss->direction == "increasing");
  CHECK(rss->unit == "bytes");
  CHECK(rss->slope_per_s == Approx(1 << 20).epsilon(0.01));
  CHECK(rss->samples == 30);
  CHECK(rss->p_value < 0.01);
  CHECK(trend("system.cpu_pct")->direction == "stable");
  const Trend* parse = trend("function:parse.p99");
  CHECK(parse->direction == "increasing");
  CHECK(parse->slope_per_s == Approx(100));
  CHECK(parse->unit == "ns");

  // A flat profile: no significant trend, and no leak.
  Profile flat = healthy();
  plant_rss_growth(flat, 100ull << 20, 0, 30);
  for (const auto& t : analyze_trends(flat)) CHECK(t.direction == "stable");
  CHECK(identify_bottlenecks(flat, {}).empty());
}

TEST_CASE("cross-run trends: p99 growing 10% a run is increasing, per run", "[analysis]") {
  std::vector<Profile> runs;
  for (int i = 0; i < 5; i++) {
    Profile p = healthy();
    p.session.start_monotonic_ns = 1000000000ull * static_cast<uint64_t>(i + 1);
    p.functions[0].latency.p99 = static_cast<uint64_t>(1e6 * std::pow(1.1, i));
    runs.push_back(p);
  }
  std::swap(runs[0], runs[3]);  // given out of order: sorted by start
  std::vector<Trend> ts = cross_run_trends(runs);
  const Trend* parse = nullptr;
  const Trend* writes = nullptr;
  for (const auto& t : ts) {
    if (t.series == "runs:function:parse.p99") parse = &t;
    if (t.series == "runs:function:write_records.p99") writes = &t;
  }
  REQUIRE(parse);
  CHECK(parse->direction == "increasing");
  CHECK(parse->samples == 5);
  CHECK(parse->slope_per_s > 100000);  // ns per run: about 10% of 1 ms
  CHECK(parse->slope_per_s < 150000);
  REQUIRE(writes);
  CHECK(writes->direction == "stable");
}

TEST_CASE("analyze_profile fills the section and keeps the live alerts", "[analysis]") {
  Profile p = everything_wrong();
  p.analysis.alerts = {{3, "machine_cpu_pct", "machine", 97.5, 85, "%"}};
  PerformanceThresholds th;
  th.memory_usage_warning = 70;
  AnalysisSection a = analyze_profile(p, th);
  CHECK(a.enabled);
  CHECK(a.thresholds.memory_usage_warning == 70);
  REQUIRE(a.alerts.size() == 1);
  CHECK(a.alerts[0].value == 97.5);
  CHECK(a.bottlenecks.size() == a.recommendations.size());
  CHECK(a.health.deductions.size() == a.bottlenecks.size());
  CHECK(a.health.score == health_score(a.bottlenecks).score);
  for (const auto& b : a.bottlenecks) CHECK(b.recommendations.size() == 1);
  CHECK_FALSE(a.trends.empty());
}

TEST_CASE("cpu: with sampled stacks, a CPU-bound process names its hottest function", "[analysis]") {
  Profile p = healthy();
  server(p).usage.cpu_pct = 95;
  p.stacks.enabled = true;
  p.stacks.frames = {{"main", "/srv/server", false, ""}, {"hot_loop", "/srv/server", false, ""},
                     {"cold_path", "/srv/server", false, ""}, {"do_syscall_64", "[kernel]", true, ""}};
  p.stacks.frames.push_back({kPerfbpfProbeFrame, "[perfbpf]", true, ""});
  p.stacks.stacks = {{kPid, kPid, {0, 1}, 70}, {kPid, kPid, {0, 2}, 20}, {kPid, kPid, {0, 3}, 10},
                     {999, 999, {0, 2}, 500},        // another process's samples do not count
                     {kPid, kPid, {0, 2, 4}, 400}};  // nor do perfbpf's probes
  Bottleneck b = only(p, "cpu-bound:server[4242]");
  CHECK(b.affects.function == "hot_loop");
  CHECK_THAT(b.evidence.detail, Catch::Contains("hot_loop (70.0% of its samples)"));
  std::vector<Bottleneck> all{b};
  std::vector<Recommendation> r = recommend(all);
  REQUIRE(r.size() == 1);
  CHECK_THAT(r[0].text, Catch::Contains("Optimise hot_loop (the hottest function in its sampled stacks)"));
}
