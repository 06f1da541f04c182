// Memory collector (bpf/mem_stats.bpf.c): resident set per process split anon / file / shmem
// with its peak, minor and major page faults from software perf events, and which processes
// exited (their RSS is then as at exit, no longer resident).
#include <linux/types.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/perf_events.h"
#include "collect/system_collectors.h"
#include "mem_stats.h"
#include "mem_stats.skel.h"

namespace perfbpf {
namespace {

constexpr const char* kLossNames[] = {"memory_procs_map_full"};  // by enum memory_loss
static_assert(std::size(kLossNames) == MEMORY_LOSS_NR, "a name for every loss reason");

using MemorySkeleton = PERFBPF_BPF_SKELETON(mem_stats);

class MemoryCollector : public Collector {
 public:
  explicit MemoryCollector(const CollectorSettings& settings)
      : skel_("memory", settings), page_size_(static_cast<uint64_t>(sysconf(_SC_PAGESIZE))) {
    skel_.load();
  }
  const char* name() const override { return "memory"; }

  void attach() override {
    skel_.attach();  // rss_stat; the perf_event programs are not auto-attached
    // A period of 1 runs the program on every fault: exact counts per process, short-lived
    // ones included, where /proc would only show the processes alive at each read.
    perf_event_attr attr{};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.sample_period = 1;
    attr.config = PERF_COUNT_SW_PAGE_FAULTS_MIN;
    minor_.open(skel_->progs.handle_minor_fault, attr, "minor page-fault");
    attr.config = PERF_COUNT_SW_PAGE_FAULTS_MAJ;
    major_.open(skel_->progs.handle_major_fault, attr, "major page-fault");
  }

  void read(ResourceSnapshot& into) const override {
    const int fd = bpf_map__fd(skel_->maps.procs);
    std::vector<uint32_t> done;
    std::set<uint32_t> exited_now, live;
    for_each_entry<uint32_t, memory_proc>(fd, [&](uint32_t tgid, const memory_proc& m) {
      add_row(into, tgid, m);
      if (!m.exited)
        live.insert(tgid);
      else if (exited_seen_.count(tgid))
        done.push_back(tgid);
      else
        exited_now.insert(tgid);
    });
    // The exited processes taken out of the map before (those drained now are in the walk's
    // rows): a tgid that a live process was given since is that process's row, with the old
    // one's faults added (pid_max wraps in seconds on a fork-heavy machine).
    for (const auto& [tgid, m] : drained_) {
      if (!live.count(tgid)) {
        add_row(into, tgid, m);
        continue;
      }
      ProcessSnapshot& p = into.processes[tgid];
      p.usage.faults.minor += m.minor_faults;
      p.usage.faults.major += m.major_faults;
    }
    drain(fd, done);
    exited_seen_ = std::move(exited_now);
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, into.lost_by_reason);
    if (exited_rows_lost_) into.lost_by_reason["memory_exited_rows_full"] += exited_rows_lost_;
  }

 private:
  // M, tgid's record, as a row of INTO.
  void add_row(ResourceSnapshot& into, uint32_t tgid, const memory_proc& m) const {
    ProcessSnapshot& p = into.processes[tgid];
    p.pid = tgid;
    p.usage.faults.minor += m.minor_faults;
    p.usage.faults.major += m.major_faults;
    if (m.exited) p.exited = true;
    p.rss_events = m.rss_updates;
    if (m.rss_updates == 0) return;  // faults seen, RSS never changed: /proc fills it in
    MemoryUsage& mem = p.usage.memory;
    mem.file_bytes = m.file_pages * page_size_;
    mem.anon_bytes = m.anon_pages * page_size_;
    mem.shmem_bytes = m.shmem_pages * page_size_;
    mem.rss_last_bytes = mem.file_bytes + mem.anon_bytes + mem.shmem_bytes;
    mem.rss_peak_bytes = m.peak_pages * page_size_;
  }

  // Records of processes that exited before the previous read (their teardown long over),
  // out of the map into what the collector keeps for the session: a fork-heavy machine fills
  // the map's 16 384 entries with the dead in seconds, and then no new process, live or not,
  // would have its memory counted. Each is taken with its value at deletion; one a new process
  // reopened since goes back.
  void drain(int fd, const std::vector<uint32_t>& done) const {
    for (uint32_t tgid : done) {
      memory_proc m{};
      if (bpf_map_lookup_and_delete_elem(fd, &tgid, &m) != 0) continue;
      if (!m.exited) {
        bpf_map_update_elem(fd, &tgid, &m, BPF_NOEXIST);
        continue;
      }
      auto kept = drained_.find(tgid);
      if (kept == drained_.end() && drained_.size() >= kMaxExitedRows) {
        exited_rows_lost_++;  // its row and faults are not in the report: counted
        continue;
      }
      memory_proc& k = drained_[tgid];
      m.minor_faults += k.minor_faults;  // an earlier process with this tgid
      m.major_faults += k.major_faults;
      m.peak_pages = std::max(m.peak_pages, k.peak_pages);
      k = m;
    }
  }

  // Exited processes' records kept at most (64 bytes each): tgids are reused, so their number
  // is bounded by pid_max (32 768 by default, whose wrap makes one row of processes that had
  // the same tgid); past it, a process's row and faults are counted as lost.
  static constexpr size_t kMaxExitedRows = 4 * MEMORY_MAX_PROCS;

  MemorySkeleton skel_;
  PerCpuEvents minor_, major_;  // declared after skel_: closed before the programs go
  uint64_t page_size_;
  mutable std::map<uint32_t, memory_proc> drained_;  // exited processes' final records, by tgid
  mutable std::set<uint32_t> exited_seen_;           // read as exited at the last read
  mutable uint64_t exited_rows_lost_ = 0;
};

}  // namespace

std::unique_ptr<Collector> make_memory_collector(const CollectorSettings& settings) {
  return std::make_unique<MemoryCollector>(settings);
}

}  // namespace perfbpf
