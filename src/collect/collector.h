// The resource collectors (sched, block, memory, network): each owns one BPF object that
// aggregates in maps, and adds what its maps hold now, cumulative since attach, into a
// ResourceSnapshot. The monitor diffs snapshots into intervals; nothing here knows of reports.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "perfbpf/histogram.h"
#include "perfbpf/profile.h"

namespace perfbpf {

struct ProcessSnapshot {
  uint32_t pid = 0, ppid = 0;
  std::string comm;  // from BPF for processes that exited, else filled from /proc
  bool exited = false;
  ResourceUsage usage;  // counters cumulative; memory figures are current values
  uint64_t rss_events = 0;  // RSS changes the memory collector saw: a new count, a new figure
  // In scope and alive at this read: only these hold memory now. Exited processes (and ones
  // that left a cgroup) keep their last RSS in their own row but not in the target's sums.
  bool live = false;
  std::map<uint32_t, ThreadResources> threads;  // live threads, by tid
};

struct DiskSnapshot {
  DiskTraffic traffic;
  LatencyHistogram queue, service, total;
};

struct ResourceSnapshot {
  uint64_t at_ns = 0;  // CLOCK_MONOTONIC when read (the sched collector's counters, when it runs)
  unsigned cpus = 0;   // online CPUs, set by the sched collector: CPU time per interval is capped at cpus x dt
  std::map<uint32_t, ProcessSnapshot> processes;  // by tgid
  std::map<uint32_t, DiskSnapshot> disks;         // by kernel dev_t (major << 20 | minor)
  LatencyHistogram runqueue, connect;
  std::map<std::string, uint64_t> lost_by_reason;
};

struct CollectorSettings {
  bool filter_tgid = true;     // false: every process but perfbpf (system mode)
  int targets_fd = -1;         // the shared target set (bpf/target_filter.bpf.h)
  bool exclude_self = true;    // never count this process (false: a library watching itself)
};

class Collector {
 public:
  virtual ~Collector() = default;
  virtual const char* name() const = 0;
  virtual void attach() = 0;  // throws Error; detaches in the destructor
  virtual void read(ResourceSnapshot& into) const = 0;
  // One live thread's usage now (sched only: CPU and off-CPU time); nullopt when the thread
  // has no record or the collector keeps none per thread.
  virtual std::optional<ResourceUsage> thread_usage(uint32_t /*tid*/) const { return std::nullopt; }
};

inline const std::vector<std::string>& all_collector_names() {
  static const std::vector<std::string> names{"sched", "block", "memory", "network"};
  return names;
}

// Loads the named collector's BPF object. Throws Error (usage) for an unknown name.
std::unique_ptr<Collector> make_collector(const std::string& name, const CollectorSettings& settings);

// Kernel dev_t as the BPF side sees it, to /proc's major and minor.
inline uint32_t dev_major(uint32_t dev) { return dev >> 20; }
inline uint32_t dev_minor(uint32_t dev) { return dev & ((1u << 20) - 1); }

}  // namespace perfbpf
