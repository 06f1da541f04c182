// Stack sampling by scope (a process, a cgroup, the whole machine) and the event behind it.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

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

// Names of the BPF programs this process holds open (from /proc/self/fdinfo), as the kernel
// keeps them: cut to 15 characters.
std::set<std::string> own_bpf_program_names() {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fdinfo")) {
    std::ifstream info(entry.path());
    for (std::string line; std::getline(info, line);) {
      if (line.rfind("prog_id:", 0) != 0) continue;
      int fd = bpf_prog_get_fd_by_id(static_cast<uint32_t>(std::stoul(line.substr(8))));
      if (fd < 0) continue;
      bpf_prog_info prog{};
      uint32_t len = sizeof(prog);
      if (bpf_obj_get_info_by_fd(fd, &prog, &len) == 0) names.insert(prog.name);
      close(fd);
    }
  }
  return names;
}

}  // namespace

TEST_CASE("a session that times no function loads no function-timing program", "[bpf][sampling]") {
  SessionOptions o = sampling_only();
  o.command = {workload("resource_target"), "spin", "1", "200"};
  std::set<std::string> loaded;
  o.on_attached = [&](const AttachedProbes&) { loaded = own_bpf_program_names(); };
  Profile p = run_session(o);
  INFO("programs: " << Catch::Detail::stringify(std::vector<std::string>(loaded.begin(), loaded.end())));
  CHECK(loaded.count("handle_sample") == 1);  // the sampler's, so the scan sees this session's programs
  for (const char* funclat : {"handle_session", "handle_entry", "handle_return", "handle_exit_sit"})
    CHECK(loaded.count(funclat) == 0);
  CHECK(p.stacks.samples > 0);
}

TEST_CASE("a running process profiled without its children loads no target-set program", "[bpf][sampling]") {
  for (bool sampling : {false, true}) {
    INFO("sampling: " << sampling);
    test::Spawned target = test::spawn({workload("funclat_target"), "wait", "2000"});
    REQUIRE(test::read_until(target.stdout_fd, "ready", 5000).find("ready") != std::string::npos);
    SessionOptions o;
    o.handle_signals = false;
    o.collectors = {};
    o.sample_freq = sampling ? 499 : 0;
    o.functions = {"leaf"};
    o.pid = target.pid;
    std::set<std::string> loaded;
    o.on_attached = [&](const AttachedProbes&) {
      loaded = own_bpf_program_names();
      REQUIRE(write(target.stdin_fd, "go\n", 3) == 3);
    };
    Profile p = run_session(o);
    test::Finished done = test::finish(target);
    INFO("programs: " << Catch::Detail::stringify(std::vector<std::string>(loaded.begin(), loaded.end())));
    CHECK(loaded.count("handle_session") + loaded.count("handle_entry") >= 1);  // the probes' programs are seen
    CHECK(loaded.count("handle_free") == 0);  // the set's; exec and fork programs are the sampler's too
    if (!sampling) CHECK(loaded.count("handle_exec") + loaded.count("handle_fork") == 0);
    CHECK(done.exit_code == 0);
    REQUIRE(p.functions.size() == 1);
    CHECK(p.functions[0].calls == 2000);
    CHECK(p.session.target_set.admitted == 1);
  }
}

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
