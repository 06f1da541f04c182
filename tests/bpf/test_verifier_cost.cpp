// What verifying the sampler's programs costs at every session's start. Truth: the kernel's own
// count of the instructions its verifier processed per program (the last line of a log_level 4
// log), which for one kernel and one object is the same on every run, unlike the verification
// time, which a busy machine stretches.
#include <bpf/libbpf.h>

#include <catch2/catch.hpp>

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include <linux/types.h>

#include "profile.h"
#include "profile.skel.h"

namespace {

// "processed N insns" from a program's verifier log, -1 when absent.
long processed_insns(const char* log) {
  const char* at = log ? std::strstr(log, "processed ") : nullptr;
  return at ? std::strtol(at + std::strlen("processed "), nullptr, 10) : -1;
}

}  // namespace

// The code-mapping walk (bpf/code_maps.bpf.h) loops over a process's mappings; a mapping's
// record (vDSO or file, its path loop, the ring full or not) is a global function the verifier
// checks once. Inlined into the loop, each of its paths was a new state at the loop's head to
// verify the loop again from: 9 142 instructions for handle_exec, 9 641 for handle_fork and
// 25 317 for handle_sample (it sends them from a task work), ten to forty times handle_switch's
// 663, about 29 ms of an --off-cpu --system session's start. Now 763, 898 and 2 142.
TEST_CASE("the code-mapping walk is verified once and not again for each path through a mapping", "[bpf]") {
  profile_bpf* skel = profile_bpf__open();
  REQUIRE(skel != nullptr);
  skel->rodata->copy_user_stack = true;  // as a sampling session: handle_sample sends mappings
  // Nothing is run: the preallocated maps need no room.
  for (bpf_map* map : {skel->maps.counts, skel->maps.switched_out, skel->maps.offcpu})
    REQUIRE(bpf_map__set_max_entries(map, 1) == 0);
  REQUIRE(bpf_map__set_max_entries(skel->maps.samples, 1u << 20) == 0);
  static std::array<std::array<char, 4096>, 16> logs{};
  std::map<std::string, const char*> log_of;
  size_t n = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    REQUIRE(n < logs.size());
    REQUIRE(bpf_program__set_log_level(prog, 4) == 0);  // statistics only
    REQUIRE(bpf_program__set_log_buf(prog, logs[n].data(), logs[n].size()) == 0);
    log_of[bpf_program__name(prog)] = logs[n++].data();
  }
  const int err = profile_bpf__load(skel);
  profile_bpf__destroy(skel);
  REQUIRE(err == 0);

  const long exec = processed_insns(log_of["handle_exec"]);
  const long fork = processed_insns(log_of["handle_fork"]);
  const long sample = processed_insns(log_of["handle_sample"]);
  const long sw = processed_insns(log_of["handle_switch"]);
  INFO("processed insns: handle_exec " << exec << ", handle_fork " << fork << ", handle_sample " << sample
                                       << ", handle_switch " << sw);
  REQUIRE(sw > 0);
  // Bounds at about twice today's counts: a new path in a mapping's record stays well inside
  // them, the walk inlined again (4x-12x more) does not.
  CHECK(exec > 0);
  CHECK(exec < 2000);
  CHECK(fork > 0);
  CHECK(fork < 2000);
  CHECK(sample > 0);
  CHECK(sample < 5000);
}
