// Raw sampled stacks to the report's stack profile: symbolized, interned, counted per
// function (self and total), and the folded-stack text flame graph tools read.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "collect/cpu_sampler.h"
#include "perfbpf/profile.h"
#include "symbols/symbolizer.h"

namespace perfbpf {

// Samples in a probe's trap path end in one frame, kPerfbpfProbeFrame (OWN_PROBES: this session
// attached uprobes) or kOtherUprobeFrame, are counted in probe_samples and left out of `top`,
// whose shares are of the other samples.
StackProfile build_stack_profile(const std::vector<RawStackSample>& samples, Symbolizer& symbols,
                                 unsigned frequency_hz, bool own_probes);

// The root frame of a user stack whose walk ended at the end of the copied stack (deeper than
// the copy): the frames above it are missing.
inline constexpr const char* kTruncatedFrame = "[truncated]";

struct FoldedOptions {
  bool per_thread = false;  // a "tid-N" frame under the process name (--per-thread)
  std::string prefix;       // put before every line, e.g. "on-cpu;" (--folded-kind)
};

// One line per distinct stack: "[prefix]comm[;tid-N];root;...;leaf count", identical stacks
// merged, heaviest first, kernel frames suffixed "_[k]" (flamegraph.pl, inferno and speedscope
// read it).
void write_folded(const StackProfile& stacks, std::ostream& out, const FoldedOptions& options = {});

}  // namespace perfbpf
