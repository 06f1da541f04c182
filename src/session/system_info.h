// Facts about the machine and clocks that every report carries.
#pragma once

#include <cstdint>
#include <string>

namespace perfbpf {

std::string kernel_release();
std::string host_name();
// RFC 3339 with milliseconds and the local UTC offset, e.g. 2026-11-24T12:43:10.123+00:00.
std::string rfc3339_now();
// Such a time (fraction and offset optional, or "Z") as ns since the Unix epoch; false when
// TEXT is not one.
bool rfc3339_to_unix_ns(const std::string& text, int64_t& unix_ns);
// CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads.
uint64_t monotonic_ns();

}  // namespace perfbpf
