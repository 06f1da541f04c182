// perfbpf gate --rounds on tests/workloads/gate_target built twice, one build with stage_13
// doing 30 % more work: perfbpf runs both builds itself, interleaved, and the verdict, the
// estimated change and the exit code are checked against the workload's own in-process timing.
// The rules gate p50 and p90: their run-to-run noise here is ~1 %, so a 5 % margin makes a false
// alarm on this noisy shared machine vanishingly unlikely (the mean and p99 of a 30 us function
// carry the machine's preemptions; bench/gate_bench.py measures how the gate copes with those).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "process.h"

using namespace perfbpf::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kRules = {"--max-regression", "*.p50=5%", "--max-regression", "*.p90=5%"};

// gate_target's UNITS for the gated sessions: enough work that the probes stay well under the
// gate's overhead budget on this machine (tests/gate_units.py says how; uprobe costs differ 4x
// between these VMs).
std::string gate_units() {
  static const std::string units = [] {
    Finished r = run({"/usr/bin/python3", std::string(PERFBPF_SOURCE_DIR) + "/tests/gate_units.py", perfbpf_bin(),
                      workload("gate_target")});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    WARN(r.err);
    return r.out.substr(0, r.out.find('\n'));
  }();
  return units;
}

std::vector<std::string> gate_argv(const std::string& candidate, size_t rounds, const std::string& dir,
                                   const std::string& json_path) {
  std::vector<std::string> argv{perfbpf_bin(), "gate", "--rounds", std::to_string(rounds), "-f", "stage_*",
                                "--collectors", "sched", "--sample-freq", "0", "--baseline-cmd",
                                workload("gate_target") + " 100 " + gate_units(), "--candidate-cmd",
                                workload(candidate) + " 100 " + gate_units(),
                                "--rounds-dir", dir, "--json", json_path};
  argv.insert(argv.end(), kRules.begin(), kRules.end());
  return argv;
}

// The workload's own "stage_13_p50_ns=" per session, by side: the gate's progress line names
// the side before each session starts, and the commands' output follows on stderr.
std::map<std::string, std::vector<double>> in_process_p50(const std::string& err, const std::string& stage) {
  std::map<std::string, std::vector<double>> out;
  std::istringstream in(err);
  std::string side, key = stage + "_p50_ns=";
  for (std::string line; std::getline(in, line);) {
    if (line.find("perfbpf gate: round") == 0) side = line.substr(line.rfind(' ') + 1);
    else if (line.rfind(key, 0) == 0) out[side].push_back(std::stod(line.substr(key.size())));
  }
  return out;
}

// The report of round I of SIDE in a --rounds-dir DIR.
std::string fmt_round(const std::string& dir, const char* side, size_t i) {
  char name[32];
  std::snprintf(name, sizeof name, "/%s-%02zu.json", side, i);
  return dir + name;
}

// temp_path's directory is root's 0700: open it so the unprivileged runs below can read.
void open_to_all(const std::string& path) {
  std::filesystem::permissions(std::filesystem::path(path).parent_path(), std::filesystem::perms(0755));
}

}  // namespace

