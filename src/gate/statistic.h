// What the gate compares: one number per run for each function and statistic (mean, p50, p90,
// p99, p999, calls, total time, sampled on-CPU time) and for the target's resource totals (CPU
// time, peak RSS, disk and network bytes), read from a Profile. Reports store exact histograms
// (count, sum and min/max exact, quantiles within 0.4 %), so each run's figure is as good as the
// raw calls would give; what varies is the run.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf::gate {

enum class Stat { Mean, P50, P90, P99, P999, Calls, Total, OnCpu, CpuTime, PeakRss, DiskBytes, NetBytes };

struct StatInfo {
  Stat stat;
  const char* name;   // as written in --max-regression and the outputs: "p99", "cpu_time"
  const char* unit;   // of the values: ns, count, bytes
  bool per_function;  // false: a total of the whole target (no FUNCTION. prefix)
};

const std::vector<StatInfo>& all_stats();
const StatInfo& stat_info(Stat stat);
std::optional<Stat> stat_by_name(std::string_view name);
// "mean, p50, ..." (function) or "cpu_time, ..." (resources): for hints in usage errors.
std::string stat_names(bool per_function);

// The name a function is compared under across runs: demangled (C names as they are), since the
// baseline and the candidate are usually different files. A name that two probed objects share
// within one run is suffixed with the object's file name: "SSL_read@libssl.so.3".
std::vector<std::string> function_keys(const Profile& run);

// STAT of FUNCTION (a key from function_keys; ignored for resource stats) in RUN, in the stat's
// unit. nullopt when the run cannot say: the function was not probed in this run, it has no
// completed call (latency stats), stacks were not sampled (on_cpu) or the collector behind a
// resource total did not run.
std::optional<double> stat_value(const Profile& run, const std::string& function, Stat stat);

// The standard error of log(stat_value) from the run's own data, for a comparison of single runs
// (perfbpf diff A.json B.json): the sampling error of the calls in that run, nothing of the
// run-to-run variation. Mean and total: stddev / (mean sqrt(calls)); a quantile: half the log
// distance between the histogram's values at the ranks one binomial standard deviation either side;
// on_cpu: 1 / sqrt(samples); counters (calls, resources): 0.
double within_run_log_se(const Profile& run, const std::string& function, Stat stat);

// Why a run's figures cannot be trusted, per kind of statistic ("" when they can), read from the
// data-quality findings of the analysis rules so that the gate and `perfbpf analyze` agree:
// function events lost (every function statistic undercounts), probe overhead over the
// session's budget (latencies), stack samples lost (on_cpu), resource events lost (totals).
struct Untrusted {
  std::string events, overhead, stacks, resources;
  const std::string& reason(Stat stat) const;  // the first that applies to STAT, or ""
};
Untrusted untrusted(const Profile& run);

}  // namespace perfbpf::gate
