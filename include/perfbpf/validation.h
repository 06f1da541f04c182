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
  std::string name;      // e.g. "median per-call error of 100 us body, optimized site"
  bool passed = false;
  bool skipped = false;  // not measurable here; says why in detail
  double measured = 0;
  double expected = 0;
  double tolerance = 0;  // |measured - expected| <= tolerance passes (or as detail says)
  std::string unit;      // ns, s, %, p
  std::string detail;
};

// How long a probe site's probes spend inside a measured call on this machine, the range a
// corrected call's error moves in: calibration measures it on warm caches (probed calls back
// to back) and subtracts that; validation measures it again after bodies that evict the caches,
// as a preempted, interrupted or long call leaves them.
struct ProbeTimeRange {
  std::string site;                   // optimized, emulated, single-stepped
  double calibrated_bias_ns = 0;      // warm: what the correction subtracts
  double calibration_spread_ns = 0;   // its per-call spread (1.4826 x MAD)
  double cold_excess_ns = 0;          // cold: median time beyond the bias, left in corrected calls
  double cold_spread_ns = 0;          // its per-call spread
  size_t cold_calls = 0;              // calls it rests on
  uint64_t evicted_bytes = 0;         // what each of those bodies wrote first
};

struct ValidationReport {
  std::vector<ValidationCheck> checks;
  CalibrationInfo calibration;
  std::vector<ProbeTimeRange> probe_time;  // per site, from validate_timing_accuracy
  size_t passed = 0, failed = 0, skipped = 0;
  double success_rate = 0;  // passed / (passed + failed)
  bool all_passed() const { return failed == 0 && passed > 0; }
};

class ProfilingValidationSystem {
 public:
  // QUICK runs fewer calls (CI: well under a minute on an idle machine); the full run takes
  // about three times as long. A busy machine makes either slower, never failed.
  explicit ProfilingValidationSystem(bool quick = false) : quick_(quick) {}

  // Call by call: each call perfbpf measured is paired with the same call's own clocks (the
  // body's, in-process) and its error is the corrected duration less the body's time. For 10 us,
  // 100 us, 1 ms, 10 ms and heavy-tailed bodies, on plain and optimized sites: the median error
  // lies within the probes' warm-to-cold time inside a call, measured in the same run by cold
  // calls among the timed ones (probe_time), plus 3 standard errors and one clock read; no more
  // calls lie beyond the p99 bound (that, plus 4 spreads) than a 1 % tail would put there but
  // once in 1000 runs (binomial); every call is timed and paired. Calls the workload's own
  // clocks show preempted count in the median, not in the tail, and are reported. Nothing is
  // measured twice to pass.
  std::vector<ValidationCheck> validate_timing_accuracy();
  // A function the process does nothing but spin in: its measured time against the kernel's
  // on-CPU + run-queue time of the calls (schedstat); the sched collector's on-CPU time
  // against getrusage and /proc/PID/stat.
  std::vector<ValidationCheck> validate_cpu_measurement();
  // The memory collector's peak RSS against VmRSS and its faults against the pages touched.
  std::vector<ValidationCheck> validate_memory_measurement();
  // Repeated runs (5 + 5 + 5, interleaved), each run's p50 against the in-process median of the
  // same calls: perfbpf's run-to-run variation matches the workload's own, and its verdicts
  // (exact permutation test, p < 0.01 and a change of at least 1%) match the verdicts on the
  // in-process medians: the same workload twice is not called different, a 10% slower one is.
  std::vector<ValidationCheck> validate_statistical_significance();
  ValidationReport run_comprehensive_validation();
  // Measures probe costs afresh and refreshes the cache.
  CalibrationInfo calibrate_system();

 private:
  bool quick_;
  std::vector<ProbeTimeRange> probe_time_;  // measured by validate_timing_accuracy
};

nlohmann::json to_json(const ValidationReport& report);

}  // namespace perfbpf
