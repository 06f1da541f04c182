#include "process.h"

#include "util/subprocess.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace perfbpf::test {

Spawned spawn(const std::vector<std::string>& argv, int as_uid) { return spawn_piped(argv, as_uid); }

Finished finish(Spawned& p) {
  Finished f;
  if (p.stdin_fd >= 0) close(p.stdin_fd);
  p.stdin_fd = -1;
  drain_pipes(p.stdout_fd, p.stderr_fd, f.out, f.err);
  f.exit_code = wait_exit_code(p.pid);
  p.stdout_fd = p.stderr_fd = -1;
  return f;
}

Finished run(const std::vector<std::string>& argv, int as_uid) {
  Spawned p = spawn(argv, as_uid);
  return finish(p);
}

std::string read_until(int fd, const std::string& needle, int timeout_ms) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char c;
  while (got.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    if (read(fd, &c, 1) != 1) break;  // one byte at a time: leave the rest for the caller
    got.push_back(c);
  }
  return got;
}

bool eventually(const std::function<bool()>& condition, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    usleep(10000);
  }
  return true;
}

int free_tcp_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

std::string http_get(int port, const std::string& path) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
    if (write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = read(s, buf, sizeof(buf))) > 0;) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(s);
  return response;
}

BusyCpus::BusyCpus(int cpus)
    : process_(spawn({"/usr/bin/stress-ng", "--cpu", std::to_string(cpus), "--timeout", "900", "--quiet"})) {
  // An exec that failed exits at once; a stress-ng that runs has forked its workers by then.
  usleep(200000);
  if (!running()) {
    Finished f = finish(process_);
    throw std::runtime_error("stress-ng did not start (exit " + std::to_string(f.exit_code) + "): " + f.err +
                             " (install it: scripts/bootstrap.sh)");
  }
}

BusyCpus::~BusyCpus() {
  if (process_.pid <= 0) return;
  kill(process_.pid, SIGTERM);  // stress-ng stops its workers and exits
  finish(process_);
}

bool BusyCpus::running() const {
  siginfo_t info{};  // WNOWAIT: an exited stress-ng stays for finish() to reap
  return process_.pid > 0 && waitid(P_PID, static_cast<id_t>(process_.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

bool bpf_programs_freed(const std::vector<uint32_t>& ids) {
  for (uint32_t id : ids) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd >= 0) {
      close(fd);
      return false;
    }
  }
  return true;
}

std::map<std::string, uint64_t> code_addresses(const std::string& out) {
  std::map<std::string, uint64_t> at;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    size_t eq = line.find("_at=0x");
    if (eq != std::string::npos) at[line.substr(0, eq)] = std::stoull(line.substr(eq + 6), nullptr, 16);
  }
  return at;
}

std::string workload(const std::string& name) { return std::string(PERFBPF_WORKLOADS) + "/" + name; }
std::string perfbpf_bin() { return PERFBPF_BIN; }

nlohmann::json load_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return nlohmann::json::parse(in);
}

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string temp_path(const std::string& name) {
  char tmpl[] = "/tmp/perfbpf-test-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (!dir) throw std::runtime_error("mkdtemp failed");
  return std::string(dir) + "/" + name;
}

}  // namespace perfbpf::test
