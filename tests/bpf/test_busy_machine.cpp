// Health on a busy machine: a machine saturated by stress-ng is one finding that names who took
// the CPU and who waited, with advice that fits them; cpu_usage_warning is compared with the
// machine's utilisation, checked against /proc/stat read by the test at the same moments.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <thread>

#include "collect/procfs.h"
#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using perfbpf::test::workload;

namespace {

double busy_pct(const CpuTimes& a, const CpuTimes& b) {
  return 100.0 * static_cast<double>(b.busy_ticks - a.busy_ticks) / static_cast<double>(b.total_ticks - a.total_ticks);
}

std::string ids(const Profile& p) {
  std::string out;
  for (const auto& b : p.analysis.bottlenecks) out += b.id + " (" + b.severity + ") ";
  return out;
}

const ProcessResources* row_of(const Profile& p, uint32_t pid) {
  for (const auto& proc : p.system.processes)
    if (proc.pid == pid) return &proc;
  return nullptr;
}

// What the cpu and scheduling findings may be on any machine: the machine's, once; a process's
// own run-queue wait only when its threads wanted more CPUs than there are, and never a kernel
// thread's; no advice to size thread pools but there.
void check_cpu_findings(const Profile& p) {
  for (const auto& b : p.analysis.bottlenecks) {
    INFO(b.id << ": " << b.evidence.detail);
    if (b.id.rfind("runqueue-wait:", 0) == 0) {
      std::smatch m;
      REQUIRE(std::regex_search(b.evidence.detail, m, std::regex("wanted ([0-9.]+) CPUs on average")));
      CHECK(std::stod(m[1]) > p.system.cpus);
      const ProcessResources* proc = row_of(p, b.affects.pid);
      REQUIRE(proc);
      CHECK(proc->ppid != 2);
    }
  }
  for (const auto& r : p.analysis.recommendations) {
    INFO(r.id << ": " << r.text);
    if (r.id.rfind("rec:runqueue-wait:", 0) != 0) CHECK_FALSE(Catch::Contains("thread pool").match(r.text));
  }
}

}  // namespace

TEST_CASE("analysis: a machine saturated by stress-ng is one finding naming who took the CPU and who waited",
          "[bpf][analysis]") {
  const unsigned cpus = std::thread::hardware_concurrency();
  // One single-threaded worker more than there are CPUs: saturated whatever else runs.
  test::Spawned stress =
      test::spawn({"/usr/bin/stress-ng", "--cpu", std::to_string(cpus + 1), "--timeout", "20", "--quiet"});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // its workers forked and running
  SessionOptions o;
  o.handle_signals = false;
  o.sample_freq = 0;
  o.system_wide = true;
  o.duration_s = 3;
  o.interval_s = 0.5;
  o.top_n = 100000;  // every process in the report, to check the finding against
  std::vector<Alert> live;
  o.on_alert = [&](const Alert& a) { live.push_back(a); };
  const CpuTimes before = ProcFs().cpu_times();
  Profile p = run_session(o);
  const CpuTimes after = ProcFs().cpu_times();
  kill(stress.pid, SIGTERM);
  test::finish(stress);

  const double truth = busy_pct(before, after);
  INFO("bottlenecks: " << ids(p) << "; /proc/stat around the session: " << truth << "% busy");
  const Bottleneck* machine = nullptr;
  for (const auto& b : p.analysis.bottlenecks) {
    if (b.id == "cpu-saturation:machine") machine = &b;
    // The workers and the processes waiting behind them are told in the machine's finding.
    CHECK(b.id.rfind("cpu-bound:", 0) != 0);
    CHECK(b.id.rfind("cpu-contention:", 0) != 0);
    CHECK(b.id.rfind("runqueue-wait:stress-ng", 0) != 0);
  }
  REQUIRE(machine);
  INFO(machine->title << ": " << machine->evidence.detail);
  CHECK(machine->evidence.metric == "system.machine_cpu_pct");
  // The session lies inside the test's two reads, a few ms shorter: ticks of 10 ms on each CPU.
  CHECK(std::abs(machine->evidence.value - truth) <= 5);
  CHECK(machine->evidence.value > o.thresholds.cpu_usage_warning);

  // Who took the CPU: the busiest processes of the report, first named first (other tenants of
  // a shared machine may have taken more than the workers).
  const ProcessResources* busiest = nullptr;
  for (const auto& proc : p.system.processes)
    if (!busiest || proc.usage.cpu_time_ns > busiest->usage.cpu_time_ns) busiest = &proc;
  REQUIRE(busiest);
  CHECK_THAT(machine->evidence.detail,
             Catch::Contains("the CPU went to " + busiest->comm + "[" + std::to_string(busiest->pid) + "]"));
  // Who waited: every process that waited over 20 % of its runnable time without wanting more
  // CPUs than there are, counted in the title; the workers among them.
  const double session_ns = p.session.duration_s * 1e9;
  size_t waited = 0, workers = 0;
  for (const auto& proc : p.system.processes) {
    const ResourceUsage& u = proc.usage;
    const double sched = static_cast<double>(u.cpu_time_ns + u.off_cpu_ns.runqueue);
    const bool waits = sched >= 10e6 && static_cast<double>(u.off_cpu_ns.runqueue) > 0.2 * sched && sched <= cpus * session_ns;
    waited += waits;
    if (proc.comm == "stress-ng-cpu" && proc.ppid == static_cast<uint32_t>(stress.pid)) {
      workers++;
      INFO("worker " << proc.pid << ": on CPU " << u.cpu_time_ns << " ns, run queue " << u.off_cpu_ns.runqueue << " ns");
      CHECK(waits);  // one worker more than CPUs: each waits at least a third of the time
    }
  }
  CHECK(workers == cpus + 1);
  CHECK_THAT(machine->title, Catch::Contains(std::to_string(waited) + " processes waited for a CPU"));
  CHECK_THAT(machine->evidence.detail, Catch::Contains("waiting for a CPU: "));
  check_cpu_findings(p);

  // The live alert: the machine's utilisation, once, in the first interval over the threshold.
  REQUIRE(live.size() == 1);
  CHECK(live[0].metric == "machine_cpu_pct");
  CHECK(live[0].subject == "machine");
  CHECK(live[0].value > o.thresholds.cpu_usage_warning);
  CHECK(live[0].value <= 100);
}

