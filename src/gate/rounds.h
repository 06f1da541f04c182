// perfbpf gate --rounds N: perfbpf runs both builds itself, interleaved, through the same
// run_session a CLI session uses. Round i runs the baseline and the candidate one after the
// other, the order alternating (A B, B A, A B, ...) so that neither build always runs second
// (warm caches, a neighbour's burst); every session's report is written as it ends, so an
// interrupted gate leaves the finished rounds behind. Needs CAP_BPF + CAP_PERFMON.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "gate/gate.h"
#include "perfbpf/session.h"

namespace perfbpf::gate {

struct RoundsPlan {
  size_t rounds = 10;
  size_t warmup = 0;  // rounds run first and thrown away
  std::vector<std::string> baseline_cmd, candidate_cmd;
  SessionOptions session;  // -f, collectors, sampling...; the command is set per session
  std::string dir;         // baseline-01.json, candidate-01.json ... land here
};

// "./server --port 8080 'a b'" -> {"./server", "--port", "8080", "a b"}: shell quoting and
// variables (wordexp), never command substitution. Throws Error::usage naming OPTION.
std::vector<std::string> split_command(const std::string& text, const std::string& option);

// Creates DIR (or accepts an empty one) for the round reports; under sudo it is the invoking
// user's. Throws Error::usage when DIR holds files already: old rounds must not mix with new.
void prepare_rounds_dir(const std::string& dir);

// Throws Error when a session fails, a command exits non-zero before any -d duration ends it (a
// failing benchmark measures nothing) or a signal ends a session (the finished rounds' reports
// stay in plan.dir).
std::pair<RunSet, RunSet> run_rounds(const RoundsPlan& plan, const std::function<void(const std::string&)>& progress);

}  // namespace perfbpf::gate
