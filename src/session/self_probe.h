// A function of perfbpf's own process as a probe target: what calibration probes to measure a
// probe hit, and what tests probe to drive the funclat programs from inside the process.
#pragma once

#include <cstdint>
#include <string>

#include "session/probe_plan.h"

namespace perfbpf {

// Plans METHOD's probes on the function at ADDRESS (NAME, SIZE bytes) of this process: the
// file-backed mapping that holds it gives the file and offset. Throws Error if none holds it.
PlannedProbe plan_own_function(uintptr_t address, const std::string& name, uint64_t size, ProbeMethod method);

}  // namespace perfbpf
