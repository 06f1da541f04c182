// The CI gate on synthetic runs whose truth is set by construction: a planted change is caught
// and named, pure noise passes, what one run cannot tell is inconclusive, untrusted data is
// never judged, and the statistics behind it match tables and simulation.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "gate/calibrate.h"
#include "gate/compare.h"
#include "gate/diff.h"
#include "gate/fail_on.h"
#include "gate/gate.h"
#include "gate/writers.h"
#include "gate_synthetic.h"
#include "perfbpf/error.h"

using namespace perfbpf;
using namespace perfbpf::gate;
using perfbpf::test::SyntheticWorkload;
using perfbpf::test::planted_rounds;
using perfbpf::test::synthetic_rounds;

namespace {

const Check* find_check(const GateResult& r, const std::string& function, Stat stat) {
  for (const auto& c : r.checks)
    if (c.function == function && c.stat == stat) return &c;
  return nullptr;
}

std::vector<const Check*> failing(const GateResult& r) {
  std::vector<const Check*> out;
  for (const auto& c : r.checks)
    if (c.fails) out.push_back(&c);
  return out;
}

// Where the outputs land for the independent validators (tests/check_gate_outputs.py).
std::filesystem::path outputs_dir() {
  auto dir = std::filesystem::path(PERFBPF_WORKLOADS) / ".." / "gate";
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("t quantiles match the printed tables", "[gate]") {
  // Student's t tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2), and the normal's.
  CHECK(t_quantile(0.975, 9) == Approx(2.262).margin(0.001));
  CHECK(t_quantile(0.995, 10) == Approx(3.169).margin(0.001));
  CHECK(t_quantile(0.95, 1) == Approx(6.314).margin(0.001));
  CHECK(t_quantile(0.975, INFINITY) == Approx(1.960).margin(0.001));
  CHECK(bonferroni_level(0.99, 80) == Approx(1 - 0.01 / 80));
}

TEST_CASE("compare_runs: paired and Welch intervals on log values", "[gate]") {
  SECTION("a constant ratio is known exactly, paired or not") {
    std::vector<double> a{100, 120, 90, 110}, b{110, 132, 99, 121};
    Estimate p = compare_runs(a, b, true, 0.95);
    CHECK(p.method == Method::Paired);
    CHECK(p.change == Approx(0.10));
    CHECK(p.lower == Approx(0.10));
    CHECK(p.upper == Approx(0.10));
    Estimate w = compare_runs(a, b, false, 0.95);
    CHECK(w.method == Method::Welch);
    CHECK(w.change == Approx(0.10));
    CHECK(w.lower < 0.10);  // unpaired, the runs' spread is noise
    CHECK(w.upper > 0.10);
  }
  SECTION("Welch's interval by hand") {
    // logs: a = ln(100), ln(200); b = ln(300), ln(600): means differ by ln 3, variances both
    // (ln 2)^2 / 2, se = sqrt((ln 2)^2 / 2 / 2 * 2) = ln 2 / sqrt 2, df = 2.
    std::vector<double> a{100, 200}, b{300, 600};
    Estimate e = compare_runs(a, b, false, 0.95);
    const double se = std::log(2.0) / std::sqrt(2.0), t = 4.302653;  // t(0.975, 2)
    CHECK(e.df == Approx(2));
    CHECK(e.change == Approx(2.0));
    CHECK(e.lower == Approx(std::exp(std::log(3.0) - t * se) - 1).epsilon(1e-4));
    CHECK(e.upper == Approx(std::exp(std::log(3.0) + t * se) - 1).epsilon(1e-4));
    CHECK(e.baseline == Approx(std::sqrt(100.0 * 200)));
  }
  SECTION("one run on a side gives no interval; zeros are floored, not minus infinity") {
    CHECK_FALSE(compare_runs({100}, {110, 120}, false, 0.95).has_interval());
    Estimate z = compare_runs({0, 0}, {0, 0}, false, 0.95);
    CHECK(z.has_interval());
    CHECK(z.change == 0);
  }
}

TEST_CASE("detectable_change: the promised power holds in simulation", "[gate]") {
  // Normal per-run log values with noise sigma (around 1 ms, far above the 1 ns floor): at the
  // predicted smallest detectable change the lower bound must exceed the allowed change in
  // `power` of the trials.
  const double sigma = 0.02, allowed = 0.05, level = bonferroni_level(0.99, 80), power = 0.95;
  for (bool paired : {true, false}) {
    const size_t rounds = 10;
    const double change = detectable_change(sigma, rounds, paired, allowed, level, power);
    CHECK(change > allowed);
    std::mt19937_64 rng(paired ? 7 : 8);
    std::normal_distribution<double> noise(0, sigma);
    int caught = 0;
    const int trials = 4000;
    for (int t = 0; t < trials; t++) {
      std::vector<double> a, b;
      for (size_t i = 0; i < rounds; i++) {
        if (paired) {
          // Pair differences have sd sigma * sqrt 2, as two independent runs would.
          const double shared = 1e6 * std::exp(noise(rng) * 5);
          a.push_back(shared * std::exp(noise(rng)));
          b.push_back(shared * std::exp(noise(rng)) * (1 + change));
        } else {
          a.push_back(1e6 * std::exp(noise(rng)));
          b.push_back(1e6 * std::exp(noise(rng)) * (1 + change));
        }
      }
      caught += compare_runs(a, b, paired, level).lower > allowed;
    }
    INFO("paired " << paired << ": change " << change << ", caught " << caught << " of " << trials);
    // 4000 trials: the binomial sd of a 95 % rate is 0.34 %; 1.5 % is over four of them.
    CHECK(static_cast<double>(caught) / trials == Approx(power).margin(0.015));
  }
  CHECK(rounds_needed(0.02, 0.04, true, 0.05, 0.999, 0.95) == 0);  // not above the allowed change
  const size_t n = rounds_needed(0.02, 0.10, true, 0.05, 0.999, 0.95);
  CHECK(n >= 2);
  CHECK(detectable_change(0.02, n, true, 0.05, 0.999, 0.95) <= 0.10);
  CHECK(detectable_change(0.02, n - 1, true, 0.05, 0.999, 0.95) > 0.10);
}

TEST_CASE("gate: a planted +10% in one function of twenty is caught and named", "[gate]") {
  auto [a, b] = planted_rounds("stage_13", 1.10, 10, 42);
  GateResult r = run_gate(a, b, GateOptions{});
  CHECK(r.paired);
  CHECK(r.checks.size() == 80);  // 20 functions x mean, p50, p90, p99
  CHECK(r.verdict == "regression");
  CHECK(r.exit_code == 1);
  auto fails = failing(r);
  REQUIRE_FALSE(fails.empty());
  for (const Check* c : fails) CHECK(c->function == "stage_13");
  const Check* mean = find_check(r, "stage_13", Stat::Mean);
  REQUIRE(mean);
  CHECK(mean->estimate.change == Approx(0.10).margin(0.01));
  CHECK(mean->estimate.lower < 0.10);
  CHECK(mean->estimate.upper > 0.10);  // the truth is inside its interval

  SECTION("--fail-on above the regression's severity reports it without failing") {
    GateOptions o;
    o.fail_on = "high";
    GateResult high = run_gate(a, b, o);
    CHECK(high.verdict == "pass");
    CHECK(high.exit_code == 0);
    CHECK(high.count("regression") > 0);
  }
  SECTION("writers: JSON, JUnit, Markdown and annotations for the validators") {
    std::ofstream(outputs_dir() / "regression.json") << gate_to_json(r).dump(2);
    std::ofstream junit(outputs_dir() / "regression.xml");
    write_gate_junit(r, junit);
    std::ostringstream md, notes, text;
    write_gate_markdown(r, md);
    write_github_annotations(r, notes);
    write_gate_text(r, text);
    CHECK_THAT(md.str(), Catch::Contains("perfbpf gate: REGRESSION"));
    CHECK_THAT(md.str(), Catch::Contains("| stage\\_13 | p50 |"));
    CHECK_THAT(notes.str(), Catch::StartsWith("::error title=perfbpf gate%3A stage_13 "));
    CHECK_THAT(text.str(), Catch::Contains("stage_13"));
    std::ofstream(outputs_dir() / "regression.md") << md.str();
  }
}

TEST_CASE("gate: pure noise passes, 200 A/A comparisons raise no false alarm", "[gate]") {
  // Noise well above the synthetic default: 3 % per run, 5 % drift per round, +-25 % per call.
  SyntheticWorkload w;
  w.run_noise = 0.03;
  w.drift = 0.05;
  w.spread = 0.5;
  std::mt19937_64 rng(2024);
  int false_alarms = 0, inconclusive = 0;
  for (int trial = 0; trial < 200; trial++) {
    auto [a, b] = synthetic_rounds(w, w, 10, rng);
    GateResult r = run_gate(a, b, GateOptions{});
    false_alarms += r.verdict == "regression";
    inconclusive += r.verdict == "inconclusive";
    if (trial == 0) std::ofstream(outputs_dir() / "pass.json") << gate_to_json(r).dump(2);
  }
  CHECK(false_alarms == 0);
  CHECK(inconclusive == 0);
}

TEST_CASE("gate: one run per side is inconclusive, not a guess", "[gate]") {
  // Even a doubling: one run cannot show it is not the machine.
  auto [a, b] = planted_rounds("stage_02", 2, 1, 1);
  GateResult r = run_gate(a, b, GateOptions{});
  CHECK(r.verdict == "inconclusive");
  CHECK(r.exit_code == 3);
  REQUIRE_FALSE(r.reasons.empty());
  CHECK_THAT(r.reasons.front(), Catch::Contains("one run"));
  const Check* c = find_check(r, "stage_02", Stat::Mean);
  REQUIRE(c);
  CHECK(c->outcome == "inconclusive");
  CHECK(c->estimate.change == Approx(1.0).margin(0.05));  // the point estimate is still shown
  GateOptions allow;
  allow.allow_inconclusive = true;
  CHECK(run_gate(a, b, allow).exit_code == 0);
  std::ofstream(outputs_dir() / "inconclusive.json") << gate_to_json(r).dump(2);
  std::ofstream junit(outputs_dir() / "inconclusive.xml");
  write_gate_junit(r, junit);
}

TEST_CASE("gate: untrusted or missing data makes its checks inconclusive, with the reason", "[gate]") {
  std::mt19937_64 rng(3);
  SyntheticWorkload w;
  auto [a, b] = synthetic_rounds(w, w, 6, rng);

  SECTION("a function missing on one side") {
    auto& fs = b.runs[2].functions;
    fs.erase(fs.begin() + 5);  // stage_05
    GateResult r = run_gate(a, b, GateOptions{});
    CHECK(r.verdict == "inconclusive");
    CHECK(r.exit_code == 3);
    const Check* c = find_check(r, "stage_05", Stat::P50);
    REQUIRE(c);
    CHECK(c->outcome == "inconclusive");
    CHECK_THAT(c->reason, Catch::Contains("not probed"));
    CHECK_THAT(c->reason, Catch::Contains("new-"));  // names the run
    CHECK(find_check(r, "stage_06", Stat::P50)->outcome != "inconclusive");
  }
  SECTION("a function that completed no call") {
    a.runs[1].functions[7] = FunctionProfile{};
    a.runs[1].functions[7].name = a.runs[1].functions[7].demangled = "stage_07";
    GateResult r = run_gate(a, b, GateOptions{});
    CHECK_THAT(find_check(r, "stage_07", Stat::Mean)->reason, Catch::Contains("no call"));
  }
  SECTION("lost events") {
    a.runs[0].events.lost = 12;
    a.runs[0].events.lost_by_reason["ringbuf_full"] = 12;
    GateResult r = run_gate(a, b, GateOptions{});
    CHECK(r.verdict == "inconclusive");
    CHECK_THAT(find_check(r, "stage_00", Stat::P99)->reason, Catch::Contains("lost"));
  }
  SECTION("probe overhead over budget") {
    b.runs[3].overhead.target_slowdown_pct = 12;
    b.runs[3].overhead.budget_pct = 5;
    GateResult r = run_gate(a, b, GateOptions{});
    CHECK(r.verdict == "inconclusive");
    CHECK_THAT(find_check(r, "stage_03", Stat::Mean)->reason, Catch::Contains("budget"));
  }
  SECTION("calibrated and uncalibrated latencies are not compared") {
    b.runs[0].calibration.method = "none";
    CHECK_THAT(find_check(run_gate(a, b, GateOptions{}), "stage_01", Stat::P50)->reason, Catch::Contains("--no-calibrate"));
  }
  SECTION("nothing matches the rules") {
    GateOptions o;
    o.rules = {parse_regression_rule("parse_*.p99=10%")};
    GateResult r = run_gate(a, b, o);
    CHECK(r.verdict == "inconclusive");
    CHECK_THAT(r.reasons.front(), Catch::Contains("nothing to compare"));
  }
}

TEST_CASE("gate: runs that do not alternate in time are compared unpaired", "[gate]") {
  std::mt19937_64 rng(5);
  SyntheticWorkload w;
  auto [a, b] = synthetic_rounds(w, w, 4, rng);
  CHECK(interleaving(a, b).interleaved);
  // All the baseline first, then all the candidate: Welch.
  for (size_t i = 0; i < b.runs.size(); i++) b.runs[i].session.start_monotonic_ns += 100'000'000'000ull;
  CHECK_FALSE(interleaving(a, b).interleaved);
  GateResult r = run_gate(a, b, GateOptions{});
  CHECK_FALSE(r.paired);
  CHECK(r.checks.front().estimate.method == Method::Welch);
  GateOptions forced;
  forced.pairing = Pairing::Paired;
  CHECK(run_gate(a, b, forced).paired);
  b.runs.pop_back();
  CHECK_THROWS_AS(run_gate(a, b, forced), Error);
}

TEST_CASE("gate rules: --max-regression forms, errors, the most specific wins", "[gate]") {
  RegressionRule r = parse_regression_rule("parse_request.p99=10%");
  CHECK(r.pattern == "parse_request");
  CHECK(r.stat == Stat::P99);
  CHECK(r.allowed == Approx(0.10));
  CHECK(parse_regression_rule("ns::Parser::operator==(int).mean=2.5").allowed == Approx(0.025));
  CHECK(parse_regression_rule("cpu_time=10%").pattern.empty());
  for (const char* bad : {"parse.p99", "parse.p98=10%", "p99=10%", "*.cpu_time=5%", "parse.p99=-1%", "parse.p99=ten%"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_regression_rule(bad), Error);
  }
  std::vector<RegressionRule> rules{parse_regression_rule("*.p99=10%"), parse_regression_rule("parse_request.p99=3%"),
                                    parse_regression_rule("parse_*.p99=5%")};
  CHECK(rule_for(rules, "parse_request", Stat::P99)->allowed == Approx(0.03));
  CHECK(rule_for(rules, "parse_header", Stat::P99)->allowed == Approx(0.05));
  CHECK(rule_for(rules, "main_loop", Stat::P99)->allowed == Approx(0.10));
  CHECK(rule_for(rules, "main_loop", Stat::Mean) == nullptr);
  CHECK(rule_for(rules, "SSL_read@libssl.so.3", Stat::P99)->allowed == Approx(0.10));
}

TEST_CASE("calibrate: the A/A split measures the noise the runs were given", "[gate]") {
  std::mt19937_64 rng(11);
  SyntheticWorkload w;
  w.calls = 5000;  // sampling error small next to the run noise below
  w.spread = 0.1;
  w.run_noise = 0.02;
  w.drift = 0;
  auto [a, unused] = synthetic_rounds(w, w, 20, rng);
  (void)unused;
  GateOptions o;
  o.rules = {parse_regression_rule("*.p50=2%")};
  CalibrationResult c = calibrate(a, RunSet{}, o, {0.05, 0.10});
  CHECK(c.rounds == 10);
  CHECK(c.aa.paired);
  CHECK(c.aa.verdict != "regression");
  REQUIRE(c.stats.size() == 1);
  // 20 functions' noise estimates, each from 10 pairs: their median is near the 2 % given.
  CHECK(c.stats[0].noise_median == Approx(0.02).margin(0.005));
  REQUIRE(c.any_statistic.size() == 2);
  CHECK(c.any_statistic[0] > c.any_statistic[1]);  // +5 % needs more rounds than +10 %
  CHECK(c.any_statistic[1] >= 2);
  std::ostringstream text;
  write_calibration_text(c, text);
  CHECK_THAT(text.str(), Catch::Contains("ROUNDS +5.0%"));
  std::ofstream(outputs_dir() / "calibration.json") << calibration_result_to_json(c).dump(2);
}

TEST_CASE("diff: within-run intervals for single reports, run-to-run for sets", "[gate]") {
  auto [a1, b1] = planted_rounds("stage_04", 1.3, 1, 9);
  DiffResult d = diff_runs(a1, b1, 0.95);
  bool seen = false;
  for (const auto& row : d.rows)
    if (row.function == "stage_04" && row.stat == Stat::Mean) {
      seen = true;
      CHECK(row.estimate.method == Method::WithinRun);
      CHECK(row.estimate.change == Approx(0.3).margin(0.05));
      // stddev / (mean sqrt n) of a uniform +-10 % spread over 200 calls: 0.0577 / sqrt 200 each.
      CHECK(row.estimate.log_se == Approx(std::sqrt(2.0) * 0.2 / std::sqrt(12.0) / std::sqrt(200.0)).epsilon(0.15));
    }
  CHECK(seen);
  std::ostringstream out;
  write_diff_text(d, out);
  CHECK_THAT(out.str(), Catch::Contains("within-run"));
  CHECK_THAT(out.str(), Catch::Contains("stage_04"));
}

TEST_CASE("fail-on: findings at or above a severity, alerts count as high", "[gate]") {
  AnalysisSection a;
  Bottleneck low, high;
  low.id = "lost-events:events";
  low.severity = "low";
  high.id = "slow-function:parse";
  high.severity = "high";
  a.bottlenecks = {high, low};
  CHECK(findings_at_or_above(a, "critical").empty());
  CHECK(findings_at_or_above(a, "high").size() == 1);
  CHECK(findings_at_or_above(a, "low").size() == 2);
  a.alerts.push_back({1.0, "function.p99", "parse", 3e6, 1e6, "ns"});
  CHECK(findings_at_or_above(a, "high").size() == 2);
  CHECK(findings_at_or_above(a, "critical").empty());
  CHECK_THROWS_AS(check_severity("severe", "--fail-on"), Error);
}

TEST_CASE("gate: resource totals and sampled on-CPU time are checks too", "[gate]") {
  auto [a, b] = planted_rounds("stage_01", 1.0, 6, 21);
  std::mt19937_64 rng(22);
  std::lognormal_distribution<double> noise(0, 0.01);
  for (auto* side : {&a, &b})
    for (auto& run : side->runs) {
      const double factor = side == &b ? 1.2 : 1.0;  // the candidate burns 20 % more CPU
      run.system.enabled = true;
      run.system.collectors = {"sched"};
      run.system.totals.cpu_time_ns = static_cast<uint64_t>(2e9 * factor * noise(rng));
      run.stacks.enabled = true;
      run.stacks.frequency_hz = 99;
      run.stacks.frames = {{"main", "/ci/build/server", false, ""}, {"stage_01", "/ci/build/server", false, ""}};
      run.stacks.stacks = {{1, 1, {0, 1}, static_cast<uint64_t>(990 * factor * noise(rng))}, {1, 1, {0}, 10}};
    }
  GateOptions o;
  o.rules = {parse_regression_rule("cpu_time=5%"), parse_regression_rule("peak_rss=10%"),
             parse_regression_rule("stage_01.on_cpu=5%")};
  GateResult r = run_gate(a, b, o);
  const Check* cpu = find_check(r, "", Stat::CpuTime);
  REQUIRE(cpu);
  CHECK(cpu->subject() == "target");
  CHECK(cpu->outcome == "regression");
  CHECK(cpu->estimate.change == Approx(0.2).margin(0.02));
  const Check* on_cpu = find_check(r, "stage_01", Stat::OnCpu);
  REQUIRE(on_cpu);
  CHECK(on_cpu->estimate.baseline == Approx(10e9).epsilon(0.05));  // 990 samples at 99 Hz
  CHECK(on_cpu->outcome == "regression");
  const Check* rss = find_check(r, "", Stat::PeakRss);
  REQUIRE(rss);
  CHECK(rss->outcome == "inconclusive");
  CHECK_THAT(rss->reason, Catch::Contains("did not run"));
}
