// The original design's PerformanceAnalysisDashboard: saved reports (perfbpf -o, or the
// library's generate_profiling_report) analysed without privilege: bottlenecks with their
// evidence, trends within a report and across reports of the same target, a health score.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "perfbpf/profile.h"

namespace perfbpf {

class PerformanceAnalysisDashboard {
 public:
  explicit PerformanceAnalysisDashboard(PerformanceThresholds thresholds = {});

  // Adds a report; several reports of one target, oldest first, give cross-run trends.
  // Throws Error for a missing or malformed report.
  void load_profiler_data(const std::string& report_path);
  void load_profile(Profile profile);
  size_t reports() const { return profiles_.size(); }
  const Profile& latest() const;  // the last report loaded; throws Error when none is

  // Trends of the latest report's time series, then per function across the loaded reports.
  std::vector<Trend> analyze_performance_trends() const;
  // Bottlenecks of the latest report, most severe first.
  std::vector<Bottleneck> identify_performance_bottlenecks() const;
  // The latest report's full analysis (bottlenecks, trends, health, recommendations).
  AnalysisSection analysis() const;
  // {"performance_overview": {"system_health_score": {"score", "grade", "deductions"},
  //   "reports", "functions", "duration_s", ...}, "bottlenecks": [...], "trends": [...],
  //   "recommendations": [...]}
  nlohmann::json generate_performance_summary() const;
  // Writes generate_performance_summary() as JSON to PATH, safely as root (a temporary renamed
  // into place, no planted link followed; under sudo, with the invoking user's permissions).
  // Throws Error when PATH cannot be written; its hint names OPTION.
  void export_analysis_report(const std::string& path, const std::string& option = "export_analysis_report") const;

  PerformanceThresholds thresholds;

 private:
  std::vector<Profile> profiles_;
};

}  // namespace perfbpf
