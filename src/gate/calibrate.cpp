#include "gate/calibrate.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gate/format.h"
#include "gate/writers.h"
#include "perfbpf/error.h"

namespace perfbpf::gate {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Enough rounds for all of ROUNDS (0 = unreachable wins).
size_t enough_for_all(const std::vector<size_t>& rounds) {
  if (rounds.empty() || std::find(rounds.begin(), rounds.end(), 0) != rounds.end()) return 0;
  return *std::max_element(rounds.begin(), rounds.end());
}

std::string rounds_text(size_t n) { return n ? std::to_string(n) : "never"; }

}  // namespace

CalibrationResult calibrate(const RunSet& baseline, const RunSet& second, const GateOptions& options,
                            const std::vector<double>& changes) {
  CalibrationResult c;
  c.changes = changes;
  RunSet a, b;
  if (second.runs.empty()) {
    // Alternate halves in time order: neighbours in time land on opposite sides, as in A B A B.
    const Interleaving order = interleaving(baseline, RunSet{});
    for (size_t i = 0; i < order.baseline_order.size(); i++) {
      RunSet& half = i % 2 ? b : a;
      const size_t run = order.baseline_order[i];
      half.runs.push_back(baseline.runs[run]);
      half.sources.push_back(run < baseline.sources.size() ? baseline.sources[run] : "");
    }
    if (a.runs.size() > b.runs.size()) {  // an odd run out: equal halves pair up
      a.runs.pop_back();
      a.sources.pop_back();
    }
  } else {
    a = baseline;
    b = second;
  }
  c.aa = run_gate(a, b, options);
  c.rounds = std::min(a.runs.size(), b.runs.size());
  c.exit_code = c.aa.verdict == "regression" ? 1 : c.aa.exit_code;

  std::vector<std::string> functions;
  for (size_t k = 0; k < c.aa.checks.size(); k++) {
    const Check& check = c.aa.checks[k];
    CalibrationRow row{k, {}};
    for (double change : changes)
      row.rounds.push_back(check.estimate.has_interval()
                               ? rounds_needed(check.estimate.noise, change, c.aa.paired, check.allowed,
                                               c.aa.check_level, options.power)
                               : 0);
    c.rows.push_back(std::move(row));
    if (std::find(functions.begin(), functions.end(), check.function) == functions.end())
      functions.push_back(check.function);
  }
  for (const auto& info : all_stats()) {
    StatSummary s{info.stat, 0, 0, std::vector<size_t>(changes.size(), 0)};
    std::vector<double> noise;
    std::vector<std::vector<size_t>> per_change(changes.size());
    for (const auto& row : c.rows) {
      const Check& k = c.aa.checks[row.check];
      if (k.stat != info.stat || !k.estimate.has_interval()) continue;
      noise.push_back(std::expm1(k.estimate.noise));
      for (size_t i = 0; i < changes.size(); i++) per_change[i].push_back(row.rounds[i]);
    }
    if (noise.empty()) continue;
    s.noise_median = median(noise);
    s.noise_max = *std::max_element(noise.begin(), noise.end());
    for (size_t i = 0; i < changes.size(); i++) s.rounds[i] = enough_for_all(per_change[i]);
    c.stats.push_back(s);
  }
  for (size_t i = 0; i < changes.size(); i++) {
    std::vector<size_t> per_function;
    for (const auto& f : functions) {
      size_t best = 0;
      for (const auto& row : c.rows)
        if (c.aa.checks[row.check].function == f && row.rounds[i] && (!best || row.rounds[i] < best)) best = row.rounds[i];
      per_function.push_back(best);
    }
    c.any_statistic.push_back(enough_for_all(per_function));
  }
  return c;
}

