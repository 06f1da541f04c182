// Memory collector (bpf/mem_stats.bpf.c): resident set per process split anon / file / shmem
// with its peak, minor and major page faults from software perf events, and which processes
// exited (their RSS is then as at exit, no longer resident). Exited processes' records leave
// the map a read after their exit (their teardown is over) for a table kept here
// (collect/exited_procs.h).
#include <linux/types.h>
#include <unistd.h>

#include <algorithm>

#include "collect/bpf_maps.h"
#include "collect/bpf_skeleton.h"
#include "collect/exited_procs.h"
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
    // A kept tgid that a live process was given since is that process's row, with the old
    // one's faults added (its memory is gone).
    auto row = [&](uint32_t tgid, const memory_proc& m, RecordSource from) {
      if (from != RecordSource::kKeptUnderLive) return add_row(into, tgid, m);
      ProcessSnapshot& p = into.processes[tgid];
      p.usage.faults.minor += m.minor_faults;
      p.usage.faults.major += m.major_faults;
    };
    auto merge = [](memory_proc& later, const memory_proc& earlier) {
      later.minor_faults += earlier.minor_faults;
      later.major_faults += earlier.major_faults;
      later.peak_pages = std::max(later.peak_pages, earlier.peak_pages);
    };
    exited_.read(bpf_map__fd(skel_->maps.procs), -1 /* no queue */, row, merge, into.lost_by_reason);
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, into.lost_by_reason);
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

  MemorySkeleton skel_;
  PerCpuEvents minor_, major_;  // declared after skel_: closed before the programs go
  uint64_t page_size_;
  mutable ExitedProcs<memory_proc> exited_{"memory_exited_rows_full"};
};

}  // namespace

std::unique_ptr<Collector> make_memory_collector(const CollectorSettings& settings) {
  return std::make_unique<MemoryCollector>(settings);
}

}  // namespace perfbpf
