// Plain /proc readers through an injectable root ("/proc" by default) so tests can point them
// at fixtures under tests/data/proc. They never throw for a process that went away: processes
// exit between listing and reading all the time, and a collector must just skip them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perfbpf {

// /proc/PID/stat (fields per proc(5)). comm may contain spaces and ')'.
struct ProcStat {
  uint32_t pid = 0, ppid = 0;
  std::string comm;
  char state = '?';
  uint64_t minflt = 0, majflt = 0;
  uint64_t utime_ticks = 0, stime_ticks = 0;  // clock ticks (sysconf(_SC_CLK_TCK))
  uint64_t num_threads = 0;
  uint64_t starttime_ticks = 0;  // since boot
  uint64_t rss_pages = 0;
};

// /proc/PID/status, converted from kB.
struct ProcMemory {
  uint64_t vm_rss_bytes = 0, rss_anon_bytes = 0, rss_file_bytes = 0, rss_shmem_bytes = 0,
           vm_hwm_bytes = 0;
};

// /proc/PID/task/TID/schedstat: the scheduler's own counters of one thread (CONFIG_SCHED_INFO).
struct SchedStat {
  uint64_t exec_ns = 0;       // se.sum_exec_runtime: time on CPU, current even while it runs
  uint64_t run_delay_ns = 0;  // sched_info.run_delay: time runnable, waiting for a CPU
  uint64_t timeslices = 0;    // times switched in
};

// /proc/meminfo, converted from kB.
struct MemInfo {
  uint64_t total_bytes = 0, available_bytes = 0;
  double used_pct() const;  // (total - available) / total * 100; 0 when total is 0
};

// One line of /proc/diskstats. Sectors are always 512 bytes there, whatever the device's.
struct DiskStatsLine {
  uint32_t major = 0, minor = 0;
  std::string name;
  uint64_t reads = 0, sectors_read = 0, writes = 0, sectors_written = 0;
};

// One interface of /proc/net/dev.
struct NetDevLine {
  std::string name;
  uint64_t rx_bytes = 0, rx_packets = 0, tx_bytes = 0, tx_packets = 0;
};

// The first "cpu" line of /proc/stat, summed over all CPUs: busy = total - idle - iowait.
struct CpuTimes {
  uint64_t busy_ticks = 0, total_ticks = 0;
};

class ProcFs {
 public:
  explicit ProcFs(std::string root = "/proc");

  std::optional<ProcStat> stat(uint32_t pid) const;  // nullopt when the process is gone
  std::optional<ProcStat> thread_stat(uint32_t pid, uint32_t tid) const;  // /proc/PID/task/TID/stat
  std::optional<SchedStat> thread_schedstat(uint32_t pid, uint32_t tid) const;  // nullopt when gone
  std::optional<ProcMemory> memory(uint32_t pid) const;                   // nullopt when gone
  std::vector<uint32_t> pids() const;                 // numeric entries of the root, ascending
  std::vector<uint32_t> threads(uint32_t pid) const;  // /proc/PID/task entries; empty when gone
  MemInfo meminfo() const;                            // throws Error when unreadable
  std::vector<DiskStatsLine> diskstats() const;       // empty when unreadable
  std::vector<NetDevLine> net_dev() const;            // /proc/net/dev; empty when unreadable
  CpuTimes cpu_times() const;                         // zeros when unreadable
  const std::string& root() const;

 private:
  std::string root_;
};

// Parses the text of a /proc/PID/stat file; nullopt when malformed.
std::optional<ProcStat> parse_proc_stat(const std::string& text);

// All pids in a cgroup directory and its descendants (cgroup.procs files, v1 or v2), sorted and
// without duplicates. Throws Error with a hint when DIR is not a cgroup directory (no
// cgroup.procs).
std::vector<uint32_t> cgroup_pids(const std::string& dir);

// Clock ticks (USER_HZ, sysconf(_SC_CLK_TCK)) to nanoseconds.
uint64_t clock_ticks_to_ns(uint64_t ticks);

}  // namespace perfbpf
