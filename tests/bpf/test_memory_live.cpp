// Resident memory of a changing set of processes: the target's RSS is what its live processes
// hold at each read, checked against the VmRSS that /proc shows for the same processes at the
// same moments; exited processes keep their own peak; churn is not a leak, growth is.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "aggregate/system_aggregate.h"
#include "analysis/trends.h"
#include "collect/procfs.h"
#include "live_session.h"
#include "perfbpf/session.h"
#include "process.h"
#include "session/resource_monitor.h"
#include "session/system_info.h"

using namespace perfbpf;
using perfbpf::test::key_values;
using perfbpf::test::row_of;
using perfbpf::test::run_while;
using perfbpf::test::send;
using perfbpf::test::workload;

namespace {

// A cgroup v2 directory of the test's own, removed at the end (its processes gone first).
struct TestCgroup {
  std::string dir;
  TestCgroup() {
    const std::string root =
        std::filesystem::exists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
    dir = root + "/perfbpf-memtest-" + std::to_string(getpid());
    REQUIRE(std::filesystem::create_directory(dir));
  }
  void add(pid_t pid) const { std::ofstream(dir + "/cgroup.procs") << pid << "\n"; }
  ~TestCgroup() {
    std::error_code ec;
    std::filesystem::remove(dir, ec);
  }
};

// VmRSS of PIDS as /proc shows them now, and which of them had any.
struct VmRss {
  uint64_t bytes = 0;
  std::map<uint32_t, uint64_t> by_pid;
};

VmRss vm_rss_of(const std::vector<uint32_t>& pids) {
  ProcFs proc;
  VmRss out;
  for (uint32_t pid : pids)
    if (auto m = proc.memory(pid); m && m->vm_rss_bytes > 0) {
      out.bytes += m->vm_rss_bytes;
      out.by_pid[pid] = m->vm_rss_bytes;
    }
  return out;
}

bool has_finding(const Profile& p, const std::string& prefix) {
  return std::any_of(p.analysis.bottlenecks.begin(), p.analysis.bottlenecks.end(),
                     [&](const Bottleneck& b) { return b.id.rfind(prefix, 0) == 0; });
}

constexpr double kRssTolerance = 0.05;  // the bound against VmRSS of the live members

// PID's row in P has the peak the process printed (its VmHWM, "hwm_bytes" of LINE).
void check_peak(const Profile& p, const std::string& pid, const std::map<std::string, std::string>& line) {
  const ProcessResources* row = row_of(p, static_cast<uint32_t>(std::stoul(pid)));
  REQUIRE(row);
  REQUIRE(line.count("hwm_bytes"));
  const double hwm = std::stod(line.at("hwm_bytes"));
  INFO("pid " << pid << ": VmHWM " << hwm << ", perfbpf's peak " << row->usage.memory.rss_peak_bytes);
  CHECK(std::abs(static_cast<double>(row->usage.memory.rss_peak_bytes) - hwm) <= kRssTolerance * hwm);
}

}  // namespace

