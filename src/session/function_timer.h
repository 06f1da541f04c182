// The library's in-process function timing (PerformanceProfiler::profile_function and
// start/stop_function_profiling): per-function call statistics, and the calling thread's
// off-CPU time from a private sched collector when the process may load BPF.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "collect/collector.h"
#include "perfbpf/histogram.h"
#include "perfbpf/profile.h"
#include "perfbpf/profiler.h"

namespace perfbpf {

// All calls of one function.
class FunctionTimer {
 public:
  explicit FunctionTimer(std::string name) : name_(std::move(name)) {}
  void add(uint32_t tid, uint64_t wall_ns, uint64_t cpu_ns, int64_t memory_delta, uint64_t peak_memory,
           const std::optional<OffCpuTime>& off_cpu);
  ProfilingMetrics metrics() const;
  FunctionProfile profile() const;  // the report's shape (object "[in-process]")

 private:
  std::string name_;
  LatencyHistogram durations_;
  uint64_t cpu_ns_ = 0;
  int64_t memory_delta_ = 0;
  uint64_t peak_memory_ = 0;
  bool off_cpu_measured_ = false;
  OffCpuTime off_cpu_;
  std::map<uint32_t, ThreadCalls> threads_;
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

// A call between start_function_profiling and stop_function_profiling.
struct PerformanceProfiler::OpenCall {
  std::string name;
  uint32_t tid = 0;
  uint64_t start_ns = 0, cpu_start_ns = 0;
  uint64_t rss_before = 0;
  std::optional<ResourceUsage> sched_before;
};

}  // namespace perfbpf
