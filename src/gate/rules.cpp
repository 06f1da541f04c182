#include "gate/rules.h"

#include <fnmatch.h>

#include <cmath>
#include <cstdlib>

#include "perfbpf/error.h"

namespace perfbpf::gate {
namespace {

Error bad_rule(const std::string& text, const std::string& what) {
  return Error::usage("--max-regression '" + text + "': " + what,
                      "write FUNCTION.STAT=PCT% (STAT: " + stat_names(true) + ") or TOTAL=PCT% (TOTAL: " +
                          stat_names(false) + "), e.g. 'parse_*.p99=10%'");
}

size_t literal_characters(const std::string& pattern) {
  size_t n = 0;
  for (char c : pattern) n += c != '*' && c != '?' && c != '[' && c != ']';
  return n;
}

}  // namespace

RegressionRule parse_regression_rule(const std::string& text) {
  RegressionRule r;
  r.text = text;
  // Split from the right: demangled C++ names may hold '.', '=' (operator==) and more.
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos) throw bad_rule(text, "no '='");
  std::string value = text.substr(eq + 1);
  const std::string subject = text.substr(0, eq);
  if (!value.empty() && value.back() == '%') value.pop_back();
  char* end = nullptr;
  r.allowed = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !std::isfinite(r.allowed) || r.allowed < 0)
    throw bad_rule(text, "'" + text.substr(eq + 1) + "' is not a percentage of 0 or more");
  r.allowed /= 100;

  const size_t dot = subject.rfind('.');
  const std::string stat = dot == std::string::npos ? subject : subject.substr(dot + 1);
  auto s = stat_by_name(stat);
  if (!s) throw bad_rule(text, "unknown statistic '" + stat + "'");
  r.stat = *s;
  if (stat_info(r.stat).per_function) {
    if (dot == std::string::npos || dot == 0) throw bad_rule(text, "'" + stat + "' needs a function: '*." + stat + "'");
    r.pattern = subject.substr(0, dot);
  } else if (dot != std::string::npos) {
    throw bad_rule(text, "'" + stat + "' is a total of the whole target: write '" + stat + "=" + text.substr(eq + 1) + "'");
  }
  return r;
}

std::vector<RegressionRule> default_rules() {
  std::vector<RegressionRule> rules;
  for (const char* text : {"*.mean=5%", "*.p50=5%", "*.p90=5%", "*.p99=10%"}) rules.push_back(parse_regression_rule(text));
  return rules;
}

const RegressionRule* rule_for(const std::vector<RegressionRule>& rules, const std::string& function, Stat stat) {
  const bool per_function = stat_info(stat).per_function;
  const std::string plain = function.substr(0, function.rfind('@'));  // "SSL_read@libssl.so.3" also matches SSL_read
  const RegressionRule* best = nullptr;
  for (const auto& r : rules) {
    if (r.stat != stat) continue;
    if (per_function && fnmatch(r.pattern.c_str(), function.c_str(), 0) != 0 &&
        fnmatch(r.pattern.c_str(), plain.c_str(), 0) != 0)
      continue;
    if (!best || literal_characters(r.pattern) > literal_characters(best->pattern)) best = &r;
  }
  return best;
}

}  // namespace perfbpf::gate
