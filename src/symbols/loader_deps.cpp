#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "perfbpf/error.h"
#include "symbols/target_resolver.h"
#include "util/subprocess.h"

namespace perfbpf {
namespace {

struct Output {
  int status = -1;
  std::string out, err;
};

// Runs ARGV (no shell) and collects both outputs.
Output run_capture(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw Error(errno_message("pipe", errno), "", errno);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw Error(errno_message("pipe", e), "", e);
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    throw Error(errno_message("fork", e), "", e);
  }
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  Output result;
  drain_pipes(out_pipe[0], err_pipe[0], result.out, result.err);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

std::vector<std::string> loader_dependencies(const std::string& executable) {
  ElfSymbols elf = ElfSymbols::load(executable);
  if (elf.interpreter().empty()) return {};  // static: nothing is loaded
  // The loader itself answers, so LD_LIBRARY_PATH, RUNPATH, hwcaps and ld.so.cache all count
  // exactly as they will when the command runs.
  Output r = run_capture({elf.interpreter(), "--list", executable});
  if (r.status != 0)
    throw Error("cannot list the libraries of " + executable + ": " + r.err, "is its dynamic loader runnable?", ENOEXEC);
  std::vector<std::string> libs;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    // "\tlibfoo.so.1 => /path/libfoo.so.1 (0x...)", "\t/lib64/ld-linux-x86-64.so.2 (0x...)",
    // "\tlibbar.so => not found", "\tlinux-vdso.so.1 (0x...)"
    std::string path;
    size_t arrow = line.find("=> ");
    if (arrow != std::string::npos) {
      path = line.substr(arrow + 3);
    } else {
      size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos) continue;
      path = line.substr(start);
    }
    path = path.substr(0, path.find(" ("));
    if (!path.empty() && path[0] == '/') libs.push_back(path);
  }
  return libs;
}

}  // namespace perfbpf
