#include "perfbpf/dashboard.h"

#include <algorithm>

#include "analysis/analyze.h"
#include "perfbpf/error.h"
#include "report/json_report.h"
#include "report/output_file.h"

namespace perfbpf {

PerformanceAnalysisDashboard::PerformanceAnalysisDashboard(PerformanceThresholds t) : thresholds(std::move(t)) {}

void PerformanceAnalysisDashboard::load_profiler_data(const std::string& report_path) {
  profiles_.push_back(read_json_report(report_path));
}

void PerformanceAnalysisDashboard::load_profile(Profile profile) { profiles_.push_back(std::move(profile)); }

const Profile& PerformanceAnalysisDashboard::latest() const {
  if (profiles_.empty()) throw Error::usage("no report loaded", "call load_profiler_data(path) first");
  return profiles_.back();
}

AnalysisSection PerformanceAnalysisDashboard::analysis() const {
  AnalysisSection a = analyze_profile(latest(), thresholds);
  if (profiles_.size() > 1) {
    std::vector<Trend> runs = cross_run_trends(profiles_);
    a.trends.insert(a.trends.end(), runs.begin(), runs.end());
  }
  return a;
}

std::vector<Trend> PerformanceAnalysisDashboard::analyze_performance_trends() const { return analysis().trends; }

std::vector<Bottleneck> PerformanceAnalysisDashboard::identify_performance_bottlenecks() const {
  return identify_bottlenecks(latest(), thresholds);
}

nlohmann::json PerformanceAnalysisDashboard::generate_performance_summary() const {
  const Profile& p = latest();
  const AnalysisSection a = analysis();
  // The report's own analysis JSON, so the summary and the report never disagree in shape.
  Profile with_analysis;
  with_analysis.analysis = a;
  nlohmann::json analysed = to_json(with_analysis).at("analysis");
  uint64_t calls = 0;
  for (const auto& f : p.functions) calls += f.calls;
  nlohmann::json overview = {
      {"system_health_score", analysed.at("health")},
      {"reports", profiles_.size()},
      {"mode", p.session.mode},
      {"duration_s", p.session.duration_s},
      {"functions", p.functions.size()},
      {"calls", calls},
      {"bottlenecks", a.bottlenecks.size()},
      {"critical", std::count_if(a.bottlenecks.begin(), a.bottlenecks.end(), [](const auto& b) { return b.severity == "critical"; })},
  };
  if (p.system.enabled) {
    overview["cpu_pct"] = p.system.totals.cpu_pct;
    overview["rss_peak_bytes"] = p.system.totals.memory.rss_peak_bytes;
  }
  return {{"performance_overview", overview},
          {"bottlenecks", analysed.at("bottlenecks")},
          {"trends", analysed.at("trends")},
          {"recommendations", analysed.at("recommendations")}};
}

void PerformanceAnalysisDashboard::export_analysis_report(const std::string& path, const std::string& option) const {
  write_output_file(path, option, generate_performance_summary().dump(2) + "\n");
}

}  // namespace perfbpf
