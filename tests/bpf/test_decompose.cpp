// --decompose against the workload's own clocks (tests/workloads/decompose_target.c): each
// call spins 2 ms of CPU, sleeps 3 ms, writes 4 MiB with O_DIRECT + fsync and waits for a
// mutex another thread holds 5 ms; the workload times every phase itself (wall, thread CPU
// clock, schedstat run_delay) and prints it per call. The same calls are compared, so a
// busy machine stretches both sides alike.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using perfbpf::test::workload;

namespace {

struct TruthCall {
  uint64_t start_ns = 0, wall = 0, on_cpu = 0, runq = 0, io = 0, lock = 0, sleep = 0;
};

struct Run {
  Profile profile;
  std::vector<TruthCall> calls;
  uint32_t holder_tid = 0;
};

Run run_workload(int calls, int spinners, const std::string& phases = "all") {
  const std::string out = test::temp_path("truth.txt");
  const std::string data = "/var/tmp/perfbpf-decompose-" + std::to_string(getpid());  // a block device: O_DIRECT
  SessionOptions o;
  o.handle_signals = false;
  o.sample_freq = 0;
  o.collectors = {};
  o.decompose = true;
  o.functions = {workload("decompose_target") + ":slow_request"};  // the command is sh, exec-ing it
  o.command = {"/bin/sh", "-c",
               "exec " + workload("decompose_target") + " " + std::to_string(calls) + " " + data + " " +
                   std::to_string(spinners) + " " + phases + " > " + out};
  Run r;
  r.profile = run_session(o);
  REQUIRE(r.profile.session.exit_code == 0);
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::map<std::string, uint64_t> kv;
    std::istringstream words(line);
    std::string first;
    words >> first;
    for (std::string w; words >> w;)
      if (auto eq = w.find('='); eq != std::string::npos) kv[w.substr(0, eq)] = std::stoull(w.substr(eq + 1));
    if (first.rfind("holder_tid=", 0) == 0) r.holder_tid = static_cast<uint32_t>(std::stoul(first.substr(11)));
    if (first == "call")
      // The spin never blocks: its wall time off the thread's CPU clock and the run queue is
      // interrupt time (IRQ time accounting keeps it off the thread's clock; this VM's /proc/stat
      // shows softirq time, no steal). The thread held its CPU then: on-CPU, as perfbpf counts.
      r.calls.push_back({kv["start_ns"], kv["wall"], kv["on_cpu"] + kv["spin_blocked"], kv["runq"], kv["io"],
                         kv["lock"], kv["sleep"]});
  }
  REQUIRE(r.calls.size() == static_cast<size_t>(calls));
  REQUIRE(r.profile.functions.size() == 1);
  return r;
}

// The bound: within 5 % of the truth, or 100 us when 5 % is less.
bool close_to(double measured, double truth) { return std::abs(measured - truth) <= std::max(0.05 * truth, 100e3); }

const TruthCall& truth_of(const Run& r, const SlowCall& c) {
  // The entry probe fires just before the workload's first reading inside the call.
  const TruthCall* best = &r.calls.front();
  for (const TruthCall& t : r.calls)
    if (std::llabs(static_cast<long long>(t.start_ns - c.start_ns)) <
        std::llabs(static_cast<long long>(best->start_ns - c.start_ns)))
      best = &t;
  REQUIRE(std::llabs(static_cast<long long>(best->start_ns - c.start_ns)) < 1'000'000);
  return *best;
}

