// Synthetic runs for the gate's unit tests: a workload of N functions whose call durations are
// known by construction, so a planted change, the noise and the truth are all set by the test.
//
// A call of function f lasts base_f * work * round * run, where work is uniform within +-spread/2
// per call (its input), round is lognormal(0, drift) per round and shared by the runs of that
// round (a machine state that drifts over minutes), and run is lognormal(0, run_noise) per run
// (what a run gets of the machine). The planted function's calls last `factor` times longer.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "gate/gate.h"
#include "perfbpf/profile.h"

namespace perfbpf::test {

struct SyntheticWorkload {
  size_t functions = 20;
  size_t calls = 200;       // per function and run
  double spread = 0.2;      // per call, uniform +-10 %
  double drift = 0.02;      // per round, shared by both sides
  double run_noise = 0.005; // per run
  std::string planted;      // function name ("stage_13") or ""
  double factor = 1;        // its calls' duration multiplier
};

inline std::string stage_name(size_t i) { return (i < 10 ? "stage_0" : "stage_") + std::to_string(i); }

inline Profile synthetic_run(const SyntheticWorkload& w, double round_factor, uint64_t start_ns, std::mt19937_64& rng) {
  std::lognormal_distribution<double> run(0, w.run_noise);
  std::uniform_real_distribution<double> work(1 - w.spread / 2, 1 + w.spread / 2);
  const double machine = round_factor * run(rng);
  Profile p;
  p.session.mode = "command";
  p.session.hostname = "ci-runner";
  p.session.start_monotonic_ns = start_ns;
  p.session.start = "2026-11-30T10:00:00.000+00:00";
  p.session.duration_s = 1;
  p.calibration.method = "self-probe";
  p.events.received = w.functions * w.calls * 2;
  for (size_t i = 0; i < w.functions; i++) {
    const std::string name = stage_name(i);
    const double base = 20000.0 * static_cast<double>(1 + i % 4) * (name == w.planted ? w.factor : 1);
    LatencyHistogram h;
    for (size_t c = 0; c < w.calls; c++) h.record(static_cast<uint64_t>(base * work(rng) * machine));
    FunctionProfile f;
    f.name = f.demangled = name;
    f.object = "/ci/build/server";
    f.calls = h.count();
    f.latency = f.latency_raw = summarize(h);
    f.histogram = h.buckets();
    f.probe_site = "optimized";
    p.functions.push_back(std::move(f));
  }
  return p;
}

// ROUNDS interleaved rounds (A B, B A, ...): baseline from W, candidate from CANDIDATE.
inline std::pair<gate::RunSet, gate::RunSet> synthetic_rounds(const SyntheticWorkload& w,
                                                               const SyntheticWorkload& candidate, size_t rounds,
                                                               std::mt19937_64& rng) {
  gate::RunSet a, b;
  std::lognormal_distribution<double> drift(0, w.drift);
  uint64_t t = 1'000'000'000;
  for (size_t r = 0; r < rounds; r++) {
    const double round_factor = drift(rng);
    for (int k = 0; k < 2; k++) {
      const bool baseline = (k == 0) == (r % 2 == 0);
      (baseline ? a : b).runs.push_back(synthetic_run(baseline ? w : candidate, round_factor, t, rng));
      (baseline ? a : b).sources.push_back((baseline ? "base-" : "new-") + std::to_string(r + 1) + ".json");
      t += 500'000'000;
    }
  }
  return {std::move(a), std::move(b)};
}

// ROUNDS rounds of the default workload against itself with FUNCTION's calls FACTOR times longer.
inline std::pair<gate::RunSet, gate::RunSet> planted_rounds(const std::string& function, double factor, size_t rounds,
                                                            uint64_t seed) {
  std::mt19937_64 rng(seed);
  SyntheticWorkload base, slow = base;
  slow.planted = function;
  slow.factor = factor;
  return synthetic_rounds(base, slow, rounds, rng);
}

}  // namespace perfbpf::test
