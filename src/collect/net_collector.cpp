// Network collector (bpf/net.bpf.c): inet socket bytes and calls per process, TCP
// retransmits, connects and their latency.
#include <linux/types.h>

#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/system_collectors.h"
#include "net_stats.h"
#include "net_stats.skel.h"

namespace perfbpf {
namespace {

using NetSkeleton = PERFBPF_BPF_SKELETON(net_stats);

// By enum net_loss.
constexpr const char* kLossNames[] = {"net_procs_map_full", "net_connecting_map_full", "net_histogram_full"};
static_assert(std::size(kLossNames) == NET_LOSS_NR, "a name for every loss reason");

class NetCollector : public Collector {
 public:
  explicit NetCollector(const CollectorSettings& settings) : skel_("network", settings) { skel_.load(); }
  const char* name() const override { return "network"; }
  void attach() override { skel_.attach(); }

  void read(ResourceSnapshot& into) const override {
    for_each_entry<uint32_t, net_proc>(bpf_map__fd(skel_->maps.procs), [&](uint32_t tgid, const net_proc& n) {
      ProcessSnapshot& p = into.processes[tgid];
      p.pid = tgid;
      NetTraffic& t = p.usage.net;
      t.tx_bytes += n.tx_bytes;
      t.rx_bytes += n.rx_bytes;
      t.tx_calls += n.tx_calls;
      t.rx_calls += n.rx_calls;
      t.retransmits += n.retransmits;
      t.connections += n.connections;
    });
    auto hists = read_log_hists(bpf_map__fd(skel_->maps.hists));
    if (auto it = hists.find({0, NET_HIST_CONNECT}); it != hists.end()) into.connect.merge(it->second);
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, into.lost_by_reason);
  }

 private:
  NetSkeleton skel_;
};

}  // namespace

std::unique_ptr<Collector> make_net_collector(const CollectorSettings& settings) {
  return std::make_unique<NetCollector>(settings);
}

}  // namespace perfbpf
