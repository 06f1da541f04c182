// What each perfbpf command does, given parsed options. Return the process exit code.
#pragma once

#include <iosfwd>

#include "cli/options.h"

namespace perfbpf::cli {

// Messages and the text summary go to ERR (stdout is the command's, and the report's with -o -).
int run_profile(const CliOptions& options, std::ostream& err);
int run_report(const CliOptions& options, std::ostream& out);
int run_analyze(const CliOptions& options, std::ostream& out);
int run_calibrate(std::ostream& out);
int run_validate(const CliOptions& options, std::ostream& out);
// src/cli/gate_commands.cpp: exit 0 pass, 1 regression, 3 inconclusive (errors: 2, see main).
int run_gate(const CliOptions& options, std::ostream& out, std::ostream& err);
int run_diff(const CliOptions& options, std::ostream& out);
int run_agent_command(const CliOptions& options, std::ostream& err);

}  // namespace perfbpf::cli
