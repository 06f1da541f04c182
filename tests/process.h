// Running programs from tests: perfbpf itself and the workloads, with their output captured.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/subprocess.h"

namespace perfbpf::test {

using Spawned = PipedProcess;  // pid and its three standard streams

// Starts ARGV with piped stdin/stdout/stderr; AS_UID >= 0 drops to that uid and gid first.
Spawned spawn(const std::vector<std::string>& argv, int as_uid = -1);

struct Finished {
  int exit_code = -1;  // 128 + signal when killed
  std::string out, err;
};

// Closes stdin, reads both outputs to EOF, reaps the process.
Finished finish(Spawned& p);
Finished run(const std::vector<std::string>& argv, int as_uid = -1);

// Reads FD until a line containing NEEDLE arrives (returns everything read) or TIMEOUT_MS
// passes (returns what was read; the caller's check then fails with it in view).
std::string read_until(int fd, const std::string& needle, int timeout_ms);

// Polls CONDITION every 10 ms for up to TIMEOUT_MS: for what the kernel finishes asynchronously.
bool eventually(const std::function<bool()>& condition, int timeout_ms = 2000);

// A TCP port on 127.0.0.1 free a moment ago, for a server a test starts.
int free_tcp_port();
// One HTTP/1.0 GET to 127.0.0.1:PORT; the whole response, or "" when nothing answered.
std::string http_get(int port, const std::string& path);
// `stress-ng --cpu N` for as long as it lives: a machine another process keeps busy, as CI
// runners and shared VMs are. Throws when stress-ng cannot start (scripts/bootstrap.sh
// installs it).
class BusyCpus {
 public:
  explicit BusyCpus(int cpus = 1);
  ~BusyCpus();
  BusyCpus(const BusyCpus&) = delete;
  BusyCpus& operator=(const BusyCpus&) = delete;
  bool running() const;  // still spinning: the load lasted as long as it was meant to

 private:
  Spawned process_;
};

// Whether none of the BPF programs IDS is loaded any more (the kernel frees a program one RCU
// grace period after its last reference: poll it with eventually()).
bool bpf_programs_freed(const std::vector<uint32_t>& ids);

// A workload's "strlen_at=0x..." lines: name -> virtual address of that code in its object.
std::map<std::string, uint64_t> code_addresses(const std::string& out);

std::string workload(const std::string& name);  // path of a tests/workloads binary
std::string perfbpf_bin();
std::string temp_path(const std::string& name);  // unique path in a fresh temp directory
// The JSON in the file at PATH (a report perfbpf wrote); throws when it is missing or invalid.
nlohmann::json load_json(const std::string& path);
std::string file_text(const std::string& path);  // the whole file; empty when unreadable

}  // namespace perfbpf::test
