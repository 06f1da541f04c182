// Network collector (bpf/net_stats.bpf.c): inet socket bytes and calls per process, TCP
// retransmits, connects and their latency. Exited processes' records leave the map a read after
// their exit for a table kept here (collect/exited_procs.h).
#include <linux/types.h>

#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/exited_procs.h"
#include "collect/system_collectors.h"
#include "net_stats.h"
#include "net_stats.skel.h"

namespace perfbpf {
namespace {

using NetSkeleton = PERFBPF_BPF_SKELETON(net_stats);

// By enum net_loss.
constexpr const char* kLossNames[] = {"net_procs_map_full", "net_connecting_map_full", "net_histogram_full",
                                      "net_exited_queue_full"};
static_assert(std::size(kLossNames) == NET_LOSS_NR, "a name for every loss reason");

// N's counts into TO: a report's NetTraffic, or another net_proc (same field names).
template <typename To>
void add_counts(To& to, const net_proc& n) {
  to.tx_bytes += n.tx_bytes;
  to.rx_bytes += n.rx_bytes;
  to.tx_calls += n.tx_calls;
  to.rx_calls += n.rx_calls;
  to.retransmits += n.retransmits;
  to.connections += n.connections;
}

class NetCollector : public Collector {
 public:
  explicit NetCollector(const CollectorSettings& settings) : skel_("network", settings) { skel_.load(); }
  const char* name() const override { return "network"; }
  void attach() override { skel_.attach(); }

  void read(ResourceSnapshot& into) const override {
    auto row = [&](uint32_t tgid, const net_proc& n, RecordSource from) {
      ProcessSnapshot& p = into.processes[tgid];
      p.pid = tgid;
      add_counts(p.usage.net, n);
      if (record_exited(n, from)) p.exited = true;
    };
    exited_.read(bpf_map__fd(skel_->maps.procs), bpf_map__fd(skel_->maps.exited), row, add_counts<net_proc>,
                 into.lost_by_reason);
    auto hists = read_log_hists(bpf_map__fd(skel_->maps.hists));
    if (auto it = hists.find({0, NET_HIST_CONNECT}); it != hists.end()) into.connect.merge(it->second);
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, into.lost_by_reason);
  }

 private:
  NetSkeleton skel_;
  mutable ExitedProcs<net_proc, net_exited> exited_{"net_exited_rows_full"};
};

}  // namespace

std::unique_ptr<Collector> make_net_collector(const CollectorSettings& settings) {
  return std::make_unique<NetCollector>(settings);
}

}  // namespace perfbpf
