#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>

#include "collect/bpf_maps.h"
#include "perfbpf/error.h"
#include "perfbpf/profiler.h"
#include "session/privileges.h"
#include "session/function_timer.h"
#include "session/resource_monitor.h"

namespace perfbpf {
namespace {

SystemMetrics metrics_of(const SeriesSample& s) {
  SystemMetrics m;
  m.timestamp = s.t;
  m.interval_s = s.dt;
  m.cpu_percent = s.cpu_pct;
  m.memory_percent = s.memory_used_pct;
  m.memory_rss_bytes = s.rss_bytes;
  m.minor_faults = s.minor_faults;
  m.major_faults = s.major_faults;
  m.disk_read_bytes = s.disk_read_bytes;
  m.disk_write_bytes = s.disk_write_bytes;
  m.net_sent_bytes = s.net_tx_bytes;
  m.net_recv_bytes = s.net_rx_bytes;
  m.runqueue_p99_ns = s.runqueue_p99_ns;
  return m;
}

bool bpf_available() {
  return has_bpf_privileges() && std::filesystem::exists("/sys/kernel/btf/vmlinux");
}

constexpr auto kPollPeriod = std::chrono::milliseconds(20);

}  // namespace

PerformanceProfiler::PerformanceProfiler(std::string output_dir) : output_dir_(std::move(output_dir)) {}

PerformanceProfiler::~PerformanceProfiler() { stop_system_monitoring(); }

void PerformanceProfiler::start_system_monitoring(double interval_s, int pid, MonitoringSource source) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (monitor_) throw Error::usage("system monitoring is already active", "call stop_system_monitoring() first");
  if (interval_s <= 0) throw Error::usage("the monitoring interval must be positive");
  const uint32_t target = static_cast<uint32_t>(pid > 0 ? pid : getpid());
  if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
    throw Error("no process with pid " + std::to_string(pid), "check the pid", ESRCH);
  bool use_bpf = source == MonitoringSource::Bpf || (source == MonitoringSource::Auto && bpf_available());
  if (source == MonitoringSource::Bpf) {
    check_bpf_privileges();
    check_kernel_btf();
  }

  MonitorSettings m;
  m.scope = "pid";
  m.interval_s = interval_s;
  m.use_bpf = use_bpf;
  m.members = [target] { return std::vector<uint32_t>{target}; };
  m.on_interval = [this](const SeriesSample& s) { metrics_.push_back(metrics_of(s)); };  // under mutex_ (poll)
  CollectorSettings c;
  c.exclude_self = false;  // the caller may be watching itself
  if (use_bpf) c.targets_fd = target_fd_ = create_target_set({target});
  try {
    monitor_ = std::make_unique<ResourceMonitor>(m, c);
    monitor_->start();
  } catch (...) {
    monitor_.reset();
    if (target_fd_ >= 0) close(target_fd_);
    target_fd_ = -1;
    throw;
  }
  metrics_.clear();
  stopping_ = false;
  thread_ = std::thread([this] { run_monitor_loop(); });
}

void PerformanceProfiler::run_monitor_loop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      monitor_->poll();
    }
    std::this_thread::sleep_for(kPollPeriod);
  }
}

void PerformanceProfiler::stop_system_monitoring() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!monitor_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  monitor_->stop();
  last_profile_ = monitor_->result();
  monitor_.reset();
  if (target_fd_ >= 0) close(target_fd_);
  target_fd_ = -1;
}

bool PerformanceProfiler::monitoring_active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return monitor_ != nullptr;
}

std::vector<SystemMetrics> PerformanceProfiler::system_metrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return metrics_;
}

SystemProfile PerformanceProfiler::system_profile() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return monitor_ ? monitor_->result() : last_profile_;
}

}  // namespace perfbpf
