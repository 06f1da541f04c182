// The gate's outputs, all from one GateResult: a text table for the log, a JSON verdict
// (schema "perfbpf.gate/1", docs/gate-schema.json), JUnit XML (one test case per function and
// statistic, for GitLab, Jenkins and the like), Markdown for $GITHUB_STEP_SUMMARY and GitHub
// Actions workflow commands (::error / ::warning annotations).
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "gate/gate.h"

namespace perfbpf::gate {

inline constexpr const char* kGateSchema = "perfbpf.gate/1";

void write_gate_text(const GateResult& r, std::ostream& out);
nlohmann::json gate_to_json(const GateResult& r);
// Failing regressions are <failure>, inconclusive checks <error> (<skipped> when inconclusive is
// allowed), unresolved ones <skipped> with the change they could not rule out; the rest pass.
void write_gate_junit(const GateResult& r, std::ostream& out);
// A heading with the verdict, the checks that are not a plain pass, then every check folded.
void write_gate_markdown(const GateResult& r, std::ostream& out);
// One ::error line per failing regression, ::warning per inconclusive check and per reason, one
// ::notice for all unresolved checks; escaped as the workflow-command syntax requires.
void write_github_annotations(const GateResult& r, std::ostream& out);

}  // namespace perfbpf::gate