void write_calibration_text(const CalibrationResult& c, std::ostream& out) {
  const GateResult& aa = c.aa;
  out << fmt::format("perfbpf gate --calibrate: A/A of {} against {} runs, {}; {:g}% simultaneous intervals over {} "
                     "checks, power {:g}%\n",
                     aa.baseline_runs, aa.candidate_runs, aa.paired ? "paired" : "unpaired", aa.confidence * 100,
                     aa.checks.size(), aa.power * 100);
  out << "A/A verdict: " << verdict_line(aa) << "\n";
  if (aa.verdict == "regression")
    out << "  the same build differs from itself: the runs are not alike (warm-up, order effects, a changing "
           "machine); the gate's intervals do not hold on these runs\n";
  for (const auto& reason : aa.reasons) out << "inconclusive: " << reason << "\n";
  std::string heads;
  for (double change : c.changes) heads += fmt::format(" {:>14}", "ROUNDS " + format_change(change));
  out << fmt::format("\n{:<10} {:>12} {:>12}{}\n", "STAT", "NOISE(MED)", "NOISE(MAX)", heads);
  for (const auto& s : c.stats) {
    std::string cols;
    for (size_t n : s.rounds) cols += fmt::format(" {:>14}", rounds_text(n));
    out << fmt::format("{:<10} {:>12} {:>12}{}\n", stat_info(s.stat).name, format_change(s.noise_median),
                       format_change(s.noise_max), cols);
  }
  out << "a whole-function slowdown, caught by the best statistic of every function:";
  for (size_t i = 0; i < c.changes.size(); i++)
    out << fmt::format(" {} needs {} rounds{}", format_change(c.changes[i]), rounds_text(c.any_statistic[i]),
                       i + 1 < c.changes.size() ? ";" : "");
  out << "\n(noise: run-to-run spread of one run's value; rounds: per side, interleaved as in --rounds; never: more "
         "than 1000 rounds, or a change not above the allowed one)\n";

  size_t width = 8;
  for (const auto& row : c.rows) width = std::max(width, c.aa.checks[row.check].subject().size());
  out << fmt::format("\n{:<{}} {:<10} {:>9} {:>9} {:>9} {:>20}{}\n", "FUNCTION", width, "STAT", "ALLOWED", "NOISE",
                     fmt::format("DET.@{}", c.rounds), "A/A INTERVAL", heads);
  for (const auto& row : c.rows) {
    const Check& k = c.aa.checks[row.check];
    std::string cols;
    for (size_t n : row.rounds) cols += fmt::format(" {:>14}", rounds_text(n));
    out << fmt::format("{:<{}} {:<10} {:>9} {:>9} {:>9} {:>20}{}\n", k.subject(), width, stat_info(k.stat).name,
                       format_change(k.allowed), k.estimate.has_interval() ? format_change(std::expm1(k.estimate.noise)) : "-",
                       format_change(k.detectable), format_interval(k.estimate), cols);
  }
}

nlohmann::json calibration_result_to_json(const CalibrationResult& c) {
  auto pct = [](double f) { return std::isfinite(f) ? nlohmann::json(f * 100) : nlohmann::json(nullptr); };
  auto rounds = [](const std::vector<size_t>& v) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t n : v) out.push_back(n ? nlohmann::json(n) : nlohmann::json(nullptr));
    return out;
  };
  nlohmann::json changes = nlohmann::json::array(), stats = nlohmann::json::array(), rows = nlohmann::json::array();
  for (double ch : c.changes) changes.push_back(ch * 100);
  for (const auto& s : c.stats)
    stats.push_back({{"statistic", stat_info(s.stat).name},
                     {"noise_median_pct", pct(s.noise_median)},
                     {"noise_max_pct", pct(s.noise_max)},
                     {"rounds", rounds(s.rounds)}});
  for (const auto& row : c.rows) {
    const Check& k = c.aa.checks[row.check];
    rows.push_back({{"function", k.function.empty() ? nlohmann::json(nullptr) : nlohmann::json(k.function)},
                    {"statistic", stat_info(k.stat).name},
                    {"noise_pct", k.estimate.has_interval() ? pct(std::expm1(k.estimate.noise)) : nlohmann::json(nullptr)},
                    {"detectable_pct", pct(k.detectable)},
                    {"rounds", rounds(row.rounds)}});
  }
  return {{"calibration",
           {{"rounds", c.rounds},
            {"changes_pct", changes},
            {"statistics", stats},
            {"any_statistic_rounds", rounds(c.any_statistic)},
            {"checks", rows}}},
          {"aa", gate_to_json(c.aa)},
          {"exit_code", c.exit_code}};
}

}  // namespace perfbpf::gate