TEST_CASE("memory: 25 short-lived processes in a cgroup are not a leak, and RSS is the live members' VmRSS",
          "[bpf][memory]") {
  TestCgroup cg;
  // A member that holds 24 MiB throughout, and one that forks the short-lived processes: each
  // touches 8 MiB and exits, between two reads, so at every read only the two are alive.
  test::Spawned holder = test::spawn({workload("memory_target"), "hold", "24"});
  cg.add(holder.pid);
  REQUIRE_THAT(test::read_until(holder.stdout_fd, "\n", 5000), Catch::Contains("vm_rss_bytes="));
  test::Spawned churner = test::spawn({workload("memory_target"), "churn", "8"});
  cg.add(churner.pid);

  SessionOptions o;
  o.handle_signals = false;
  o.sample_freq = 0;
  o.cgroup = cg.dir;
  o.interval_s = 0.25;
  o.duration_s = 4;
  o.top_n = 1000;  // every short-lived process keeps its row
  constexpr int kChildren = 25;
  int forked = 0;
  std::string children;
  struct Reading {
    double t;
    uint64_t perfbpf, vm_rss;
  };
  std::vector<Reading> readings;
  o.on_interval = [&](const SeriesSample& s) {
    // Called right after the read that closed the interval: the members are as they were then.
    readings.push_back({s.t, s.rss_bytes, vm_rss_of(cgroup_pids(cg.dir)).bytes});
    if (forked >= kChildren) return;
    const int n = std::min(2, kChildren - forked);
    send(churner, std::to_string(n) + "\n");
    children += test::read_until(churner.stdout_fd, "done=" + std::to_string(n) + "\n", 10000);
    forked += n;
  };
  Profile p = run_session(o);
  close(holder.stdin_fd);
  close(churner.stdin_fd);
  test::Finished h = test::finish(holder), c = test::finish(churner);
  CHECK(h.exit_code == 0);
  CHECK(c.exit_code == 0);
  REQUIRE(forked == kChildren);

  // At every read, the target's RSS is what /proc says its live members hold.
  REQUIRE(readings.size() >= 8);
  uint64_t truth_peak = 0;
  for (const auto& r : readings) {
    INFO("t " << r.t << " s: perfbpf " << r.perfbpf << " B, VmRSS of the live members " << r.vm_rss << " B");
    CHECK(std::abs(static_cast<double>(r.perfbpf) - static_cast<double>(r.vm_rss)) <=
          kRssTolerance * static_cast<double>(r.vm_rss));
    truth_peak = std::max(truth_peak, r.vm_rss);
  }
  const MemoryUsage& total = p.system.totals.memory;
  INFO("total rss peak " << total.rss_peak_bytes << ", VmRSS peak at the reads " << truth_peak << ", MemTotal "
                         << p.system.memory_total_bytes);
  CHECK(static_cast<double>(total.rss_peak_bytes) <= (1 + kRssTolerance) * static_cast<double>(truth_peak));
  CHECK(total.rss_peak_bytes <= p.system.memory_total_bytes);

  // Each short-lived process keeps its own peak in its row: its VmHWM, as it printed it.
  size_t rows = 0;
  for (const auto& kv : key_values(children)) {
    if (!kv.count("child")) continue;
    const uint32_t pid = static_cast<uint32_t>(std::stoul(kv.at("child")));
    const double hwm = std::stod(kv.at("hwm_bytes"));
    const ProcessResources* row = row_of(p, pid);
    INFO("child " << pid << " VmHWM " << hwm);
    REQUIRE(row);
    rows++;
    CHECK(row->exited);
    CHECK(std::abs(static_cast<double>(row->usage.memory.rss_peak_bytes) - hwm) <= kRssTolerance * hwm);
  }
  CHECK(rows == kChildren);

  // Churn is no leak: the live RSS is flat.
  std::string ids;
  for (const auto& b : p.analysis.bottlenecks) ids += b.id + " ";
  INFO("bottlenecks: " << ids);
  CHECK_FALSE(has_finding(p, "rss-growth:"));
}

