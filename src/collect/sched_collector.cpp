// CPU and scheduler collector (bpf/sched_stats.bpf.c): per-thread on-CPU and off-CPU time,
// switches, migrations, and the run-queue latency histogram. Every read first runs the
// sync_threads iterator, so on-CPU and run-queue totals are the kernel's counters as of the read.
#include <linux/types.h>

#include <algorithm>
#include <map>
#include <vector>

#include "aggregate/system_aggregate.h"
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

using SchedSkeleton = PERFBPF_BPF_SKELETON(sched_stats);

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
constexpr const char* kLossNames[] = {"sched_threads_map_full", "sched_missed_switch_out", "sched_missed_switch_in",
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
    const uint32_t pass = skel_->bss->pass;
    const int threads_fd = bpf_map__fd(skel_->maps.threads);
    std::vector<uint32_t> done;
    for_each_entry<uint32_t, sched_thread>(threads_fd, [&](uint32_t tid, sched_thread t) {
      if (t.flags & SCHED_THREAD_EXITED) {
        // Final once it switched out dead, or exited before the previous pass (its last
        // switch-out long past, if it was ever seen): drained below. Until then a row as it is.
        if ((t.flags & SCHED_THREAD_GONE) || t.exit_pass + 2 <= pass)
          done.push_back(tid);
        else
          add_row(into, tid, t, t.totals);
        return;
      }
      // Threads the kernel hides from iterators (on this project's VMs, pid 1's), synced at
      // their switches only: the same counters from /proc, or counted as not synced.
      if (t.synced_pass != pass && !sync_from_proc(t, tid)) unsynced++;
      add_row(into, tid, t, totals_at(t, now));
    });
    drain_exited(threads_fd, done);
    add_exited(into);
    if (auto hist = read_percpu_log_hist(bpf_map__fd(skel_->maps.runqueue_hist))) into.runqueue.merge(*hist);
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, into.lost_by_reason);
    // Their CPU time since the last switch seen is missing.
    if (unsynced) into.lost_by_reason["sched_threads_unsynced"] += unsynced;
    // Runs the kernel skipped because the program was already running on that CPU: each one
    // is a switch or wakeup these books never saw.
    if (uint64_t missed = recursion_misses(skel_.get()->obj)) into.lost_by_reason["sched_recursion_misses"] += missed;
  }

 private:
  // What the drained records of a process's exited threads add up to, and how it ended.
  struct ExitedProcess {
    ResourceUsage usage;  // the sched collector's counters only
    bool dead = false;  // its last thread exited
    uint32_t ppid = 0;
    std::string comm;
  };

  static void mark_dead(ProcessSnapshot& p, uint32_t ppid, const std::string& comm) {
    p.exited = true;
    p.ppid = ppid;
    p.comm = comm;
  }

  static std::string comm_of(const sched_thread& t) { return std::string(t.comm, strnlen(t.comm, sizeof(t.comm))); }

  // A thread's row in INTO, and its process's part: TOTALS of record T under TID.
  static void add_row(ResourceSnapshot& into, uint32_t tid, const sched_thread& t, const sched_totals& totals) {
    ProcessSnapshot& p = into.processes[t.tgid];
    p.pid = t.tgid;
    ThreadResources& thread = p.threads[tid];
    thread.tid = tid;
    add_sched(thread.usage, totals);
    add_sched(p.usage, totals);
    if (t.flags & SCHED_THREAD_LAST) mark_dead(p, t.ppid, comm_of(t));
  }

  // Exited threads' final records, out of the maps into what the collector keeps for the
  // session: those under DONE in "threads", and every one a new thread displaced into
  // "exited_threads". Each is taken with the value it had when deleted, so an update since the
  // walk counts.
  void drain_exited(int threads_fd, const std::vector<uint32_t>& done) const {
    for (uint32_t tid : done) {
      sched_thread t{};
      if (bpf_map_lookup_and_delete_elem(threads_fd, &tid, &t) != 0) continue;
      if (!(t.flags & SCHED_THREAD_EXITED)) {
        // A new thread took the tid since the walk (the old record is in exited_threads now).
        bpf_map_update_elem(threads_fd, &tid, &t, BPF_NOEXIST);
        continue;
      }
      keep_exited(tid, t);
    }
    const int fd = bpf_map__fd(skel_->maps.exited_threads);
    std::vector<uint32_t> displaced;
    for_each_entry<uint32_t, sched_thread>(fd, [&](uint32_t tid, const sched_thread&) { displaced.push_back(tid); });
    for (uint32_t tid : displaced) {
      sched_thread t{};
      if (bpf_map_lookup_and_delete_elem(fd, &tid, &t) == 0) keep_exited(tid, t);
    }
  }

  void keep_exited(uint32_t tid, const sched_thread& t) const {
    ThreadResources& row = exited_rows_[{t.tgid, tid}];
    row.tid = tid;
    add_sched(row.usage, t.totals);
    ExitedProcess& p = exited_[t.tgid];
    add_sched(p.usage, t.totals);
    if (t.flags & SCHED_THREAD_LAST) {
      p.dead = true;
      p.ppid = t.ppid;
      p.comm = comm_of(t);
    }
  }

  // What the drained threads left: their rows, and their processes' sums and ends.
  void add_exited(ResourceSnapshot& into) const {
    for (const auto& [key, row] : exited_rows_) {
      ProcessSnapshot& p = into.processes[key.first];
      p.pid = key.first;
      p.threads.emplace(key.second, row);  // a tid reused by a live thread of the process: the live row stays
    }
    for (const auto& [tgid, e] : exited_) {
      ProcessSnapshot& p = into.processes[tgid];
      p.pid = tgid;
      add_usage(p.usage, e.usage);
      if (e.dead) mark_dead(p, e.ppid, e.comm);
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
      skel_->bss->window_start_ns = monotonic_ns();
      skel_->bss->active = true;
      active_ = true;
    }
    skel_->bss->pass++;
    run_iterator(skel_->links.sync_threads, "sched");
  }

  SchedSkeleton skel_;
  ProcFs procfs_;
  mutable std::map<std::pair<uint32_t, uint32_t>, ThreadResources> exited_rows_;  // (tgid, tid)
  mutable std::map<uint32_t, ExitedProcess> exited_;                              // by tgid
  unsigned cpus_;
  mutable bool active_ = false;
};

}  // namespace

std::unique_ptr<Collector> make_sched_collector(const CollectorSettings& settings) {
  return std::make_unique<SchedCollector>(settings);
}

}  // namespace perfbpf
