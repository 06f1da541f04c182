#include "aggregate/system_aggregate.h"

#include <algorithm>
#include <set>

namespace perfbpf {
namespace {

template <typename T>
T delta(T after, T before) {
  return after > before ? after - before : 0;
}

// What CPUS could run in NS; 0 when the CPU count is unknown (no sched collector).
uint64_t capacity_ns(unsigned cpus, uint64_t ns) { return static_cast<uint64_t>(cpus) * ns; }

uint64_t disk_bytes(const ResourceUsage& u) { return u.disk.read_bytes + u.disk.write_bytes; }
uint64_t net_bytes(const ResourceUsage& u) { return u.net.tx_bytes + u.net.rx_bytes; }

// Counters over every process of the session, exited ones included; memory only over the
// processes alive at this read: an exited process's last RSS is no longer held by anyone, and
// summing it made process churn look like growth.
ResourceUsage sum_processes(const ResourceSnapshot& s) {
  ResourceUsage total;
  for (const auto& [tgid, p] : s.processes) {
    add_usage(total, p.usage);
    if (!p.live) continue;
    const MemoryUsage& m = p.usage.memory;
    total.memory.rss_last_bytes += m.rss_last_bytes;
    total.memory.anon_bytes += m.anon_bytes;
    total.memory.file_bytes += m.file_bytes;
    total.memory.shmem_bytes += m.shmem_bytes;
  }
  return total;
}

LatencyHistogram all_disks_total(const ResourceSnapshot& s) {
  LatencyHistogram h;
  for (const auto& [dev, d] : s.disks) h.merge(d.total);
  return h;
}

uint64_t p99_between(const LatencyHistogram& before, LatencyHistogram after) {
  after.subtract(before);
  return after.quantile(0.99);
}

SeriesSample merge_pair(const SeriesSample& a, const SeriesSample& b) {
  SeriesSample m = b;  // t, rss and memory use: as at the end of the pair
  m.dt = a.dt + b.dt;
  m.cpu_pct = m.dt > 0 ? (a.cpu_pct * a.dt + b.cpu_pct * b.dt) / m.dt : 0;
  m.cpu_clamped_ns = a.cpu_clamped_ns + b.cpu_clamped_ns;
  m.minor_faults = a.minor_faults + b.minor_faults;
  m.major_faults = a.major_faults + b.major_faults;
  m.disk_read_bytes = a.disk_read_bytes + b.disk_read_bytes;
  m.disk_write_bytes = a.disk_write_bytes + b.disk_write_bytes;
  m.disk_ios = a.disk_ios + b.disk_ios;
  m.disk_p99_ns = std::max(a.disk_p99_ns, b.disk_p99_ns);
  m.net_tx_bytes = a.net_tx_bytes + b.net_tx_bytes;
  m.net_rx_bytes = a.net_rx_bytes + b.net_rx_bytes;
  m.runqueue_p99_ns = std::max(a.runqueue_p99_ns, b.runqueue_p99_ns);
  m.rss_bytes = std::max(a.rss_bytes, b.rss_bytes);
  m.memory_used_pct = std::max(a.memory_used_pct, b.memory_used_pct);
  m.machine_cpu_pct = m.dt > 0 ? (a.machine_cpu_pct * a.dt + b.machine_cpu_pct * b.dt) / m.dt : 0;
  return m;
}

}  // namespace

void add_usage(ResourceUsage& to, const ResourceUsage& u) {
  to.cpu_time_ns += u.cpu_time_ns;
  to.off_cpu_ns.runqueue += u.off_cpu_ns.runqueue;
  to.off_cpu_ns.io += u.off_cpu_ns.io;
  to.off_cpu_ns.sleep += u.off_cpu_ns.sleep;
  to.off_cpu_ns.unknown += u.off_cpu_ns.unknown;
  to.ctx_switches.voluntary += u.ctx_switches.voluntary;
  to.ctx_switches.involuntary += u.ctx_switches.involuntary;
  to.migrations += u.migrations;
  to.faults.minor += u.faults.minor;
  to.faults.major += u.faults.major;
  to.disk.read_bytes += u.disk.read_bytes;
  to.disk.write_bytes += u.disk.write_bytes;
  to.disk.read_ios += u.disk.read_ios;
  to.disk.write_ios += u.disk.write_ios;
  to.net.tx_bytes += u.net.tx_bytes;
  to.net.rx_bytes += u.net.rx_bytes;
  to.net.tx_calls += u.net.tx_calls;
  to.net.rx_calls += u.net.rx_calls;
  to.net.retransmits += u.net.retransmits;
  to.net.connections += u.net.connections;
}

SeriesSample interval_sample(const ResourceSnapshot& before, const ResourceSnapshot& after, double t_s) {
  SeriesSample s;
  s.t = t_s;
  s.dt = static_cast<double>(delta(after.at_ns, before.at_ns)) / 1e9;
  ResourceUsage a = sum_processes(after), b = sum_processes(before);
  uint64_t cpu_ns = delta(a.cpu_time_ns, b.cpu_time_ns);
  // The kernel's counters of a thread on CPU lag up to a scheduler tick, so an interval of a
  // saturated machine can read a few ms over what its CPUs could run: cut and counted.
  const uint64_t capacity = capacity_ns(after.cpus, delta(after.at_ns, before.at_ns));
  if (capacity && cpu_ns > capacity) {
    s.cpu_clamped_ns = cpu_ns - capacity;
    cpu_ns = capacity;
  }
  s.cpu_pct = s.dt > 0 ? 100.0 * static_cast<double>(cpu_ns) / (s.dt * 1e9) : 0;
  s.rss_bytes = a.memory.rss_last_bytes;
  s.minor_faults = delta(a.faults.minor, b.faults.minor);
  s.major_faults = delta(a.faults.major, b.faults.major);
  s.disk_read_bytes = delta(a.disk.read_bytes, b.disk.read_bytes);
  s.disk_write_bytes = delta(a.disk.write_bytes, b.disk.write_bytes);
  s.disk_ios = delta(a.disk.read_ios + a.disk.write_ios, b.disk.read_ios + b.disk.write_ios);
  s.disk_p99_ns = p99_between(all_disks_total(before), all_disks_total(after));
  s.net_tx_bytes = delta(a.net.tx_bytes, b.net.tx_bytes);
  s.net_rx_bytes = delta(a.net.rx_bytes, b.net.rx_bytes);
  s.runqueue_p99_ns = p99_between(before.runqueue, after.runqueue);
  return s;
}

void append_bounded(std::vector<SeriesSample>& series, const SeriesSample& s, size_t max_samples, uint64_t& merges) {
  series.push_back(s);
  if (max_samples < 2 || series.size() <= max_samples) return;
  std::vector<SeriesSample> halved;
  halved.reserve(series.size() / 2 + 1);
  for (size_t i = 0; i + 1 < series.size(); i += 2) halved.push_back(merge_pair(series[i], series[i + 1]));
  if (series.size() % 2) halved.push_back(series.back());
  series = std::move(halved);
  merges++;
}

ResourceUsage total_usage(const ResourceSnapshot& snapshot, const std::vector<SeriesSample>& series, uint64_t window_ns) {
  ResourceUsage total = sum_processes(snapshot);
  if (uint64_t capacity = capacity_ns(snapshot.cpus, window_ns)) total.cpu_time_ns = std::min(total.cpu_time_ns, capacity);
  for (const auto& [tgid, p] : snapshot.processes)
    total.memory.rss_peak_bytes = std::max(total.memory.rss_peak_bytes, p.usage.memory.rss_peak_bytes);
  for (const auto& s : series) total.memory.rss_peak_bytes = std::max(total.memory.rss_peak_bytes, s.rss_bytes);
  return total;
}

std::vector<ProcessResources> rank_processes(const ResourceSnapshot& snapshot, double duration_s, size_t top_n,
                                             uint64_t& omitted) {
  std::vector<ProcessResources> all;
  for (const auto& [tgid, p] : snapshot.processes) {
    ProcessResources r;
    r.pid = tgid;
    r.ppid = p.ppid;
    r.comm = p.comm;
    r.exited = p.exited;
    r.usage = p.usage;
    for (const auto& [tid, t] : p.threads) r.threads.push_back(t);
    all.push_back(std::move(r));
  }
  for (auto& p : all) {
    auto pct = [&](uint64_t ns) { return duration_s > 0 ? 100.0 * static_cast<double>(ns) / (duration_s * 1e9) : 0; };
    p.usage.cpu_pct = pct(p.usage.cpu_time_ns);
    for (auto& t : p.threads) t.usage.cpu_pct = pct(t.usage.cpu_time_ns);
    std::sort(p.threads.begin(), p.threads.end(),
              [](const auto& a, const auto& b) { return a.usage.cpu_time_ns > b.usage.cpu_time_ns; });
  }
  auto by = [&](auto key) {
    std::sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
      return key(a.usage) != key(b.usage) ? key(a.usage) > key(b.usage) : a.pid < b.pid;
    });
  };
  omitted = 0;
  if (top_n == 0 || all.size() <= top_n) {
    by([](const ResourceUsage& u) { return u.cpu_time_ns; });
    return all;
  }
  std::set<uint32_t> keep;
  auto take_top = [&](auto key) {
    by(key);
    for (size_t i = 0; i < top_n && i < all.size(); i++)
      if (key(all[i].usage) > 0 || i == 0) keep.insert(all[i].pid);
  };
  take_top(disk_bytes);
  take_top(net_bytes);
  take_top([](const ResourceUsage& u) { return u.cpu_time_ns; });  // last: the order kept
  std::vector<ProcessResources> kept;
  for (auto& p : all)
    if (keep.count(p.pid)) kept.push_back(std::move(p));
  omitted = all.size() - kept.size();
  return kept;
}

LatencyDistribution distribution(const LatencyHistogram& h) {
  return {summarize(h), h.buckets()};
}

}  // namespace perfbpf
