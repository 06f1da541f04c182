// Thresholds from the command line (--threshold KEY=VALUE) and a config file (--config), and
// the live alerts they raise: one alert when a condition starts to hold, none while it holds.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "perfbpf/profile.h"

namespace perfbpf {

// "0.5", "500ms", "20us", "1s" -> seconds. Throws Error::usage for anything else.
double parse_duration_s(const std::string& text);

// KEY=VALUE: function_time_warning=DURATION, memory_usage_warning=PCT, cpu_usage_warning=PCT (of
// the machine's CPUs, at most 100), process_cpu_warning=PCT (of one CPU),
// function:PATTERN.p99=DURATION or function:PATTERN.mean=DURATION. Throws Error::usage naming
// the known keys for an unknown one, and the expected form for a bad value.
void apply_threshold(PerformanceThresholds& thresholds, const std::string& key_value);

// {"thresholds": {"function_time_warning": 0.5 | "500ms", "memory_usage_warning": 75,
//  "cpu_usage_warning": 85, "process_cpu_warning": 85,
//  "functions": [{"pattern": "parse*", "stat": "p99", "value": "20ms"}]}}
// Unknown keys are errors (a misspelt threshold must not silently fall back to a default).
PerformanceThresholds load_thresholds_config(const std::string& path, PerformanceThresholds base = {});
// The "thresholds" object of such a file on its own (the agent's config embeds one); WHERE
// names it in errors.
PerformanceThresholds thresholds_from_json(const nlohmann::json& thresholds, const std::string& where,
                                           PerformanceThresholds base = {});

// What an interval closed with, as the alert rules see it.
struct IntervalView {
  double t = 0;
  double machine_cpu_pct = 0;  // the machine's CPUs busy, 100 = all of them (/proc/stat)
  double memory_used_pct = 0;
  std::vector<std::pair<std::string, FunctionInterval>> functions;  // demangled name, interval
};

class AlertTracker {
 public:
  explicit AlertTracker(PerformanceThresholds thresholds) : thresholds_(std::move(thresholds)) {}
  // The alerts that start with this interval (conditions that did not hold in the last one).
  std::vector<Alert> check(const IntervalView& interval);
  const std::vector<Alert>& all() const { return all_; }

 private:
  PerformanceThresholds thresholds_;
  std::map<std::string, bool> holding_;  // metric + subject -> held in the last interval
  std::vector<Alert> all_;
};

std::string format_alert(const Alert& a);  // one line for stderr
std::string alert_json_line(const Alert& a);  // one JSON object, no newline

}  // namespace perfbpf
