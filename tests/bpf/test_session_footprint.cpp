// What a function-timing session maps, from /proc/PID/maps of the running perfbpf: neither
// libcapstone (only while probes are planned) nor the HTTP stack (only when serving: the
// perfbpf-http.so module and its OpenSSL), which were ~8.4 MiB of its resident memory. And
// what it ever loads, from the dynamic loader's own log (LD_DEBUG=files): libcapstone only
// when a plan decodes code; mapped while planning it was the session's peak after the BTF.
// elfutils' libdw and liblzma (with libbz2) are loaded when DWARF or MiniDebugInfo is first
// read, which timing a symbol-named function never does before its report: linked, they were
// ~350 KiB of the session's peak RSS.
#include <signal.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "process.h"

using namespace perfbpf::test;

namespace {

std::vector<std::string> mapped_of(pid_t pid, const std::vector<std::string>& names) {
  std::vector<std::string> found;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line))
    for (const auto& n : names)
      if (line.find(n) != std::string::npos && std::find(found.begin(), found.end(), n) == found.end())
        found.push_back(n);
  return found;
}

const std::vector<std::string> kLibraries = {"libcapstone", "libssl",  "libcrypto", "libcpp-httplib",
                                             "perfbpf-http", "libdw",   "liblzma",   "libbz2"};

// What perfbpf timing leaf() in a waiting WORKLOAD with EXTRA options said up to its probes
// being in (PREFIX runs before it, e.g. env settings), and what it had mapped then.
struct Attached {
  std::string said;
  std::vector<std::string> mapped;
};

Attached attached_timing(const std::string& workload_name, const std::vector<std::string>& extra,
                         const std::vector<std::string>& prefix = {}) {
  Spawned target = spawn({workload(workload_name), "wait-loop", "1000"});
  REQUIRE(read_until(target.stdout_fd, "ready", 10000).find("ready") != std::string::npos);
  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(), {perfbpf_bin(), "--pid", std::to_string(target.pid), "-f", "leaf", "--sample-freq", "0",
                           "--collectors", "none", "-o", temp_path("r.json")});
  argv.insert(argv.end(), extra.begin(), extra.end());
  Spawned tool = spawn(argv);
  Attached out;
  out.said = read_until(tool.stderr_fd, "Ctrl-C to stop", 30000);
  INFO(out.said);
  REQUIRE(out.said.find("Ctrl-C to stop") != std::string::npos);
  out.mapped = mapped_of(tool.pid, kLibraries);
  kill(tool.pid, SIGINT);
  CHECK(finish(tool).exit_code == 0);
  kill(target.pid, SIGKILL);
  finish(target);
  return out;
}

std::vector<std::string> mapped_while_timing(const std::vector<std::string>& extra) {
  return attached_timing("funclat_target_nop5", extra).mapped;
}

// What the dynamic loader said it loaded (dlopen included) while perfbpf timed leaf() in a
// waiting WORKLOAD, up to its probes being in.
std::string loaded_while_timing(const std::string& workload_name) {
  return attached_timing(workload_name, {}, {"/usr/bin/env", "LD_DEBUG=files"}).said;
}

}  // namespace

TEST_CASE("function timing maps neither the disassembler, DWARF readers nor the HTTP stack, serving loads the HTTP module",
          "[bpf]") {
  CHECK(mapped_while_timing({}).empty());
  std::vector<std::string> serving = mapped_while_timing({"--serve", "127.0.0.1:0"});
  CHECK(std::find(serving.begin(), serving.end(), "perfbpf-http") != serving.end());
  CHECK(std::find(serving.begin(), serving.end(), "libcapstone") == serving.end());
}

TEST_CASE("libcapstone is loaded only when the plan decodes code", "[bpf]") {
  // leaf() of a C process at a 5-byte NOP: nothing to decode (no C++ runtime to throw through
  // it, an entry the kernel optimizes).
  std::string nop5 = loaded_while_timing("funclat_target_nop5");
  CHECK(nop5.find("file=libbpf") != std::string::npos);  // the log is there
  CHECK(nop5.find("libcapstone") == std::string::npos);
  // Its first instruction a RIP-relative mov: single-stepped, decoded for the kernel's refusals.
  CHECK(loaded_while_timing("funclat_target").find("file=libcapstone") != std::string::npos);
}

TEST_CASE("libdw and liblzma are not loaded while functions named by their symbols are timed", "[bpf]") {
  std::string said = loaded_while_timing("funclat_target_nop5");
  CHECK(said.find("file=libbpf") != std::string::npos);  // the log is there
  CHECK(said.find("file=libdw") == std::string::npos);
  CHECK(said.find("file=liblzma") == std::string::npos);
}
