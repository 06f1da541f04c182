// Starts `-- CMD ARGS` stopped before its first instruction, so probes can be attached to its
// pid first; then lets it exec. Under sudo the command runs as the invoking user.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace perfbpf {

// argv[0] resolved the way execvp would (PATH search unless it contains '/').
// Throws Error when it is not found or not executable.
std::string resolve_command_path(const std::string& name);

class LaunchedCommand {
 public:
  // Forks; the child waits for release(). Throws Error when fork fails.
  explicit LaunchedCommand(std::vector<std::string> argv);
  ~LaunchedCommand();  // a never-released child is told to exit; a running one is left alone
  LaunchedCommand(const LaunchedCommand&) = delete;
  LaunchedCommand& operator=(const LaunchedCommand&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& executable() const { return executable_; }
  // A pidfd that becomes readable when the command exits.
  int pidfd() const { return pidfd_; }

  // Lets the child exec; throws Error when exec fails (e.g. not executable).
  void release();
  // Reaps the child: its exit code, or 128 + signal number. Blocks until it has exited.
  int wait_exit_code();

 private:
  std::vector<std::string> argv_;
  std::string executable_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int go_fd_ = -1;     // write end: one byte releases the child
  int error_fd_ = -1;  // read end: the child's errno if exec failed, EOF when exec succeeded
  bool reaped_ = false;
  int exit_code_ = -1;
};

}  // namespace perfbpf
