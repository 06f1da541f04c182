// perfbpf: a thin shell over libperfbpf. Errors print as one line, exit 1 (runtime) or 2 (usage).
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "perfbpf/error.h"

int main(int argc, char** argv) {
  using namespace perfbpf;
  // The gate's exit codes are its verdict (1 = regression): a gate that could not run exits 2.
  bool gate_command = false;
  try {
    cli::ParseResult parsed = cli::parse_command_line({argv + 1, argv + argc});
    if (!parsed.run) {
      std::cout << parsed.text;
      return parsed.exit_code;
    }
    if (parsed.options.command == cli::Command::Report) return cli::run_report(parsed.options, std::cout);
    if (parsed.options.command == cli::Command::Analyze) return cli::run_analyze(parsed.options, std::cout);
    if (parsed.options.command == cli::Command::Calibrate) return cli::run_calibrate(std::cout);
    if (parsed.options.command == cli::Command::Validate) return cli::run_validate(parsed.options, std::cout);
    gate_command = parsed.options.command == cli::Command::Gate || parsed.options.command == cli::Command::Diff;
    if (parsed.options.command == cli::Command::Gate) return cli::run_gate(parsed.options, std::cout, std::cerr);
    if (parsed.options.command == cli::Command::Diff) return cli::run_diff(parsed.options, std::cout);
    if (parsed.options.command == cli::Command::Agent) return cli::run_agent_command(parsed.options, std::cerr);
    return cli::run_profile(parsed.options, std::cerr);
  } catch (const Error& e) {
    std::cerr << "perfbpf: error: " << e.what();
    if (!e.hint().empty()) std::cerr << " (" << e.hint() << ")";
    std::cerr << "\n";
    return gate_command ? 2 : e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "perfbpf: error: " << e.what() << "\n";
    return gate_command ? 2 : 1;
  }
}
