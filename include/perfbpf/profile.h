// The content of a report as plain data: what a live session produces and what a saved JSON
// report loads back into. Analysis and writers read only this; nothing here knows about BPF.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "perfbpf/histogram.h"

namespace perfbpf {

inline constexpr const char* kReportSchema = "perfbpf.report/1";

struct LatencySummary {
  uint64_t min = 0, max = 0;
  double mean = 0, stddev = 0;
  uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0;
  uint64_t total = 0;  // sum of all call durations
};

struct ThreadCalls {
  uint32_t tid = 0;
  uint32_t tgid = 0;
  uint64_t calls = 0;
  uint64_t total_ns = 0;
};

struct FunctionProfile {
  std::string name;       // symbol as in the ELF file (mangled for C++)
  std::string demangled;  // demangled, equal to name for C symbols
  std::string object;     // path of the ELF file probed
  uint64_t address = 0;   // symbol value (st_value) in that file
  uint64_t file_offset = 0;  // where the probe sits in the file
  uint64_t calls = 0;        // completed calls
  uint64_t in_flight = 0;    // entered but not returned when the session ended
  LatencySummary latency;    // ns
  std::vector<HistogramBucket> histogram;
  std::vector<ThreadCalls> threads;  // by total_ns descending
};

struct EventStats {
  uint64_t received = 0;
  uint64_t lost = 0;  // sum of lost_by_reason
  std::map<std::string, uint64_t> lost_by_reason;
};

struct SessionInfo {
  std::string mode;                  // "pid", "command" or "system"
  int64_t pid = 0;                   // target pid (pid mode) or the command's pid
  std::vector<std::string> command;  // command mode: argv
  bool follow_children = false;
  std::string start;                 // RFC 3339 wall clock
  uint64_t start_monotonic_ns = 0;   // CLOCK_MONOTONIC at start, same clock as BPF timestamps
  double duration_s = 0;
  std::string kernel;                // uname release
  std::string hostname;
  std::string end_reason;            // "duration", "signal", "target-exited"
  int64_t exit_code = -1;            // command mode: the command's exit status, else -1
};

struct Profile {
  std::string schema = kReportSchema;
  std::string tool_version;
  SessionInfo session;
  std::vector<FunctionProfile> functions;
  EventStats events;
};

// Stats of a histogram in the report's shape.
LatencySummary summarize(const LatencyHistogram& h);

}  // namespace perfbpf
