// perfbpf's proof of its own numbers (the original design's ProfilingValidationSystem): known
// workloads, run under real probes, compared with ground truth measured in-process, from
// /proc and from getrusage. Needs the same privileges as a session.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "perfbpf/profile.h"

namespace perfbpf {

struct ValidationCheck {
  std::string category;  // timing, cpu, memory, statistics
  std::string name;      // e.g. "p50 of a 100 us function, optimized site"
  bool passed = false;
  bool skipped = false;  // not measurable here; says why in detail
  double measured = 0;
  double expected = 0;
  double tolerance = 0;  // |measured - expected| <= tolerance passes (or as detail says)
  std::string unit;      // ns, s, %, p
  std::string detail;
};

struct ValidationReport {
  std::vector<ValidationCheck> checks;
  CalibrationInfo calibration;
  size_t passed = 0, failed = 0, skipped = 0;
  double success_rate = 0;  // passed / (passed + failed)
  bool all_passed() const { return failed == 0 && passed > 0; }
};

class ProfilingValidationSystem {
 public:
  // QUICK runs fewer calls (CI: well under a minute); the full run takes a few seconds more.
  explicit ProfilingValidationSystem(bool quick = false) : quick_(quick) {}

  // Corrected p50 within max(2%, 1 us) and p99 within max(5%, 2 us) of the in-process truth,
  // for 10 us, 100 us, 1 ms, 10 ms and heavy-tailed bodies, on plain and optimized sites.
  std::vector<ValidationCheck> validate_timing_accuracy();
  // A CPU-bound function's measured time against the process's CPU time in /proc and getrusage.
  std::vector<ValidationCheck> validate_cpu_measurement();
  // Needs the memory collector; reported as skipped until it exists.
  std::vector<ValidationCheck> validate_memory_measurement();
  // Repeated runs: coefficient of variation; the same workload twice is not called different,
  // a 10% slower one is (exact permutation test on per-run trimmed means, p < 0.01, and a
  // change of at least 1%).
  std::vector<ValidationCheck> validate_statistical_significance();
  ValidationReport run_comprehensive_validation();
  // Measures probe costs afresh and refreshes the cache.
  CalibrationInfo calibrate_system();

 private:
  bool quick_;
};

nlohmann::json to_json(const ValidationReport& report);

}  // namespace perfbpf
