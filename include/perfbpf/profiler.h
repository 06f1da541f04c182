// The library's profiler (the original design's PerformanceProfiler): functions timed in
// process, call by call, and system resource monitoring in the background. Monitoring uses
// the BPF collectors when the caller may load BPF and /proc sampling otherwise; the result
// says which. Every member function is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "perfbpf/histogram.h"
#include "perfbpf/profile.h"

namespace perfbpf {

// One monitoring interval (the original design's SystemMetrics).
struct SystemMetrics {
  double timestamp = 0;           // seconds since monitoring started, at the interval's end
  double interval_s = 0;          // how long the interval was
  double cpu_percent = 0;         // of the monitored process; 100 = one CPU
  double memory_percent = 0;      // machine-wide memory in use (/proc/meminfo)
  uint64_t memory_rss_bytes = 0;  // the process's resident set at the interval's end
  uint64_t minor_faults = 0, major_faults = 0;
  uint64_t disk_read_bytes = 0, disk_write_bytes = 0;  // block I/O it submitted
  uint64_t net_sent_bytes = 0, net_recv_bytes = 0;     // inet socket payload
  uint64_t runqueue_p99_ns = 0;   // its threads' waits for a CPU
};

enum class MonitoringSource { Auto, Bpf, Proc };

// What profiling a function measured, over all its calls so far (the original design's
// ProfilingMetrics). Times in seconds.
//
// The timer's own cost is taken out: each profiler measures once (the first time it times a
// call) the median time its clock reads add inside a timed empty call, and subtracts it from
// every call, never below zero; CPU time likewise, never above the call's wall time. The
// figures as measured stay in the raw_* fields.
struct ProfilingMetrics {
  std::string function_name;
  uint64_t call_count = 0;
  uint64_t exceptions = 0;   // calls that ended by an exception (timed and counted like the others)
  double total_time = 0, avg_time = 0, min_time = 0, max_time = 0;
  double time_variance = 0;  // of the call durations, s^2
  double p50_time = 0, p99_time = 0;
  double raw_total_time = 0, raw_avg_time = 0, raw_min_time = 0, raw_max_time = 0;  // timer's cost included
  double raw_p50_time = 0, raw_p99_time = 0;
  double timer_self_time = 0;  // the timer's own time inside each call, subtracted above
  double timer_cost = 0;       // what timing one call costs the caller in all (clocks, memory, bookkeeping)
  double cpu_time = 0;       // CPU the calling thread used during the calls
  double cpu_percent = 0;    // cpu_time / total_time * 100
  int64_t memory_delta = 0;  // bytes: process RSS after the last call less before it
  uint64_t peak_memory = 0;  // bytes: the process's peak RSS (VmHWM) after the last call
  // How the calling thread spent the calls' time off CPU, from the sched collector; only when
  // the process may load BPF (off_cpu_measured says so).
  bool off_cpu_measured = false;
  OffCpuTime off_cpu_ns;
  // The same per call, as --decompose splits probed calls (when off_cpu_measured): on CPU (the
  // rest of each call), run queue, I/O and sleep. In process the sched collector does not tell
  // a lock from other sleep: lock waits are in sleep, and lock stays 0.
  CallDecomposition decomposition;
};

class FunctionTimer;  // per-function state (src/session/function_timer.h)
class CallSched;      // the calling thread's off-CPU time (src/session/function_timer.h)
struct OpenCall;      // a call being timed (src/session/function_timer.h)
struct TimerCost;     // the timer's own cost (src/session/function_timer.h)
class PerformanceProfiler;

class ResourceMonitor;

// Times one call of NAME from its construction to its destruction (or stop()), on the thread
// that made it: `auto t = profiler.scope("parse");`. Recorded also when the scope is left by
// an exception (counted in ProfilingMetrics::exceptions). Movable, not copyable; the profiler
// must outlive it.
class ScopeTimer {
 public:
  ScopeTimer(ScopeTimer&& other) noexcept;
  ScopeTimer& operator=(ScopeTimer&&) = delete;
  ScopeTimer(const ScopeTimer&) = delete;
  ~ScopeTimer();
  void stop();  // records the call now; later stop() and the destructor do nothing

 private:
  friend class PerformanceProfiler;
  ScopeTimer(PerformanceProfiler& profiler, std::unique_ptr<OpenCall> call, int uncaught);
  PerformanceProfiler* profiler_;
  std::unique_ptr<OpenCall> call_;
  int uncaught_ = 0;  // std::uncaught_exceptions() when the call started
};

class PerformanceProfiler {
 public:
  explicit PerformanceProfiler(std::string output_dir = "perfbpf-output");
  ~PerformanceProfiler();  // stops monitoring
  PerformanceProfiler(const PerformanceProfiler&) = delete;
  PerformanceProfiler& operator=(const PerformanceProfiler&) = delete;