TEST_CASE("perfbpf gate --rounds catches a planted +30% in one function of twenty and names it", "[bpf][gate]") {
  const std::string dir = temp_path("rounds"), verdict = temp_path("gate.json");
  // 10 rounds, as the example CI jobs run: beside stress-ng --cpu 1 on a 2-core VM, 6 rounds
  // once left even the planted +30 % unresolved (stage_13's p50 interval [-14 %, +107 %]; t with
  // 5 degrees of freedom at 99.975 % is 1.8 times that with 9).
  const size_t rounds = 10;
  Finished r = run(gate_argv("gate_target_slow30", rounds, dir, verdict));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("perfbpf gate: REGRESSION") == 0);  // stdout holds the verdict only
  CHECK(r.out.find("stage_13_calls=") == std::string::npos);

  // Every round's report is kept.
  for (size_t i = 1; i <= rounds; i++)
    for (const char* side : {"baseline", "candidate"}) {
      CHECK(std::filesystem::exists(fmt_round(dir, side, i)));
    }

  json j = load_json(verdict);
  CHECK(j.at("verdict") == "regression");
  CHECK(j.at("paired") == true);
  CHECK(j.at("summary").at("checks") == 40);  // 20 functions x p50, p90
  const json* p50 = nullptr;
  for (const auto& c : j.at("checks")) {
    // A busy machine widens every interval, and one that straddles the 5 % margin is honestly
    // unresolved; no function but the planted one may fail, and no data is inconclusive.
    if (c.at("fails").get<bool>()) CHECK(c.at("function") == "stage_13");
    else CHECK(c.at("outcome") != "inconclusive");
    if (c.at("function") == "stage_13" && c.at("statistic") == "p50") p50 = &c;
  }
  REQUIRE(p50);
  CHECK(p50->at("fails") == true);

  // The truth: the workload's own in-process p50 of stage_13 with no probe attached (a probed
  // call's in-process time also holds the probes' ~1 us, which perfbpf subtracts), both builds
  // run in adjacent pairs. Its noise is the pairs' measured spread.
  std::vector<double> log_ratios;
  for (int i = 0; i < 10; i++) {
    double p50_ns[2];
    for (int side = 0; side < 2; side++) {
      Finished w = run({workload(side ? "gate_target_slow30" : "gate_target"), "100", gate_units()});
      const size_t at = w.out.find("stage_13_p50_ns=");
      REQUIRE(at != std::string::npos);
      p50_ns[side] = std::stod(w.out.substr(at + 16));
    }
    log_ratios.push_back(std::log(p50_ns[1] / p50_ns[0]));
  }
  double mean = 0, var = 0;
  for (double x : log_ratios) mean += x / log_ratios.size();
  for (double x : log_ratios) var += (x - mean) * (x - mean) / (log_ratios.size() - 1);
  const double true_change_pct = (std::exp(mean) - 1) * 100;
  // 5 standard errors (t with 9 degrees of freedom at 99.9 % is 4.8), in points of change.
  const double truth_noise_pct = 5 * std::sqrt(var / log_ratios.size()) * std::exp(mean) * 100;
  const double change = p50->at("change_pct"), lower = p50->at("lower_pct"), upper = p50->at("upper_pct");
  INFO("unprobed in-process change " << true_change_pct << "% +- " << truth_noise_pct << ", perfbpf " << change
                                     << "% [" << lower << ", " << upper << "]");
  CHECK(std::abs(true_change_pct - 30) <= 1 + truth_noise_pct);  // 30 % more xorshift steps
  // perfbpf's simultaneous interval holds the truth, give or take the truth's own noise and what
  // is left of the probes' bias after subtraction (a few hundred ns at most on a call of 33 us or more,
  // mostly the same on both sides: well under half a point). On a quiet machine the interval
  // is about +-1 point, so this also pins the estimate.
  CHECK(true_change_pct >= lower - 0.5 - truth_noise_pct);
  CHECK(true_change_pct <= upper + 0.5 + truth_noise_pct);
  // Each session's own output came through, on stderr, one per round and side.
  for (const auto& [side, values] : in_process_p50(r.err, "stage_13")) CHECK(values.size() == rounds);

  SECTION("a --rounds-dir with reports in it is refused, nothing is run") {
    Finished again = run(gate_argv("gate_target_slow30", 2, dir, verdict));
    CHECK(again.exit_code == 2);
    CHECK(again.err.find("not empty") != std::string::npos);
  }
  SECTION("the saved rounds gate the same way without root's sessions") {
    open_to_all(dir);
    std::vector<std::string> argv{perfbpf_bin(), "gate"};
    for (const char* side : {"baseline", "candidate"}) {
      argv.push_back(std::string("--") + side);
      for (size_t i = 1; i <= rounds; i++) argv.push_back(fmt_round(dir, side, i));
    }
    argv.insert(argv.end(), kRules.begin(), kRules.end());
    Finished saved = run(argv, /*as_uid=*/65534);
    CHECK(saved.exit_code == 1);
    CHECK(saved.out.find("stage_13") != std::string::npos);
    Finished diff = run({perfbpf_bin(), "diff", dir + "/baseline-01.json", dir + "/candidate-01.json"}, 65534);
    CHECK(diff.exit_code == 0);
    CHECK(diff.out.find("within-run") != std::string::npos);
  }
}

TEST_CASE("perfbpf gate --rounds: the same build on both sides passes", "[bpf][gate]") {
  const std::string dir = temp_path("rounds"), verdict = temp_path("gate.json");
  Finished r = run(gate_argv("gate_target", 5, dir, verdict));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  json j = load_json(verdict);
  CHECK(j.at("verdict") == "pass");
  CHECK(j.at("summary").at("failing") == 0);
  CHECK(j.at("summary").at("inconclusive") == 0);
  // A real gate's verdict joins the fixtures the schema test validates.
  std::filesystem::create_directories(std::string(PERFBPF_WORKLOADS) + "/../gate");
  std::filesystem::copy_file(verdict, std::string(PERFBPF_WORKLOADS) + "/../gate/rounds-pass.json",
                             std::filesystem::copy_options::overwrite_existing);
}

