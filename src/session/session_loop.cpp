#include "session/session_loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "perfbpf/error.h"
#include "session/system_info.h"
#include "util/unique_fd.h"

namespace perfbpf {
namespace {

sigset_t session_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void watch(int epfd, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    throw Error(errno_message("epoll_ctl", errno), "", errno);
}

enum Tag : uint64_t { kRing, kSignal, kTarget, kTimer, kStop };

}  // namespace

const char* end_reason_name(EndReason reason) {
  switch (reason) {
    case EndReason::Duration: return "duration";
    case EndReason::Signal: return "signal";
    case EndReason::TargetExited: return "target-exited";
  }
  return "unknown";
}

SignalCatcher::SignalCatcher() {
  sigset_t set = session_signals();
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
    throw Error(errno_message("sigprocmask", errno), "", errno);
  fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd_ < 0) {
    int e = errno;
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    throw Error(errno_message("signalfd", e), "", e);
  }
}

SignalCatcher::~SignalCatcher() {
  // A Ctrl-C that came while the session was already ending (the target exited first) is
  // taken here, not delivered on unblocking: that would kill perfbpf before its report.
  if (!restored_) {
    signalfd_siginfo info{};
    while (read(fd_, &info, sizeof(info)) == sizeof(info)) {
    }
  }
  restore();
  if (fd_ >= 0) close(fd_);
}

void SignalCatcher::restore() {
  if (restored_) return;
  restored_ = true;
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t set = session_signals();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

CaughtSignal SignalCatcher::take() {
  signalfd_siginfo info{};
  ssize_t n = read(fd_, &info, sizeof(info));
  restore();  // from here a second Ctrl-C terminates perfbpf at once
  if (n != sizeof(info)) return {};
  return {static_cast<int>(info.ssi_signo), info.ssi_code == SI_KERNEL};
}

LoopResult run_event_loop(const LoopConfig& config) {
  UniqueFd epfd(epoll_create1(EPOLL_CLOEXEC));
  if (epfd.get() < 0) throw Error(errno_message("epoll_create1", errno), "", errno);
  if (config.ringbuf_epoll_fd >= 0) watch(epfd.get(), config.ringbuf_epoll_fd, kRing);
  if (config.samples_epoll_fd >= 0) watch(epfd.get(), config.samples_epoll_fd, kRing);
  if (config.signals) watch(epfd.get(), config.signals->fd(), kSignal);
  if (config.target_pidfd >= 0) watch(epfd.get(), config.target_pidfd, kTarget);
  if (config.stop_fd >= 0) watch(epfd.get(), config.stop_fd, kStop);

  UniqueFd timer(config.duration_s > 0 ? timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC) : -1);
  if (config.duration_s > 0) {
    if (timer.get() < 0) throw Error(errno_message("timerfd_create", errno), "", errno);
    itimerspec spec{};
    double whole = std::floor(config.duration_s);
    spec.it_value.tv_sec = static_cast<time_t>(whole);
    spec.it_value.tv_nsec = static_cast<long>((config.duration_s - whole) * 1e9);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    if (timerfd_settime(timer.get(), 0, &spec, nullptr) != 0)
      throw Error(errno_message("timerfd_settime", errno), "", errno);
    watch(epfd.get(), timer.get(), kTimer);
  }

  epoll_event events[8];
  for (;;) {
    int timeout_ms = config.tick_ms;
    if (uint64_t due = config.next_due_ns ? config.next_due_ns() : 0) {
      uint64_t now = monotonic_ns();
      // Rounded up: waking a little early would find nothing due and sleep again.
      timeout_ms = due <= now ? 0 : std::min<int>(timeout_ms, static_cast<int>((due - now + 999'999) / 1'000'000));
    }
    int n = epoll_wait(epfd.get(), events, 8, timeout_ms);
    if (n < 0 && errno != EINTR) throw Error(errno_message("epoll_wait", errno), "", errno);
    config.consume();
    for (int i = 0; i < n; i++) {
      switch (events[i].data.u64) {
        case kSignal: return {EndReason::Signal, config.signals->take()};
        case kTarget: return {EndReason::TargetExited, {}};
        case kTimer: return {EndReason::Duration, {}};
        case kStop: return {EndReason::Signal, {}};
        default: break;
      }
    }
  }
}

}  // namespace perfbpf
