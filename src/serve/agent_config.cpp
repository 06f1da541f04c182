#include "serve/agent_config.h"

#include <algorithm>
#include <cerrno>

#include <nlohmann/json.hpp>

#include "analysis/thresholds.h"
#include "collect/collector.h"
#include "perfbpf/error.h"
#include "serve/dashboard_server.h"
#include "util/json_file.h"

namespace perfbpf {

using nlohmann::json;

AgentConfig load_agent_config(const std::string& path) {
  json j = read_json_file(path, "agent config", "see dist/agent.json and docs/fleet.md");
  const std::string where = "agent config " + path;
  auto bad = [&](const std::string& key, const std::string& what) {
    return Error::usage(where + ": " + key + " " + what, "see docs/fleet.md");
  };
  if (!j.is_object()) throw Error::usage(where + " should be a JSON object", "see docs/fleet.md");
  AgentConfig c;
  auto number = [&](const std::string& key, double min, double max) {
    const json& v = j.at(key);
    if (!v.is_number() || v.get<double>() < min || v.get<double>() > max)
      throw bad(key, "should be a number from " + json(min).dump() + " to " + json(max).dump());
    return v.get<double>();
  };
  auto string = [&](const std::string& key) {
    if (!j.at(key).is_string()) throw bad(key, "should be a string");
    return j.at(key).get<std::string>();
  };
  for (const auto& [key, v] : j.items()) {
    if (key == "listen") {
      c.listen = string(key);
      if (!c.listen.empty()) parse_serve_address(c.listen, where + ": listen");
    } else if (key == "output_dir") {
      c.output_dir = string(key);
      if (c.output_dir.empty()) throw bad(key, "should not be empty");
    } else if (key == "period_s") {
      c.period_s = number(key, 1, 86400);
    } else if (key == "interval_s") {
      c.interval_s = number(key, 0.01, 3600);
    } else if (key == "sample_freq") {
      c.sample_freq = static_cast<unsigned>(number(key, 0, 10000));
    } else if (key == "off_cpu") {
      if (!v.is_boolean()) throw bad(key, "should be true or false");
      c.off_cpu = v.get<bool>();
    } else if (key == "min_block_us") {
      c.min_block_us = number(key, 0, 1e9);
    } else if (key == "collectors") {
      if (!v.is_array()) throw bad(key, "should be an array of names");
      c.collectors.clear();
      const auto& known = all_collector_names();
      for (const auto& name : v) {
        if (!name.is_string() || std::find(known.begin(), known.end(), name.get<std::string>()) == known.end())
          throw bad(key, "has an unknown collector " + name.dump() + " (sched, block, memory, network)");
        c.collectors.push_back(name.get<std::string>());
      }
    } else if (key == "top") {
      c.top_n = static_cast<size_t>(number(key, 1, 100000));
    } else if (key == "max_output_mb") {
      c.max_output_bytes = static_cast<uint64_t>(number(key, 0.01, 1e7) * 1024 * 1024);
    } else if (key == "process_scan_s") {
      c.process_scan_s = number(key, 0.05, 3600);
    } else if (key == "probes") {
      if (!v.is_array()) throw bad(key, "should be an array of {\"process\": NAME, \"functions\": [...]}");
      for (const auto& p : v) {
        if (!p.is_object() || !p.contains("process") || !p["process"].is_string() || !p.contains("functions") ||
            !p["functions"].is_array() || p["functions"].empty() || p.size() != 2)
          throw bad(key, "entries need exactly \"process\": NAME and \"functions\": [SPEC, ...]");
        AgentProbe probe;
        probe.process = p["process"].get<std::string>();
        for (const auto& f : p["functions"]) {
          if (!f.is_string() || f.get<std::string>().empty()) throw bad(key, "functions should be non-empty strings");
          probe.functions.push_back(f.get<std::string>());
        }
        c.probes.push_back(std::move(probe));
      }
    } else if (key == "thresholds") {
      c.thresholds = thresholds_from_json(v, where, c.thresholds);
    } else {
      throw bad("'" + key + "'",
                "is not a setting (listen, output_dir, period_s, interval_s, sample_freq, off_cpu, min_block_us, "
                "collectors, top, max_output_mb, process_scan_s, probes, thresholds)");
    }
  }
  if (c.interval_s > c.period_s) throw bad("interval_s", "should not exceed period_s");
  return c;
}

}  // namespace perfbpf
