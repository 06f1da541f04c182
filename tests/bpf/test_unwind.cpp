// User stacks of code built without frame pointers, unwound from CFI (--call-graph dwarf, the
// default): the truth is the workload's own call chain, fixed by its source.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using perfbpf::test::workload;

namespace {

// nofp_target's chain from its thread's start to the loop (tests/workloads/nofp_target.c): the
// main thread enters spin from main, the others from start_thread.
const std::vector<std::string> kChain = {"spin", "nofp_outer", "nofp_lib_middle", "nofp_inner", "nofp_lib_leaf"};

struct Completeness {
  uint64_t samples = 0;     // the workload's samples
  uint64_t complete = 0;    // reaching its thread's start: _start (main) or clone3 (threads)
  uint64_t in_leaf = 0;     // with nofp_lib_leaf as the innermost user frame
  uint64_t leaf_chain = 0;  // ... and the whole chain above it, frame by frame
  uint64_t leaf_named = 0;  // whose innermost user frame has a name
  // Without a user stack because the process had none left: taken in do_exit, where exit_mm
  // has released (or is tearing down) its address space.
  uint64_t exiting = 0;
};

Completeness completeness(const Profile& p, const std::string& comm = "nofp_target") {
  Completeness c;
  for (const StackCount& s : p.stacks.stacks) {
    if (p.stacks.processes.at(s.tgid) != comm) continue;
    std::vector<std::string> user;
    for (uint32_t idx : s.frames)
      if (!p.stacks.frames[idx].kernel) user.push_back(p.stacks.frames[idx].name);
    c.samples += s.count;
    if (user.empty()) {
      for (uint32_t idx : s.frames)
        if (p.stacks.frames[idx].kernel && p.stacks.frames[idx].name == "do_exit") {
          c.exiting += s.count;
          break;
        }
      continue;
    }
    if (user.back()[0] != '[') c.leaf_named += s.count;
    const bool main_thread = user.size() >= 4 && user[0] == "_start" && user[3] == "main";
    const bool other_thread = user.size() >= 2 && user[0] == "clone3" && user[1] == "start_thread";
    if (main_thread || other_thread) c.complete += s.count;
    if (user.back() != kChain.back()) continue;
    c.in_leaf += s.count;
    const size_t root = main_thread ? 4 : other_thread ? 2 : user.size();
    if (user.size() - root == kChain.size() && std::equal(kChain.begin(), kChain.end(), user.begin() + static_cast<long>(root)))
      c.leaf_chain += s.count;
  }
  return c;
}

Profile profile_nofp(const std::string& call_graph) {
  SessionOptions o;
  o.handle_signals = false;
  o.collectors = {};
  o.sample_freq = 499;  // prime: no aliasing with the workload's loop
  o.call_graph = call_graph;
  o.command = {workload("nofp_target"), "1500", "1"};  // main thread and one more, 1.5 s of CPU each
  return run_session(o);
}

}  // namespace

TEST_CASE("code without frame pointers has complete stacks through a shared library", "[bpf][sampling][unwind]") {
  Profile p = profile_nofp("dwarf");
  Completeness c = completeness(p);
  INFO("samples " << c.samples << ", complete " << c.complete << ", in the loop " << c.in_leaf << " with the whole chain "
                  << c.leaf_chain);
  // 3 s of CPU at 499 Hz on a shared machine: hundreds of samples at least.
  REQUIRE(c.samples >= 300);
  CHECK(static_cast<double>(c.complete) >= 0.95 * static_cast<double>(c.samples));
  // The loop is where the time goes; each of its samples carries the source's chain exactly.
  REQUIRE(c.in_leaf >= c.samples / 2);
  CHECK(static_cast<double>(c.leaf_chain) >= 0.95 * static_cast<double>(c.in_leaf));
  CHECK(p.stacks.lost_by_reason["stack_copy_ring_full"] == 0);
  // The loop is user code, where a sample has no kernel stack: none is a lost one.
  CHECK(p.stacks.lost_by_reason["kernel_stack_failed"] == 0);
}

TEST_CASE("frame pointers alone cannot walk the same code (what the CFI unwinder is for)", "[bpf][sampling][unwind]") {
  Profile p = profile_nofp("fp");
  Completeness c = completeness(p);
  INFO("samples " << c.samples << ", complete " << c.complete);
  REQUIRE(c.samples >= 300);
  CHECK(static_cast<double>(c.complete) < 0.5 * static_cast<double>(c.samples));
  CHECK(p.stacks.lost_by_reason["kernel_stack_failed"] == 0);
}

namespace {

// Samples whose kernel stack passes through KERNEL_FUNCTION, with user frames and without.
struct KernelSamples {
  uint64_t with_user = 0, kernel_only = 0;
};

KernelSamples samples_in(const Profile& p, const std::string& kernel_function) {
  KernelSamples k;
  for (const StackCount& s : p.stacks.stacks) {
    bool user = false, in_function = false;
    for (uint32_t idx : s.frames) {
      user |= !p.stacks.frames[idx].kernel;
      in_function |= p.stacks.frames[idx].kernel && p.stacks.frames[idx].name == kernel_function;
    }
    if (in_function) (user ? k.with_user : k.kernel_only) += s.count;
  }
  return k;
}

}  // namespace

