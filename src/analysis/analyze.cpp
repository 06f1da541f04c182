// The analysis of one profile (rules, trends, recommendations, health) and the trends across
// several runs of the same program.
#include "analysis/analyze.h"

#include <algorithm>
#include <map>

#include "analysis/trends.h"

namespace perfbpf {
namespace {

// Within one session, many intervals: a trend must be clear to be called one.
constexpr double kSessionAlpha = 0.01;
// Across runs there are few points (5 runs cannot reach p < 0.01 in a Mann-Kendall test), so
// the conventional 5% level is used.
constexpr double kRunsAlpha = 0.05;
constexpr size_t kMinPoints = 4;

void add_trend(std::vector<Trend>& out, const std::string& series, const std::string& unit,
               const std::vector<double>& t, const std::vector<double>& y, double alpha) {
  if (t.size() < kMinPoints) return;
  TrendTest r = trend_test(t, y, alpha);
  out.push_back({series, unit, r.slope, r.p_value, r.direction, r.n ? r.n : t.size()});
}

bool ran(const SystemProfile& s, const char* collector) {
  // Reports that do not list collectors get every series.
  return s.collectors.empty() || std::find(s.collectors.begin(), s.collectors.end(), collector) != s.collectors.end();
}

}  // namespace

std::vector<Trend> analyze_trends(const Profile& profile) {
  std::vector<Trend> out;
  const SystemProfile& s = profile.system;
  if (s.enabled && !s.series.empty()) {
    std::vector<double> t;
    for (const auto& x : s.series) t.push_back(x.t);
    auto series = [&](const std::string& name, const std::string& unit, auto value) {
      std::vector<double> y;
      for (const auto& x : s.series) y.push_back(value(x));
      add_trend(out, "system." + name, unit, t, y, kSessionAlpha);
    };
    // Counters become rates: intervals differ in length after old samples were merged.
    auto rate = [](uint64_t bytes, double dt) { return dt > 0 ? static_cast<double>(bytes) / dt : 0.0; };
    if (ran(s, "sched")) series("cpu_pct", "%", [](const SeriesSample& x) { return x.cpu_pct; });
    if (ran(s, "memory"))
      series("rss_bytes", "bytes", [](const SeriesSample& x) { return static_cast<double>(x.rss_bytes); });
    if (ran(s, "block"))
      series("disk_bytes_per_s", "bytes/s",
             [&](const SeriesSample& x) { return rate(x.disk_read_bytes + x.disk_write_bytes, x.dt); });
    if (ran(s, "network"))
      series("net_bytes_per_s", "bytes/s",
             [&](const SeriesSample& x) { return rate(x.net_tx_bytes + x.net_rx_bytes, x.dt); });
    if (ran(s, "sched"))
      series("runqueue_p99_ns", "ns", [](const SeriesSample& x) { return static_cast<double>(x.runqueue_p99_ns); });
    series("memory_used_pct", "%", [](const SeriesSample& x) { return x.memory_used_pct; });
    // Reports from before it was read have none.
    if (s.machine_cpu_pct > 0)
      series("machine_cpu_pct", "%", [](const SeriesSample& x) { return x.machine_cpu_pct; });
  }
  for (const auto& f : profile.functions) {
    // Intervals without calls have no latency to speak of: left out rather than read as 0.
    std::vector<double> t, y;
    for (const auto& i : f.series)
      if (i.calls > 0) {
        t.push_back(i.t);
        y.push_back(static_cast<double>(i.p99));
      }
    add_trend(out, "function:" + (f.demangled.empty() ? f.name : f.demangled) + ".p99", "ns", t, y, kSessionAlpha);
  }
  return out;
}

std::vector<Trend> cross_run_trends(const std::vector<Profile>& runs) {
  std::vector<const Profile*> ordered;
  for (const auto& r : runs) ordered.push_back(&r);
  // CLOCK_MONOTONIC orders runs on one boot of one host; otherwise the RFC 3339 wall clock does.
  bool monotonic = std::all_of(runs.begin(), runs.end(), [&](const Profile& r) {
    return r.session.start_monotonic_ns > 0 && r.session.hostname == runs.front().session.hostname;
  });
  std::stable_sort(ordered.begin(), ordered.end(), [&](const Profile* a, const Profile* b) {
    return monotonic ? a->session.start_monotonic_ns < b->session.start_monotonic_ns : a->session.start < b->session.start;
  });
  // Function -> (run index, p99) in run order, functions in the order first seen.
  std::vector<std::string> names;
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> points;
  for (size_t run = 0; run < ordered.size(); run++)
    for (const auto& f : ordered[run]->functions) {
      if (f.calls == 0) continue;
      const std::string name = f.demangled.empty() ? f.name : f.demangled;
      auto [it, fresh] = points.try_emplace(name);
      if (fresh) names.push_back(name);
      it->second.first.push_back(static_cast<double>(run));
      it->second.second.push_back(static_cast<double>(f.latency.p99));
    }
  std::vector<Trend> out;
  for (const auto& name : names)
    // "runs:" tells these per-run slopes from a session's per-second ones.
    add_trend(out, "runs:function:" + name + ".p99", "ns", points[name].first, points[name].second, kRunsAlpha);
  return out;
}

AnalysisSection analyze_profile(const Profile& profile, const PerformanceThresholds& thresholds) {
  AnalysisSection a;
  a.enabled = true;
  a.thresholds = thresholds;
  a.bottlenecks = identify_bottlenecks(profile, thresholds);
  a.trends = analyze_trends(profile);
  a.recommendations = recommend(a.bottlenecks);
  a.health = health_score(a.bottlenecks);
  a.alerts = profile.analysis.alerts;
  return a;
}

}  // namespace perfbpf
