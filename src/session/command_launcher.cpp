#include "session/command_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "perfbpf/error.h"
#include "session/privileges.h"
#include "util/subprocess.h"

namespace perfbpf {
namespace {

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

[[noreturn]] void child_fail(int error_fd) {
  int err = errno;
  (void)!write(error_fd, &err, sizeof(err));
  _exit(127);
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void child_main(const std::string& path, const std::vector<std::string>& argv, int go_fd,
                             int error_fd, const InvokingUser& user, pid_t parent, bool stdout_to_stderr) {
  char byte;
  if (read(go_fd, &byte, 1) != 1) _exit(127);  // perfbpf gave up before attaching
  close(go_fd);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // perfbpf blocks SIGINT/SIGTERM for its signalfd
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);

  if (user.present) {
    if (initgroups(user.name.empty() ? "nobody" : user.name.c_str(), user.gid) != 0 ||
        setgid(user.gid) != 0 || setuid(user.uid) != 0)
      child_fail(error_fd);
  }
  // The command must not run on unprofiled once perfbpf is gone (SIGKILL leaves no chance to
  // stop it). Set after the credential change, which clears it; perfbpf may have died between
  // fork and here, which getppid() shows.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(error_fd);
  if (getppid() != parent) _exit(127);
  if (stdout_to_stderr && dup2(STDERR_FILENO, STDOUT_FILENO) < 0) child_fail(error_fd);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  child_fail(error_fd);
}

enum class Wait { Exited, TimedOut, Interrupted };

// Waits for PIDFD (readable once the process has exited) for up to TIMEOUT_MS, or until
// INTERRUPT_FD (-1: none) becomes readable.
Wait wait_for_exit(int pidfd, int64_t timeout_ms, int interrupt_fd) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pollfd fds[2] = {{pidfd, POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int n = poll(fds, interrupt_fd >= 0 ? 2 : 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (n < 0 && errno != EINTR) return Wait::TimedOut;
    if (n > 0 && fds[0].revents) return Wait::Exited;
    if (n > 0 && fds[1].revents) return Wait::Interrupted;
    if (n == 0) return Wait::TimedOut;
  }
}

// How long a SIGKILLed command may take to go (it may be in uninterruptible sleep).
constexpr int64_t kKillWaitMs = 5000;

}  // namespace

std::string resolve_command_path(const std::string& name) {
  if (name.empty()) throw Error::usage("empty command after --");
  if (name.find('/') != std::string::npos) {
    if (!is_executable_file(name))
      throw Error("cannot run '" + name + "': not an executable file", "check the path", ENOENT);
    return name;
  }
  const char* env_path = std::getenv("PATH");
  std::stringstream dirs(env_path ? env_path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (is_executable_file(candidate)) return candidate;
  }
  throw Error("command not found: " + name, "give its path, e.g. ./" + name, ENOENT);
}

LaunchedCommand::LaunchedCommand(std::vector<std::string> argv, bool stdout_to_stderr)
    : argv_(std::move(argv)), stdout_to_stderr_(stdout_to_stderr) {
  if (argv_.empty()) throw Error::usage("no command given after --");
  executable_ = resolve_command_path(argv_[0]);
  InvokingUser user = invoking_user();

  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0) throw Error(errno_message("pipe", errno), "", errno);
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    close(go[0]);
    close(go[1]);
    throw Error(errno_message("pipe", e), "", e);
  }
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) {
    int e = errno;
    for (int fd : {go[0], go[1], err[0], err[1]}) close(fd);
    throw Error(errno_message("fork", e), "", e);
  }
  if (pid_ == 0) {
    close(go[1]);
    close(err[0]);
    child_main(executable_, argv_, go[0], err[1], user, parent, stdout_to_stderr_);
  }
  close(go[0]);
  close(err[1]);
  go_fd_ = go[1];
  error_fd_ = err[0];
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd_ < 0) {
    int e = errno;
    close_fd(go_fd_);  // the child exits on EOF
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
    throw Error(errno_message("pidfd_open", e), "perfbpf needs Linux 5.3 or later", e);
  }
}

LaunchedCommand::~LaunchedCommand() {
  bool never_released = go_fd_ >= 0;
  close_fd(go_fd_);  // a waiting child reads EOF and exits without running the command
  close_fd(error_fd_);
  if (!reaped_ && pid_ > 0) {
    if (never_released) {
      waitpid(pid_, nullptr, 0);
    } else {
      // The session failed while the command ran: it is not left running unprofiled.
      kill(pid_, SIGKILL);
      if (wait_for_exit(pidfd_, kKillWaitMs, -1) == Wait::Exited) waitpid(pid_, nullptr, 0);
    }
  }
  close_fd(pidfd_);
}

void LaunchedCommand::release() {
  char byte = 1;
  if (write(go_fd_, &byte, 1) != 1) {
    int e = errno;
    throw Error(errno_message("cannot start command", e), "", e);
  }
  close_fd(go_fd_);
  int child_errno = 0;
  ssize_t n;
  do n = read(error_fd_, &child_errno, sizeof(child_errno));
  while (n < 0 && errno == EINTR);
  close_fd(error_fd_);
  if (n == sizeof(child_errno)) {
    wait_exit_code();
    throw Error(errno_message("cannot run '" + executable_ + "'", child_errno),
                "check that the invoking user may execute it", child_errno);
  }
}

int LaunchedCommand::wait_exit_code() {
  if (reaped_) return exit_code_;
  reaped_ = true;
  return exit_code_ = ::perfbpf::wait_exit_code(pid_);
}

CommandStop LaunchedCommand::stop(int sig, double grace_s, int interrupt_fd,
                                  const std::function<std::vector<uint32_t>()>& descendants) {
  auto send = [&](int s) {
    kill(pid_, s);
    if (descendants)
      for (uint32_t pid : descendants())
        if (static_cast<pid_t>(pid) != pid_) kill(static_cast<pid_t>(pid), s);
  };
  CommandStop r;
  if (!reaped_) {
    if (sig) send(sig);
    Wait w = wait_for_exit(pidfd_, std::llround(grace_s * 1000), interrupt_fd);
    r.interrupted = w == Wait::Interrupted;
    if (w != Wait::Exited) {
      send(SIGKILL);
      r.killed = true;
      if (wait_for_exit(pidfd_, kKillWaitMs, -1) != Wait::Exited) return r;
    }
  }
  r.exit_code = wait_exit_code();
  return r;
}

}  // namespace perfbpf
