#include "cli/gate_options.h"

#include "gate/fail_on.h"
#include "gate/rules.h"
#include "perfbpf/error.h"

namespace perfbpf::cli {
namespace {

constexpr NumericRange kConfidence{0.5, 0.999999, ""};
constexpr NumericRange kRounds{1, 10000, "rounds", true};
constexpr NumericRange kWarmup{0, 100, "rounds", true};

}  // namespace

GateSubcommands add_gate_subcommands(CLI::App& app, CliOptions& o, NumericOptions& numbers) {
  GateCliOptions& g = o.gate;
  CLI::App* gate = app.add_subcommand(
      "gate",
      "CI performance gate: compare baseline and candidate runs per function with confidence intervals over runs; "
      "exit 0 pass, 1 regression, 2 usage or input error, 3 inconclusive (docs/ci-gate.md)");
  gate->add_option("--baseline", g.baseline, "Baseline reports (files or directories of *.json), several runs")
      ->expected(1, -1);
  gate->add_option("--candidate", g.candidate, "Candidate reports (files or directories of *.json), several runs")
      ->expected(1, -1);
  gate->add_option("--max-regression", g.max_regression,
                   "FUNCTION.STAT=PCT% or TOTAL=PCT%, repeatable (STAT: mean p50 p90 p99 p999 calls total on_cpu; "
                   "TOTAL: cpu_time peak_rss disk_bytes net_bytes). Default: *.mean, *.p50, *.p90 5%, *.p99 10%")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  numbers.add(*gate, "--confidence", g.confidence, kConfidence,
              "Probability that all intervals hold together (family-wise, Bonferroni over the checks)");
  gate->add_option("--fail-on", g.fail_on, "Fail only on regressions of this severity or above: critical, high, medium, low")
      ->capture_default_str();
  gate->add_flag("--allow-inconclusive", g.allow_inconclusive, "Exit 0 instead of 3 when the data cannot tell");
  gate->add_option("--pairing", g.pairing,
                   "auto: pair round i of each side when the runs alternate in time; paired; unpaired (Welch)")
      ->capture_default_str();
  gate->add_option("--json", g.json_path, "Write the verdict as JSON (docs/gate-schema.json)");
  gate->add_option("--junit", g.junit_path, "Write JUnit XML: one test case per function and statistic");
  gate->add_option("--markdown", g.markdown_path, "Write a Markdown summary (e.g. for $GITHUB_STEP_SUMMARY)");
  gate->add_flag("--calibrate", g.calibrate,
                 "A/A: the baseline against itself; prints the noise floor, the smallest detectable change and the "
                 "rounds a change needs");
  gate->add_option("--detect", g.detect, "With --calibrate: changes to find the rounds for (default 5% 10%)")
      ->expected(1, -1);
  numbers.add(*gate, "--rounds", g.rounds, kRounds,
              "Run both commands N times each, interleaved A B / B A, then gate (root)", /*show_default=*/false);
  numbers.add(*gate, "--warmup", g.warmup, kWarmup, "With --rounds: rounds run first and not kept");
  gate->add_option("--baseline-cmd", g.baseline_cmd, "With --rounds: the baseline command, e.g. './old/server --bench'");
  gate->add_option("--candidate-cmd", g.candidate_cmd, "With --rounds: the candidate command");
  gate->add_option("--rounds-dir", g.rounds_dir,
                   "With --rounds: where each round's report is written (default perfbpf-gate-<time>; must be empty)");
  // The sessions of --rounds take the profiling options of a command-mode session.
  gate->add_option("-f,--function", o.session.functions, "With --rounds: function(s) to time, [OBJECT:]PATTERN")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  numbers.add(*gate, "-d,--duration", o.session.duration_s, limits::duration_s,
              "With --rounds: stop each session after SEC seconds", /*show_default=*/false);
  gate->add_option("--collectors", o.collectors_text, "With --rounds: resource collectors (sched,block,memory,network, all, none)")
      ->capture_default_str();
  numbers.add(*gate, "--sample-freq", o.session.sample_freq, limits::sample_freq,
              "With --rounds: on-CPU stack samples per second per CPU; 0 off");
  gate->add_flag("--no-calibrate", [&o](int64_t) { o.session.calibrate = false; },
                 "With --rounds: latency as measured, probe cost included");
  numbers.add(*gate, "--overhead-budget", o.session.overhead_budget_pct, limits::overhead_budget_pct,
              "With --rounds: probe overhead above this % of a session makes its latencies untrusted");
  gate->add_flag("--no-children", o.session.no_children, "With --rounds: profile only the command's own process");
  gate->add_flag("-v,--verbose", o.verbose, "With --rounds: libbpf's debug output");

  CLI::App* diff = app.add_subcommand(
      "diff", "Per function, the change of calls, mean, p50, p90 and p99 from one report (or directory of runs) to "
              "another, with confidence intervals (no root needed)");
  diff->add_option("BASELINE", g.diff_baseline, "Baseline report, or a directory of runs")->required();
  diff->add_option("CANDIDATE", g.diff_candidate, "Candidate report, or a directory of runs")->required();
  numbers.add(*diff, "--confidence", g.diff_confidence, kConfidence, "Level of each interval");
  return {gate, diff};
}

void validate_gate(CliOptions& o, Command command) {
  GateCliOptions& g = o.gate;
  if (command == Command::Diff) return;
  gate::check_severity(g.fail_on, "--fail-on");
  if (g.pairing != "auto" && g.pairing != "paired" && g.pairing != "unpaired")
    throw Error::usage("--pairing '" + g.pairing + "' is not auto, paired or unpaired");
  for (const auto& rule : g.max_regression) gate::parse_regression_rule(rule);  // a typo fails now, not after the rounds
  if (g.rounds > 0) {
    if (!g.baseline.empty() || !g.candidate.empty())
      throw Error::usage("--rounds runs the sessions itself", "give --baseline-cmd and --candidate-cmd, not report files");
    if (g.baseline_cmd.empty()) throw Error::usage("--rounds needs --baseline-cmd", "e.g. --baseline-cmd './old/server --bench'");
    if (g.candidate_cmd.empty() && !g.calibrate)
      throw Error::usage("--rounds needs --candidate-cmd", "or --calibrate to run the baseline against itself");
    o.session.collectors = parse_collectors(o.collectors_text);
    if (o.session.functions.empty() && g.max_regression.empty())
      throw Error::usage("nothing to gate", "name the functions to time with -f PATTERN");
  } else {
    if (!g.baseline_cmd.empty() || !g.candidate_cmd.empty() || !g.rounds_dir.empty() || g.warmup > 0 ||
        !o.session.functions.empty())
      throw Error::usage("--baseline-cmd, --candidate-cmd, --rounds-dir, --warmup and -f go with --rounds N");
    if (g.baseline.empty()) throw Error::usage("gate needs --baseline REPORT...", "or --rounds N with --baseline-cmd");
    if (g.candidate.empty() && !g.calibrate)
      throw Error::usage("gate needs --candidate REPORT...", "or --calibrate to compare the baseline with itself");
  }
}

}  // namespace perfbpf::cli