TEST_CASE("alerts: cpu_usage_warning is the machine's utilisation, not a CPU-bound command's", "[bpf][analysis]") {
  // One thread spinning 1.5 s: 100 % of one CPU, the machine's share depends on what else runs.
  SessionOptions o;
  o.handle_signals = false;
  o.sample_freq = 0;
  o.interval_s = 0.25;
  o.command = {workload("resource_target"), "spin", "1", "1500"};
  struct Interval {
    double perfbpf, truth;
  };
  std::vector<Interval> intervals;
  CpuTimes last = ProcFs().cpu_times();
  o.on_interval = [&](const SeriesSample& s) {
    // Right after perfbpf's own read of /proc/stat for this interval.
    const CpuTimes now = ProcFs().cpu_times();
    intervals.push_back({s.machine_cpu_pct, busy_pct(last, now)});
    last = now;
  };
  std::vector<Alert> live;
  o.on_alert = [&](const Alert& a) { live.push_back(a); };
  Profile p = run_session(o);
  REQUIRE(p.session.exit_code == 0);
  INFO("bottlenecks: " << ids(p));
  REQUIRE(intervals.size() >= 4);
  // Each interval's figure is /proc/stat's over it. The test's reads trail perfbpf's by the
  // callback's delay; the first also began before the session: it is left out.
  for (size_t i = 1; i < intervals.size(); i++) {
    INFO("interval " << i << ": perfbpf " << intervals[i].perfbpf << "%, /proc/stat " << intervals[i].truth << "%");
    CHECK(std::abs(intervals[i].perfbpf - intervals[i].truth) <= 5);
  }
  // An alert when, and only when, the machine's utilisation crossed the threshold.
  size_t crossings = 0;
  bool held = false;
  for (const auto& x : p.system.series) {
    const bool over = x.machine_cpu_pct > o.thresholds.cpu_usage_warning;
    crossings += over && !held;
    held = over;
  }
  CHECK(live.size() == crossings);
  for (const auto& a : live) {
    CHECK(a.metric == "machine_cpu_pct");
    CHECK(a.subject == "machine");
  }

  // The command is CPU-bound on one thread, or one of those that took a saturated machine.
  const std::string subject = "resource_target[" + std::to_string(p.session.pid) + "]";
  const Bottleneck* bound = nullptr;
  const Bottleneck* machine = nullptr;
  for (const auto& b : p.analysis.bottlenecks) {
    if (b.id == "cpu-bound:" + subject) bound = &b;
    if (b.id == "cpu-saturation:machine") machine = &b;
  }
  if (machine) {
    CHECK_THAT(machine->evidence.detail, Catch::Contains(subject));
  } else {
    REQUIRE(bound);
    CHECK_THAT(bound->evidence.detail, Catch::Contains("one thread"));
    for (const auto& r : p.analysis.recommendations)
      if (r.id == "rec:" + bound->id) CHECK_THAT(r.text, Catch::Contains("one CPU is its ceiling"));
  }
  check_cpu_findings(p);
}
