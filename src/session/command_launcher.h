// Starts `-- CMD ARGS` stopped before its first instruction, so probes can be attached to its
// pid first; then lets it exec. Under sudo the command runs as the invoking user. The command
// dies with perfbpf (PR_SET_PDEATHSIG: SIGKILL when perfbpf is killed), and is ended the way
// timeout(1) ends it: a signal, then SIGKILL after a grace period.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace perfbpf {

// argv[0] resolved the way execvp would (PATH search unless it contains '/').
// Throws Error when it is not found or not executable.
std::string resolve_command_path(const std::string& name);

// How stop() ended the command.
struct CommandStop {
  int exit_code = -1;        // as wait_exit_code(); -1 when it would not die even after SIGKILL
  bool killed = false;       // SIGKILL was needed
  bool interrupted = false;  // INTERRUPT_FD became readable during the grace period
};

class LaunchedCommand {
 public:
  // Forks; the child waits for release(). STDOUT_TO_STDERR: the command's standard output
  // goes to perfbpf's standard error (perfbpf writes a report on stdout). Throws Error when
  // fork fails.
  explicit LaunchedCommand(std::vector<std::string> argv, bool stdout_to_stderr = false);
  // A never-released child is told to exit; a running one (perfbpf failed mid-session) is
  // killed and reaped, never left running unprofiled.
  ~LaunchedCommand();
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
  // Ends a command that outlived the session, as timeout(1) does: sends SIG (0: none, it has
  // one already), waits up to GRACE_S for it to exit, then sends SIGKILL; the grace period is
  // cut short when INTERRUPT_FD (-1: none) becomes readable (the user pressed Ctrl-C). Each
  // signal also goes to the processes DESCENDANTS lists then (its live descendants; may be
  // empty), as timeout's goes to its process group.
  CommandStop stop(int sig, double grace_s, int interrupt_fd, const std::function<std::vector<uint32_t>()>& descendants);

 private:
  std::vector<std::string> argv_;
  std::string executable_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool stdout_to_stderr_ = false;
  int go_fd_ = -1;     // write end: one byte releases the child
  int error_fd_ = -1;  // read end: the child's errno if exec failed, EOF when exec succeeded
  bool reaped_ = false;
  int exit_code_ = -1;
};

}  // namespace perfbpf
