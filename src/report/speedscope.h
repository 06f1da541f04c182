// The sampled stacks in speedscope's file format (https://www.speedscope.app, schema
// file-format-schema.json): one "sampled" profile per process for on-CPU samples (unit
// "none": sample counts) and one per process for off-CPU time (unit "nanoseconds"), over one
// shared frame table with file and line where DWARF gave them. Stacks are root first
// (caller to callee), one entry per distinct stack with its count as the weight.
#pragma once

#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

std::string speedscope_json(const Profile& profile);

}  // namespace perfbpf
