#include "gate/statistic.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "analysis/analyze.h"

namespace perfbpf::gate {
namespace {

const std::string& display_name(const FunctionProfile& f) { return f.demangled.empty() ? f.name : f.demangled; }

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

const FunctionProfile* find_function(const Profile& run, const std::string& key) {
  for (const auto& f : run.functions)
    if (display_name(f) == key || display_name(f) + "@" + base_name(f.object) == key) return &f;
  return nullptr;
}

bool collector_ran(const Profile& run, const char* name) {
  if (!run.system.enabled) return false;
  return std::find(run.system.collectors.begin(), run.system.collectors.end(), name) != run.system.collectors.end();
}

// Samples of on-CPU stacks with the function anywhere on them (counted once per stack).
std::optional<uint64_t> on_cpu_samples(const Profile& run, const FunctionProfile& f) {
  const StackProfile& s = run.stacks;
  if (!s.enabled || s.unit != "samples" || s.frequency_hz == 0) return std::nullopt;
  std::vector<bool> mine(s.frames.size());
  for (size_t i = 0; i < s.frames.size(); i++) mine[i] = s.frames[i].name == display_name(f) || s.frames[i].name == f.name;
  uint64_t n = 0;
  for (const auto& stack : s.stacks)
    if (std::any_of(stack.frames.begin(), stack.frames.end(), [&](uint32_t i) { return i < mine.size() && mine[i]; }))
      n += stack.count;
  return n;
}

LatencyHistogram histogram_of(const FunctionProfile& f) {
  const LatencySummary& l = f.latency;
  const double n = static_cast<double>(f.calls);
  return LatencyHistogram::from_buckets(f.histogram, l.total, l.min, l.max, n * (l.stddev * l.stddev + l.mean * l.mean));
}

}  // namespace

const std::vector<StatInfo>& all_stats() {
  static const std::vector<StatInfo> stats = {
      {Stat::Mean, "mean", "ns", true},         {Stat::P50, "p50", "ns", true},
      {Stat::P90, "p90", "ns", true},           {Stat::P99, "p99", "ns", true},
      {Stat::P999, "p999", "ns", true},         {Stat::Calls, "calls", "count", true},
      {Stat::Total, "total", "ns", true},       {Stat::OnCpu, "on_cpu", "ns", true},
      {Stat::CpuTime, "cpu_time", "ns", false}, {Stat::PeakRss, "peak_rss", "bytes", false},
      {Stat::DiskBytes, "disk_bytes", "bytes", false}, {Stat::NetBytes, "net_bytes", "bytes", false},
  };
  return stats;
}

const StatInfo& stat_info(Stat stat) {
  for (const auto& s : all_stats())
    if (s.stat == stat) return s;
  return all_stats().front();  // unreachable: every Stat is listed
}

std::optional<Stat> stat_by_name(std::string_view name) {
  for (const auto& s : all_stats())
    if (name == s.name) return s.stat;
  return std::nullopt;
}

std::string stat_names(bool per_function) {
  std::string out;
  for (const auto& s : all_stats())
    if (s.per_function == per_function) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

std::vector<std::string> function_keys(const Profile& run) {
  std::map<std::string, int> uses;
  for (const auto& f : run.functions) uses[display_name(f)]++;
  std::vector<std::string> keys;
  for (const auto& f : run.functions)
    keys.push_back(uses[display_name(f)] > 1 ? display_name(f) + "@" + base_name(f.object) : display_name(f));
  return keys;
}

std::optional<double> stat_value(const Profile& run, const std::string& function, Stat stat) {
  const auto d = [](uint64_t v) { return std::optional<double>(static_cast<double>(v)); };
  switch (stat) {
    case Stat::CpuTime: return collector_ran(run, "sched") ? d(run.system.totals.cpu_time_ns) : std::nullopt;
    case Stat::PeakRss: return collector_ran(run, "memory") ? d(run.system.totals.memory.rss_peak_bytes) : std::nullopt;
    case Stat::DiskBytes:
      return collector_ran(run, "block") ? d(run.system.totals.disk.read_bytes + run.system.totals.disk.write_bytes)
                                         : std::nullopt;
    case Stat::NetBytes:
      return collector_ran(run, "network") ? d(run.system.totals.net.tx_bytes + run.system.totals.net.rx_bytes)
                                           : std::nullopt;
    default: break;
  }
  const FunctionProfile* f = find_function(run, function);
  if (!f) return std::nullopt;
  if (stat == Stat::Calls) return d(f->calls);
  if (stat == Stat::OnCpu) {
    auto samples = on_cpu_samples(run, *f);
    if (!samples) return std::nullopt;
    return static_cast<double>(*samples) * 1e9 / run.stacks.frequency_hz;
  }
  if (f->calls == 0) return std::nullopt;
  switch (stat) {
    case Stat::Mean: return f->latency.mean;
    case Stat::P50: return d(f->latency.p50);
    case Stat::P90: return d(f->latency.p90);
    case Stat::P99: return d(f->latency.p99);
    case Stat::P999: return d(f->latency.p999);
    case Stat::Total: return d(f->latency.total);
    default: return std::nullopt;
  }
}

double within_run_log_se(const Profile& run, const std::string& function, Stat stat) {
  const FunctionProfile* f = find_function(run, function);
  if (!f || !stat_info(stat).per_function || stat == Stat::Calls) return 0;
  if (stat == Stat::OnCpu) {
    auto samples = on_cpu_samples(run, *f);
    return samples && *samples > 0 ? 1 / std::sqrt(static_cast<double>(*samples)) : 0;
  }
  const double n = static_cast<double>(f->calls);
  if (n == 0) return 0;
  if (stat == Stat::Mean || stat == Stat::Total)
    return f->latency.mean > 0 ? f->latency.stddev / (f->latency.mean * std::sqrt(n)) : 0;
  const double q = stat == Stat::P50 ? 0.5 : stat == Stat::P90 ? 0.9 : stat == Stat::P99 ? 0.99 : 0.999;
  // The rank of the q quantile among n calls is binomial(n, q): one standard deviation either
  // side brackets the quantile's sampling spread (the order-statistic interval).
  const double spread = std::sqrt(q * (1 - q) / n);
  const LatencyHistogram h = histogram_of(*f);
  const double lo = static_cast<double>(std::max<uint64_t>(h.quantile(std::max(0.0, q - spread)), 1));
  const double hi = static_cast<double>(std::max<uint64_t>(h.quantile(std::min(1.0, q + spread)), 1));
  return (std::log(hi) - std::log(lo)) / 2;
}

const std::string& Untrusted::reason(Stat stat) const {
  static const std::string none;
  const StatInfo& info = stat_info(stat);
  if (stat == Stat::OnCpu) return stacks;
  if (!info.per_function) return resources;
  if (!events.empty()) return events;
  if (stat != Stat::Calls) return overhead;
  return none;
}

Untrusted untrusted(const Profile& run) {
  Untrusted u;
  for (const Bottleneck& b : identify_bottlenecks(run, PerformanceThresholds{})) {
    if (b.category != "data-quality") continue;
    if (b.id == "lost-events:events") u.events = b.title;
    else if (b.id == "probe-overhead:target") u.overhead = b.title;
    else if (b.id == "lost-events:stacks") u.stacks = b.title;
    else if (b.id == "lost-events:system") u.resources = b.title;
  }
  return u;
}

}  // namespace perfbpf::gate
