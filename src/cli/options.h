// Command-line parsing into plain options, separate from running them so tests can check
// every usage error without privilege.
#pragma once

#include <string>
#include <vector>

#include "perfbpf/session.h"

namespace perfbpf::cli {

enum class Command { Profile, Report, Calibrate, Validate, Analyze };

struct CliOptions {
  Command command = Command::Profile;
  SessionOptions session;
  std::string output = "perfbpf-report.json";  // "-" writes the JSON report to stdout
  bool quiet = false;                          // no text summary
  std::string summary_path;                    // --summary FILE: the text summary there, not on stderr
  bool redact_args = false;                    // --redact-args: the command's arguments not recorded
  std::string folded_path;                     // --folded FILE: sampled stacks, folded
  std::string flamegraph_path;                 // --flamegraph FILE: sampled stacks, SVG
  bool verbose = false;                        // libbpf debug output
  std::string report_path;                     // `perfbpf report FILE`
  bool quick = false;                          // `perfbpf validate --quick`
  std::string json_path;                       // `perfbpf validate --json FILE`
  std::string collectors_text = "all";          // --collectors, parsed into session.collectors
  std::vector<std::string> threshold_texts;     // --threshold KEY=VALUE, into session.thresholds
  std::string config_path;                      // --config FILE: thresholds, before --threshold
  std::string alerts_path;                      // --alerts FILE: alerts as JSON lines
  std::vector<std::string> analyze_paths;       // `perfbpf analyze REPORT...`
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

}  // namespace perfbpf::cli
