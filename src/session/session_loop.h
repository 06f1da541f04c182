// The one poll loop of a session: ring buffer, signals, target exit and the duration timer,
// all as file descriptors in one epoll set.
#pragma once

#include <cstdint>
#include <functional>

namespace perfbpf {

enum class EndReason { Duration, Signal, TargetExited };
const char* end_reason_name(EndReason reason);

// Blocks SIGINT and SIGTERM for the life of the object and reads them from a signalfd; after
// the first one is taken, the old mask and default actions come back so a second Ctrl-C kills.
// Signals still pending at destruction (the session ended otherwise) are discarded.
struct CaughtSignal {
  int signo = 0;
  // Raised by the kernel, as a terminal's Ctrl-C is: the whole foreground process group (a
  // command perfbpf started too) got it. False when sent to perfbpf alone with kill().
  bool from_kernel = false;
};

class SignalCatcher {
 public:
  SignalCatcher();
  ~SignalCatcher();
  SignalCatcher(const SignalCatcher&) = delete;
  SignalCatcher& operator=(const SignalCatcher&) = delete;
  int fd() const { return fd_; }
  CaughtSignal take();  // the signal read, and restores default handling
 private:
  int fd_ = -1;
  bool restored_ = false;
  void restore();
};

struct LoopConfig {
  int ringbuf_epoll_fd = -1;
  int samples_epoll_fd = -1;       // the sampler's stack ring; -1 for none
  std::function<int()> consume;    // drains what is queued; called every tick and on wake-up
  int target_pidfd = -1;           // readable when the target exits; -1 for none
  double duration_s = 0;           // 0: no time limit
  SignalCatcher* signals = nullptr;  // null: signals are not the loop's business
  int stop_fd = -1;                // readable: end as a signal would (another thread asks)
  int tick_ms = 100;               // records arrive with watermark wake-ups; collect the rest
  // CLOCK_MONOTONIC ns when consume() next has work due (an interval closing); 0: nothing.
  // The loop wakes for it rather than up to a tick late.
  std::function<uint64_t()> next_due_ns;
};

struct LoopResult {
  EndReason reason = EndReason::Duration;
  CaughtSignal signal;  // reason Signal
};

LoopResult run_event_loop(const LoopConfig& config);

}  // namespace perfbpf