// Each unwound sample carries its kernel stack in its record, a kernel thread's too. Truth by
// construction: dd reading /dev/zero spends its CPU in read_zero under its own read(); a loop
// device's kernel worker (loop_process_work, no user stack) copies each block dd writes to the
// device into the backing file, while dd's thread only waits.
TEST_CASE("unwound samples carry their kernel stacks, a kernel thread's too", "[bpf][sampling][unwind]") {
  const std::string backing = test::temp_path("loop.img");
  struct Cleanup {  // the device, then its file (128 MiB written)
    std::string backing, device;
    ~Cleanup() {
      if (!device.empty()) test::run({"/sbin/losetup", "-d", device});
      std::error_code ignored;
      std::filesystem::remove(backing, ignored);
    }
  } cleanup{backing, ""};
  std::ofstream(backing).close();
  std::filesystem::resize_file(backing, 160u << 20);
  test::Finished attached = test::run({"/sbin/losetup", "--find", "--show", backing});
  REQUIRE(attached.exit_code == 0);
  const std::string device = cleanup.device = attached.out.substr(0, attached.out.find('\n'));

  SessionOptions o;
  o.handle_signals = false;
  o.collectors = {};
  o.system_wide = true;
  o.duration_s = 3.0;
  o.sample_freq = 499;
  std::optional<test::Spawned> reader, writer;
  o.on_attached = [&](const AttachedProbes&) {
    reader = test::spawn({"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=30000"});
    writer = test::spawn({"/bin/sh", "-c",
                          "for i in 1 2 3 4 5 6 7 8 9 10; do dd if=/dev/zero of=\"$0\" bs=1M count=128 oflag=direct || exit 1; done",
                          device});
  };
  Profile p = run_session(o);
  REQUIRE(reader);
  REQUIRE(writer);
  CHECK(test::finish(*reader).exit_code == 0);
  CHECK(test::finish(*writer).exit_code == 0);

  const KernelSamples read = samples_in(p, "read_zero"), loop = samples_in(p, "loop_process_work");
  INFO("read_zero: " << read.with_user << " under a user stack, " << read.kernel_only << " not; loop_process_work: "
                     << loop.kernel_only << " in a kernel thread, " << loop.with_user << " not");
  // 300 samples of read_zero and 95-280 of the worker in runs here: a busy machine delays
  // them, and the bounds leave it half of that.
  CHECK(read.with_user >= 100);
  CHECK(read.kernel_only == 0);
  CHECK(loop.kernel_only >= 50);
  CHECK(loop.with_user == 0);
  CHECK(p.stacks.lost_by_reason["kernel_stack_failed"] == 0);
}

// The kernel sends each process's code mappings ahead of the samples that need them (at exec,
// at fork, and by a task work when a sample finds them changed): a 15 ms child is named though
// it is gone long before userspace could read its /proc/PID/maps.
TEST_CASE("short-lived processes are named and unwound though they exit before the session ends",
          "[bpf][sampling][unwind]") {
  // Twenty processes of about 15 ms of CPU each, one after another: each is gone long before
  // the session ends, most before the next 100 ms tick of the session's loop.
  SessionOptions o;
  o.handle_signals = false;
  o.collectors = {};
  o.sample_freq = 499;
  o.command = {"/bin/sh", "-c", "i=0; while [ $i -lt 20 ]; do \"$0\" 15 || exit 1; i=$((i+1)); done", workload("nofp_target")};
  Profile p = run_session(o);
  REQUIRE(p.session.exit_code == 0);
  Completeness c = completeness(p);
  INFO("samples " << c.samples << ", leaf named " << c.leaf_named << ", exiting " << c.exiting << ", in the loop "
                  << c.in_leaf << " with the whole chain " << c.leaf_chain);
  REQUIRE(c.samples >= 60);  // 300 ms of CPU at 499 Hz, less what a noisy machine takes
  // 95 %: what a child leaves unnamed is its first moments (the stripped loader's entry, execve
  // still in the shell's image: stripped dash), 0-2 samples of some 150 in runs here. A sample
  // in the exit's teardown has no user stack to name (6 of 167 on a VM whose page-table
  // teardown is slow): not counted against.
  CHECK(static_cast<double>(c.leaf_named) >= 0.95 * static_cast<double>(c.samples - c.exiting));
  CHECK(p.stacks.lost_by_reason["code_mappings_ring_full"] == 0);
  REQUIRE(c.in_leaf >= c.samples / 3);
  CHECK(static_cast<double>(c.leaf_chain) >= 0.95 * static_cast<double>(c.in_leaf));
}

TEST_CASE("a process in another mount namespace that exits first keeps its names", "[bpf][sampling][unwind]") {
  // The program runs as DIR/app, on a tmpfs mounted over DIR in its own mount namespace: the
  // host's DIR stays empty, and once the process is gone nothing outside holds that path.
  const std::string dir = test::temp_path("mnt");
  REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  SessionOptions o;
  o.handle_signals = false;
  o.collectors = {};
  o.sample_freq = 499;
  o.command = {"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
               "mount -t tmpfs tmpfs \"$0\" && cp \"$1\" \"$0/app\" && exec \"$0/app\" 600", dir, workload("nofp_target")};
  Profile p = run_session(o);
  REQUIRE(p.session.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir + "/app"));  // not on the host
  Completeness c = completeness(p, "app");
  INFO("samples " << c.samples << ", leaf named " << c.leaf_named << ", in the loop " << c.in_leaf << " with the whole chain "
                  << c.leaf_chain);
  REQUIRE(c.samples >= 150);
  CHECK(static_cast<double>(c.leaf_named) >= 0.95 * static_cast<double>(c.samples));
  // nofp_outer and nofp_inner are only in DIR/app.
  REQUIRE(c.in_leaf >= c.samples / 2);
  CHECK(static_cast<double>(c.leaf_chain) >= 0.95 * static_cast<double>(c.in_leaf));
}
