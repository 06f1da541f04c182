// Stack sampling by scope (a process, a cgroup, the whole machine) and the event behind it.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using perfbpf::test::workload;

namespace {

// Whether this machine has a hardware cycles counter perfbpf could sample with.
bool has_cycles_counter() {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.freq = 1;
  attr.sample_freq = 99;
  int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd >= 0) close(fd);
  return fd >= 0;
}

SessionOptions sampling_only() {
  SessionOptions o;
  o.handle_signals = false;
  o.collectors = {};
  o.sample_freq = 499;
  return o;
}

std::set<uint32_t> sampled_tgids(const Profile& p) {
  std::set<uint32_t> tgids;
  for (const auto& s : p.stacks.stacks) tgids.insert(s.tgid);
  return tgids;
}

}  // namespace

TEST_CASE("sampling uses the cycles counter where the machine has one, cpu-clock otherwise", "[bpf][sampling]") {
  SessionOptions o = sampling_only();
  o.command = {workload("resource_target"), "spin", "1", "200"};
  Profile p = run_session(o);
  CHECK(p.stacks.event == (has_cycles_counter() ? "cycles" : "cpu-clock"));
  CHECK(p.stacks.samples > 0);
}

TEST_CASE("system-wide sampling sees processes nobody named, never perfbpf", "[bpf][sampling]") {
  SessionOptions o = sampling_only();
  o.system_wide = true;
  o.duration_s = 1.0;
  // Started once sampling is attached, however long attaching takes on a busy machine; it
  // spins 300 ms of its own CPU time, sampled whenever it gets a CPU within the second.
  std::optional<test::Spawned> spinner;
  o.on_attached = [&](const AttachedProbes&) { spinner = test::spawn({workload("resource_target"), "spin", "1", "300"}); };
  Profile p = run_session(o);
  REQUIRE(spinner);
  test::Finished spin = test::finish(*spinner);
  REQUIRE(spin.exit_code == 0);
  std::set<uint32_t> tgids = sampled_tgids(p);
  CHECK(tgids.count(static_cast<uint32_t>(getpid())) == 0);
  bool named = false;
  for (const auto& [tgid, comm] : p.stacks.processes) named |= comm == "resource_target";
  CHECK(named);
}

TEST_CASE("cgroup sampling keeps to the cgroup's processes", "[bpf][sampling]") {
  std::string root = std::filesystem::exists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
  std::string dir = root + "/perfbpf-sample-" + std::to_string(getpid());
  REQUIRE(std::filesystem::create_directory(dir));
  test::Spawned inside = test::spawn({workload("resource_target"), "spin", "1", "1200"});
  test::Spawned outside = test::spawn({workload("resource_target"), "spin", "1", "1200"});
  std::ofstream(dir + "/cgroup.procs") << inside.pid << "\n";
  SessionOptions o = sampling_only();
  o.cgroup = dir;
  o.duration_s = 0.8;
  Profile p = run_session(o);
  test::finish(inside);
  test::finish(outside);
  std::filesystem::remove(dir);
  std::set<uint32_t> tgids = sampled_tgids(p);
  CHECK(tgids.count(static_cast<uint32_t>(inside.pid)) == 1);
  CHECK(tgids.count(static_cast<uint32_t>(outside.pid)) == 0);
  CHECK(tgids.size() == 1);
}
