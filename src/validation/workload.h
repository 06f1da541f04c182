// The validation workload: a child process (a fork of this one) that calls a function of
// known body time on request, recording each call's own clocks in memory shared with the
// parent, which profiles it meanwhile and keeps every call the probes measured.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "perfbpf/profile.h"
#include "perfbpf/session.h"

namespace perfbpf::validation {

enum class Site { Plain, Optimized };
const char* site_name(Site site);

struct WorkloadSpec {
  WorkloadSpec(Site s, std::vector<uint64_t> bodies) : site(s), body_ns(std::move(bodies)) {}
  Site site = Site::Plain;
  std::vector<uint64_t> body_ns;  // one call per entry, spinning that long
  uint64_t touch_bytes = 0;       // memory the child allocates and touches before its calls
  // Calls whose body first writes EVICT_BYTES of memory (one byte a cache line), evicting
  // the caches, so the return probe that follows runs on cold caches. Empty: none.
  std::vector<bool> cold;
  uint64_t evict_bytes = 0;
  std::vector<std::string> collectors;  // resource collectors in the session; none by default
};

// What one call measured of itself, in the child: CLOCK_MONOTONIC (the probes' clock) and the
// thread's CPU clock, in ns.
struct CallTruth {
  // The body's first and last clock reads: the probes' window holds them.
  uint64_t body_start_ns = 0, body_end_ns = 0;
  // Read by the caller outside the probes' window: wall clock around the call, and the CPU
  // clock around that (so the CPU time can only over-count the call's).
  uint64_t call_start_ns = 0, call_end_ns = 0;
  uint64_t call_cpu_ns = 0;

  uint64_t body_ns() const { return body_end_ns - body_start_ns; }
  // Time the thread was provably off CPU during the call (preempted, or its vCPU stolen):
  // its wall time less at least its CPU time; 0 when none shows.
  uint64_t off_cpu_ns() const {
    const uint64_t wall = call_end_ns - call_start_ns;
    return wall > call_cpu_ns ? wall - call_cpu_ns : 0;
  }
};

struct WorkloadRun {
  Profile profile;                 // what perfbpf measured
  std::vector<CallTruth> truth;    // what each call measured of itself, in call order
  std::vector<CallTiming> calls;   // every call the session saw, as it saw them
  uint64_t clock_read_ns = 0;      // median cost of one clock_gettime in the child
  double proc_cpu_s = 0;           // utime + stime from /proc/PID/stat at exit
  double rusage_cpu_s = 0;         // getrusage(RUSAGE_CHILDREN) delta over the run
  // The child's time on a CPU and runnable waiting for one (schedstat: the kernel's
  // sum_exec_runtime and run_delay) from before the session attached, while it waited to
  // start, to its exit: what the session's sched collector saw of it.
  uint64_t sched_run_ns = 0, sched_wait_ns = 0;
  uint64_t vm_rss_bytes = 0;       // the child's VmRSS after touching, read by itself
};

// Forks the workload, profiles its function with a real session, returns both sides.
WorkloadRun run_workload(const WorkloadSpec& spec);

// Twice the largest CPU cache (sysfs), what a body writes to leave the caches cold; 64 MiB when
// sysfs does not say.
uint64_t cache_evicting_bytes();

// Nearest-rank quantile of unsorted values.
uint64_t exact_quantile(std::vector<uint64_t> values, double q);

}  // namespace perfbpf::validation
