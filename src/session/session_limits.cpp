#include "session/session_limits.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "perfbpf/error.h"

namespace perfbpf {

std::string format_range(const NumericRange& range) {
  std::string text = fmt::format("{} to {}", range.min, range.max);
  if (*range.unit) text += std::string(" ") + range.unit;
  return text;
}

void check_range(const std::string& name, const std::string& value_text, double value, const NumericRange& range) {
  const std::string valid = "valid: " + format_range(range);
  if (!std::isfinite(value)) throw Error::usage(name + " " + value_text + " is not a finite number", valid);
  if (value < range.min || value > range.max) throw Error::usage(name + " " + value_text + " is out of range", valid);
  if (range.integer && value != std::floor(value)) throw Error::usage(name + " " + value_text + " is not a whole number", valid);
}

double parse_in_range(const std::string& name, const std::string& text, const NumericRange& range) {
  // strtod reads the whole text or it is not a number ("5s", "", "0x" are refused);
  // "nan" and "inf" parse and are refused as not finite.
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(begin, &end);
  if (text.empty() || end != begin + text.size() || std::isspace(static_cast<unsigned char>(text[0])))
    throw Error::usage(name + " '" + text + "' is not a number", "valid: " + format_range(range));
  if (errno == ERANGE && std::isinf(value))  // 1e999: beyond any range
    throw Error::usage(name + " " + text + " is out of range", "valid: " + format_range(range));
  check_range(name, text, value, range);
  return value;
}

void validate_session_options(const SessionOptions& o) {
  auto check = [](const char* name, double value, const NumericRange& range) {
    check_range(name, fmt::format("{}", value), value, range);
  };
  if (o.duration_s != 0) check("duration_s", o.duration_s, limits::duration_s);  // 0: no limit
  if (o.pid != 0) check("pid", o.pid, limits::pid);
  check("interval_s", o.interval_s, limits::interval_s);
  check("kill_after_s", o.kill_after_s, limits::kill_after_s);
  check("min_block_us", o.min_block_us, limits::min_block_us);
  check("overhead_budget_pct", o.overhead_budget_pct, limits::overhead_budget_pct);
  check("sample_freq", o.sample_freq, limits::sample_freq);
  check("top_n", static_cast<double>(o.top_n), limits::top_n);
  check("max_processes", o.max_processes, limits::max_processes);
  check("max_threads", o.max_threads, limits::max_threads);
}

}  // namespace perfbpf
