#include "session/command_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
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

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void child_main(const std::string& path, const std::vector<std::string>& argv, int go_fd,
                             int error_fd, const InvokingUser& user) {
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
        setgid(user.gid) != 0 || setuid(user.uid) != 0) {
      int err = errno;
      (void)!write(error_fd, &err, sizeof(err));
      _exit(127);
    }
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  int err = errno;
  (void)!write(error_fd, &err, sizeof(err));
  _exit(127);
}

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

LaunchedCommand::LaunchedCommand(std::vector<std::string> argv) : argv_(std::move(argv)) {
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
  pid_ = fork();
  if (pid_ < 0) {
    int e = errno;
    for (int fd : {go[0], go[1], err[0], err[1]}) close(fd);
    throw Error(errno_message("fork", e), "", e);
  }
  if (pid_ == 0) {
    close(go[1]);
    close(err[0]);
    child_main(executable_, argv_, go[0], err[1], user);
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
    // A command that runs is left to finish on its own; one that never started is reaped.
    waitpid(pid_, nullptr, never_released ? 0 : WNOHANG);
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

}  // namespace perfbpf
