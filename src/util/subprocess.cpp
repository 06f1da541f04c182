#include "util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "perfbpf/error.h"

namespace perfbpf {

PipedProcess spawn_piped(const std::vector<std::string>& argv, int as_uid) {
  int fds[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};  // stdin, stdout, stderr
  auto close_all = [&] {
    for (auto& p : fds)
      for (int fd : p)
        if (fd >= 0) close(fd);
  };
  for (auto& p : fds) {
    if (pipe2(p, O_CLOEXEC) != 0) {
      int e = errno;
      close_all();
      throw Error(errno_message("pipe", e), "", e);
    }
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close_all();
    throw Error(errno_message("fork", e), "", e);
  }
  if (pid == 0) {
    dup2(fds[0][0], 0);
    dup2(fds[1][1], 1);
    dup2(fds[2][1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (as_uid >= 0 && (setgid(static_cast<gid_t>(as_uid)) != 0 || setuid(static_cast<uid_t>(as_uid)) != 0)) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[0][0]);
  close(fds[1][1]);
  close(fds[2][1]);
  return {pid, fds[0][1], fds[1][0], fds[2][0]};
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void drain_pipes(int out_fd, int err_fd, std::string& out, std::string& err) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open = 2;
  char buf[4096];
  while (open > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open--;
      }
    }
  }
  for (auto& p : fds)
    if (p.fd >= 0) close(p.fd);
}

}  // namespace perfbpf
