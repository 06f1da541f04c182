// Command-line parsing into plain options, separate from running them so tests can check
// every usage error without privilege.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "perfbpf/session.h"

namespace perfbpf::cli {

enum class Command { Profile, Report, Calibrate, Validate, Analyze, Gate, Diff, Agent };

// `perfbpf gate` and `perfbpf diff` (src/cli/gate_options.cpp).
struct GateCliOptions {
  std::vector<std::string> baseline, candidate;  // report files or directories of them
  std::vector<std::string> max_regression;       // --max-regression rules, as typed
  double confidence = 0.99;                      // family-wise, over all checks
  std::string fail_on = "low";                   // regressions below it do not fail
  bool allow_inconclusive = false;
  std::string pairing = "auto";                  // auto, paired, unpaired
  std::string json_path, junit_path, markdown_path;
  bool calibrate = false;                        // A/A: the noise floor and rounds needed
  std::vector<std::string> detect{"5%", "10%"};  // --calibrate: changes to find rounds for
  size_t rounds = 0, warmup = 0;                 // --rounds: run both builds interleaved
  std::string baseline_cmd, candidate_cmd, rounds_dir;
  std::string diff_baseline, diff_candidate;     // `perfbpf diff BASELINE CANDIDATE`
  double diff_confidence = 0.95;                 // `perfbpf diff`: level of each interval
};

struct CliOptions {
  Command command = Command::Profile;
  SessionOptions session;
  std::string output = "perfbpf-report.json";  // "-" writes the JSON report to stdout
  bool quiet = false;                          // no text summary
  std::string summary_path;                    // --summary FILE: the text summary there, not on stderr
  bool redact_args = false;                    // --redact-args: the command's arguments not recorded
  // Files in the formats of report/writers.h, by format name: --html, --pprof, --folded ...
  // (a session's and `perfbpf report`'s).
  std::map<std::string, std::string> report_files;
  std::string serve;                           // --serve [HOST:]PORT: live dashboard and /metrics
  std::string agent_config;                    // `perfbpf agent --config FILE`
  bool verbose = false;                        // libbpf debug output
  std::string report_path;                     // `perfbpf report FILE`
  bool quick = false;                          // `perfbpf validate --quick`
  std::string json_path;                       // `perfbpf validate --json FILE`
  std::string collectors_text = "all";          // --collectors, parsed into session.collectors
  std::vector<std::string> threshold_texts;     // --threshold KEY=VALUE, into session.thresholds
  std::string config_path;                      // --config FILE: thresholds, before --threshold
  std::string alerts_path;                      // --alerts FILE: alerts as JSON lines
  std::vector<std::string> analyze_paths;       // `perfbpf analyze REPORT...`
  std::string fail_on;                          // --fail-on SEVERITY: exit 1 on findings at or above it
  GateCliOptions gate;
};

// What parsing decided: run with options, or print text and exit (help, version, usage error).
struct ParseResult {
  bool run = false;
  CliOptions options;
  std::string text;   // help or version text to print on stdout
  int exit_code = 0;
};

// Throws Error::usage for bad arguments. ARGS excludes argv[0].
ParseResult parse_command_line(const std::vector<std::string>& args);

// "sched,block" / "all" / "none" into collector names; unknown names are usage errors.
std::vector<std::string> parse_collectors(const std::string& text);

}  // namespace perfbpf::cli
