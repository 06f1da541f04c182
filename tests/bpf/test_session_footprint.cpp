// What a function-timing session maps, from /proc/PID/maps of the running perfbpf: neither
// libcapstone (only while probes are planned) nor the HTTP stack (only when serving: the
// perfbpf-http.so module and its OpenSSL), which were ~8.4 MiB of its resident memory.
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

const std::vector<std::string> kLibraries = {"libcapstone", "libssl", "libcrypto", "libcpp-httplib", "perfbpf-http"};

// perfbpf timing leaf() in a waiting funclat_target_nop5 with EXTRA options: what it has mapped
// once its probes are in.
std::vector<std::string> mapped_while_timing(const std::vector<std::string>& extra) {
  Spawned target = spawn({workload("funclat_target_nop5"), "wait-loop", "1000"});
  REQUIRE(read_until(target.stdout_fd, "ready", 10000).find("ready") != std::string::npos);
  std::vector<std::string> argv = {perfbpf_bin(), "--pid", std::to_string(target.pid), "-f", "leaf",
                                   "--sample-freq", "0", "--collectors", "none", "-o", temp_path("r.json")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Spawned tool = spawn(argv);
  std::string said = read_until(tool.stderr_fd, "Ctrl-C to stop", 30000);
  INFO(said);
  REQUIRE(said.find("Ctrl-C to stop") != std::string::npos);
  std::vector<std::string> mapped = mapped_of(tool.pid, kLibraries);
  kill(tool.pid, SIGINT);
  CHECK(finish(tool).exit_code == 0);
  kill(target.pid, SIGKILL);
  finish(target);
  return mapped;
}

}  // namespace

TEST_CASE("function timing maps neither the disassembler nor the HTTP stack, serving loads the HTTP module", "[bpf]") {
  CHECK(mapped_while_timing({}).empty());
  std::vector<std::string> serving = mapped_while_timing({"--serve", "127.0.0.1:0"});
  CHECK(std::find(serving.begin(), serving.end(), "perfbpf-http") != serving.end());
  CHECK(std::find(serving.begin(), serving.end(), "libcapstone") == serving.end());
}
