// The library's in-process function timing (PerformanceProfiler::profile_function, scope() and
// start/stop_function_profiling): per-function call statistics, the timer's own cost measured
// and subtracted, and the calling thread's off-CPU time from a private sched collector when
// the process may load BPF.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "aggregate/call_split.h"
#include "collect/collector.h"
#include "perfbpf/histogram.h"
#include "perfbpf/profile.h"
#include "perfbpf/profiler.h"

namespace perfbpf {

// A thread's clocks at the start or the end of a timed call, in ns.
struct ClockReading {
  uint64_t wall_ns = 0;  // CLOCK_MONOTONIC
  uint64_t cpu_ns = 0;   // CLOCK_THREAD_CPUTIME_ID
};

// The wall clock is read last when a call starts and first when it ends, so only two vDSO
// reads sit inside the measured window; the CPU clock (a system call) is read around them.
ClockReading start_clocks();
ClockReading stop_clocks();

// What timing a call costs, measured once per profiler on empty calls timed through the same
// code as real ones (medians, ns).
struct TimerCost {
  uint64_t self_wall_ns = 0;  // inside the measured window: subtracted from every call
  uint64_t self_cpu_ns = 0;   // the same for the thread's CPU time
  uint64_t per_call_ns = 0;   // what a timed call costs its caller in all, bookkeeping included
};

// A call between its start and its end.
struct OpenCall {
  std::string name;
  uint32_t tid = 0;
  uint64_t rss_before = 0;
  std::optional<ResourceUsage> sched_before;
  ClockReading start;
  ClockReading end;
  bool calibrating = false;  // an empty call measuring the timer itself: not recorded
};

// All calls of one function: durations as measured (raw) and less the timer's own time.
class FunctionTimer {
 public:
  explicit FunctionTimer(std::string name) : name_(std::move(name)) {}
  struct Call {
    uint32_t tid = 0;
    uint64_t start_ns = 0;  // CLOCK_MONOTONIC
    uint64_t raw_wall_ns = 0, raw_cpu_ns = 0;
    int64_t memory_delta = 0;
    uint64_t peak_memory = 0;
    std::optional<OffCpuTime> off_cpu;
    bool by_exception = false;
  };
  void add(const Call& call, const TimerCost& cost);
  ProfilingMetrics metrics() const;
  FunctionProfile profile() const;  // the report's shape (object "[in-process]")

 private:
  std::string name_;
  LatencyHistogram durations_, raw_;
  uint64_t cpu_ns_ = 0, raw_cpu_ns_ = 0;
  uint64_t exceptions_ = 0;
  int64_t memory_delta_ = 0;
  uint64_t peak_memory_ = 0;
  bool off_cpu_measured_ = false;
  OffCpuTime off_cpu_;
  TimerCost cost_;
  std::map<uint32_t, ThreadCalls> threads_;
  std::unique_ptr<SplitBook> split_;  // calls with their off-CPU time measured
  uint64_t first_start_ns_ = 0;       // CLOCK_MONOTONIC of the first call: slowest calls' t_s
};

// The calling thread's CPU and off-CPU totals, from a sched collector that watches only
// this process. Absent (nullopt) when BPF cannot be loaded.
class CallSched {
 public:
  static std::unique_ptr<CallSched> try_create();  // null when unprivileged or on failure
  ~CallSched();
  std::optional<ResourceUsage> thread_now(uint32_t tid) const { return collector_->thread_usage(tid); }

 private:
  CallSched() = default;
  int targets_fd_ = -1;
  std::unique_ptr<Collector> collector_;
};

}  // namespace perfbpf