TEST_CASE("memory: past 16 384 exited processes, each still has its row and a new one its memory", "[bpf][memory]") {
  // The collector's map has room for 16 384 processes. Nothing took the exited ones out: on
  // a fork-heavy machine it filled with the dead in seconds, and from then on no process, live
  // or not, had its RSS or faults counted (1.6 million events lost in 35 s beside stress-ng
  // --fork 2). 17 000 children that touch 1 MiB and exit, then one that touches 8 MiB.
  TestCgroup cg;
  test::Spawned storm = test::spawn({workload("memory_target"), "churn", "1"});
  cg.add(storm.pid);
  test::Spawned last = test::spawn({workload("memory_target"), "churn", "8"});
  cg.add(last.pid);
  constexpr int kChildren = 17000;
  SessionOptions o;
  o.sample_freq = 0;
  o.collectors = {"memory"};
  o.cgroup = cg.dir;
  o.interval_s = 1;  // drained a read after their exit: a read per second is enough
  o.top_n = 100000;  // every process keeps its row
  std::string stormed, held;
  Profile p = run_while(o, [&] {
    send(storm, std::to_string(kChildren) + "\n");
    stormed = test::read_until(storm.stdout_fd, "done=" + std::to_string(kChildren) + "\n", 300'000);
    send(last, "1\n");
    held = test::read_until(last.stdout_fd, "done=1\n", 30'000);
  });
  close(storm.stdin_fd);
  close(last.stdin_fd);
  CHECK(test::finish(storm).exit_code == 0);
  CHECK(test::finish(last).exit_code == 0);

  // Every child has its row, exited; the truth is the pid each one printed. Measured beside
  // other sessions' builds, a handful (4-6 of 17 000, up to 133 at load 50) had none, all just
  // after the machine's pids wrapped (pid_max 32 768): not understood yet, so bounded at 1 %
  // here, where the old code lost every child past the map's 16 384th (3.6 %).
  size_t children = 0, missing = 0;
  std::string which;
  for (const auto& kv : key_values(stormed)) {
    if (!kv.count("child")) continue;
    children++;
    const ProcessResources* row = row_of(p, static_cast<uint32_t>(std::stoul(kv.at("child"))));
    if ((!row || !row->exited) && missing++ < 5)
      which += kv.at("child") + (row ? " (row, not exited) " : " (no row) ");
  }
  CHECK(children == kChildren);
  INFO("first missing: " << which);
  CHECK(missing <= kChildren / 100);
  // The last child, after them all, has its peak: its VmHWM, as it printed it.
  const auto lines = key_values(held);
  REQUIRE(!lines.empty());
  REQUIRE(lines[0].count("child"));
  check_peak(p, lines[0].at("child"), lines[0]);
  CHECK(p.session.target_set.lost == 0);
  CHECK(p.system.lost_by_reason.count("memory_procs_map_full") == 0);
  CHECK(p.system.lost_by_reason.count("memory_exited_rows_full") == 0);
}

TEST_CASE("memory: a child given the pid of one just reaped is counted, not dropped with the old one's leaving",
          "[bpf][memory]") {
  // A process leaves the target set when its task is freed: an RCU callback after its reaping
  // released the pid, which lazy RCU may hold back for seconds. On a fork-heavy machine
  // (pid_max 32 768 wraps in seconds) a new child of a target may be given that pid meanwhile:
  // its fork found the old entry there, and the old process's leaving then took it, so nothing
  // of the new child was counted. The workload reuses the pid at once (clone3 set_tid); the
  // test then runs the pending RCU callbacks (rcu_barrier), and only then the child works.
  // --pid with its children: they join at fork only (a cgroup's listing would add the child
  // back a sweep later, too late for a short-lived one).
  test::Spawned parent = test::spawn({workload("memory_target"), "reuse", "8"});
  SessionOptions o;
  o.sample_freq = 0;
  o.collectors = {"memory"};
  o.pid = parent.pid;
  o.follow_children = true;
  o.interval_s = 0.25;
  std::string forked, held;
  bool barrier = false;
  Profile p = run_while(o, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the session is attached
    send(parent, "go\n");
    forked = test::read_until(parent.stdout_fd, "\n", 10'000);
    barrier = static_cast<bool>(std::ofstream("/sys/module/rcutree/parameters/do_rcu_barrier") << "1\n");
    send(parent, "touch\n");
    held = test::read_until(parent.stdout_fd, "\n", 10'000);
  });
  close(parent.stdin_fd);
  CHECK(test::finish(parent).exit_code == 0);
  CHECK(barrier);
  const auto pids = key_values(forked), peak = key_values(held);
  REQUIRE(!pids.empty());
  REQUIRE(pids[0].count("reused"));
  REQUIRE(pids[0].at("first") == pids[0].at("reused"));  // the workload did reuse the pid
  REQUIRE(!peak.empty());
  check_peak(p, pids[0].at("reused"), peak[0]);
}

TEST_CASE("memory: one live process growing steadily is a possible leak, at its own rate", "[bpf][memory]") {
  // 1 MiB every 20 ms, kept: ~50 MiB/s for ~2.5 s, sampled every 0.2 s.
  std::string out = test::temp_path("grow.txt");
  SessionOptions o;
  o.handle_signals = false;
  o.sample_freq = 0;
  o.interval_s = 0.2;
  o.command = {"/bin/sh", "-c", "exec " + workload("memory_target") + " grow 1 120 20 > " + out};
  Profile p = run_session(o);
  REQUIRE(p.session.exit_code == 0);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<double> t, y;
  for (const auto& kv : key_values(text)) {
    t.push_back((std::stod(kv.at("t_ns")) - static_cast<double>(p.session.start_monotonic_ns)) / 1e9);
    y.push_back(std::stod(kv.at("vm_rss_bytes")));
  }
  REQUIRE(t.size() == 120);
  // The workload's own VmRSS over the same span as perfbpf's samples, with the same estimator.
  const auto& series = p.system.series;
  std::vector<double> st, sy;
  for (const auto& s : series)
    if (s.rss_bytes > 0) {  // the last read may come after the exit: nothing alive then
      st.push_back(s.t);
      sy.push_back(static_cast<double>(s.rss_bytes));
    }
  REQUIRE(st.size() >= 8);
  std::vector<double> wt, wy;
  for (size_t i = 0; i < t.size(); i++)
    if (t[i] >= st.front() && t[i] <= st.back()) {
      wt.push_back(t[i]);
      wy.push_back(y[i]);
    }
  REQUIRE(wt.size() >= 8);
  const double truth_per_min = 60 * trend_test(wt, wy, 0.01).slope;
  const Bottleneck* leak = nullptr;
  for (const auto& b : p.analysis.bottlenecks)
    if (b.id.rfind("rss-growth:", 0) == 0) leak = &b;
  std::string ids;
  for (const auto& b : p.analysis.bottlenecks) ids += b.id + " ";
  INFO("bottlenecks: " << ids << "; workload's own growth " << truth_per_min << " B/min");
  REQUIRE(leak);
  INFO("perfbpf " << leak->evidence.value << " B/min");
  // Samples every 0.2 s of 1 MiB steps every ~20 ms: the step is under 5 % of what each
  // sample spans, so the two slopes of the same growth agree within 10 %.
  CHECK(std::abs(leak->evidence.value - truth_per_min) <= 0.10 * truth_per_min);
  CHECK(p.system.totals.memory.rss_peak_bytes >= static_cast<uint64_t>(0.95 * y.back()));
  CHECK(p.system.totals.memory.rss_peak_bytes <= static_cast<uint64_t>(1.05 * y.back()));
}

TEST_CASE("memory: system-wide RSS is the live processes' VmRSS at each read, never above the machine's memory",
          "[bpf][memory]") {
  MonitorSettings m;
  m.scope = "system";
  m.interval_s = 0.3;
  CollectorSettings c;
  c.filter_tgid = false;
  ResourceMonitor monitor(m, c);
  // Short-lived processes between the reads, as a busy machine has: each touches 32 MiB and
  // exits; 30 of them summed would be ~1 GiB above what is resident.
  test::Spawned churner = test::spawn({workload("memory_target"), "churn", "32"});
  monitor.start();
  const uint32_t self = static_cast<uint32_t>(getpid());
  auto everyone = [&] {
    std::vector<uint32_t> pids = ProcFs().pids();
    std::erase(pids, self);
    return vm_rss_of(pids);
  };
  // The reads of /proc just before and just after perfbpf's bracket its own; what started or
  // exited in between is the noise the comparison allows for, on top of the 5 %.
  double bound_peak = 0;
  auto bracketed = [&](const std::string& what, const std::function<std::optional<SeriesSample>()>& read) {
    VmRss before = everyone();
    std::optional<SeriesSample> s = read();
    VmRss after = everyone();
    double changed = 0;
    for (const auto& [pid, rss] : before.by_pid)
      if (!after.by_pid.count(pid)) changed += static_cast<double>(rss);
    for (const auto& [pid, rss] : after.by_pid)
      if (!before.by_pid.count(pid)) changed += static_cast<double>(rss);
    const double lo = static_cast<double>(std::min(before.bytes, after.bytes));
    const double hi = static_cast<double>(std::max(before.bytes, after.bytes));
    bound_peak = std::max(bound_peak, (1 + kRssTolerance) * hi + changed);
    if (!s) return;
    INFO(what << ": perfbpf " << s->rss_bytes << " B; VmRSS before " << before.bytes << ", after " << after.bytes
              << "; processes that came or went " << changed << " B");
    CHECK(static_cast<double>(s->rss_bytes) >= (1 - kRssTolerance) * lo - changed);
    CHECK(static_cast<double>(s->rss_bytes) <= (1 + kRssTolerance) * hi + changed);
  };
  for (int i = 0; i < 10; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    bracketed("read " + std::to_string(i), [&] {
      std::optional<SeriesSample> s;
      while (!(s = monitor.poll())) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return s;
    });
    send(churner, "3\n");
    const std::string churned = test::read_until(churner.stdout_fd, "done=3\n", 10000);
    REQUIRE_THAT(churned, Catch::Contains("done=3"));
    // Between the reads the kernel's counters see each child's own high-water mark (VmHWM, which
    // each child prints before it exits): one process's peak is a floor of the machine's.
    for (size_t at = churned.find("hwm_bytes="); at != std::string::npos; at = churned.find("hwm_bytes=", at + 1))
      bound_peak = std::max(bound_peak, (1 + kRssTolerance) * std::stod(churned.substr(at + 10)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  bracketed("final read", [&] {
    monitor.stop();
    return monitor.last_sample();
  });
  close(churner.stdin_fd);
  CHECK(test::finish(churner).exit_code == 0);
  SystemProfile r = monitor.result();
  INFO("rss peak " << r.totals.memory.rss_peak_bytes << ", bound from the reads " << bound_peak << ", MemTotal "
                   << r.memory_total_bytes);
  CHECK(r.totals.memory.rss_peak_bytes <= r.memory_total_bytes);
  CHECK(static_cast<double>(r.totals.memory.rss_peak_bytes) <= bound_peak);
}
