// --calibrate: an A/A comparison (the same build on both sides) that measures what the gate can
// see on this machine: the noise floor of each check (the run-to-run spread of one run's value),
// the smallest change it catches with the rounds at hand, and how many rounds a given change
// needs. With one set of runs, they are split by time into alternating halves (1st, 3rd, 5th...
// against 2nd, 4th, 6th...), which keeps the pairing the gate will use on interleaved rounds.
#pragma once

#include <ostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "gate/gate.h"

namespace perfbpf::gate {

struct CalibrationRow {
  size_t check = 0;             // index of the A/A check in CalibrationResult::aa.checks
  std::vector<size_t> rounds;    // per change in CalibrationResult::changes; 0: not reachable
};

struct StatSummary {
  Stat stat = Stat::Mean;
  double noise_median = 0, noise_max = 0;  // over functions, fractions
  std::vector<size_t> rounds;              // per change: enough for every function; 0: not reachable
};

struct CalibrationResult {
  GateResult aa;                 // the A/A gate itself: a regression here means the runs are not alike
  size_t rounds = 0;             // runs per side of the A/A comparison
  std::vector<double> changes;   // the changes asked about (fractions)
  std::vector<CalibrationRow> rows;
  std::vector<StatSummary> stats;
  // Per change: rounds enough to catch that change in every function by the best of its
  // statistics (0: not reachable); what a whole-function slowdown needs.
  std::vector<size_t> any_statistic;
  int exit_code = 0;  // 1 when the A/A comparison reports a regression, 3 when inconclusive
};

// SECOND empty: BASELINE is split in two. CHANGES: e.g. {0.05, 0.10}.
CalibrationResult calibrate(const RunSet& baseline, const RunSet& second, const GateOptions& options,
                            const std::vector<double>& changes);

void write_calibration_text(const CalibrationResult& c, std::ostream& out);
nlohmann::json calibration_result_to_json(const CalibrationResult& c);

}  // namespace perfbpf::gate
