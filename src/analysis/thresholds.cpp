#include "analysis/thresholds.h"

#include <fnmatch.h>

#include <cerrno>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "perfbpf/error.h"
#include "util/json_file.h"

namespace perfbpf {
namespace {

constexpr const char* kKnownKeys =
    "function_time_warning=DURATION, memory_usage_warning=PCT, cpu_usage_warning=PCT, process_cpu_warning=PCT, "
    "function:PATTERN.p99=DURATION, function:PATTERN.mean=DURATION";

double parse_percent(const std::string& key, const std::string& text) {
  std::string t = text;
  if (!t.empty() && t.back() == '%') t.pop_back();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != t.size() || !(v > 0) || !std::isfinite(v))
    throw Error::usage(key + " takes a positive percentage, not '" + text + "'", "e.g. " + key + "=80");
  return v;
}

void set_function_threshold(PerformanceThresholds& th, const std::string& spec, const std::string& value) {
  // spec: function:PATTERN.STAT
  size_t dot = spec.rfind('.');
  std::string pattern = dot == std::string::npos ? "" : spec.substr(9, dot - 9);
  std::string stat = dot == std::string::npos ? "" : spec.substr(dot + 1);
  if (pattern.empty() || (stat != "p99" && stat != "mean"))
    throw Error::usage("bad per-function threshold '" + spec + "'", "write function:PATTERN.p99=DURATION or function:PATTERN.mean=DURATION");
  for (auto& f : th.functions)
    if (f.pattern == pattern && f.stat == stat) {
      f.value_ns = parse_duration_s(value) * 1e9;
      return;
    }
  th.functions.push_back({pattern, stat, parse_duration_s(value) * 1e9});
}

}  // namespace

