// The human summary printed at the end of a session and by `perfbpf report`.
#pragma once

#include <ostream>
#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

void write_text_summary(const Profile& profile, std::ostream& out);

// "850 ns", "12.3 us", "4.56 ms", "1.23 s": three significant digits, for tables.
std::string format_duration_ns(double ns);

}  // namespace perfbpf
