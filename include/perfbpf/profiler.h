// The library's profiler (the original design's PerformanceProfiler): system resource
// monitoring of a process in the background, sample by sample. Backed by the BPF collectors
// when the caller may load BPF, by /proc sampling otherwise; the result says which.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

class ResourceMonitor;

class PerformanceProfiler {
 public:
  explicit PerformanceProfiler(std::string output_dir = "perfbpf-output");
  ~PerformanceProfiler();  // stops monitoring
  PerformanceProfiler(const PerformanceProfiler&) = delete;
  PerformanceProfiler& operator=(const PerformanceProfiler&) = delete;

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
  std::unique_ptr<ResourceMonitor> monitor_;
  std::vector<SystemMetrics> metrics_;
  SystemProfile last_profile_;
  std::thread thread_;
  bool stopping_ = false;
  int target_fd_ = -1;  // the BPF target set, when monitoring with BPF
};

}  // namespace perfbpf
