#include "collect/collector.h"

#include "collect/system_collectors.h"
#include "perfbpf/error.h"

namespace perfbpf {

std::unique_ptr<Collector> make_collector(const std::string& name, const CollectorSettings& settings) {
  if (name == "sched") return make_sched_collector(settings);
  if (name == "block") return make_block_collector(settings);
  if (name == "memory") return make_memory_collector(settings);
  if (name == "network") return make_net_collector(settings);
  throw Error::usage("unknown collector '" + name + "'", "choose from sched, block, memory, network");
}

}  // namespace perfbpf
