// Resource figures from /proc when BPF is not available (no privilege): see proc_collector.cpp.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "collect/collector.h"
#include "collect/procfs.h"

namespace perfbpf {

// MEMBERS lists the processes in scope at each read; empty function: every process.
std::unique_ptr<Collector> make_proc_collector(ProcFs procfs, std::function<std::vector<uint32_t>()> members);

}  // namespace perfbpf
