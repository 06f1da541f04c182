#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "perfbpf/calibration.h"
#include "perfbpf/validation.h"
#include "validation/checks.h"
#include "validation/paired_calls.h"
#include "validation/statistics.h"
#include "validation/workload.h"

namespace perfbpf {
namespace validation {

ValidationCheck within(std::string category, std::string name, double measured, double expected, double tolerance,
                       std::string unit, std::string detail) {
  ValidationCheck c;
  c.category = std::move(category);
  c.name = std::move(name);
  c.measured = measured;
  c.expected = expected;
  c.tolerance = tolerance;
  c.unit = std::move(unit);
  c.passed = std::fabs(measured - expected) <= tolerance;
  c.detail = std::move(detail);
  return c;
}

}  // namespace validation

using validation::repeat;
using validation::Site;
using validation::within;

std::vector<ValidationCheck> ProfilingValidationSystem::validate_timing_accuracy() {
  return validation::timing_checks(quick_, probe_time_);
}

std::vector<ValidationCheck> ProfilingValidationSystem::validate_cpu_measurement() {
  // A process that spins in one function, watched by the sched collector from before it
  // starts to its exit, against the kernel's own counts of the same span: its schedstat
  // (exact, in ns) for time on CPU and time runnable waiting for one, getrusage, and
  // /proc/PID/stat (10 ms ticks, sampled). However busy the machine, both sides see the same
  // waits. The sched collector reads the kernel's totals at each switch and at exit (up to a
  // tick stale there): 5 ms.
  validation::WorkloadSpec spec{Site::Plain, repeat(10000000, quick_ ? 30 : 60)};
  spec.collectors = {"sched"};
  validation::WorkloadRun run = validation::run_workload(spec);
  double on_cpu_s = 0, runqueue_s = 0;
  for (const auto& p : run.profile.system.processes)
    if (p.pid == static_cast<uint32_t>(run.profile.session.pid)) {
      on_cpu_s = static_cast<double>(p.usage.cpu_time_ns) / 1e9;
      runqueue_s = static_cast<double>(p.usage.off_cpu_ns.runqueue) / 1e9;
    }
  const double run_s = static_cast<double>(run.sched_run_ns) / 1e9, wait_s = static_cast<double>(run.sched_wait_ns) / 1e9;
  return {
      within("cpu", "sched collector on-CPU time vs the kernel's (schedstat)", on_cpu_s, run_s,
             std::max(0.02 * run_s, 0.005), "s", "from before the session attached to the process's exit; 2% or 5 ms"),
      within("cpu", "sched collector run-queue time vs the kernel's run delay (schedstat)", runqueue_s, wait_s,
             std::max(0.05 * wait_s, 0.005), "s",
             "time runnable waiting for a CPU, over the same span; 5% or 5 ms"),
      within("cpu", "sched collector on-CPU time vs getrusage(RUSAGE_CHILDREN)", on_cpu_s, run.rusage_cpu_s,
             std::max(0.02 * run.rusage_cpu_s, 0.005), "s",
             "the process's whole life, a millisecond before the session included; 2% or 5 ms"),
      within("cpu", "sched collector on-CPU time vs /proc/PID/stat utime+stime", on_cpu_s, run.proc_cpu_s,
             std::max(0.05 * run.proc_cpu_s, 0.03), "s", "/proc counts 10 ms clock ticks, sampled"),
  };
}

std::vector<ValidationCheck> ProfilingValidationSystem::validate_memory_measurement() {
  // The child touches a known amount of memory and reads its own VmRSS; the memory collector
  // sees the same mm counters through rss_stat, and one minor fault per page at least.
  const uint64_t touch = (quick_ ? 64 : 256) << 20;
  validation::WorkloadSpec spec{Site::Plain, repeat(1000, 10)};
  spec.touch_bytes = touch;
  spec.collectors = {"memory"};
  validation::WorkloadRun run = validation::run_workload(spec);
  const ProcessResources* p = nullptr;
  for (const auto& proc : run.profile.system.processes)
    if (proc.pid == static_cast<uint32_t>(run.profile.session.pid)) p = &proc;
  const double peak = p ? static_cast<double>(p->usage.memory.rss_peak_bytes) : 0;
  const double faults = p ? static_cast<double>(p->usage.faults.minor) : 0;
  const double pages = static_cast<double>(touch / static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
  ValidationCheck enough = within("memory", "minor faults of touching fresh pages vs the page count", faults, pages, 0,
                                  "faults", "passes at one per page or more: the stack and libraries add a few");
  enough.passed = faults >= pages;  // more is expected, fewer is wrong
  return {
      within("memory", "peak RSS vs /proc/PID/status VmRSS after touching " + std::to_string(touch >> 20) + " MiB", peak,
             static_cast<double>(run.vm_rss_bytes), 0.02 * static_cast<double>(run.vm_rss_bytes), "B",
             "the kernel's mm counters, read at each change (rss_stat)"),
      enough,
  };
}

std::vector<ValidationCheck> ProfilingValidationSystem::validate_statistical_significance() {
  // Repeated runs compared as a CI gate would compare them, each judged against the same
  // comparison of the workload's own clocks over the same runs: a busy machine that really
  // slows a run shows in both, so only what perfbpf adds can fail. A run's figure is its p50,
  // which a preempted call cannot move.
  const size_t calls = quick_ ? 100 : 300;
  constexpr int kRuns = 5;  // 5 + 5 runs: the smallest exact permutation p is 2/252 < 0.01
  struct Runs {
    std::vector<double> reported, truth;
  } a, a_again, slower;
  double resolution = 0;  // the largest share of a run's p50 the histogram and the probes can move
  for (int i = 0; i < kRuns; i++) {  // interleaved, so drift hits all three alike
    for (auto [out, ns] : {std::pair{&a, 100000}, std::pair{&a_again, 100000}, std::pair{&slower, 110000}}) {
      auto run = validation::run_workload({Site::Plain, repeat(static_cast<uint64_t>(ns), calls)});
      std::vector<uint64_t> bodies;  // every call the report holds, warm-up included
      for (const auto& t : run.truth) bodies.push_back(t.body_ns());
      const double truth = static_cast<double>(validation::exact_quantile(bodies, 0.5));
      const validation::ErrorStats e = validation::summarize_errors(validation::pair_calls(run.truth, run.calls),
                                                                    std::vector<bool>(run.truth.size(), true))
                                           .all;
      out->reported.push_back(static_cast<double>(run.profile.functions.at(0).latency.p50));
      out->truth.push_back(truth);
      resolution = std::max(resolution, LatencyHistogram::kMaxRelativeError + std::fabs(e.median_ns) / truth);
    }
  }
  std::vector<ValidationCheck> checks;
  const double cv = validation::coefficient_of_variation(a.reported) * 100;
  const double cv_truth = validation::coefficient_of_variation(a.truth) * 100;
  // Each run's p50 is off its truth by at most RESOLUTION, so the spread of 5 runs by at most
  // that times sqrt(5/4) (the sample standard deviation's n - 1).
  checks.push_back(within("statistics", "run-to-run variation of p50 over 5 runs vs the workload's own", cv, cv_truth,
                          100 * resolution * std::sqrt(1.25), "%",
                          fmt::format("coefficient of variation; p50 {:.0f} .. {:.0f} ns, in-process median {:.0f} .. "
                                      "{:.0f} ns; tolerance: histogram resolution {:.2f}% + median per-call error",
                                      *std::min_element(a.reported.begin(), a.reported.end()),
                                      *std::max_element(a.reported.begin(), a.reported.end()),
                                      *std::min_element(a.truth.begin(), a.truth.end()),
                                      *std::max_element(a.truth.begin(), a.truth.end()),
                                      100 * LatencyHistogram::kMaxRelativeError)));
  for (auto [name, other, should_differ] :
       {std::tuple{"the same workload twice is not called different", &a_again, false},
        std::tuple{"a 10% slower workload is called different", &slower, true}}) {
    const validation::Comparison cmp = validation::compare_runs(a.reported, other->reported);
    const validation::Comparison truth = validation::compare_runs(a.truth, other->truth);
    ValidationCheck c = within("statistics", name, cmp.change_pct, truth.change_pct, 2 * 100 * resolution, "%", "");
    c.passed = c.passed && cmp.different == truth.different;
    c.detail = fmt::format(
        "p50 change {:+.2f}%, permutation p = {:.4f}: {}; in-process medians {:+.2f}%, p = {:.4f}: {}; passes when "
        "both say the same and the changes agree within twice the resolution; different means p < {} and |change| "
        ">= {}%; expected: {}",
        cmp.change_pct, cmp.p_value, cmp.different ? "different" : "same", truth.change_pct, truth.p_value,
        truth.different ? "different" : "same", validation::kSignificance, validation::kMinEffectPct,
        should_differ ? "different" : "same");
    checks.push_back(c);
  }
  return checks;
}

CalibrationInfo ProfilingValidationSystem::calibrate_system() { return load_or_calibrate(/*refresh=*/true); }

ValidationReport ProfilingValidationSystem::run_comprehensive_validation() {
  ValidationReport report;
  report.calibration = load_or_calibrate();
  for (auto&& part : {validate_timing_accuracy(), validate_cpu_measurement(), validate_memory_measurement(),
                      validate_statistical_significance()})
    report.checks.insert(report.checks.end(), part.begin(), part.end());
  report.probe_time = probe_time_;
  for (const auto& c : report.checks) (c.skipped ? report.skipped : c.passed ? report.passed : report.failed)++;
  const size_t decided = report.passed + report.failed;
  report.success_rate = decided ? static_cast<double>(report.passed) / static_cast<double>(decided) : 0;
  return report;
}

nlohmann::json to_json(const ValidationReport& r) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : r.checks)
    checks.push_back({{"category", c.category}, {"name", c.name},
                      {"result", c.skipped ? "skipped" : c.passed ? "passed" : "failed"},
                      {"measured", c.measured}, {"expected", c.expected}, {"tolerance", c.tolerance},
                      {"unit", c.unit}, {"detail", c.detail}});
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& s : r.calibration.sites) sites.push_back({{"kind", s.kind}, {"bias_ns", s.bias_ns}, {"cost_ns", s.cost_ns}});
  nlohmann::json probe_time = nlohmann::json::array();
  for (const auto& t : r.probe_time)
    probe_time.push_back({{"site", t.site}, {"calibrated_bias_ns", t.calibrated_bias_ns},
                          {"calibration_spread_ns", t.calibration_spread_ns}, {"cold_excess_ns", t.cold_excess_ns},
                          {"cold_spread_ns", t.cold_spread_ns}, {"cold_calls", t.cold_calls},
                          {"evicted_bytes", t.evicted_bytes}});
  return {{"schema", "perfbpf.validation/1"},
          {"passed", r.passed},
          {"failed", r.failed},
          {"skipped", r.skipped},
          {"total", r.checks.size()},
          {"success_rate", r.success_rate},
          {"verdict", r.all_passed() ? "pass" : "fail"},
          {"calibration", sites},
          {"probe_time", probe_time},
          {"checks", checks}};
}

}  // namespace perfbpf
