// User stacks of code built without frame pointers, unwound from CFI (--call-graph dwarf, the
// default): the truth is the workload's own call chain, fixed by its source.
#include <catch2/catch.hpp>

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
};

Completeness completeness(const Profile& p) {
  Completeness c;
  for (const StackCount& s : p.stacks.stacks) {
    if (p.stacks.processes.at(s.tgid) != "nofp_target") continue;
    std::vector<std::string> user;
    for (uint32_t idx : s.frames)
      if (!p.stacks.frames[idx].kernel) user.push_back(p.stacks.frames[idx].name);
    c.samples += s.count;
    if (user.empty()) continue;
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
}

TEST_CASE("frame pointers alone cannot walk the same code (what the CFI unwinder is for)", "[bpf][sampling][unwind]") {
  Completeness c = completeness(profile_nofp("fp"));
  INFO("samples " << c.samples << ", complete " << c.complete);
  REQUIRE(c.samples >= 300);
  CHECK(static_cast<double>(c.complete) < 0.5 * static_cast<double>(c.samples));
}
