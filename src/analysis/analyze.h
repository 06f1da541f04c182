// The analysis layer: explicit rules that turn a Profile into bottlenecks (each with its
// evidence), a health score, trends over the time series and recommendations that name what
// to change. Pure functions over plain data: they run the same on a live session's profile and
// on a saved report, without privilege (docs/analysis.md describes every rule).
#pragma once

#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

// Everything below in one section: enabled = true, the thresholds used, bottlenecks (by
// severity, then evidence value), trends, recommendations, health. PROFILE's own alerts (raised
// live during the session) are carried over untouched.
AnalysisSection analyze_profile(const Profile& profile, const PerformanceThresholds& thresholds);

// Every rule over PROFILE; empty on a healthy one. Sorted by severity, then evidence value.
std::vector<Bottleneck> identify_bottlenecks(const Profile& profile, const PerformanceThresholds& thresholds);

// Theil-Sen slope and Mann-Kendall test of every time series of PROFILE: system.series
// (cpu_pct, rss_bytes, disk and net bytes per second, runqueue_p99_ns, memory_used_pct) and each
// function's per-interval p99. Series with fewer than 4 points are left out.
std::vector<Trend> analyze_trends(const Profile& profile);

// Per function over several runs (ordered by start time): "function:NAME.p99", slope per run.
std::vector<Trend> cross_run_trends(const std::vector<Profile>& runs);

// 100 less the points of each bottleneck (critical 30, high 15, medium 7, low 3; data-quality
// ones count half), never below 0; grade A >= 90, B >= 80, C >= 70, D >= 60, else F.
HealthScore health_score(const std::vector<Bottleneck>& bottlenecks);

// One recommendation per bottleneck, naming its subject and evidence; fills each bottleneck's
// recommendations with the ids ("rec:<bottleneck id>").
std::vector<Recommendation> recommend(std::vector<Bottleneck>& bottlenecks);

}  // namespace perfbpf