  // Calls FN(ARGS...) once, timed as NAME, and returns what FN returns (void, values,
  // references and move-only types alike). An exception from FN propagates after the call is
  // recorded and counted. NAME's metrics: metrics(NAME) or profiling_data().
  template <typename Fn, typename... Args>
  decltype(auto) profile_function(const std::string& name, Fn&& fn, Args&&... args) {
    ScopeTimer timer = scope(name);
    return std::invoke(std::forward<Fn>(fn), std::forward<Args>(args)...);
  }
  // Times the enclosing scope as one call of NAME (see ScopeTimer).
  [[nodiscard]] ScopeTimer scope(const std::string& name);
  // A call timed by hand, possibly across functions: start returns an id for stop, which
  // must come from the same thread (CPU time is the thread's).
  uint64_t start_function_profiling(const std::string& name);
  ProfilingMetrics stop_function_profiling(uint64_t id);  // throws Error for an unknown id

  ProfilingMetrics metrics(const std::string& name) const;  // throws Error for a name never timed
  std::map<std::string, ProfilingMetrics> profiling_data() const;
  void clear_data();  // forgets functions and monitoring samples (monitoring keeps running)

  // The JSON report (the CLI's schema) of everything so far, with its analysis, written into
  // output_dir as perfbpf-report-<timestamp>.json; returns the path. Throws Error when the
  // directory cannot be created or written. Each function's latency_ns is corrected for the
  // timer, latency_raw_ns is as measured; the timer stands where the CLI's probe does:
  // probe.site "in-process", probe.bias_ns its own time inside a call, probe.cost_ns what
  // timing a call costs, and overhead what that cost the process.
  std::string generate_profiling_report();
  // The same content as a Profile, for the dashboard or other code.
  Profile profiling_report() const;

  // Samples PID (0: this process) every INTERVAL_S seconds on a background thread until
  // stop_system_monitoring(). Auto uses BPF when privileged, else /proc. Throws Error when
  // already monitoring, for an unknown pid, or when Bpf is asked for and cannot be had.
  void start_system_monitoring(double interval_s = 1.0, int pid = 0, MonitoringSource source = MonitoringSource::Auto);
  void stop_system_monitoring();  // closes the last interval; a no-op when not monitoring
  bool monitoring_active() const;

  std::vector<SystemMetrics> system_metrics() const;  // every interval so far
  SystemProfile system_profile() const;  // the report's `system` section, as of the last interval

  PerformanceThresholds performance_thresholds;
  const std::string& output_dir() const { return output_dir_; }

 private:
  void run_monitor_loop();

  std::string output_dir_;
  mutable std::mutex mutex_;
  mutable std::mutex functions_mutex_;
  std::map<std::string, std::unique_ptr<FunctionTimer>> functions_;
  friend class ScopeTimer;
  // Everything a call needs before its clocks start, and after they stop.
  std::unique_ptr<OpenCall> prepare_call(const std::string& name, bool calibrating);
  void close_call(OpenCall& call, bool by_exception, ProfilingMetrics* metrics);
  ScopeTimer scope_of(const std::string& name, bool calibrating);
  void measure_timer_cost();  // once, before the first call is timed
  std::map<uint64_t, std::unique_ptr<OpenCall>> open_calls_;
  uint64_t next_call_id_ = 1;
  std::unique_ptr<CallSched> call_sched_;
  bool call_sched_tried_ = false;
  std::once_flag timer_cost_once_;
  std::unique_ptr<TimerCost> timer_cost_;
  std::vector<std::pair<uint64_t, uint64_t>> calibration_spans_;  // empty calls' (wall, CPU) ns
  std::chrono::system_clock::time_point created_ = std::chrono::system_clock::now();
  std::unique_ptr<ResourceMonitor> monitor_;
  std::vector<SystemMetrics> metrics_;
  SystemProfile last_profile_;
  std::thread thread_;
  bool stopping_ = false;
  int target_fd_ = -1;  // the BPF target set, when monitoring with BPF
};

// Profiles one call of FN(ARGS...) with a throwaway profiler (the original quick_profile) and
// returns its metrics; FN's own result is discarded. Measuring the timer's cost makes this
// about a millisecond slower than a call on a profiler that is kept.
template <typename Fn, typename... Args>
ProfilingMetrics quick_profile(const std::string& name, Fn&& fn, Args&&... args) {
  PerformanceProfiler profiler;
  profiler.profile_function(name, std::forward<Fn>(fn), std::forward<Args>(args)...);
  return profiler.metrics(name);
}

}  // namespace perfbpf