// A lock wait's holder against the workload's truth: the holder thread's own gettid(), and its
// stack as it unlocked (the function the workload unlocks in, under glibc's unlock; frame
// pointers alone would skip that function: libc keeps none, so the walk goes from the unlock
// straight to its caller's caller).
void check_lock_holder(const Run& r, const SlowCall& c) {
  CHECK(c.holder_tid == r.holder_tid);
  CHECK(c.holder_source == "futex-waker");
  std::string holder;
  for (const SlowCall::Frame& fr : c.holder_stack) holder += fr.name + " <- ";
  INFO("holder stack: " << holder);
  auto at = [&c](const std::string& part) {
    for (size_t k = 0; k < c.holder_stack.size(); k++)
      if (c.holder_stack[k].name.find(part) != std::string::npos) return static_cast<long>(k);
    return -1L;
  };
  CHECK(at("unlock") >= 0);
  CHECK(at("hold_lock_in_refresh") > at("unlock"));
  CHECK(at("holder") > at("hold_lock_in_refresh"));  // its caller, the thread's function
  for (const SlowCall::Frame& fr : c.holder_stack) CHECK(fr.object != "[kernel]");
  // The lock's call site: slow_request's pthread_mutex_lock (copied and unwound the same
  // way; frame pointers alone went from libc's lock wait straight to main).
  auto in_wait = [&c](const std::string& name) {
    for (size_t k = 0; k < c.wait_stack.size(); k++)
      if (c.wait_stack[k].name == name) return static_cast<long>(k);
    return -1L;
  };
  CHECK(in_wait("pthread_mutex_lock") >= 0);
  CHECK(in_wait("slow_request") == in_wait("pthread_mutex_lock") + 1);
  CHECK(in_wait("main") == in_wait("slow_request") + 1);  // past its uretprobe's trampoline
}

}  // namespace

TEST_CASE("decompose: on-CPU, I/O, lock and sleep of each call match the workload's own phase timing", "[bpf][decompose]") {
  const int n = 20;
  Run r = run_workload(n, 0);
  const FunctionProfile& f = r.profile.functions[0];
  const CallDecomposition& d = f.decomposition;
  REQUIRE(f.calls == static_cast<uint64_t>(n));
  REQUIRE(d.calls == f.calls);

  TruthCall sum;
  for (const TruthCall& t : r.calls) {
    sum.on_cpu += t.on_cpu;
    sum.runq += t.runq;
    sum.io += t.io;
    sum.lock += t.lock;
    sum.sleep += t.sleep;
  }
  auto mean = [n](uint64_t total) { return static_cast<double>(total) / n; };
  INFO(d.incomplete << " incomplete; per call, perfbpf vs workload: on_cpu " << d.on_cpu.mean << " / " << mean(sum.on_cpu) << ", runq "
                                               << d.runqueue.mean << " / " << mean(sum.runq) << ", io " << d.io.mean
                                               << " / " << mean(sum.io) << ", lock " << d.lock.mean << " / "
                                               << mean(sum.lock) << ", sleep " << d.sleep.mean << " / " << mean(sum.sleep));
  CHECK(close_to(d.on_cpu.mean, mean(sum.on_cpu)));
  CHECK(close_to(d.runqueue.mean, mean(sum.runq)));
  CHECK(close_to(d.io.mean, mean(sum.io)));
  CHECK(close_to(d.lock.mean, mean(sum.lock)));
  CHECK(close_to(d.sleep.mean, mean(sum.sleep)));
  // The parts of every call sum to its duration (the probe cost comes out of on-CPU).
  const double parts = static_cast<double>(d.on_cpu.total + d.runqueue.total + d.io.total + d.lock.total + d.sleep.total);
  CHECK(std::abs(parts - static_cast<double>(f.latency.total)) <= 0.01 * static_cast<double>(f.latency.total));

  // The slowest calls, each against its own phase timing, and the lock's holder by name.
  REQUIRE(f.slowest_calls.size() == 5);
  for (size_t i = 0; i < f.slowest_calls.size(); i++) {
    const SlowCall& c = f.slowest_calls[i];
    if (i > 0) CHECK(c.duration_ns <= f.slowest_calls[i - 1].duration_ns);
    const TruthCall& t = truth_of(r, c);
    INFO("slow call " << i << " (call " << (&t - r.calls.data()) << ")" << (c.incomplete ? " (incomplete)" : "") << ": duration " << c.duration_ns << " / wall "
                      << t.wall << ", on_cpu " << c.on_cpu << " / " << t.on_cpu << ", runq " << c.runqueue << " / " << t.runq
                      << ", io " << c.io << " / " << t.io << ", lock " << c.lock << " / " << t.lock << ", sleep "
                      << c.sleep << " / " << t.sleep);
    CHECK(c.tid == r.profile.session.pid);
    // Each part of each call within the bound. A wait begins where the thread's CPU time
    // stops (its dequeue, in the run queue's clock), not at the later switch-out tracepoint: up
    // to ~250 us apart on these VMs, which were once booked on CPU (then the I/O phase of a few
    // calls was that much short, and this check had that much slack).
    // The process's first call also pays the kernel's one-time work on the probe's first hit,
    // after the entry program's clock reading (on x86-64 since 6.18 the kernel then rewrites
    // the probed instruction into a call, arch_uprobe_optimize, a text poke synchronized on
    // every CPU): in 14 runs only that call was over, by 0.15-1.1 ms of on-CPU time, once the
    // workload's own first-reading faults were moved before the calls. It can only add.
    if (&t == &r.calls.front())
      CHECK(c.on_cpu + std::max(0.05 * static_cast<double>(t.on_cpu), 100e3) >= t.on_cpu);
    else
      CHECK(close_to(c.on_cpu, t.on_cpu));
    CHECK(close_to(c.runqueue, t.runq));
    CHECK(close_to(c.io, t.io));
    CHECK(close_to(c.lock, t.lock));
    CHECK(close_to(c.sleep, t.sleep));
    CHECK(c.on_cpu + c.runqueue + c.io + c.lock + c.sleep == c.duration_ns);
    REQUIRE_FALSE(c.wait_kind.empty());
    CHECK_FALSE(c.wait_stack.empty());
    CHECK(c.wait_stack.front().object == "[kernel]");
    if (c.wait_kind == "lock") check_lock_holder(r, c);
  }
}

