// Block I/O collector (bpf/block_io.bpf.c): bytes and requests per submitting process and per
// disk, with queue, service and total latency histograms per disk. Exited processes' records
// leave the map a read after their exit for a table kept here (collect/exited_procs.h).
#include <linux/types.h>

#include "block_io.h"
#include "block_io.skel.h"
#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/exited_procs.h"
#include "collect/system_collectors.h"

namespace perfbpf {
namespace {

using BlockSkeleton = PERFBPF_BPF_SKELETON(block_io);

// T's counts into D: a report's DiskTraffic, or another block_traffic (same field names).
template <typename To>
void add_traffic(To& d, const block_traffic& t) {
  d.read_bytes += t.read_bytes;
  d.write_bytes += t.write_bytes;
  d.read_ios += t.read_ios;
  d.write_ios += t.write_ios;
}

// An earlier holder's counts into a later one's record.
void add_earlier(block_proc& later, const block_proc& earlier) { add_traffic(later.traffic, earlier.traffic); }

// By enum block_loss.
constexpr const char* kLossNames[] = {"block_inflight_map_full", "block_procs_map_full", "block_devices_map_full",
                                      "block_histogram_full", "block_exited_queue_full"};
static_assert(std::size(kLossNames) == BLOCK_LOSS_NR, "a name for every loss reason");

class BlockCollector : public Collector {
 public:
  explicit BlockCollector(const CollectorSettings& settings) : skel_("block", settings) { skel_.load(); }
  const char* name() const override { return "block"; }
  void attach() override { skel_.attach(); }

  void read(ResourceSnapshot& into) const override {
    auto row = [&](uint32_t tgid, const block_proc& b, RecordSource from) {
      ProcessSnapshot& p = into.processes[tgid];
      p.pid = tgid;
      add_traffic(p.usage.disk, b.traffic);
      if (record_exited(b, from)) p.exited = true;
    };
    exited_.read(bpf_map__fd(skel_->maps.procs), bpf_map__fd(skel_->maps.exited), row, add_earlier,
                 into.lost_by_reason);
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
  mutable ExitedProcs<block_proc, block_exited> exited_{"block_exited_rows_full"};
};

}  // namespace

std::unique_ptr<Collector> make_block_collector(const CollectorSettings& settings) {
  return std::make_unique<BlockCollector>(settings);
}

}  // namespace perfbpf
