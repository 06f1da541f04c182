// Constructors of the collector families, one per bpf/<family>.bpf.c (see collector.h).
#pragma once

#include <memory>

#include "collect/collector.h"

namespace perfbpf {

std::unique_ptr<Collector> make_sched_collector(const CollectorSettings& settings);
std::unique_ptr<Collector> make_block_collector(const CollectorSettings& settings);
std::unique_ptr<Collector> make_memory_collector(const CollectorSettings& settings);
std::unique_ptr<Collector> make_net_collector(const CollectorSettings& settings);

}  // namespace perfbpf