TEST_CASE("perfbpf gate --rounds --calibrate reports the noise and the rounds a change needs", "[bpf][gate]") {
  const std::string dir = temp_path("rounds");
  Finished r = run({perfbpf_bin(), "gate", "--calibrate", "--rounds", "4", "-f", "stage_0*", "--collectors", "none",
                    "--sample-freq", "0", "--baseline-cmd", workload("gate_target") + " 100 " + gate_units(),
                    "--rounds-dir", dir, "--max-regression", "*.p50=2%", "--detect", "10%"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("A/A of 4 against 4 runs, paired") != std::string::npos);
  CHECK(r.out.find("ROUNDS +10.0%") != std::string::npos);
  CHECK(r.out.find("stage_09") != std::string::npos);
}

TEST_CASE("perfbpf gate --rounds: a failing command stops the gate with exit 2", "[bpf][gate]") {
  const std::string dir = temp_path("rounds");
  Finished r = run({perfbpf_bin(), "gate", "--rounds", "3", "-f", "stage_*", "--collectors", "none", "--sample-freq",
                    "0", "--baseline-cmd", workload("gate_target") + " 20", "--candidate-cmd",
                    workload("gate_target") + " 0", "--rounds-dir", dir});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("exited with status 2") != std::string::npos);

  // Without the privilege to load probes: exit 2 before anything is created, never a verdict.
  const std::string unprivileged_dir = temp_path("rounds");
  open_to_all(unprivileged_dir);
  Finished denied = run({perfbpf_bin(), "gate", "--rounds", "2", "-f", "stage_*", "--baseline-cmd",
                         workload("gate_target") + " 20", "--candidate-cmd", workload("gate_target") + " 20",
                         "--rounds-dir", unprivileged_dir},
                        /*as_uid=*/65534);
  CHECK(denied.exit_code == 2);
  CHECK(denied.err.find("insufficient privilege") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(unprivileged_dir));
}

TEST_CASE("perfbpf gate --rounds -d: sessions a duration ends are rounds, not failures", "[bpf][gate]") {
  // The baseline runs far longer than the 0.3 s a session is given: SIGTERM ends it every round.
  // What is tested is that such rounds are rounds, not the verdict: one loose rule (p50 doubled),
  // since two 0.3 s rounds of the same build once gave a false REGRESSION (exit 1) under the
  // default rules (mean, p90 and p99 of the machine's noise) in .ci/run on a clean clone.
  const std::string dir = temp_path("rounds");
  Finished r = run({perfbpf_bin(), "gate", "--rounds", "2", "-d", "0.3", "-f", "stage_0*", "--collectors", "none",
                    "--sample-freq", "0", "--baseline-cmd", workload("gate_target") + " 100000", "--candidate-cmd",
                    workload("gate_target") + " 100000", "--rounds-dir", dir, "--allow-inconclusive",
                    "--max-regression", "*.p50=100%"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(std::filesystem::exists(dir + "/candidate-02.json"));
}

TEST_CASE("fail-on: a live session and analyze exit 1 on findings at or above the severity", "[bpf][gate]") {
  const std::string report = temp_path("r.json");
  // A per-function p99 threshold crossed is a high finding (docs/analysis.md).
  std::vector<std::string> argv{perfbpf_bin(), "-q", "-f", "stage_13", "--collectors", "none", "--sample-freq", "0",
                                "--threshold", "function:stage_13.p99=1us", "-o", report};
  auto session = [&](const std::string& severity) {
    std::vector<std::string> a = argv;
    a.insert(a.end(), {"--fail-on", severity, "--", workload("gate_target"), "20"});
    return run(a);
  };
  Finished high = session("high");
  INFO(high.err);
  CHECK(high.exit_code == 1);
  CHECK(high.err.find("slow-function:stage_13 (high)") != std::string::npos);
  CHECK(session("critical").exit_code == 0);
  open_to_all(report);
  Finished analyze = run({perfbpf_bin(), "analyze", report, "--fail-on", "high"}, 65534);
  CHECK(analyze.exit_code == 1);
  CHECK(run({perfbpf_bin(), "analyze", report, "--fail-on", "critical"}, 65534).exit_code == 0);
}
