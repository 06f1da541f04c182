// `perfbpf validate --quick` is part of CI: perfbpf's numbers against ground truth.
#include <catch2/catch.hpp>

#include "perfbpf/validation.h"

using namespace perfbpf;

TEST_CASE("quick validation passes against in-process, /proc and getrusage truth", "[bpf][validate]") {
  ProfilingValidationSystem validator(/*quick=*/true);
  ValidationReport report = validator.run_comprehensive_validation();
  for (const auto& c : report.checks) {
    INFO(c.category << ": " << c.name << ": measured " << c.measured << " " << c.unit << ", expected " << c.expected
                    << " +- " << c.tolerance << " (" << c.detail << ")");
    CHECK((c.passed || c.skipped));
  }
  CHECK(report.passed >= 20);
  CHECK(report.all_passed());
  nlohmann::json j = to_json(report);
  CHECK(j["verdict"] == "pass");
  CHECK(j["checks"].size() == report.checks.size());
}
