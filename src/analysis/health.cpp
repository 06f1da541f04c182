// The health score: a fixed number of points per bottleneck, so that the score only ever goes
// down as findings are added and a reader can redo the sum from the deductions.
#include <algorithm>

#include "analysis/analyze.h"
#include "analysis/bottleneck_rules.h"

namespace perfbpf {
namespace {

double points_for(const std::string& severity) {
  switch (severity_rank(severity)) {
    case 0: return 30;
    case 1: return 15;
    case 2: return 7;
    case 3: return 3;
    default: return 0;
  }
}

std::string grade_for(double score) {
  if (score >= 90) return "A";
  if (score >= 80) return "B";
  if (score >= 70) return "C";
  if (score >= 60) return "D";
  return "F";
}

}  // namespace

HealthScore health_score(const std::vector<Bottleneck>& bottlenecks) {
  HealthScore h;
  double total = 0;
  for (const auto& b : bottlenecks) {
    // Missing data lowers confidence in the figures, not the target's performance: half weight.
    double points = points_for(b.severity) * (is_data_quality(b) ? 0.5 : 1.0);
    h.deductions.push_back({b.id, b.severity, points});
    total += points;
  }
  h.score = std::max(0.0, 100.0 - total);
  h.grade = grade_for(h.score);
  return h;
}

}  // namespace perfbpf
