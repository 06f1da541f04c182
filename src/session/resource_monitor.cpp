#include "session/resource_monitor.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "aggregate/system_aggregate.h"
#include "collect/perf_events.h"
#include "collect/proc_collector.h"
#include "perfbpf/error.h"
#include "session/system_info.h"

namespace perfbpf {
namespace {

// The machine's CPUs busy between two reads of /proc/stat, % of all of them.
double busy_pct(const CpuTimes& before, const CpuTimes& after) {
  if (after.total_ticks <= before.total_ticks || after.busy_ticks < before.busy_ticks) return 0;
  return 100.0 * static_cast<double>(after.busy_ticks - before.busy_ticks) /
         static_cast<double>(after.total_ticks - before.total_ticks);
}

}  // namespace

ResourceMonitor::ResourceMonitor(MonitorSettings settings, const CollectorSettings& collectors, ProcFs procfs)
    : settings_(std::move(settings)), procfs_(std::move(procfs)), exclude_self_(collectors.exclude_self) {
  if (settings_.collectors.empty()) settings_.collectors = all_collector_names();
  if (settings_.interval_s <= 0) settings_.interval_s = 1.0;
  memory_on_ = std::count(settings_.collectors.begin(), settings_.collectors.end(), "memory") > 0;
  if (settings_.use_bpf) {
    for (const auto& name : settings_.collectors) collectors_.push_back(make_collector(name, collectors));
  } else {
    collectors_.push_back(make_proc_collector(procfs_, settings_.members));
    memory_on_ = true;
  }
}

ResourceMonitor::~ResourceMonitor() = default;

void ResourceMonitor::start() {
  for (auto& c : collectors_) c->attach();
  running_ = true;
  memory_start_ = procfs_.meminfo();
  memory_used_peak_ = memory_used_last_ = memory_start_.used_pct();
  cpu_start_ = cpu_last_ = procfs_.cpu_times();
  if (settings_.scope == "system") interfaces_start_ = procfs_.net_dev();
  baseline_ = last_ = snapshot();
  start_ns_ = baseline_.at_ns;
  next_due_ns_ = start_ns_ + static_cast<uint64_t>(settings_.interval_s * 1e9);
}

// The processes in scope and alive now: the members (pid and cgroup scope), or every process
// /proc lists but perfbpf (system scope). Idle ones are included: they hold memory too.
std::optional<std::vector<uint32_t>> ResourceMonitor::live_pids() const {
  if (settings_.members) return settings_.members();
  if (settings_.scope != "system") return std::nullopt;
  std::vector<uint32_t> pids = procfs_.pids();
  if (exclude_self_) std::erase(pids, static_cast<uint32_t>(getpid()));
  return pids;
}

ResourceSnapshot ResourceMonitor::snapshot(bool final) {
  ResourceSnapshot s;
  s.at_ns = monotonic_ns();
  for (const auto& c : collectors_) c->read(s);
  if (auto live = live_pids()) {
    for (uint32_t pid : *live) {
      ProcessSnapshot& p = s.processes[pid];
      p.pid = pid;
      p.live = !p.exited;  // listed, but its exit already seen: a zombie holds no memory
    }
  } else {
    for (auto& [tgid, p] : s.processes) p.live = !p.exited;
  }
  name_processes(s, final);
  std::map<uint32_t, ProcRss> read_now;
  for (auto& [tgid, p] : s.processes) {
    MemoryUsage& m = p.usage.memory;
    // What a live process holds now is the kernel's exact count, as /proc shows it: the
    // collector reads the counters' shared part, which lags by up to a batch of pages per CPU
    // (lots for a small process on a large machine). /proc is read again only when the
    // collector saw the RSS change since, so an idle process (or kernel thread) costs one read.
    if (memory_on_ && p.live && settings_.use_bpf) {
      auto known = proc_rss_.find(tgid);
      if (known != proc_rss_.end() && known->second.events == p.rss_events) {
        read_now.insert(*known);
      } else if (auto pm = procfs_.memory(tgid)) {
        read_now[tgid] = {p.rss_events, pm->vm_rss_bytes, pm->rss_anon_bytes, pm->rss_file_bytes, pm->rss_shmem_bytes};
      } else {
        p.live = false;  // gone since it was listed
      }
      if (p.live) {
        const ProcRss& r = read_now[tgid];
        m.rss_last_bytes = r.rss;
        m.anon_bytes = r.anon;
        m.file_bytes = r.file;
        m.shmem_bytes = r.shmem;
      }
    }
    uint64_t& peak = rss_peaks_[tgid];
    peak = std::max({peak, m.rss_peak_bytes, m.rss_last_bytes});
    m.rss_peak_bytes = peak;
  }
  proc_rss_ = std::move(read_now);
  return s;
}

// Names and parents come from /proc once per process (exited ones bring theirs from BPF);
// the final read reads them again, as an exec may have renamed the process since. A process
// gone from /proc by then is named after its last exec if the target set saw it.
void ResourceMonitor::name_processes(ResourceSnapshot& s, bool final) {
  for (auto& [tgid, p] : s.processes) {
    if (!p.comm.empty()) {  // a collector's, at exit
      names_[tgid] = {p.comm, p.ppid};
      continue;
    }
    auto known = names_.find(tgid);
    auto st = known == names_.end() || final ? procfs_.stat(tgid) : std::nullopt;
    if (st) {
      p.comm = st->comm;
      p.ppid = st->ppid;
      names_[tgid] = {p.comm, p.ppid};
    } else if (known != names_.end()) {
      std::tie(p.comm, p.ppid) = known->second;
    }
    if (final && !st && settings_.exec_name) {
      if (auto name = settings_.exec_name(tgid)) p.comm = *name;
    }
    if (!final || p.exited) continue;
    for (auto& [tid, t] : p.threads)
      if (auto ts = procfs_.thread_stat(tgid, tid)) t.comm = ts->comm;
  }
}

void ResourceMonitor::close_interval(const ResourceSnapshot& now) {
  SeriesSample s = interval_sample(last_, now, static_cast<double>(now.at_ns - start_ns_) / 1e9);
  try {
    memory_used_last_ = procfs_.meminfo().used_pct();
  } catch (const Error&) {
    // keeps the last figure: /proc/meminfo does not go away in practice
  }
  memory_used_peak_ = std::max(memory_used_peak_, memory_used_last_);
  s.memory_used_pct = memory_used_last_;
  const CpuTimes cpu = procfs_.cpu_times();
  s.machine_cpu_pct = busy_pct(cpu_last_, cpu);
  machine_cpu_peak_ = std::max(machine_cpu_peak_, s.machine_cpu_pct);
  cpu_last_ = cpu;
  append_bounded(series_, s, settings_.max_series, series_merges_);
  last_ = now;
  if (settings_.on_interval) settings_.on_interval(s);
}

std::optional<SeriesSample> ResourceMonitor::poll() {
  if (!running_) return std::nullopt;
  uint64_t now = monotonic_ns();
  if (now < next_due_ns_) return std::nullopt;
  const uint64_t interval_ns = static_cast<uint64_t>(settings_.interval_s * 1e9);
  next_due_ns_ += interval_ns;
  if (next_due_ns_ <= now) next_due_ns_ = now + interval_ns;  // fell behind: no burst of samples
  close_interval(snapshot());
  return series_.back();
}

void ResourceMonitor::stop() {
  if (!running_) return;
  ResourceSnapshot final_snapshot = snapshot(/*final=*/true);
  // A last interval shorter than a tenth of one says little; its counts still reach the totals.
  if (final_snapshot.at_ns - last_.at_ns >= static_cast<uint64_t>(settings_.interval_s * 1e8))
    close_interval(final_snapshot);
  last_ = std::move(final_snapshot);
  if (settings_.scope == "system") interfaces_end_ = procfs_.net_dev();
  collectors_.clear();  // detaches: every link and perf event goes with its collector
  running_ = false;
}

std::optional<SeriesSample> ResourceMonitor::last_sample() const {
  if (series_.empty()) return std::nullopt;
  return series_.back();
}

SystemProfile ResourceMonitor::result() const {
  SystemProfile out;
  out.enabled = true;
  out.source = settings_.use_bpf ? "bpf" : "proc";
  out.scope = settings_.scope;
  out.cgroup = settings_.cgroup;
  out.collectors = settings_.use_bpf ? settings_.collectors : std::vector<std::string>{"proc"};
  out.interval_s = settings_.interval_s;
  out.cpus = static_cast<unsigned>(online_cpus().size());
  out.memory_total_bytes = memory_start_.total_bytes;
  out.memory_used_pct_peak = memory_used_peak_;
  out.memory_used_pct_last = memory_used_last_;
  out.machine_cpu_pct = busy_pct(cpu_start_, cpu_last_);
  out.machine_cpu_pct_peak = machine_cpu_peak_;
  const double duration_s = static_cast<double>(last_.at_ns - start_ns_) / 1e9;
  out.totals = total_usage(last_, series_, last_.at_ns - start_ns_);
  out.totals.cpu_pct = duration_s > 0 ? 100.0 * static_cast<double>(out.totals.cpu_time_ns) / (duration_s * 1e9) : 0;
  out.runqueue_latency_ns = distribution(last_.runqueue);
  out.connect_latency_ns = distribution(last_.connect);
  const size_t top = settings_.scope == "pid" ? 0 : settings_.top_n;
  out.processes = rank_processes(last_, duration_s, top, out.processes_omitted);
  std::vector<DiskStatsLine> disk_names = procfs_.diskstats();
  for (const auto& [dev, d] : last_.disks) {
    DiskDevice disk;
    disk.major = dev_major(dev);
    disk.minor = dev_minor(dev);
    for (const auto& line : disk_names)
      if (line.major == disk.major && line.minor == disk.minor) disk.name = line.name;
    if (disk.name.empty()) disk.name = std::to_string(disk.major) + ":" + std::to_string(disk.minor);
    disk.traffic = d.traffic;
    disk.queue_ns = distribution(d.queue);
    disk.service_ns = distribution(d.service);
    disk.total_ns = distribution(d.total);
    out.disks.push_back(std::move(disk));
  }
  for (const auto& end : interfaces_end_) {
    NetInterface i{end.name, end.rx_bytes, end.tx_bytes, end.rx_packets, end.tx_packets};
    for (const auto& begin : interfaces_start_)
      if (begin.name == end.name) {
        i.rx_bytes -= std::min(i.rx_bytes, begin.rx_bytes);
        i.tx_bytes -= std::min(i.tx_bytes, begin.tx_bytes);
        i.rx_packets -= std::min(i.rx_packets, begin.rx_packets);
        i.tx_packets -= std::min(i.tx_packets, begin.tx_packets);
      }
    out.interfaces.push_back(i);
  }
  out.series = series_;
  out.series_merges = series_merges_;
  out.lost_by_reason = last_.lost_by_reason;
  return out;
}

}  // namespace perfbpf
