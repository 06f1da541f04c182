// The validation workload: a child process (a fork of this one) that calls a function of
// known body time on request, recording each body's duration in memory shared with the
// parent, which profiles it meanwhile.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf::validation {

enum class Site { Plain, Optimized };
const char* site_name(Site site);

struct WorkloadSpec {
  WorkloadSpec(Site s, std::vector<uint64_t> bodies) : site(s), body_ns(std::move(bodies)) {}
  Site site = Site::Plain;
  std::vector<uint64_t> body_ns;  // one call per entry, spinning that long
  uint64_t touch_bytes = 0;       // memory the child allocates and touches before its calls
  std::vector<std::string> collectors;  // resource collectors in the session; none by default
};

struct WorkloadRun {
  Profile profile;                 // what perfbpf measured
  std::vector<uint64_t> truth_ns;  // what each body measured of itself, in call order
  double proc_cpu_s = 0;           // utime + stime from /proc/PID/stat at exit
  double rusage_cpu_s = 0;         // getrusage(RUSAGE_CHILDREN) delta over the run
  uint64_t vm_rss_bytes = 0;       // the child's VmRSS after touching, read by itself
};

// Forks the workload, profiles its function with a real session, returns both sides.
WorkloadRun run_workload(const WorkloadSpec& spec);

// Nearest-rank quantile of unsorted values.
uint64_t exact_quantile(std::vector<uint64_t> values, double q);

}  // namespace perfbpf::validation
