// Block I/O collector (bpf/block.bpf.c): bytes and requests per submitting process and per
// disk, with queue, service and total latency histograms per disk.
#include <linux/types.h>

#include "block_io.h"
#include "block_io.skel.h"
#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/system_collectors.h"

namespace perfbpf {
namespace {

using BlockSkeleton = PERFBPF_BPF_SKELETON(block_io);

void add_traffic(DiskTraffic& d, const block_traffic& t) {
  d.read_bytes += t.read_bytes;
  d.write_bytes += t.write_bytes;
  d.read_ios += t.read_ios;
  d.write_ios += t.write_ios;
}

// By enum block_loss.
constexpr const char* kLossNames[] = {"block_inflight_map_full", "block_procs_map_full", "block_devices_map_full",
                                          "block_histogram_full"};
static_assert(std::size(kLossNames) == BLOCK_LOSS_NR, "a name for every loss reason");

class BlockCollector : public Collector {
 public:
  explicit BlockCollector(const CollectorSettings& settings) : skel_("block", settings) { skel_.load(); }
  const char* name() const override { return "block"; }
  void attach() override { skel_.attach(); }

  void read(ResourceSnapshot& into) const override {
    for_each_entry<uint32_t, block_traffic>(bpf_map__fd(skel_->maps.procs), [&](uint32_t tgid, const block_traffic& t) {
      ProcessSnapshot& p = into.processes[tgid];
      p.pid = tgid;
      add_traffic(p.usage.disk, t);
    });
    for_each_entry<uint32_t, block_traffic>(bpf_map__fd(skel_->maps.devices), [&](uint32_t dev, const block_traffic& t) {
      add_traffic(into.disks[dev].traffic, t);
    });
    for (auto& [key, hist] : read_log_hists(bpf_map__fd(skel_->maps.hists))) {
      DiskSnapshot& d = into.disks[key.first];
      LatencyHistogram& to = key.second == BLOCK_HIST_QUEUE ? d.queue : key.second == BLOCK_HIST_SERVICE ? d.service : d.total;
      to.merge(hist);
    }
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, into.lost_by_reason);
  }

 private:
  BlockSkeleton skel_;
};

}  // namespace

std::unique_ptr<Collector> make_block_collector(const CollectorSettings& settings) {
  return std::make_unique<BlockCollector>(settings);
}

}  // namespace perfbpf
