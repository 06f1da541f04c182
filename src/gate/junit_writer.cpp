// JUnit XML as GitLab, Jenkins and most CI servers read it: one <testcase> per function and
// statistic, classname "perfbpf.gate.FUNCTION" so the CI groups a function's statistics.
#include <fmt/format.h>

#include "gate/format.h"
#include "gate/writers.h"

namespace perfbpf::gate {
namespace {

// Attribute- and text-safe: the five XML entities, and no control character XML 1.0 forbids
// (a C++ name or a path could in principle carry one).
std::string xml(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r' ? '?' : static_cast<char>(ch);
    }
  }
  return out;
}

std::string details(const Check& c) {
  const Estimate& e = c.estimate;
  std::string s = fmt::format("rule {}; method {}; {} baseline and {} candidate runs", c.rule, method_name(e.method),
                              e.baseline_runs, e.candidate_runs);
  if (e.baseline_runs && e.candidate_runs)
    s += fmt::format("; baseline {}, candidate {}", format_value(c.stat, e.baseline), format_value(c.stat, e.candidate));
  return s;
}

}  // namespace

void write_gate_junit(const GateResult& r, std::ostream& out) {
  size_t failures = 0, errors = 0, skipped = 0;
  for (const auto& c : r.checks) {
    failures += c.fails;
    if (c.outcome == "inconclusive") (r.allow_inconclusive ? skipped : errors)++;
    if (c.outcome == "unresolved") skipped++;
  }
  const std::string counts =
      fmt::format("tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"", r.checks.size(), failures, errors, skipped);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"perfbpf gate\" " << counts << ">\n";
  out << "  <testsuite name=\"perfbpf gate\" " << counts << " time=\"0\">\n";
  out << "    <properties>\n";
  auto property = [&](const std::string& name, const std::string& value) {
    out << "      <property name=\"" << xml(name) << "\" value=\"" << xml(value) << "\"/>\n";
  };
  property("verdict", r.verdict);
  property("exit_code", std::to_string(r.exit_code));
  property("method", method_line(r));
  for (const auto& reason : r.reasons) property("inconclusive", reason);
  for (const auto& note : r.notes) property("note", note);
  out << "    </properties>\n";
  for (const auto& c : r.checks) {
    out << "    <testcase classname=\"perfbpf.gate." << xml(c.subject()) << "\" name=\"" << xml(stat_info(c.stat).name)
        << "\" time=\"0\">\n";
    const std::string message = xml(check_sentence(c));
    if (c.fails)
      out << "      <failure type=\"regression\" message=\"" << message << "\">" << xml(details(c)) << "</failure>\n";
    else if (c.outcome == "inconclusive" && !r.allow_inconclusive)
      out << "      <error type=\"inconclusive\" message=\"" << message << "\">" << xml(details(c)) << "</error>\n";
    else if (c.outcome == "inconclusive" || c.outcome == "unresolved")
      out << "      <skipped message=\"" << message << "\"/>\n";
    out << "      <system-out>" << xml(check_sentence(c) + "\n" + details(c)) << "</system-out>\n";
    out << "    </testcase>\n";
  }
  out << "  </testsuite>\n</testsuites>\n";
}

}  // namespace perfbpf::gate
