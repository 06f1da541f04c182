// CPU and scheduler collector (bpf/sched.bpf.c): per-thread on-CPU and off-CPU time,
// switches, migrations, and the run-queue latency histogram.
#include <linux/types.h>

#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/system_collectors.h"
#include "sched_stats.h"
#include "sched_stats.skel.h"
#include "session/system_info.h"

namespace perfbpf {
namespace {

using SchedSkeleton = BpfSkeleton<sched_stats_bpf, sched_stats_bpf__open, sched_stats_bpf__load, sched_stats_bpf__attach, sched_stats_bpf__destroy>;

void add_sched(ResourceUsage& u, const sched_totals& t) {
  u.cpu_time_ns += t.on_cpu_ns;
  u.off_cpu_ns.runqueue += t.runqueue_ns;
  u.off_cpu_ns.io += t.io_ns;
  u.off_cpu_ns.sleep += t.sleep_ns;
  u.ctx_switches.voluntary += t.voluntary;
  u.ctx_switches.involuntary += t.involuntary;
  u.migrations += t.migrations;
}

// A thread's totals including the interval it is in now, so a long sleep or a spin shows in
// the interval it happens in rather than when it ends.
sched_totals with_open_interval(const sched_thread& t, uint64_t now) {
  sched_totals out = t.totals;
  uint64_t since = t.since_ns;
  const bool off_cpu = t.state == SCHED_IO || t.state == SCHED_SLEEP;
  if (off_cpu && t.woken_ns > since && t.woken_ns < now) {  // woken, not running yet
    (t.state == SCHED_IO ? out.io_ns : out.sleep_ns) += t.woken_ns - since;
    out.runqueue_ns += now - t.woken_ns;
    return out;
  }
  uint64_t open = now > since ? now - since : 0;
  switch (t.state) {
    case SCHED_ON_CPU: out.on_cpu_ns += open; break;
    case SCHED_RUNNABLE: out.runqueue_ns += open; break;
    case SCHED_IO: out.io_ns += open; break;
    default: out.sleep_ns += open; break;
  }
  return out;
}

// By enum sched_loss.
constexpr const char* kLossNames[] = {"sched_threads_map_full", "sched_procs_map_full", "sched_histogram_full",
                                          "sched_missed_switch_out", "sched_missed_switch_in"};
static_assert(std::size(kLossNames) == SCHED_LOSS_NR, "a name for every loss reason");

class SchedCollector : public Collector {
 public:
  explicit SchedCollector(const CollectorSettings& settings) : skel_("sched", settings) { skel_.load(); }
  const char* name() const override { return "sched"; }
  void attach() override {
    skel_->bss->session_start_ns = monotonic_ns();
    skel_.attach();
  }

  std::optional<ResourceUsage> thread_usage(uint32_t tid) const override {
    sched_thread t{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.threads), &tid, &t) != 0) return std::nullopt;
    ResourceUsage u;
    add_sched(u, with_open_interval(t, monotonic_ns()));
    return u;
  }

  void read(ResourceSnapshot& into) const override {
    const uint64_t now = monotonic_ns();
    for_each_entry<uint32_t, sched_thread>(bpf_map__fd(skel_->maps.threads), [&](uint32_t tid, const sched_thread& t) {
      sched_totals totals = with_open_interval(t, now);
      ProcessSnapshot& p = into.processes[t.tgid];
      p.pid = t.tgid;
      ThreadResources& thread = p.threads[tid];
      thread.tid = tid;
      add_sched(thread.usage, totals);
      add_sched(p.usage, totals);
    });
    for_each_entry<uint32_t, sched_proc>(bpf_map__fd(skel_->maps.procs), [&](uint32_t tgid, const sched_proc& s) {
      ProcessSnapshot& p = into.processes[tgid];
      p.pid = tgid;
      add_sched(p.usage, s.exited);
      if (s.dead) {
        p.exited = true;
        p.ppid = s.ppid;
        p.comm.assign(s.comm, strnlen(s.comm, sizeof(s.comm)));
      }
    });
    auto hists = read_log_hists(bpf_map__fd(skel_->maps.hists));
    if (auto it = hists.find({0, SCHED_HIST_RUNQUEUE}); it != hists.end()) into.runqueue.merge(it->second);
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, into.lost_by_reason);
    // Runs the kernel skipped because the program was already running on that CPU: each one
    // is a switch or wakeup these books never saw.
    if (uint64_t missed = recursion_misses(skel_.get()->obj)) into.lost_by_reason["sched_recursion_misses"] += missed;
  }

 private:
  SchedSkeleton skel_;
};

}  // namespace

std::unique_ptr<Collector> make_sched_collector(const CollectorSettings& settings) {
  return std::make_unique<SchedCollector>(settings);
}

}  // namespace perfbpf
