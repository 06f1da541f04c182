// The symbolizer reads each ELF file once, however many processes map it: system-wide
// sessions see libc through every process's own /proc/PID/root.
#include <signal.h>

#include <catch2/catch.hpp>

#include "process.h"
#include "symbols/proc_maps.h"
#include "symbols/symbolizer.h"

using namespace perfbpf;

TEST_CASE("symbolizer: one file mapped by two processes is read once", "[symbols]") {
  test::Spawned a = test::spawn({test::workload("resource_target"), "idle", "3000"});
  test::Spawned b = test::spawn({test::workload("resource_target"), "idle", "3000"});
  test::read_until(a.stdout_fd, "pid=", 2000);  // both past exec and the dynamic loader
  test::read_until(b.stdout_fd, "pid=", 2000);
  Symbolizer symbols;
  std::vector<SymbolizedFrame> frames;
  for (int pid : {a.pid, b.pid}) {
    REQUIRE(symbols.snapshot(static_cast<uint32_t>(pid)));
    for (const MapEntry& m : read_proc_maps("/proc", pid)) {
      if (m.perms.find('x') == std::string::npos || m.path.find("resource_target") == std::string::npos) continue;
      auto f = symbols.user_frames(static_cast<uint32_t>(pid), m.start + 16, true);  // inside the text
      frames.insert(frames.end(), f.begin(), f.end());
      break;
    }
  }
  kill(a.pid, SIGTERM);
  kill(b.pid, SIGTERM);
  test::finish(a);
  test::finish(b);
  REQUIRE(frames.size() >= 2);
  CHECK(frames.front().name == frames.back().name);
  CHECK(symbols.files_loaded() == 1);
}
