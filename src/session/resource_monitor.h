// System resource monitoring for a session or the library: owns the collectors (BPF, or /proc
// when unprivileged), closes one time-series sample per interval from two snapshots, adds what
// only /proc knows (names, parents, RSS of processes whose memory did not change, machine
// memory, interfaces, disk names) and builds the report's `system` section.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collect/collector.h"
#include "collect/procfs.h"
#include "perfbpf/profile.h"

namespace perfbpf {

struct MonitorSettings {
  std::vector<std::string> collectors;  // names (collector.h); empty: all of them
  std::string scope = "pid";            // "pid", "cgroup" or "system"
  std::string cgroup;
  double interval_s = 1.0;
  size_t top_n = 10;          // system and cgroup scope: processes kept in the report
  size_t max_series = 3600;   // samples kept; beyond, old ones are merged pairwise
  bool use_bpf = true;        // false: sample /proc (no privilege needed)
  // The processes in scope now (pid and cgroup scope), so idle ones are reported too; empty
  // in system scope.
  std::function<std::vector<uint32_t>()> members;
  // A process's name after its last exec, kept by BPF for targets that exited (the session's
  // target set); nullopt when unknown.
  std::function<std::optional<std::string>(uint32_t)> exec_name;
  std::function<void(const SeriesSample&)> on_interval;  // e.g. the live line on stderr
};

class ResourceMonitor {
 public:
  // Loads the collectors (throws Error); nothing is attached yet.
  ResourceMonitor(MonitorSettings settings, const CollectorSettings& collectors, ProcFs procfs = ProcFs());
  ~ResourceMonitor();
  ResourceMonitor(const ResourceMonitor&) = delete;
  ResourceMonitor& operator=(const ResourceMonitor&) = delete;

  void start();  // attaches and reads the baseline
  // Closes an interval when one is due; call it often (every loop tick). Returns the sample.
  std::optional<SeriesSample> poll();
  void stop();  // closes the last, partial interval and detaches every collector
  bool running() const { return running_; }
  // CLOCK_MONOTONIC ns when poll() closes the next interval; 0 when not running.
  uint64_t next_due_ns() const { return running_ ? next_due_ns_ : 0; }

  // The report section; valid after stop(), or as of the last interval while running.
  SystemProfile result() const;
  // The latest closed interval, if any.
  std::optional<SeriesSample> last_sample() const;

 private:
  std::optional<std::vector<uint32_t>> live_pids() const;
  ResourceSnapshot snapshot(bool final = false);
  void close_interval(const ResourceSnapshot& now);
  void name_processes(ResourceSnapshot& s, bool final);

  MonitorSettings settings_;
  ProcFs procfs_;
  std::vector<std::unique_ptr<Collector>> collectors_;
  bool running_ = false;
  bool memory_on_ = false;
  uint64_t start_ns_ = 0, next_due_ns_ = 0;
  ResourceSnapshot baseline_, last_;
  std::vector<SeriesSample> series_;
  uint64_t series_merges_ = 0;
  bool exclude_self_ = true;
  std::map<uint32_t, uint64_t> rss_peaks_;  // by tgid, from every read
  struct ProcRss {  // a live process's memory as /proc showed it at the last read
    uint64_t events = 0;  // the collector's count of its RSS changes then
    uint64_t rss = 0, anon = 0, file = 0, shmem = 0;
  };
  std::map<uint32_t, ProcRss> proc_rss_;  // by tgid, the processes live at the last read
  std::map<uint32_t, std::pair<std::string, uint32_t>> names_;  // tgid -> comm, ppid
  MemInfo memory_start_;
  double memory_used_peak_ = 0, memory_used_last_ = 0;
  CpuTimes cpu_start_, cpu_last_;  // /proc/stat at the start and at the last closed interval
  double machine_cpu_peak_ = 0;
  std::vector<NetDevLine> interfaces_start_, interfaces_end_;
};

}  // namespace perfbpf
