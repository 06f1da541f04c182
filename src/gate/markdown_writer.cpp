// Markdown for a job summary ($GITHUB_STEP_SUMMARY, a merge-request note) and GitHub Actions
// workflow commands for annotations.
#include <fmt/format.h>

#include "gate/format.h"
#include "gate/writers.h"

namespace perfbpf::gate {
namespace {

// Table cells: a '|' would end the cell, a newline the row; '`', '*', '_', '<' format or
// open HTML in GitHub's renderer (C++ names carry '<' and '*').
std::string cell(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\n' || ch == '\r') out += ' ';
    else if (ch == '|' || ch == '`' || ch == '*' || ch == '_' || ch == '<' || ch == '>' || ch == '[' || ch == ']' ||
             ch == '\\')
      out += std::string("\\") + ch;
    else out += ch;
  }
  return out;
}

void table(const GateResult& r, const std::vector<const Check*>& checks, std::ostream& out) {
  out << "| function | statistic | baseline | candidate | change | interval | allowed | outcome |\n"
      << "|---|---|---:|---:|---:|---:|---:|---|\n";
  for (const Check* c : checks) {
    const Estimate& e = c->estimate;
    const bool values = e.baseline_runs && e.candidate_runs;
    std::string outcome = c->fails ? "**regression (" + c->severity + ")**" : c->outcome;
    if (!c->fails && c->outcome == "regression") outcome += " (" + c->severity + ", below --fail-on)";
    if (c->outcome == "inconclusive") outcome += for_global_reason(r, *c) ? " (see above)" : ": " + cell(c->reason);
    if (c->outcome == "unresolved") outcome += ": detectable " + cell(format_change(c->detectable));
    out << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", cell(c->subject()), stat_info(c->stat).name,
                       values ? cell(format_value(c->stat, e.baseline)) : "-",
                       values ? cell(format_value(c->stat, e.candidate)) : "-",
                       values ? cell(format_change(e.change)) : "-", cell(format_interval(e)),
                       cell(format_change(c->allowed)), outcome);
  }
}

// Workflow-command data: '%', CR and LF escaped; properties also ':' and ','.
std::string command_data(const std::string& s, bool property) {
  std::string out;
  for (char ch : s) {
    if (ch == '%') out += "%25";
    else if (ch == '\r') out += "%0D";
    else if (ch == '\n') out += "%0A";
    else if (property && ch == ':') out += "%3A";
    else if (property && ch == ',') out += "%2C";
    else out += ch;
  }
  return out;
}

}  // namespace

void write_gate_markdown(const GateResult& r, std::ostream& out) {
  const char* mark = r.verdict == "regression" ? ":x:" : r.verdict == "inconclusive" ? ":warning:" : ":white_check_mark:";
  out << "### " << mark << " perfbpf gate: " << cell(verdict_line(r)) << "\n\n" << cell(method_line(r)) << ".\n\n";
  for (const auto& reason : r.reasons) out << "- **inconclusive**: " << cell(reason) << "\n";
  for (const auto& note : r.notes) out << "- " << cell(note) << "\n";
  if (!r.reasons.empty() || !r.notes.empty()) out << "\n";
  std::vector<const Check*> notable, all = display_order(r);
  for (const Check* c : all)
    if (c->outcome != "pass" && c->outcome != "improved" && !for_global_reason(r, *c)) notable.push_back(c);
  if (!notable.empty()) {
    table(r, notable, out);
    out << "\n";
  }
  if (!all.empty()) {
    out << "<details><summary>All " << all.size() << " checks</summary>\n\n";
    table(r, all, out);
    out << "\n</details>\n";
  }
}

void write_github_annotations(const GateResult& r, std::ostream& out) {
  auto line = [&](const char* level, const std::string& title, const std::string& message) {
    out << "::" << level << " title=" << command_data(title, true) << "::" << command_data(message, false) << "\n";
  };
  for (const auto& reason : r.reasons) line("warning", "perfbpf gate inconclusive", reason);
  for (const Check* c : display_order(r)) {
    if (c->fails) line("error", "perfbpf gate: " + check_name(*c) + " regressed", check_sentence(*c));
    else if (c->outcome == "inconclusive" && r.reasons.empty())
      line("warning", "perfbpf gate: " + check_name(*c) + " inconclusive", check_sentence(*c));
  }
  // One line for all unresolved checks: a notice each would bury the errors (and GitHub shows
  // only the first few annotations of a step).
  if (const size_t n = r.count("unresolved"))
    line("notice", "perfbpf gate: " + std::to_string(n) + " checks unresolved",
         fmt::format("{} of {} checks could not rule out their allowed growth at this noise; more rounds resolve "
                     "them (perfbpf gate --calibrate says how many)",
                     n, r.checks.size()));
}

}  // namespace perfbpf::gate
