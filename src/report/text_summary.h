// The human summary printed at the end of a session and by `perfbpf report`.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

void write_text_summary(const Profile& profile, std::ostream& out);

// The analysis block (health and its deductions, bottlenecks with value vs threshold,
// significant trends, recommendations): part of the summary, and what `perfbpf analyze` prints.
void write_analysis(const AnalysisSection& analysis, std::ostream& out);

// "850 ns", "12.3 us", "4.56 ms", "1.23 s": three significant digits, for tables.
std::string format_duration_ns(double ns);

// "850 B", "12.0 KiB", "512 MiB", "1.20 GiB": binary units, three significant digits.
std::string format_bytes(double bytes);

// One compact line per interval for stderr during a session, e.g.
// "[  3.0s] cpu 98.1% rss 512.0M flt 120/0 disk r 0.0 w 25.3 MB/s p99 3.1ms net tx 1.2 rx 0.1 MB/s rq p99 45us".
// Only the fields of COLLECTORS that ran (sched: cpu, rq; memory: rss, flt; block: disk; network:
// net); rates are the interval's counters / s.dt.
std::string format_interval_line(const SeriesSample& s, const std::vector<std::string>& collectors);

}  // namespace perfbpf
