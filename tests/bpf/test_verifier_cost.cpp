// What verifying a session's BPF programs costs at every start. Truth: the kernel's own
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

#include "bpf_load/kernel_ids.h"
#include "funclat.skel.h"
#include "funclat_sched.skel.h"
#include "profile.h"
#include "profile.skel.h"
#include "sched_stats.skel.h"

using namespace perfbpf;

namespace {

// "processed N insns" from a program's verifier log, -1 when absent.
long processed_insns(const char* log) {
  const char* at = log ? std::strstr(log, "processed ") : nullptr;
  return at ? std::strtol(at + std::strlen("processed "), nullptr, 10) : -1;
}

// Loads OBJ (opened and set up by the caller, who closes it), every program with a statistics
// log, and returns each program's processed-instruction count (-1: no count in its log).
std::map<std::string, long> processed_by_program(bpf_object* obj) {
  static std::array<std::array<char, 4096>, 16> logs{};
  std::map<std::string, const char*> log_of;
  size_t n = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    REQUIRE(n < logs.size());
    logs[n][0] = 0;
    REQUIRE(bpf_program__set_log_level(prog, 4) == 0);  // statistics only
    REQUIRE(bpf_program__set_log_buf(prog, logs[n].data(), logs[n].size()) == 0);
    log_of[bpf_program__name(prog)] = logs[n++].data();
  }
  const KernelIds none;  // the kernel's ids read once for the object's load
  KernelIdsScope kernel_ids(none);
  const int err = bpf_object__load(obj);
  REQUIRE(err == 0);
  std::map<std::string, long> processed;
  for (const auto& [prog_name, log] : log_of) processed[prog_name] = processed_insns(log);
  return processed;
}

// The same for the object ELF (an embedded skeleton's bytes) as it is, every program loaded.
std::map<std::string, long> processed_by_program(const void* elf, size_t size, const char* name) {
  register_kernel_sections();  // perfbpf's program sections, as a session's loads see them
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
  bpf_object* obj = bpf_object__open_mem(elf, size, &opts);
  REQUIRE(obj != nullptr);
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) REQUIRE(bpf_program__set_autoload(prog, true) == 0);
  std::map<std::string, long> processed;
  try {
    processed = processed_by_program(obj);
  } catch (...) {
    bpf_object__close(obj);
    throw;
  }
  bpf_object__close(obj);
  return processed;
}

}  // namespace

// A function-timing session loads handle_session and handle_exit before its first probed call;
// their walks over a thread's open calls (32 frames at most) are bpf_loop callbacks, which the
// verifier checks once. As bounded loops it walked all 32 iterations: 7 287 and 8 919
// instructions processed (the exit program has 174), the largest step of start-up after the
// uprobe's attach. Now about 2 400 and 250; bounds at about twice that.
TEST_CASE("function timing's probe programs verify their stack walks once", "[bpf]") {
  size_t size = 0;
  const void* elf = funclat_bpf__elf_bytes(&size);
  const auto processed = processed_by_program(elf, size, "funclat");
  for (const auto& [name, n] : processed) INFO(name << ": " << n << " instructions processed");
  for (const char* name : {"handle_session", "handle_entry", "handle_return", "handle_exit_site"}) {
    INFO(name);
    CHECK(processed.at(name) > 0);
    CHECK(processed.at(name) < 5000);
  }
  CHECK(processed.at("handle_exit") > 0);
  CHECK(processed.at("handle_exit") < 1000);

  // --decompose's switch program closes a wait over the open frames the same way (9 599 as a
  // loop inlined at four places, now about 2 100).
  const void* sched_elf = funclat_sched_bpf__elf_bytes(&size);
  const auto split = processed_by_program(sched_elf, size, "funclat_sched");
  for (const auto& [name, n] : split) INFO(name << ": " << n << " instructions processed");
  CHECK(split.at("handle_split_switch") > 0);
  CHECK(split.at("handle_split_switch") < 5000);
}

// The sched collector's new-thread record (thread_put) is a global function, verified on its
// own: inlined at its five callers, its branches were verified again along each caller's paths
// (processed: switch 2 571, exit 723; now 1 627 and 541). The switch program's bound is below
// the inlined count; the others' leave room for new fields.
TEST_CASE("the sched collector's programs verify a new thread's record once", "[bpf]") {
  size_t size = 0;
  const void* elf = sched_stats_bpf__elf_bytes(&size);
  const auto processed = processed_by_program(elf, size, "sched_stats");
  for (const auto& [name, n] : processed) INFO(name << ": " << n << " instructions processed");
  CHECK(processed.at("handle_switch") > 0);
  CHECK(processed.at("handle_switch") < 2200);
  CHECK(processed.at("handle_exit") > 0);
  CHECK(processed.at("handle_exit") < 1100);
  CHECK(processed.at("handle_wakeup") > 0);
  CHECK(processed.at("handle_wakeup") < 600);
  CHECK(processed.at("sync_threads") > 0);
  CHECK(processed.at("sync_threads") < 1400);
}

// The code-mapping walk (bpf/code_maps.bpf.h) loops over a process's mappings; a mapping's
// record (vDSO or file, its path loop, the ring full or not) is a global function the verifier
// checks once. Inlined into the loop, each of its paths was a new state at the loop's head to
// verify the loop again from: 9 142 instructions for handle_exec, 9 641 for handle_fork and
// 25 317 for handle_sample (it sends them from a task work), ten to forty times handle_switch's
// 663, about 29 ms of an --off-cpu --system session's start. Now 763, 898 and 2 142.
TEST_CASE("the code-mapping walk is verified once and not again for each path through a mapping", "[bpf]") {
  register_kernel_sections();
  profile_bpf* skel = profile_bpf__open();
  REQUIRE(skel != nullptr);
  skel->rodata->copy_user_stack = true;  // as a sampling session: handle_sample sends mappings
  // Nothing is run: the preallocated maps need no room.
  for (bpf_map* map : {skel->maps.counts, skel->maps.switched_out, skel->maps.offcpu})
    REQUIRE(bpf_map__set_max_entries(map, 1) == 0);
  REQUIRE(bpf_map__set_max_entries(skel->maps.samples, 1u << 20) == 0);
  std::map<std::string, long> processed;
  try {
    processed = processed_by_program(skel->obj);
  } catch (...) {
    profile_bpf__destroy(skel);
    throw;
  }
  profile_bpf__destroy(skel);

  const long exec = processed.at("handle_exec");
  const long fork = processed.at("handle_fork");
  const long sample = processed.at("handle_sample");
  const long sw = processed.at("handle_switch");
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
