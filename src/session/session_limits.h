// The valid range of every numeric session setting, checked before anything starts: by the
// CLI under the option's name and by run_session() under the field's, with one wording.
#pragma once

#include <string>

#include "perfbpf/session.h"

namespace perfbpf {

struct NumericRange {
  double min, max;
  const char* unit;  // shown after the range: "seconds", "Hz"; "" for counts
  bool integer = false;
};

namespace limits {
inline constexpr NumericRange duration_s{0.001, 31536000, "seconds"};  // a year
// The session loop wakes for each interval; below 0.1 s the collectors' own reads of their
// maps and of /proc become a noticeable share of a CPU in system mode.
inline constexpr NumericRange interval_s{0.1, 86400, "seconds"};
inline constexpr NumericRange kill_after_s{0, 86400, "seconds"};
inline constexpr NumericRange min_block_us{0, 3.6e9, "microseconds"};  // an hour
inline constexpr NumericRange overhead_budget_pct{0, 10000, "%"};
inline constexpr NumericRange sample_freq{0, 10000, "Hz", true};
inline constexpr NumericRange top_n{1, 100000, "processes", true};
inline constexpr NumericRange pid{1, 4194304, "", true};  // PID_MAX_LIMIT on 64-bit
// BPF hash maps are allocated in full at load: ~120 bytes a process, ~800 bytes a thread.
inline constexpr NumericRange max_processes{1, 1048576, "processes", true};
inline constexpr NumericRange max_threads{1, 262144, "threads", true};
}  // namespace limits

// "0.1 to 86400 seconds"
std::string format_range(const NumericRange& range);

// Throws Error::usage "NAME VALUE_TEXT is out of range (valid: ...)" unless VALUE is finite,
// inside RANGE and (for integer ranges) whole.
void check_range(const std::string& name, const std::string& value_text, double value, const NumericRange& range);

// Parses TEXT (given to option NAME) as a number in RANGE; throws Error::usage naming the
// option, the text and the valid range.
double parse_in_range(const std::string& name, const std::string& text, const NumericRange& range);

// Every numeric field of OPTIONS, named as in the struct. Throws Error::usage.
void validate_session_options(const SessionOptions& options);

}  // namespace perfbpf
