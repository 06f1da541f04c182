// Words and numbers the gate's writers share (text, Markdown, JUnit, GitHub annotations), so
// every output says the same thing the same way.
#pragma once

#include <string>
#include <vector>

#include "gate/gate.h"

namespace perfbpf::gate {

// A value in its statistic's unit: "31.9 us", "1.20 MiB", "1500".
std::string format_value(Stat stat, double value);
// A fraction as a signed percentage: "+10.0%", "-0.3%", "+0.02%"; "n/a" for non-finite.
std::string format_change(double fraction);
// "[+9.7%, +10.3%]", or "n/a" without an interval.
std::string format_interval(const Estimate& e);
// "stage_13 p50" / "target cpu_time".
std::string check_name(const Check& c);
// One sentence: "+10.0% [+9.7%, +10.3%], allowed +5%: regression (low)" or the inconclusive reason.
std::string check_sentence(const Check& c);
// The verdict line: "REGRESSION: 1 of 80 checks failed", "PASS: 80 checks", ...
std::string verdict_line(const GateResult& r);
// "10 baseline and 10 candidate runs, paired; 99% simultaneous intervals (each 99.99%)".
std::string method_line(const GateResult& r);
// True when C is inconclusive for a reason of the whole comparison (one run a side ...): the
// outputs say that reason once, not once per check.
bool for_global_reason(const GateResult& r, const Check& c);
// Display order: failing regressions (most severe first), inconclusive, other regressions,
// unresolved, improved, pass; the gate's own order within each.
std::vector<const Check*> display_order(const GateResult& r);

}  // namespace perfbpf::gate
