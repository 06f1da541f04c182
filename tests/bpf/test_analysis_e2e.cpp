// The analysis on real sessions: the workload's known behaviour must come out as the right
// bottleneck, naming the right function or process, and alerts must fire once.
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <thread>

#include "analysis/analyze.h"
#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using perfbpf::test::workload;

namespace {

Profile run(std::vector<std::string> args, SessionOptions o = {}) {
  o.handle_signals = false;
  o.sample_freq = 0;
  o.command = {workload("resource_target")};
  o.command.insert(o.command.end(), args.begin(), args.end());
  Profile p = run_session(o);
  REQUIRE(p.session.exit_code == 0);
  REQUIRE(p.analysis.enabled);
  return p;
}

const Bottleneck* find(const Profile& p, const std::string& id_prefix) {
  for (const auto& b : p.analysis.bottlenecks)
    if (b.id.rfind(id_prefix, 0) == 0) return &b;
  return nullptr;
}

std::string ids(const Profile& p) {
  std::string out;
  for (const auto& b : p.analysis.bottlenecks) out += b.id + " (" + b.severity + ") ";
  return out;
}

}  // namespace

TEST_CASE("analysis: a function doing fsync-heavy writes is reported as I/O-bound, by name", "[bpf][analysis]") {
  SessionOptions o;
  o.functions = {"write_record"};
  o.off_cpu = true;
  // After each fsync the thread waits for a CPU, which is runnable time, not I/O: on a machine
  // another tenant keeps busy that wait can outweigh the I/O. The workload (forked by this
  // thread, so it inherits its nice value) runs ahead of such load: the I/O is what is tested.
  const int nice_before = getpriority(PRIO_PROCESS, 0);
  REQUIRE(setpriority(PRIO_PROCESS, 0, -10) == 0);
  Profile p = run({"fsync-writes", "/var/tmp/perfbpf-fsync-" + std::to_string(getpid()), "200"}, o);
  setpriority(PRIO_PROCESS, 0, nice_before);
  INFO("bottlenecks: " << ids(p));
  const Bottleneck* b = find(p, "io-bound-function:");
  REQUIRE(b);
  CHECK(b->category == "io");
  CHECK(b->affects.function == "write_record");
  CHECK(b->evidence.value > 50);  // % of the function's time in I/O wait
  CHECK(p.analysis.health.score < 90);
  CHECK_FALSE(b->recommendations.empty());
}

TEST_CASE("analysis: more spinners than CPUs is reported as CPU saturation", "[bpf][analysis]") {
  const unsigned cpus = std::thread::hardware_concurrency();
  Profile p = run({"spin", std::to_string(2 * cpus), "400"});
  INFO("bottlenecks: " << ids(p));
  const Bottleneck* b = find(p, "runqueue-wait:");
  REQUIRE(b);
  CHECK(b->category == "scheduling");
  CHECK(b->affects.pid == static_cast<uint32_t>(p.session.pid));
  CHECK(b->evidence.value > 20);  // % of its scheduled time spent waiting for a CPU
}

TEST_CASE("analysis: an idle sleeper gets a high health score", "[bpf][analysis]") {
  Profile p = run({"sleep", "5", "100"});
  INFO("bottlenecks: " << ids(p));
  // On a machine others keep busy, the sleeper's wake-ups may wait for a CPU: that may cost it
  // points, once, and only when its own waits are what the finding says.
  std::vector<Bottleneck> own;
  for (const auto& b : p.analysis.bottlenecks) {
    if (b.id != "cpu-saturation:machine" && b.id != "cpu-contention:machine") {
      own.push_back(b);
      continue;
    }
    REQUIRE(p.system.processes.size() == 1);
    const ResourceUsage& u = p.system.processes[0].usage;
    INFO(b.title << ": on CPU " << u.cpu_time_ns << " ns, run queue " << u.off_cpu_ns.runqueue << " ns");
    CHECK(u.off_cpu_ns.runqueue > (u.cpu_time_ns + u.off_cpu_ns.runqueue) / 5);
    CHECK(b.severity != "critical");  // crowded out, not the one keeping the CPUs busy
  }
  CHECK(health_score(own).score >= 90);
  if (own.size() == p.analysis.bottlenecks.size()) CHECK(p.analysis.health.grade == "A");
}

TEST_CASE("alerts: a threshold crossed in every interval raises one alert, in the report", "[bpf][analysis]") {
  SessionOptions o;
  o.functions = {"write_record"};
  o.interval_s = 0.1;  // the shortest interval a session takes
  o.thresholds.functions.push_back({"write_record", "p99", 1000});  // 1 us: every interval
  // The machine's CPUs and memory are shared with whatever else runs: never alert on them here.
  o.thresholds.cpu_usage_warning = 100;
  o.thresholds.memory_usage_warning = 100;
  std::vector<Alert> live;
  o.on_alert = [&](const Alert& a) { live.push_back(a); };
  Profile p = run({"fsync-writes", "/var/tmp/perfbpf-alert-" + std::to_string(getpid()), "1500"}, o);
  REQUIRE(p.functions.at(0).series.size() >= 2);  // the condition held over several intervals
  REQUIRE(live.size() == 1);
  CHECK(live[0].subject == "write_record");
  CHECK(live[0].threshold == 1000);
  CHECK(live[0].value > 1000);
  REQUIRE(p.analysis.alerts.size() == 1);
  CHECK(p.analysis.alerts[0].metric == live[0].metric);
}
