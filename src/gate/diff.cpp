#include "gate/diff.h"

#include <algorithm>

#include <fmt/format.h>

#include "gate/format.h"

namespace perfbpf::gate {
namespace {

constexpr Stat kFunctionStats[] = {Stat::Calls, Stat::Mean, Stat::P50, Stat::P90, Stat::P99};
constexpr Stat kTotals[] = {Stat::CpuTime, Stat::PeakRss, Stat::DiskBytes, Stat::NetBytes};

// Every run's value, in time order; false when a run has none.
bool values_of(const RunSet& set, const std::vector<size_t>& order, const std::string& function, Stat stat,
               std::vector<double>& out) {
  for (size_t i : order) {
    auto v = stat_value(set.runs[i], function, stat);
    if (!v) return false;
    out.push_back(*v);
  }
  return true;
}

}  // namespace

DiffResult diff_runs(const RunSet& baseline, const RunSet& candidate, double confidence) {
  DiffResult d;
  d.baseline_runs = baseline.runs.size();
  d.candidate_runs = candidate.runs.size();
  d.confidence = confidence;
  const Interleaving il = interleaving(baseline, candidate);
  d.paired = il.interleaved;
  const bool single = d.baseline_runs == 1 && d.candidate_runs == 1;

  std::vector<std::string> keys;
  for (const RunSet* set : {&baseline, &candidate})
    for (const auto& run : set->runs)
      for (auto& k : function_keys(run))
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(std::move(k));

  auto add = [&](const std::string& function, Stat stat) {
    DiffRow row{function, stat, {}, {}};
    std::vector<double> b, c;
    const bool in_b = values_of(baseline, il.baseline_order, function, stat, b);
    const bool in_c = values_of(candidate, il.candidate_order, function, stat, c);
    if (!in_b || !in_c) {
      if (!stat_info(stat).per_function && !in_b && !in_c) return;  // a collector neither side ran
      row.missing = !in_b && !in_c ? "no value on either side"
                    : !in_b        ? "no value in the baseline"
                                   : "no value in the candidate";
    } else if (single) {
      row.estimate = compare_within_run(b[0], within_run_log_se(baseline.runs[0], function, stat), c[0],
                                        within_run_log_se(candidate.runs[0], function, stat), confidence);
    } else {
      row.estimate = compare_runs(b, c, d.paired, confidence);
    }
    d.rows.push_back(std::move(row));
  };
  for (const auto& key : keys)
    for (Stat s : kFunctionStats) add(key, s);
  for (Stat s : kTotals) add("", s);
  return d;
}

void write_diff_text(const DiffResult& d, std::ostream& out) {
  const bool single = d.baseline_runs == 1 && d.candidate_runs == 1;
  out << fmt::format("perfbpf diff: {} baseline and {} candidate run{}; {:g}% intervals, each on its own{}\n",
                     d.baseline_runs, d.candidate_runs, d.candidate_runs == 1 ? "" : "s", d.confidence * 100,
                     single ? " (within-run: the calls' sampling error only, not the run-to-run noise; give several "
                              "runs a side for that)"
                     : d.paired ? " (paired: the runs alternate in time)"
                                : " (unpaired, Welch)");
  size_t width = 8;
  for (const auto& r : d.rows) width = std::max(width, r.function.empty() ? 6 : r.function.size());
  out << fmt::format("\n{:<{}} {:<10} {:>10} {:>10} {:>8} {:>20}\n", "FUNCTION", width, "STAT", "BASELINE", "CANDIDATE",
                     "CHANGE", "INTERVAL");
  std::string last;
  for (const auto& r : d.rows) {
    const std::string subject = r.function.empty() ? "target" : r.function;
    const std::string shown = subject == last ? "" : subject;
    last = subject;
    const Estimate& e = r.estimate;
    if (!r.missing.empty()) {
      out << fmt::format("{:<{}} {:<10} {}\n", shown, width, stat_info(r.stat).name, r.missing);
      continue;
    }
    out << fmt::format("{:<{}} {:<10} {:>10} {:>10} {:>8} {:>20}\n", shown, width, stat_info(r.stat).name,
                       format_value(r.stat, e.baseline), format_value(r.stat, e.candidate), format_change(e.change),
                       format_interval(e));
  }
}

}  // namespace perfbpf::gate
