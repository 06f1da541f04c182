#include "process.h"

#include "util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <stdexcept>

namespace perfbpf::test {

Spawned spawn(const std::vector<std::string>& argv, int as_uid) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (as_uid >= 0 && (setgid(as_uid) != 0 || setuid(as_uid) != 0)) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  return {pid, in[1], out[0], err[0]};
}

Finished finish(Spawned& p) {
  Finished f;
  if (p.stdin_fd >= 0) close(p.stdin_fd);
  p.stdin_fd = -1;
  drain_pipes(p.stdout_fd, p.stderr_fd, f.out, f.err);
  int status = 0;
  waitpid(p.pid, &status, 0);
  f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

std::string workload(const std::string& name) { return std::string(PERFBPF_WORKLOADS) + "/" + name; }
std::string perfbpf_bin() { return PERFBPF_BIN; }

std::string temp_path(const std::string& name) {
  char tmpl[] = "/tmp/perfbpf-test-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (!dir) throw std::runtime_error("mkdtemp failed");
  return std::string(dir) + "/" + name;
}

}  // namespace perfbpf::test
