// How each function is probed, decided before anything attaches (DESIGN.md, "Probe methods
// per target"; costs in docs/probe-cost.md):
//   uretprobe     entry probe + the kernel's return probe, which swaps the return address
//                 for a trampoline: cheapest, and safe where nothing walks the stack;
//   return-sites  entry probe + a probe on every instruction that leaves the function (ret,
//                 tail-call jumps): nothing in the target changes. Used for Go (goroutines
//                 move between threads and their stacks are copied) and for functions a C++
//                 exception can pass through (the unwinder cannot get past a trampoline).
// Functions the kernel cannot probe (a LOCK-prefixed first instruction, ...) are skipped
// with the reason; naming one explicitly is an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "perfbpf/profile.h"
#include "symbols/function_code.h"
#include "symbols/probe_site.h"
#include "symbols/target_resolver.h"

namespace perfbpf {

enum class ProbeMethod { Uretprobe, ReturnSites };
const char* probe_method_name(ProbeMethod method);  // "uretprobe", "return-sites"

// A return site where its probe goes.
struct ExitProbe {
  ExitSite site;
  uint64_t file_offset = 0;  // of the instruction
  uint64_t range_size = 0;   // the code it belongs to (function or its .cold part), for jump targets
};

struct PlannedProbe {
  ProbeTarget target;
  ProbeSite site;             // the entry probe's kind and bytes past the symbol
  uint64_t entry_offset = 0;  // file offset of the entry probe
  ProbeMethod method = ProbeMethod::Uretprobe;
  std::string method_reason;  // why this method ("Go code", "a C++ exception can pass through it", ...)
  bool go = false;            // paired by goroutine, not by thread
  std::vector<ExitProbe> exits;  // ReturnSites only
};

struct ProbePlan {
  std::vector<PlannedProbe> probes;
  std::vector<SkippedFunction> skipped;
};

// EXCEPTIONS_REASON: why the target process can throw C++ exceptions, "" if it cannot
// (object_kind.h: cxx_exceptions_reason). ALL_RETURN_SITES: return-site probes for every
// function (--return-sites). Throws Error when a function named without a glob cannot be
// probed, or when nothing a spec matched can.
ProbePlan plan_probes(const std::vector<ProbeTarget>& targets, const std::string& exceptions_reason,
                      bool all_return_sites = false);

// One function probed with METHOD whatever its kind (calibration probes its own functions
// both ways). Throws Error when that cannot be done.
PlannedProbe plan_probe(const ProbeTarget& target, ProbeMethod method);

// Throws Error naming the first skipped function that its -f spec named exactly (no glob),
// or a spec all of whose functions were skipped (SPECS: every spec's text with how many
// functions it matched).
void reject_unprobeable(const std::vector<SkippedFunction>& skipped, const std::vector<ProbeTarget>& matched);

}  // namespace perfbpf
