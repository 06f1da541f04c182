// What a sampling session holds (symbol tables, one Dwfl per process and the files it holds,
// frames) goes with the session: the agent's periods and any long user of the library start
// each session from the same heap and the same open files. Truth: glibc's own accounting
// (mallinfo2) and /proc/self/fd, in this process.
#include <malloc.h>
#include <signal.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;

namespace {

// Bytes the heap has handed out and not had back. glibc counts the chunks this thread's tcache
// keeps for reuse as in use, and a session's frees fill its bins a little more each time (a
// steady ~14 KiB a session here that mtrace shows is no leak): every bin is filled to its
// capacity first (7 chunks of each of its 64 sizes), so what it keeps is the same at each reading.
size_t heap_in_use() {
  constexpr int kBins = 64, kPerBin = 7;
  void* chunks[kBins][kPerBin];
  for (int b = 0; b < kBins; b++)
    for (int k = 0; k < kPerBin; k++) chunks[b][k] = malloc(24 + 16 * static_cast<size_t>(b));
  for (int b = 0; b < kBins; b++)
    for (int k = 0; k < kPerBin; k++) free(chunks[b][k]);
  malloc_trim(0);
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n++;
  return n;
}

// A system-wide session unwinding every process's user stacks from CFI (the agent's kind),
// while a workload without frame pointers runs; returns its samples with a user frame.
uint64_t sample_system(test::Spawned& workload) {
  SessionOptions o;
  o.handle_signals = false;
  o.system_wide = true;
  o.collectors = {};
  o.sample_freq = 97;
  o.call_graph = "dwarf";
  o.duration_s = 1.5;
  Profile p = run_session(o);
  uint64_t unwound = 0;
  for (const StackCount& s : p.stacks.stacks) {
    if (s.tgid != static_cast<uint32_t>(workload.pid)) continue;
    for (uint32_t idx : s.frames)
      if (!p.stacks.frames[idx].kernel && p.stacks.frames[idx].name == "nofp_inner") {
        unwound += s.count;
        break;
      }
  }
  return unwound;
}

}  // namespace

TEST_CASE("a sampling session's symbol and unwinder caches go with it", "[bpf][sampling][unwind][memory]") {
  test::Spawned workload = test::spawn({test::workload("nofp_target"), "20000", "1"});
  // Past the dynamic loader: its library is mapped.
  REQUIRE(test::eventually([&] {
    std::ifstream maps("/proc/" + std::to_string(workload.pid) + "/maps");
    return std::string(std::istreambuf_iterator<char>(maps), {}).find("libnofp_lib") != std::string::npos;
  }));
  // The first session allocates what lives as long as the process (libbpf's and libelf's
  // one-time state, the host's ELF for libdwfl): the baseline is taken after it.
  REQUIRE(sample_system(workload) > 0);
  const size_t heap_before = heap_in_use(), fds_before = open_fds();
  uint64_t unwound = 0;
  for (int i = 0; i < 2; i++) unwound += sample_system(workload);
  const size_t heap_after = heap_in_use(), fds_after = open_fds();
  kill(workload.pid, SIGKILL);
  test::finish(workload);
  INFO("heap in use " << heap_before << " bytes after the first session, " << heap_after << " after two more; fds "
                      << fds_before << " then " << fds_after << "; workload samples unwound into nofp_inner " << unwound);
  CHECK(unwound > 0);  // the unwinder did its work: its caches were filled
  CHECK(fds_after == fds_before);
  // Nothing of a session stays: a few KiB of slack for glibc's own bookkeeping.
  CHECK(heap_after <= heap_before + 64 * 1024);
}
