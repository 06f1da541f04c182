// `perfbpf gate` and `perfbpf diff`: load or run the rounds, hand them to src/gate, write the
// outputs. The statistics and the verdict live in src/gate; this only wires them to files.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "gate/calibrate.h"
#include "gate/diff.h"
#include "gate/rounds.h"
#include "gate/writers.h"
#include "perfbpf/error.h"
#include "report/output_file.h"
#include "report/json_report.h"
#include "session/libbpf_log.h"
#include "session/privileges.h"

namespace perfbpf::cli {
namespace {

// FILE, or every *.json in DIRECTORY (by name), as the runs of one side.
gate::RunSet load_runs(const std::vector<std::string>& paths, const std::string& option) {
  gate::RunSet set;
  for (const auto& path : paths) {
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(path, ec))
        if (entry.path().extension() == ".json" && entry.is_regular_file()) files.push_back(entry.path().string());
      std::sort(files.begin(), files.end());
      if (files.empty()) throw Error::usage(option + " " + path + " holds no *.json report");
    } else {
      files.push_back(path);
    }
    for (const auto& f : files) {
      set.runs.push_back(read_json_report(f));
      set.sources.push_back(f);
    }
  }
  return set;
}

std::vector<double> parse_changes(const std::vector<std::string>& texts) {
  std::vector<double> out;
  for (std::string t : texts) {
    if (!t.empty() && t.back() == '%') t.pop_back();
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !(v > 0)) throw Error::usage("--detect '" + t + "' is not a percentage above 0", "e.g. --detect 5%");
    out.push_back(v / 100);
  }
  return out;
}

gate::GateOptions gate_options(const GateCliOptions& g) {
  gate::GateOptions o;
  if (!g.max_regression.empty()) {
    o.rules.clear();
    for (const auto& text : g.max_regression) o.rules.push_back(gate::parse_regression_rule(text));
  }
  o.confidence = g.confidence;
  o.fail_on = g.fail_on;
  o.allow_inconclusive = g.allow_inconclusive;
  o.pairing = g.pairing == "paired" ? gate::Pairing::Paired : g.pairing == "unpaired" ? gate::Pairing::Unpaired
                                                                                        : gate::Pairing::Auto;
  return o;
}

std::string default_rounds_dir() {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return std::string("perfbpf-gate-") + stamp;
}

std::pair<gate::RunSet, gate::RunSet> run_gate_rounds(const CliOptions& o, std::ostream& err) {
  const GateCliOptions& g = o.gate;
  route_libbpf_logging(o.verbose);
  check_bpf_privileges();  // before anything is created: --rounds runs sessions
  gate::RoundsPlan plan;
  plan.rounds = g.rounds;
  plan.warmup = g.warmup;
  plan.baseline_cmd = gate::split_command(g.baseline_cmd, "--baseline-cmd");
  plan.candidate_cmd = g.calibrate && g.candidate_cmd.empty() ? plan.baseline_cmd
                                                              : gate::split_command(g.candidate_cmd, "--candidate-cmd");
  plan.session = o.session;
  // The commands' own output goes to stderr: stdout carries only the gate's verdict.
  plan.session.command_stdout_to_stderr = true;
  plan.dir = g.rounds_dir.empty() ? default_rounds_dir() : g.rounds_dir;
  gate::prepare_rounds_dir(plan.dir);
  err << fmt::format("perfbpf gate: {} rounds, interleaved; reports in {}\n", plan.rounds, plan.dir);
  return gate::run_rounds(plan, [&err](const std::string& line) {
    err << "perfbpf gate: " << line << "\n";
    err.flush();
  });
}

}  // namespace

int run_gate(const CliOptions& o, std::ostream& out, std::ostream& err) {
  const GateCliOptions& g = o.gate;
  for (const auto* path : {&g.json_path, &g.junit_path, &g.markdown_path})
    if (!path->empty()) OutputFile::check_writable(*path, path == &g.json_path ? "--json" : path == &g.junit_path ? "--junit" : "--markdown");
  const gate::GateOptions options = gate_options(g);
  const std::vector<double> changes = parse_changes(g.detect);

  gate::RunSet baseline, candidate;
  if (g.rounds > 0) {
    std::tie(baseline, candidate) = run_gate_rounds(o, err);
  } else {
    baseline = load_runs(g.baseline, "--baseline");
    if (!g.candidate.empty()) candidate = load_runs(g.candidate, "--candidate");
  }

  if (g.calibrate) {
    const gate::CalibrationResult c = gate::calibrate(baseline, candidate, options, changes);
    gate::write_calibration_text(c, out);
    if (!g.json_path.empty()) write_output_file(g.json_path, "--json", gate::calibration_result_to_json(c).dump(2) + "\n");
    return c.exit_code;
  }
  const gate::GateResult r = gate::run_gate(baseline, candidate, options);
  gate::write_gate_text(r, out);
  const char* actions = std::getenv("GITHUB_ACTIONS");
  if (actions && std::string(actions) == "true") gate::write_github_annotations(r, out);
  if (!g.json_path.empty()) write_output_file(g.json_path, "--json", gate::gate_to_json(r).dump(2) + "\n");
  if (!g.junit_path.empty()) {
    std::ostringstream xml;
    gate::write_gate_junit(r, xml);
    write_output_file(g.junit_path, "--junit", xml.str());
  }
  if (!g.markdown_path.empty()) {
    std::ostringstream md;
    gate::write_gate_markdown(r, md);
    write_output_file(g.markdown_path, "--markdown", md.str());
  }
  return r.exit_code;
}

int run_diff(const CliOptions& o, std::ostream& out) {
  const gate::RunSet baseline = load_runs({o.gate.diff_baseline}, "BASELINE");
  const gate::RunSet candidate = load_runs({o.gate.diff_candidate}, "CANDIDATE");
  gate::write_diff_text(gate::diff_runs(baseline, candidate, o.gate.diff_confidence), out);
  return 0;
}

}  // namespace perfbpf::cli
