// The sampled stacks as a pprof profile (github.com/google/pprof, proto/profile.proto),
// gzipped, as `go tool pprof`, Parca and Pyroscope read it.
//
// Two sample types: "samples"/"count" (on-CPU, cpu-clock or cycles at the report's frequency;
// period_type cpu/nanoseconds) and "off_cpu"/"nanoseconds" (time off CPU by stack; the leaf is
// the reason, [off-cpu: io] ...). An on-CPU stack has 0 off-CPU time and the other way round,
// so each type's total is exactly the report's stacks.samples / off_cpu.samples. Every sample
// carries the labels pid, tid and comm. Each frame of the report is one Location (a symbol,
// not an address: perfbpf symbolizes while the processes live) whose Function has the name and,
// where DWARF gave it, the file and line of its definition; Mappings are the ELF files, with
// their GNU build-ids ([kernel.kallsyms] for the kernel).
#pragma once

#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

std::string pprof_profile(const Profile& profile);  // gzipped; throws Error if zlib fails
std::string pprof_profile_uncompressed(const Profile& profile);  // the protobuf message

}  // namespace perfbpf
