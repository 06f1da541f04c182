// Running a child process with its standard streams piped to us, and reading its output
// without deadlocking on either stream.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace perfbpf {

struct PipedProcess {
  pid_t pid = -1;
  int stdin_fd = -1;   // write end
  int stdout_fd = -1;  // read end
  int stderr_fd = -1;  // read end
};

// Forks and execs ARGV (no shell, argv[0] a path) with fresh pipes for its three standard
// streams and an empty signal mask; AS_UID >= 0 drops to that uid and gid first. Throws Error.
PipedProcess spawn_piped(const std::vector<std::string>& argv, int as_uid = -1);

// Reads OUT_FD and ERR_FD until both reach EOF, appending to OUT and ERR; closes both.
void drain_pipes(int out_fd, int err_fd, std::string& out, std::string& err);

// Reaps PID: its exit code, or 128 + signal number.
int wait_exit_code(pid_t pid);

}  // namespace perfbpf
