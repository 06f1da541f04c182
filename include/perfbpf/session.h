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
  int pid = 0;                      // the target process (the command's pid in command mode); 0 for system and cgroup
  std::string scope;                // "pid", "command", "cgroup" or "system"
  size_t functions = 0;             // functions probed
  std::vector<std::string> collectors;  // resource collectors attached
  bool follow_children = false;     // probes fire in the target's descendants too
  std::vector<uint32_t> program_ids;  // kernel ids of the loaded programs
  std::vector<uint32_t> link_ids;     // kernel ids of the links that hold the probes
  std::vector<std::string> names;   // demangled names of the functions probed
  // One line each about how -f was resolved: an IFUNC probed at its implementation, a
  // function a glob matched but left out and why, two names sharing one row.
  std::vector<std::string> notes;
  std::vector<SkippedFunction> skipped;  // matched by a glob but not probeable, with why
};

// One completed call of a probed function, as the session saw it: for per-call tracing and
// for pairing calls with a witness (perfbpf validate pairs each with the body's own clock).
struct CallTiming {
  uint32_t function = 0;      // index into Profile::functions (and AttachedProbes::names)
  uint32_t tgid = 0, tid = 0; // the calling process and thread
  uint64_t start_ns = 0;      // the entry probe's timestamp, CLOCK_MONOTONIC
  uint64_t raw_ns = 0;        // entry to return as the probes measured it, their own time included
  uint64_t corrected_ns = 0;  // raw less the calibrated probe time: what the histograms record
};

struct SessionOptions {
  // The target: exactly one of pid, command, cgroup and system_wide.
  std::vector<std::string> functions;  // -f [OBJECT:]PATTERN (pid and command mode)
  int pid = 0;                         // --pid; 0 in command mode
  std::vector<std::string> command;    // -- CMD ARGS; empty in pid mode
  std::string cgroup;                  // --cgroup DIR: every process in a cgroup (v1 or v2)
  bool system_wide = false;            // --system: every process but perfbpf
  bool follow_children = false;        // --children; command mode follows unless no_children
  bool no_children = false;            // command mode: probe only the command's own process
  double duration_s = 0;               // 0: until Ctrl-C or the target exits
  // Command mode, when the session ends before the command (duration, signal): it gets SIGTERM
  // (or the signal perfbpf got), then SIGKILL this many seconds later, as with timeout -k.
  double kill_after_s = 5;
  bool command_stdout_to_stderr = false;  // command mode: its stdout joins stderr (the CLI's -o -)
  // Capacity of the target set: processes profiled at once (the command and its live
  // descendants, a cgroup's members); past it a process is counted in session.target_set.lost.
  uint32_t max_processes = 8192;
  uint32_t max_threads = 8192;         // threads with an open probed call at once (-f)
  bool handle_signals = true;          // SIGINT/SIGTERM end the session (CLI); off for library use
  bool calibrate = true;               // subtract measured probe cost; false reports raw latency
  // Return-site probes for every function (session/probe_plan.h), not only where uretprobes
  // would break the target: for a target whose C++ or Go perfbpf cannot see (a wrapper).
  bool return_sites = false;
  double overhead_budget_pct = 5;      // warn when probes cost the target more than this
  bool bpf_stats = false;              // kernel BPF run-time stats: exact BPF cost, ~100 ns per hit more
  // Split each probed call into on-CPU, run-queue, I/O, lock and sleep time, and keep each
  // function's slowest calls with their longest wait (FunctionProfile::decomposition).
  bool decompose = false;
  unsigned sample_freq = 99;           // on-CPU stack samples per second per CPU; 0: no sampling
  bool off_cpu = false;                // also record where threads wait, by stack and reason
  // How on-CPU samples' user stacks are walked: "dwarf" (default) copies the top of the stack
  // and unwinds it with the binaries' CFI, for code without frame pointers (most of Debian);
  // "fp" follows frame pointers in the kernel (cheaper, broken where they are omitted).
  std::string call_graph = "dwarf";
  double min_block_us = 1;             // off-CPU spells shorter than this are not recorded
  // Resource collectors (sched, block, memory, network): all by default; empty list: none.
  std::vector<std::string> collectors{"sched", "block", "memory", "network"};
  double interval_s = 1.0;             // one time-series sample per interval
  size_t top_n = 10;                   // system and cgroup mode: processes kept in the report
  // Called with each interval's sample as it closes (the CLI's live line).
  std::function<void(const SeriesSample&)> on_interval;
  // What the analysis compares against; crossed during the session, each raises one alert.
  PerformanceThresholds thresholds;
  std::function<void(const Alert&)> on_alert;  // as each alert starts (the CLI prints it)
  // Called with every completed call of a probed function, on the session's loop as it drains
  // the ring buffer (a thread's calls in the order they return): keep it cheap.
  std::function<void(const CallTiming&)> on_call;
  // Called once every probe is attached, before a command starts running.
  std::function<void(const AttachedProbes&)> on_attached;
  // The report so far, for a live view (--serve, the agent): once when the session starts,
  // then each interval. Runs on the session's thread between two polls; session.end_reason
  // is "running".
  std::function<void(const Profile&)> on_snapshot;
  // Readable (an eventfd another thread writes): end the session as a signal would, detach
  // and return the report. -1: none.
  int stop_fd = -1;
};

// Throws Error for bad targets, missing privilege or BTF, and attach failures; in every case
// nothing stays attached. In command mode profile.session.exit_code is the command's status.
Profile run_session(const SessionOptions& options);

}  // namespace perfbpf