TEST_CASE("decompose: with more runnable threads than CPUs the run-queue part is schedstat's run_delay of those calls", "[bpf][decompose]") {
  const int n = 10;
  const int spinners = 2 * static_cast<int>(std::thread::hardware_concurrency()) + 1;
  Run r = run_workload(n, spinners);
  const CallDecomposition& d = r.profile.functions[0].decomposition;
  REQUIRE(d.calls == static_cast<uint64_t>(n));
  uint64_t run_delay = 0, wall = 0;
  for (const TruthCall& t : r.calls) {
    run_delay += t.runq;
    wall += t.wall;
  }
  INFO("run queue: perfbpf " << d.runqueue.total << " ns, schedstat " << run_delay << " ns over " << wall << " ns of calls");
  CHECK(run_delay > wall / 10);  // the crowd made the calls wait: the comparison means something
  CHECK(std::abs(static_cast<double>(d.runqueue.total) - static_cast<double>(run_delay)) <= 0.05 * static_cast<double>(run_delay));
}

TEST_CASE("decompose: a lock wait names the holder thread and its stack as it unlocked", "[bpf][decompose]") {
  // Only the lock wait blocks, so it is every call's longest wait: every exemplar is checked.
  // 40 calls (~0.2 s): wait stacks are named from the process's mappings, read when perfbpf
  // first reads a split record (its poll period is 0.1 s), so the process must outlive that.
  const int n = 40;
  Run r = run_workload(n, 0, "lock");
  const FunctionProfile& f = r.profile.functions[0];
  REQUIRE(r.holder_tid != 0);
  REQUIRE(f.slowest_calls.size() == 5);
  for (const SlowCall& c : f.slowest_calls) {
    const TruthCall& t = truth_of(r, c);
    INFO("lock " << c.lock << " / " << t.lock);
    CHECK(close_to(c.lock, t.lock));
    REQUIRE(c.wait_kind == "lock");
    check_lock_holder(r, c);
  }
}
