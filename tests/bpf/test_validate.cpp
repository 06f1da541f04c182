// `perfbpf validate --quick` is part of CI: perfbpf's numbers against ground truth, on a
// machine another process keeps busy (CI runners and shared VMs are).
#include <catch2/catch.hpp>

#include "perfbpf/validation.h"
#include "process.h"

using namespace perfbpf;

TEST_CASE("quick validation passes while another process keeps a CPU busy", "[bpf][validate]") {
  test::BusyCpus busy(1);
  ProfilingValidationSystem validator(/*quick=*/true);
  ValidationReport report = validator.run_comprehensive_validation();
  CHECK(busy.running());  // the load lasted the whole validation
  for (const auto& c : report.checks) {
    INFO(c.category << ": " << c.name << ": measured " << c.measured << " " << c.unit << ", expected " << c.expected
                    << " +- " << c.tolerance << " (" << c.detail << ")");
    CHECK((c.passed || c.skipped));
    // Timing is judged call by call, each tolerance stated with what it was derived from; a
    // check the machine left too few undisturbed calls for says so.
    if (c.category == "timing" && c.unit == "ns" && !c.skipped) {
      CHECK(c.name.find("per-call") != std::string::npos);
      CHECK(c.tolerance > 0);
      CHECK(c.detail.find("cold calls") != std::string::npos);
    }
    if (c.skipped) CHECK(c.detail.find("too few to judge") != std::string::npos);
  }
  CHECK(report.passed >= 30);  // of 38: a busy machine may leave the 10 ms cases unjudged
  CHECK(report.all_passed());
  // Warm probe time is what the correction subtracts; cold calls keep more of it, measured.
  REQUIRE(report.probe_time.size() == 2);
  for (const auto& t : report.probe_time) {
    INFO(t.site << ": warm " << t.calibrated_bias_ns << " ns, cold +" << t.cold_excess_ns << " ns over "
                << t.cold_calls << " calls");
    CHECK(t.cold_calls >= 50);
    CHECK(t.evicted_bytes >= 8u << 20);
  }
  nlohmann::json j = to_json(report);
  CHECK(j["verdict"] == "pass");
  CHECK(j["checks"].size() == report.checks.size());
  CHECK(j["probe_time"].size() == 2);
}