double parse_duration_s(const std::string& text) {
  static const std::pair<const char*, double> kUnits[] = {{"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}};
  double scale = 1;
  std::string number = text;
  for (const auto& [suffix, s] : kUnits) {
    std::string u = suffix;
    if (number.size() > u.size() && number.compare(number.size() - u.size(), u.size(), u) == 0) {
      number.resize(number.size() - u.size());
      scale = s;
      break;
    }
  }
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != number.size() || !(v > 0) || !std::isfinite(v))
    throw Error::usage("'" + text + "' is not a duration", "write seconds (0.5) or with a unit: 500ms, 20us, 1s");
  return v * scale;
}

void apply_threshold(PerformanceThresholds& th, const std::string& key_value) {
  size_t eq = key_value.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error::usage("--threshold takes KEY=VALUE, not '" + key_value + "'", std::string("keys: ") + kKnownKeys);
  std::string key = key_value.substr(0, eq), value = key_value.substr(eq + 1);
  if (key == "function_time_warning") th.function_time_warning = parse_duration_s(value);
  else if (key == "memory_usage_warning") th.memory_usage_warning = parse_percent(key, value);
  else if (key == "cpu_usage_warning") {
    // The machine's utilisation, as the original design meant it: it cannot pass 100.
    th.cpu_usage_warning = parse_percent(key, value);
    if (th.cpu_usage_warning > 100)
      throw Error::usage(key + " is a share of the machine's CPUs (100 = all busy), not " + value,
                         "for one process's CPU (100 = one CPU) use process_cpu_warning=" + value);
  } else if (key == "process_cpu_warning") th.process_cpu_warning = parse_percent(key, value);
  else if (key.rfind("function:", 0) == 0) set_function_threshold(th, key, value);
  else throw Error::usage("unknown threshold '" + key + "'", std::string("keys: ") + kKnownKeys);
}

PerformanceThresholds load_thresholds_config(const std::string& path, PerformanceThresholds th) {
  nlohmann::json j = read_json_file(path, "config", R"(give {"thresholds": {...}}, see docs/analysis.md)");
  if (!j.is_object()) throw Error::usage("config " + path + ": should be an object", std::string("known: ") + kKnownKeys);
  for (const auto& [key, v] : j.items())
    if (key != "thresholds")
      throw Error::usage("config " + path + ": unknown key '" + key + "'", std::string("known: ") + kKnownKeys);
  if (!j.contains("thresholds")) return th;
  return thresholds_from_json(j["thresholds"], "config " + path, th);
}

PerformanceThresholds thresholds_from_json(const nlohmann::json& t, const std::string& where, PerformanceThresholds th) {
  auto bad = [&](const std::string& what) { return Error::usage(where + ": " + what, std::string("known: ") + kKnownKeys); };
  if (!t.is_object()) throw bad("thresholds should be an object");
  auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  for (const auto& [key, v] : t.items()) {
    if (key == "functions") {
      if (!v.is_array()) throw bad("thresholds.functions should be an array");
      for (const auto& f : v) {
        if (!f.is_object() || !f.contains("pattern") || !f.contains("value"))
          throw bad("each of thresholds.functions needs pattern and value");
        for (const auto& [fk, fv] : f.items())
          if (fk != "pattern" && fk != "stat" && fk != "value") throw bad("unknown key '" + fk + "' in thresholds.functions");
        std::string stat = f.value("stat", std::string("p99"));
        apply_threshold(th, "function:" + text(f["pattern"]) + "." + stat + "=" + text(f["value"]));
      }
    } else if (key == "function_time_warning" || key == "memory_usage_warning" || key == "cpu_usage_warning" ||
               key == "process_cpu_warning") {
      apply_threshold(th, key + "=" + text(v));
    } else {
      throw bad("unknown threshold '" + key + "'");
    }
  }
  return th;
}

std::vector<Alert> AlertTracker::check(const IntervalView& iv) {
  std::vector<Alert> fresh;
  std::map<std::string, bool> now;
  auto consider = [&](bool crossed, Alert a) {
    std::string key = a.metric + "|" + a.subject;
    now[key] = crossed;
    if (crossed && !holding_[key]) {
      a.t = iv.t;
      fresh.push_back(a);
      all_.push_back(a);
    }
  };
  consider(iv.memory_used_pct > thresholds_.memory_usage_warning,
           {0, "memory_used_pct", "machine", iv.memory_used_pct, thresholds_.memory_usage_warning, "%"});
  consider(iv.machine_cpu_pct > thresholds_.cpu_usage_warning,
           {0, "machine_cpu_pct", "machine", iv.machine_cpu_pct, thresholds_.cpu_usage_warning, "%"});
  for (const auto& [name, f] : iv.functions) {
    if (f.calls == 0) {
      for (const auto& [key, held] : holding_)
        if (key.find("|" + name) != std::string::npos) now[key] = held;  // no calls: no news
      continue;
    }
    const double p99_s = static_cast<double>(f.p99) / 1e9;
    consider(p99_s > thresholds_.function_time_warning,
             {0, "function.p99", name, static_cast<double>(f.p99), thresholds_.function_time_warning * 1e9, "ns"});
    for (const auto& ft : thresholds_.functions) {
      if (fnmatch(ft.pattern.c_str(), name.c_str(), 0) != 0 || ft.stat != "p99") continue;  // mean: analysis only
      consider(static_cast<double>(f.p99) > ft.value_ns,
               {0, "function.p99[" + ft.pattern + "]", name, static_cast<double>(f.p99), ft.value_ns, "ns"});
    }
  }
  holding_ = std::move(now);
  return fresh;
}

std::string format_alert(const Alert& a) {
  auto value = [&](double v) {
    return a.unit == "ns" ? fmt::format("{:.3g} ms", v / 1e6) : fmt::format("{:.1f}{}", v, a.unit);
  };
  return fmt::format("perfbpf: ALERT at {:.1f}s: {} of {} is {} (threshold {})", a.t, a.metric, a.subject, value(a.value),
                     value(a.threshold));
}

std::string alert_json_line(const Alert& a) {
  return nlohmann::json{{"t", a.t}, {"metric", a.metric}, {"subject", a.subject}, {"value", a.value},
                        {"threshold", a.threshold}, {"unit", a.unit}}
      .dump();
}

}  // namespace perfbpf
