// --fail-on SEVERITY on a live session and on `perfbpf analyze`: the findings of the analysis at
// or above a severity, so a pipeline can fail on them (exit 1).
#pragma once

#include <string>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf::gate {

// critical, high, medium or low; throws Error::usage naming OPTION otherwise.
void check_severity(const std::string& severity, const std::string& option);

// Bottlenecks at or above SEVERITY ("slow-function:parse (high): parse p99 ..."), then live
// alerts: an alert is a threshold crossed during the session, and the rules give the same
// crossing at the end of a session high severity, so alerts count as high.
std::vector<std::string> findings_at_or_above(const AnalysisSection& analysis, const std::string& severity);

}  // namespace perfbpf::gate
