// Option parsing: every usage mistake is a clear error, every option lands where it should.
#include <catch2/catch.hpp>

#include "cli/options.h"
#include "perfbpf/error.h"

using namespace perfbpf;
using namespace perfbpf::cli;

namespace {

ParseResult parse(std::vector<std::string> args) { return parse_command_line(args); }

void expect_usage_error(std::vector<std::string> args, const std::string& says) {
  INFO("args: " << Catch::Detail::stringify(args));
  try {
    parse(args);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(e.exit_code() == 2);
    CHECK_THAT(e.what(), Catch::Contains(says));
  }
}

}  // namespace

TEST_CASE("pid mode options", "[cli]") {
  auto r = parse({"--pid", "4242", "-f", "handle_*", "-f", "libssl:SSL_read", "-d", "30", "-o", "report.json"});
  REQUIRE(r.run);
  const auto& o = r.options;
  CHECK(o.command == Command::Profile);
  CHECK(o.session.pid == 4242);
  CHECK(o.session.functions == std::vector<std::string>{"handle_*", "libssl:SSL_read"});
  CHECK(o.session.duration_s == 30);
  CHECK(o.output == "report.json");
  CHECK(o.session.command.empty());
}

TEST_CASE("command mode keeps everything after -- untouched", "[cli]") {
  auto r = parse({"-f", "spin_fixed", "-f", "parse*", "-o", "r.json", "--", "./myprog", "--flag", "-f", "x"});
  REQUIRE(r.run);
  CHECK(r.options.session.command == std::vector<std::string>{"./myprog", "--flag", "-f", "x"});
  CHECK(r.options.session.functions == std::vector<std::string>{"spin_fixed", "parse*"});
  CHECK(r.options.output == "r.json");
}

TEST_CASE("defaults", "[cli]") {
  auto r = parse({"-f", "main", "--", "true"});
  CHECK(r.options.output == "perfbpf-report.json");
  CHECK(r.options.session.duration_s == 0);
  CHECK_FALSE(r.options.session.follow_children);
  CHECK_FALSE(r.options.quiet);
  CHECK(r.options.session.calibrate);
  CHECK(r.options.session.overhead_budget_pct == 5);
}

TEST_CASE("calibration and overhead options", "[cli]") {
  auto r = parse({"-f", "main", "--no-calibrate", "--bpf-stats", "--overhead-budget", "2.5", "--", "true"});
  CHECK(r.options.session.bpf_stats);
  CHECK_FALSE(r.options.session.calibrate);
  CHECK(r.options.session.overhead_budget_pct == 2.5);
  expect_usage_error({"-f", "main", "--overhead-budget", "-1", "--", "true"}, "overhead-budget");
  auto c = parse({"calibrate"});
  REQUIRE(c.run);
  CHECK(c.options.command == Command::Calibrate);
}

TEST_CASE("report subcommand", "[cli]") {
  auto r = parse({"report", "saved.json"});
  REQUIRE(r.run);
  CHECK(r.options.command == Command::Report);
  CHECK(r.options.report_path == "saved.json");
  expect_usage_error({"report"}, "REPORT");
}

TEST_CASE("help and version print and do not run", "[cli]") {
  auto help = parse({"--help"});
  CHECK_FALSE(help.run);
  CHECK(help.exit_code == 0);
  for (const char* option : {"--pid", "--function", "--duration", "--output", "--children", "--no-children",
                             "--no-calibrate", "--overhead-budget", "--bpf-stats", "--quiet", "--verbose", "report", "calibrate"})
    CHECK_THAT(help.text, Catch::Contains(option));
  auto version = parse({"--version"});
  CHECK_FALSE(version.run);
  CHECK_THAT(version.text, Catch::StartsWith("perfbpf "));
}

TEST_CASE("usage errors", "[cli]") {
  expect_usage_error({"-f", "x"}, "no target");
  expect_usage_error({"--pid", "1", "-f", "x", "--", "true"}, "exclusive");
  expect_usage_error({"--pid", "1", "--sample-freq", "0", "--collectors", "none"}, "nothing to profile");
  CHECK(parse({"--pid", "1", "--sample-freq", "0"}).run);  // resource collectors only
  expect_usage_error({"--pid", "1", "-f", "x", "--sample-freq", "0", "--folded", "x"}, "need sampling");
  expect_usage_error({"--pid", "1", "-f", "x", "--sample-freq", "0", "--flamegraph", "x"}, "need sampling");
  CHECK(parse({"--pid", "1"}).run);  // sampling only
  expect_usage_error({"--pid", "0", "-f", "x"}, "pid");
  expect_usage_error({"--pid", "abc", "-f", "x"}, "pid");
  expect_usage_error({"--pid", "1", "-f", "x", "-d", "-3"}, "duration");
  expect_usage_error({"--pid", "1", "-f", "x", "--bogus"}, "bogus");
  expect_usage_error({"-f", "x", "--"}, "nothing after --");
  expect_usage_error({"-f", "x", "--children", "--", "true"}, "--children goes with --pid");
  expect_usage_error({"--pid", "1", "-f", "x", "--no-children"}, "--no-children");
  expect_usage_error({"--pid", "1", "-f", ""}, "empty");
}

TEST_CASE("resource options: targets, collectors, interval", "[cli]") {
  auto system = parse({"--system", "-d", "5", "-i", "0.5"});
  REQUIRE(system.run);
  CHECK(system.options.session.system_wide);
  CHECK(system.options.session.interval_s == 0.5);
  CHECK(system.options.session.collectors == std::vector<std::string>{"sched", "block", "memory", "network"});
  auto cgroup = parse({"--cgroup", "/sys/fs/cgroup/x", "--collectors", "sched,memory,sched", "--top", "3"});
  REQUIRE(cgroup.run);
  CHECK(cgroup.options.session.cgroup == "/sys/fs/cgroup/x");
  CHECK(cgroup.options.session.collectors == std::vector<std::string>{"sched", "memory"});
  CHECK(cgroup.options.session.top_n == 3);
  CHECK(parse({"--pid", "1", "--collectors", "none"}).options.session.collectors.empty());
  expect_usage_error({"--pid", "1", "--collectors", "disk"}, "unknown collector 'disk'");
  expect_usage_error({"--pid", "1", "--collectors", ""}, "empty");
  expect_usage_error({"--system", "--pid", "1"}, "exclusive");
  expect_usage_error({"--system", "--cgroup", "/x"}, "exclusive");
  expect_usage_error({"--system", "-f", "main"}, "-f needs a process");
  expect_usage_error({"--system", "-i", "0"}, "interval");
}
