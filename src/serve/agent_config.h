// `perfbpf agent --config FILE`: the agent's settings, JSON (docs/fleet.md has an example).
// Unknown keys and wrong types are errors naming the file and key: a misspelt setting must
// not silently fall back to a default on a fleet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

struct AgentProbe {
  std::string process;                 // comm (/proc/PID/comm) or executable base name
  std::vector<std::string> functions;  // -f specs, [OBJECT:]PATTERN
};

struct AgentConfig {
  std::string listen = "127.0.0.1:9464";   // dashboard and /metrics; "" for none
  std::string output_dir = "/var/lib/perfbpf";
  double period_s = 300;                   // a JSON report and a pprof profile each period
  double interval_s = 10;                  // time-series interval and /metrics refresh
  unsigned sample_freq = 19;               // on-CPU samples per second per CPU; 0 off
  bool off_cpu = false;
  double min_block_us = 1000;              // off-CPU spells shorter are not recorded (cost)
  std::vector<std::string> collectors{"sched", "block", "memory", "network"};
  size_t top_n = 10;
  uint64_t max_output_bytes = 256ull << 20;  // output_dir's perfbpf files, oldest removed first
  double process_scan_s = 1.0;             // how often new processes are looked for
  std::vector<AgentProbe> probes;
  PerformanceThresholds thresholds;
};

// Throws Error::usage (exit 2) naming PATH and the key for a bad file.
AgentConfig load_agent_config(const std::string& path);

}  // namespace perfbpf
