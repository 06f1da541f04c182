// A function-latency profiling session: resolve `-f` specs, attach probes to a running
// process (--pid) or to a command started under perfbpf, collect until the duration ends, a
// signal arrives or the target exits, and return the Profile. Needs CAP_BPF + CAP_PERFMON.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

struct AttachedProbes {
  int pid = 0;                      // the target process (the command's pid in command mode)
  size_t functions = 0;             // functions probed
  bool follow_children = false;     // probes fire in the target's descendants too
  std::vector<uint32_t> program_ids;  // kernel ids of the loaded programs
  std::vector<uint32_t> link_ids;     // kernel ids of the links that hold the probes
  std::vector<std::string> names;   // demangled names of the functions, by probe id
};

struct SessionOptions {
  std::vector<std::string> functions;  // -f [OBJECT:]PATTERN, at least one
  int pid = 0;                         // --pid; 0 in command mode
  std::vector<std::string> command;    // -- CMD ARGS; empty in pid mode
  bool follow_children = false;        // --children; command mode follows unless no_children
  bool no_children = false;            // command mode: probe only the command's own process
  double duration_s = 0;               // 0: until Ctrl-C or the target exits
  bool handle_signals = true;          // SIGINT/SIGTERM end the session (CLI); off for library use
  bool calibrate = true;               // subtract measured probe cost; false reports raw latency
  double overhead_budget_pct = 5;      // warn when probes cost the target more than this
  bool bpf_stats = false;              // kernel BPF run-time stats: exact BPF cost, ~100 ns per hit more
  unsigned sample_freq = 99;           // on-CPU stack samples per second per CPU; 0: no sampling
  bool off_cpu = false;                // also record where threads wait, by stack and reason
  double min_block_us = 1;             // off-CPU spells shorter than this are not recorded
  // Called once every probe is attached, before a command starts running.
  std::function<void(const AttachedProbes&)> on_attached;
};

// Throws Error for bad targets, missing privilege or BTF, and attach failures; in every case
// nothing stays attached. In command mode profile.session.exit_code is the command's status.
Profile run_session(const SessionOptions& options);

}  // namespace perfbpf
