// The unprivileged fallback: the same per-process figures the BPF collectors give, sampled
// from /proc at each read (CPU time in clock ticks, faults, RSS). It cannot see processes that
// live between two reads, nor off-CPU time, switches, disks or sockets per process.
#include <functional>

#include "collect/proc_collector.h"

namespace perfbpf {
namespace {

struct Counters {
  uint64_t cpu_ns = 0, minor = 0, major = 0;
};

Counters counters_of(const ProcStat& s) {
  return {clock_ticks_to_ns(s.utime_ticks + s.stime_ticks), s.minflt, s.majflt};
}

class ProcCollector : public Collector {
 public:
  ProcCollector(ProcFs procfs, std::function<std::vector<uint32_t>()> members)
      : procfs_(std::move(procfs)), members_(std::move(members)) {}
  const char* name() const override { return "proc"; }

  void attach() override {
    // /proc counts from each process's start; the session counts from now.
    for (uint32_t pid : pids())
      if (auto s = procfs_.stat(pid)) {
        baseline_[pid] = counters_of(*s);
        for (uint32_t tid : procfs_.threads(pid))
          if (auto t = procfs_.thread_stat(pid, tid)) thread_baseline_[tid] = counters_of(*t).cpu_ns;
      }
  }

  void read(ResourceSnapshot& into) const override {
    for (uint32_t pid : pids()) {
      auto s = procfs_.stat(pid);
      if (!s) continue;
      ProcessSnapshot& p = into.processes[pid];
      p.pid = pid;
      p.ppid = s->ppid;
      p.comm = s->comm;
      Counters now = counters_of(*s), base = lookup(baseline_, pid);
      p.usage.cpu_time_ns = now.cpu_ns - std::min(now.cpu_ns, base.cpu_ns);
      p.usage.faults.minor = now.minor - std::min(now.minor, base.minor);
      p.usage.faults.major = now.major - std::min(now.major, base.major);
      if (auto m = procfs_.memory(pid)) {
        p.usage.memory.rss_last_bytes = m->vm_rss_bytes;
        p.usage.memory.anon_bytes = m->rss_anon_bytes;
        p.usage.memory.file_bytes = m->rss_file_bytes;
        p.usage.memory.shmem_bytes = m->rss_shmem_bytes;
        p.usage.memory.rss_peak_bytes = m->vm_rss_bytes;
      }
      for (uint32_t tid : procfs_.threads(pid)) {
        auto t = procfs_.thread_stat(pid, tid);
        if (!t) continue;
        uint64_t cpu = counters_of(*t).cpu_ns, base_cpu = 0;
        if (auto it = thread_baseline_.find(tid); it != thread_baseline_.end()) base_cpu = it->second;
        ThreadResources& thread = p.threads[tid];
        thread.tid = tid;
        thread.comm = t->comm;
        thread.usage.cpu_time_ns = cpu - std::min(cpu, base_cpu);
      }
    }
  }

 private:
  std::vector<uint32_t> pids() const { return members_ ? members_() : procfs_.pids(); }
  static Counters lookup(const std::map<uint32_t, Counters>& m, uint32_t pid) {
    auto it = m.find(pid);
    return it == m.end() ? Counters{} : it->second;
  }
  ProcFs procfs_;
  std::function<std::vector<uint32_t>()> members_;
  std::map<uint32_t, Counters> baseline_;
  std::map<uint32_t, uint64_t> thread_baseline_;
};

}  // namespace

std::unique_ptr<Collector> make_proc_collector(ProcFs procfs, std::function<std::vector<uint32_t>()> members) {
  return std::make_unique<ProcCollector>(std::move(procfs), std::move(members));
}

}  // namespace perfbpf
