// perfbpf diff: per function, the change of calls, mean, p50, p90 and p99 (and of the resource
// totals) from one report, or a set of runs, to another, each with its confidence interval.
// No verdict: that is the gate's. With one run per side the intervals hold only the calls'
// sampling error (the histograms' own), not the run-to-run noise; the table says so.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "gate/gate.h"

namespace perfbpf::gate {

struct DiffRow {
  std::string function;  // "" for resource totals
  Stat stat = Stat::Mean;
  Estimate estimate;
  std::string missing;   // why there is no figure: "only in the baseline", "no calls in the candidate"
};

struct DiffResult {
  size_t baseline_runs = 0, candidate_runs = 0;
  bool paired = false;
  double confidence = 0.95;  // of each interval on its own
  std::vector<DiffRow> rows;
};

DiffResult diff_runs(const RunSet& baseline, const RunSet& candidate, double confidence);
void write_diff_text(const DiffResult& d, std::ostream& out);

}  // namespace perfbpf::gate
