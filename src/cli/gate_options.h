// The `gate` and `diff` subcommands' options, kept apart from options.cpp so that each command's
// parsing stays in one place.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/numeric_options.h"
#include "cli/options.h"

namespace perfbpf::cli {

struct GateSubcommands {
  CLI::App* gate = nullptr;
  CLI::App* diff = nullptr;
};

// NUMBERS checks the numeric options after parsing, as for every other subcommand.
GateSubcommands add_gate_subcommands(CLI::App& app, CliOptions& o, NumericOptions& numbers);

// After parsing: usage errors for what CLI11 cannot check (exclusive modes, rules, severities,
// what --rounds needs). COMMAND is Gate or Diff.
void validate_gate(CliOptions& o, Command command);

}  // namespace perfbpf::cli
