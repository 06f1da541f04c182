#include "gate/gate.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "analysis/bottleneck_rules.h"
#include "perfbpf/error.h"

namespace perfbpf::gate {
namespace {

struct Side {
  const RunSet* set;
  std::vector<size_t> order;     // run indexes in the order compared (time order when paired)
  std::vector<Untrusted> trust;  // per run index
  const char* name;
};

std::string run_label(const Side& side, size_t run) {
  const std::string& source = run < side.set->sources.size() ? side.set->sources[run] : std::string();
  return fmt::format("{} run {}{}", side.name, run + 1, source.empty() ? "" : " (" + source + ")");
}

// Why STAT of FUNCTION has no value in some runs of SIDE: names the first run and how many.
std::string missing_reason(const Side& side, const std::string& function, Stat stat, const std::vector<size_t>& runs) {
  const Profile& first = side.set->runs[runs.front()];
  const auto keys = function_keys(first);
  std::string what;
  if (!stat_info(stat).per_function) {
    what = fmt::format("the collector behind {} did not run", stat_info(stat).name);
  } else if (std::find(keys.begin(), keys.end(), function) == keys.end()) {
    what = "it was not probed";
  } else if (stat == Stat::OnCpu) {
    what = "stacks were not sampled (--sample-freq 0)";
  } else {
    what = "it completed no call";
  }
  return fmt::format("{}: {} in {} of {} {} runs, first {}", function.empty() ? stat_info(stat).name : function, what,
                     runs.size(), side.set->runs.size(), side.name, run_label(side, runs.front()));
}

// The values of one check on one side, or why there are none to trust.
std::vector<double> side_values(const Side& side, const std::string& function, Stat stat, std::string& reason) {
  std::vector<double> values;
  std::vector<size_t> missing;
  for (size_t run : side.order) {
    const std::string& why = side.trust[run].reason(stat);
    if (!why.empty() && reason.empty()) reason = run_label(side, run) + ": " + why;
    auto v = stat_value(side.set->runs[run], function, stat);
    if (v) values.push_back(*v);
    else missing.push_back(run);
  }
  if (!missing.empty() && reason.empty()) reason = missing_reason(side, function, stat, missing);
  return values;
}

bool latency_stat(Stat s) { return stat_info(s).per_function && s != Stat::Calls && s != Stat::OnCpu; }

// Latencies are probe-cost corrected or not per run (--no-calibrate): a mix compares unlike figures.
std::string calibration_mismatch(const RunSet& a, const RunSet& b) {
  std::string first;
  for (const RunSet* set : {&a, &b})
    for (const auto& run : set->runs) {
      const bool corrected = run.calibration.method != "none";
      if (first.empty()) first = corrected ? "corrected" : "raw";
      else if (first != (corrected ? "corrected" : "raw"))
        return "latencies are corrected for probe cost in some runs and raw (--no-calibrate) in others";
    }
  return "";
}

std::vector<std::string> all_function_keys(const RunSet& a, const RunSet& b) {
  std::vector<std::string> keys;
  for (const RunSet* set : {&a, &b})
    for (const auto& run : set->runs)
      for (auto& k : function_keys(run))
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(std::move(k));
  return keys;
}

void judge(Check& c, const std::string& fail_on) {
  const Estimate& e = c.estimate;
  if (!e.has_interval()) {
    c.outcome = "inconclusive";
    return;
  }
  if (e.lower > c.allowed) {
    c.outcome = "regression";
    c.severity = regression_severity(e.lower);
    c.fails = severity_rank(c.severity) <= severity_rank(fail_on);
  } else if (e.upper < 0) {
    c.outcome = "improved";
  } else if (e.upper <= c.allowed) {
    c.outcome = "pass";
  } else {
    c.outcome = "unresolved";
  }
}

}  // namespace

std::string regression_severity(double lower) {
  return lower >= 0.5 ? "critical" : lower >= 0.2 ? "high" : lower >= 0.1 ? "medium" : "low";
}

size_t GateResult::count(const std::string& outcome) const {
  return static_cast<size_t>(std::count_if(checks.begin(), checks.end(), [&](const Check& c) { return c.outcome == outcome; }));
}

Interleaving interleaving(const RunSet& baseline, const RunSet& candidate) {
  struct Entry {
    const Profile* run;
    bool is_baseline;
    size_t index;
  };
  std::vector<Entry> all;
  for (size_t i = 0; i < baseline.runs.size(); i++) all.push_back({&baseline.runs[i], true, i});
  for (size_t i = 0; i < candidate.runs.size(); i++) all.push_back({&candidate.runs[i], false, i});
  // As cross_run_trends orders runs: CLOCK_MONOTONIC within one host's boot, else wall clock.
  const bool monotonic = !all.empty() && std::all_of(all.begin(), all.end(), [&](const Entry& e) {
    return e.run->session.start_monotonic_ns > 0 && e.run->session.hostname == all.front().run->session.hostname;
  });
  std::stable_sort(all.begin(), all.end(), [&](const Entry& a, const Entry& b) {
    return monotonic ? a.run->session.start_monotonic_ns < b.run->session.start_monotonic_ns
                     : a.run->session.start < b.run->session.start;
  });
  Interleaving out;
  for (const auto& e : all) (e.is_baseline ? out.baseline_order : out.candidate_order).push_back(e.index);
  out.interleaved = baseline.runs.size() == candidate.runs.size() && baseline.runs.size() >= 2;
  for (size_t i = 0; out.interleaved && i + 1 < all.size(); i += 2) out.interleaved = all[i].is_baseline != all[i + 1].is_baseline;
  return out;
}

GateResult run_gate(const RunSet& baseline, const RunSet& candidate, const GateOptions& o) {
  GateResult r;
  r.baseline_runs = baseline.runs.size();
  r.candidate_runs = candidate.runs.size();
  r.confidence = o.confidence;
  r.power = o.power;
  r.fail_on = o.fail_on;
  r.allow_inconclusive = o.allow_inconclusive;
  r.baseline_sources = baseline.sources;
  r.candidate_sources = candidate.sources;

  const Interleaving il = interleaving(baseline, candidate);
  if (o.pairing == Pairing::Paired && baseline.runs.size() != candidate.runs.size())
    throw Error::usage(fmt::format("--pairing paired needs as many baseline runs as candidate runs ({} and {})",
                                   baseline.runs.size(), candidate.runs.size()),
                       "give both sides the same rounds, or --pairing unpaired");
  r.paired = o.pairing == Pairing::Paired || (o.pairing == Pairing::Auto && il.interleaved);
  Side base{&baseline, il.baseline_order, {}, "baseline"}, cand{&candidate, il.candidate_order, {}, "candidate"};
  for (Side* side : {&base, &cand})
    for (const auto& run : side->set->runs) side->trust.push_back(untrusted(run));

  if (r.baseline_runs < 2 || r.candidate_runs < 2)
    r.reasons.push_back(fmt::format("{} baseline and {} candidate run{}: run-to-run noise cannot be estimated from one "
                                    "run (give 2 or more a side; 10 interleaved rounds are a good start)",
                                    r.baseline_runs, r.candidate_runs, r.candidate_runs == 1 ? "" : "s"));
  if (r.paired)
    r.notes.push_back("paired: the runs alternate in time, so each interval is over the rounds' own log ratios");
  else if (r.baseline_runs >= 2 && r.candidate_runs >= 2)
    r.notes.push_back("unpaired (Welch): the runs do not alternate in time; interleaved rounds give tighter intervals");
  if (!baseline.runs.empty() && !candidate.runs.empty() &&
      baseline.runs.front().session.hostname != candidate.runs.front().session.hostname)
    r.notes.push_back(fmt::format("the baseline ran on {} and the candidate on {}: a difference between the machines "
                                  "counts as a change",
                                  baseline.runs.front().session.hostname, candidate.runs.front().session.hostname));
  const std::string calibration = calibration_mismatch(baseline, candidate);

  std::vector<std::pair<std::string, Stat>> subjects;
  for (const auto& key : all_function_keys(baseline, candidate))
    for (const auto& s : all_stats())
      if (s.per_function && rule_for(o.rules, key, s.stat)) subjects.emplace_back(key, s.stat);
  for (const auto& s : all_stats())
    if (!s.per_function && rule_for(o.rules, "", s.stat)) subjects.emplace_back("", s.stat);
  if (subjects.empty())
    r.reasons.push_back("nothing to compare: no probed function or resource total matches a --max-regression rule");
  r.check_level = bonferroni_level(o.confidence, subjects.size());

  for (const auto& [function, stat] : subjects) {
    Check c;
    c.function = function;
    c.stat = stat;
    const RegressionRule* rule = rule_for(o.rules, function, stat);
    c.rule = rule->text;
    c.allowed = rule->allowed;
    std::string reason;
    const std::vector<double> b = side_values(base, function, stat, reason);
    const std::vector<double> cv = side_values(cand, function, stat, reason);
    if (reason.empty() && latency_stat(stat)) reason = calibration;
    if (reason.empty() && !r.reasons.empty()) reason = r.reasons.front();
    c.estimate = compare_runs(b, cv, r.paired, r.check_level);
    if (!reason.empty()) {
      c.estimate.method = Method::None;  // an interval from untrusted or partial data is not shown as one
      c.reason = reason;
    }
    c.detectable = c.estimate.has_interval()
                       ? detectable_change(c.estimate.noise, std::min(b.size(), cv.size()), r.paired, c.allowed,
                                           r.check_level, o.power)
                       : std::numeric_limits<double>::infinity();
    judge(c, o.fail_on);
    r.checks.push_back(std::move(c));
  }

  const bool fails = std::any_of(r.checks.begin(), r.checks.end(), [](const Check& c) { return c.fails; });
  const bool inconclusive = !r.reasons.empty() || r.count("inconclusive") > 0;
  r.verdict = fails ? "regression" : inconclusive ? "inconclusive" : "pass";
  r.exit_code = fails ? 1 : inconclusive && !o.allow_inconclusive ? 3 : 0;
  return r;
}

}  // namespace perfbpf::gate
