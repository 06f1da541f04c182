// CPU and scheduler collector (bpf/sched_stats.bpf.c): per-thread on-CPU and off-CPU time,
// switches, migrations, and the run-queue latency histogram. Every read first runs the
// sync_threads iterator, so on-CPU and run-queue totals are the kernel's counters as of the read.
#include <linux/types.h>

#include <algorithm>
#include <map>
#include <vector>

#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/perf_events.h"
#include "collect/procfs.h"
#include "collect/sched_books.h"
#include "collect/system_collectors.h"
#include "sched_stats.h"
#include "sched_stats.skel.h"
#include "session/system_info.h"

namespace perfbpf {
namespace {

using SchedSkeleton = BpfSkeleton<sched_stats_bpf, sched_stats_bpf__open_opts, sched_stats_bpf__load, sched_stats_bpf__attach, sched_stats_bpf__destroy,
                                  sched_stats_bpf__elf_bytes>;

void add_sched(ResourceUsage& u, const sched_totals& t) {
  u.cpu_time_ns += t.on_cpu_ns;
  u.off_cpu_ns.runqueue += t.runqueue_ns;
  u.off_cpu_ns.io += t.io_ns;
  u.off_cpu_ns.sleep += t.sleep_ns;
  u.off_cpu_ns.unknown += t.unknown_ns;
  u.ctx_switches.voluntary += t.voluntary;
  u.ctx_switches.involuntary += t.involuntary;
  u.migrations += t.migrations;
}

}  // namespace

sched_totals totals_at(const sched_thread& t, uint64_t now) {
  sched_totals out = t.totals;
  if ((t.state != SCHED_IO && t.state != SCHED_SLEEP) || now <= t.since_ns) return out;
  // The counters' growth since the wait began: the run-queue total includes the wait for a CPU
  // a woken thread is in now, so what is left is the time asleep.
  auto grown = [](uint64_t base, uint64_t total, uint64_t mark) { return base + total > mark ? base + total - mark : 0; };
  const uint64_t claimed = grown(t.exec_base_ns, t.totals.on_cpu_ns, t.exec_mark_ns) +
                           grown(t.delay_base_ns, t.totals.runqueue_ns, t.delay_mark_ns);
  const uint64_t open = now - t.since_ns;
  if (open > claimed) (t.state == SCHED_IO ? out.io_ns : out.sleep_ns) += open - claimed;
  return out;
}

namespace {

// By enum sched_loss.
constexpr const char* kLossNames[] = {"sched_threads_map_full", "sched_procs_map_full", "sched_histogram_full",
                                          "sched_missed_switch_out", "sched_missed_switch_in",
                                          "sched_exited_rows_full"};
static_assert(std::size(kLossNames) == SCHED_LOSS_NR, "a name for every loss reason");

class SchedCollector : public Collector {
 public:
  explicit SchedCollector(const CollectorSettings& settings)
      : skel_("sched", settings), cpus_(static_cast<unsigned>(online_cpus().size())) {
    skel_.load();
  }
  const char* name() const override { return "sched"; }
  // The programs count nothing until the first read (or thread_usage), which opens the
  // window: the monitor's baseline, after every collector is attached.
  void attach() override { skel_.attach(); }

  std::optional<ResourceUsage> thread_usage(uint32_t tid) const override {
    if (!active_) sync();
    sched_thread t{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.threads), &tid, &t) != 0) return std::nullopt;
    ResourceUsage u;
    add_sched(u, totals_at(t, monotonic_ns()));
    return u;
  }

  void read(ResourceSnapshot& into) const override {
    sync();
    // The snapshot's moment is when the counters were read: a loaded machine can delay this
    // read well after the monitor stamped it, and CPU per interval is divided by its length.
    const uint64_t now = monotonic_ns();
    into.at_ns = now;
    into.cpus = cpus_;
    uint64_t unsynced = 0;
    for_each_entry<uint32_t, sched_thread>(bpf_map__fd(skel_->maps.threads), [&](uint32_t tid, sched_thread t) {
      // Threads the kernel hides from iterators (on this project's VMs, pid 1's), synced at
      // their switches only: the same counters from /proc, or counted as not synced.
      if (t.synced_pass != skel_->bss->pass && !sync_from_proc(t, tid)) unsynced++;
      sched_totals totals = totals_at(t, now);
      ProcessSnapshot& p = into.processes[t.tgid];
      p.pid = t.tgid;
      ThreadResources& thread = p.threads[tid];
      thread.tid = tid;
      add_sched(thread.usage, totals);
      add_sched(p.usage, totals);
    });
    add_exited_rows(into);
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
    // Their CPU time since the last switch seen is missing.
    if (unsynced) into.lost_by_reason["sched_threads_unsynced"] += unsynced;
    // Runs the kernel skipped because the program was already running on that CPU: each one
    // is a switch or wakeup these books never saw.
    if (uint64_t missed = recursion_misses(skel_.get()->obj)) into.lost_by_reason["sched_recursion_misses"] += missed;
  }

 private:
  // Rows of the threads that exited: drained from the map into exited_rows_, which keeps them
  // for the session, and added to INTO as rows only (their process's exited sum has them).
  void add_exited_rows(ResourceSnapshot& into) const {
    const int fd = bpf_map__fd(skel_->maps.exited_threads);
    std::vector<uint32_t> drained;
    for_each_entry<uint32_t, sched_exited_thread>(fd, [&](uint32_t tid, const sched_exited_thread& e) {
      ThreadResources& row = exited_rows_[{e.tgid, tid}];
      row.tid = tid;
      add_sched(row.usage, e.totals);
      drained.push_back(tid);
    });
    for (uint32_t tid : drained) bpf_map_delete_elem(fd, &tid);
    for (const auto& [key, row] : exited_rows_) {
      ProcessSnapshot& p = into.processes[key.first];
      p.pid = key.first;
      p.threads.emplace(key.second, row);  // a tid reused by a live thread of the process: the live row stays
    }
  }

  // T's on-CPU and run-queue totals from /proc/PID/task/TID/schedstat: the counters its
  // record's bases were taken from. False when the thread is gone.
  bool sync_from_proc(sched_thread& t, uint32_t tid) const {
    std::optional<SchedStat> s = procfs_.thread_schedstat(t.tgid, tid);
    if (!s) return false;
    if (s->exec_ns >= t.exec_base_ns) t.totals.on_cpu_ns = std::max(t.totals.on_cpu_ns, s->exec_ns - t.exec_base_ns);
    if (s->run_delay_ns >= t.delay_base_ns)
      t.totals.runqueue_ns = std::max(t.totals.runqueue_ns, s->run_delay_ns - t.delay_base_ns);
    return true;
  }

  // One pass of sync_threads: counters of every wanted thread now, records for threads not
  // seen yet; the first one switches the programs on and baselines the whole target.
  void sync() const {
    if (!active_) {
      skel_->bss->active = true;
      active_ = true;
    }
    skel_->bss->pass++;
    run_iterator(skel_->links.sync_threads, "sched");
  }

  SchedSkeleton skel_;
  ProcFs procfs_;
  mutable std::map<std::pair<uint32_t, uint32_t>, ThreadResources> exited_rows_;  // (tgid, tid)
  unsigned cpus_;
  mutable bool active_ = false;
};

}  // namespace

std::unique_ptr<Collector> make_sched_collector(const CollectorSettings& settings) {
  return std::make_unique<SchedCollector>(settings);
}

}  // namespace perfbpf
