// Option parsing: every usage mistake is a clear error, every option lands where it should.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <map>

#include "cli/options.h"
#include "perfbpf/error.h"
#include "perfbpf/session.h"

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
    // As main() prints it: "perfbpf: error: what (hint)".
    std::string line = std::string(e.what()) + (e.hint().empty() ? "" : " (" + e.hint() + ")");
    CHECK_THAT(line, Catch::Contains(says));
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
  auto files = parse({"report", "saved.json", "--html", "r.html", "--pprof", "r.pb.gz", "--metrics-file", "r.prom"});
  CHECK(files.options.report_files ==
        std::map<std::string, std::string>{{"html", "r.html"}, {"pprof", "r.pb.gz"}, {"metrics-file", "r.prom"}});
}

TEST_CASE("report files and --serve in a session, and the agent subcommand", "[cli]") {
  auto r = parse({"--pid", "1", "--html", "a.html", "--speedscope", "a.json", "--serve", ":9464"});
  CHECK(r.options.report_files == std::map<std::string, std::string>{{"html", "a.html"}, {"speedscope", "a.json"}});
  CHECK(r.options.serve == ":9464");
  auto sys = parse({"--system", "--serve", "127.0.0.1:0", "--sample-freq", "0"});  // resources only: no stacks needed
  CHECK(sys.options.serve == "127.0.0.1:0");
  auto agent = parse({"agent", "--config", "/etc/perfbpf/agent.json"});
  CHECK(agent.options.command == Command::Agent);
  CHECK(agent.options.agent_config == "/etc/perfbpf/agent.json");
  expect_usage_error({"agent"}, "--config");
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
  for (const char* option : {"--folded", "--flamegraph", "--pprof", "--speedscope"})
    expect_usage_error({"--pid", "1", "-f", "x", "--sample-freq", "0", option, "x"}, "needs sampled stacks");
  expect_usage_error({"--pid", "1", "-f", "x", "--serve", "localhost"}, "bad address 'localhost' in --serve");
  expect_usage_error({"--pid", "1", "-f", "x", "--html", ""}, "--html needs a path");
  CHECK(parse({"--pid", "1"}).run);  // sampling only
  expect_usage_error({"--pid", "1", "--folded-off-cpu", "x"}, "--folded-off-cpu needs --off-cpu");
  expect_usage_error({"--pid", "1", "--call-graph", "lbr"}, "--call-graph");
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

TEST_CASE("every numeric option: one line naming the option, the value and the valid range", "[cli]") {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<std::string> pid = {"--pid", "1"};
  const std::vector<Case> cases = {
      {{"-d", "1e308"}, "--duration 1e308 is out of range (valid: 0.001 to 31536000 seconds)"},
      {{"-d", "nan"}, "--duration nan is not a finite number (valid: 0.001 to 31536000 seconds)"},
      {{"-d", "inf"}, "--duration inf is not a finite number"},
      {{"-d", "1e999"}, "--duration 1e999 is out of range"},
      {{"-d", "5s"}, "--duration '5s' is not a number"},
      {{"-d", "0"}, "--duration 0 is out of range"},
      {{"-i", "nan"}, "--interval nan is not a finite number (valid: 0.1 to 86400 seconds)"},
      {{"-i", "0.01"}, "--interval 0.01 is out of range (valid: 0.1 to 86400 seconds)"},
      {{"--min-block-us", "nan"}, "--min-block-us nan is not a finite number (valid: 0 to 3600000000 microseconds)"},
      {{"--min-block-us", "-1"}, "--min-block-us -1 is out of range"},
      {{"--overhead-budget", "nan"}, "--overhead-budget nan is not a finite number"},
      {{"--sample-freq", "99.5"}, "--sample-freq 99.5 is not a whole number (valid: 0 to 10000 Hz)"},
      {{"--sample-freq", "20000"}, "--sample-freq 20000 is out of range"},
      {{"--top", "0"}, "--top 0 is out of range (valid: 1 to 100000 processes)"},
      {{"--max-processes", "0"}, "--max-processes 0 is out of range (valid: 1 to 1048576 processes)"},
      {{"--max-threads", "1e9"}, "--max-threads 1e9 is out of range (valid: 1 to 262144 threads)"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = pid;
    args.insert(args.end(), c.args.begin(), c.args.end());
    expect_usage_error(args, c.says);
  }
  expect_usage_error({"--pid", "0"}, "--pid 0 is out of range (valid: 1 to 4194304)");
  expect_usage_error({"--pid", "nan"}, "--pid nan is not a finite number");
  expect_usage_error({"-f", "x", "--kill-after", "-1", "--", "true"}, "--kill-after -1 is out of range (valid: 0 to 86400 seconds)");
  // The message is one short line: no 309-digit bound.
  try {
    parse({"--pid", "0"});
  } catch (const Error& e) {
    CHECK(std::string(e.what()).size() + e.hint().size() < 120);
  }
}

TEST_CASE("command-mode options: --kill-after, sizes, --summary, -o -", "[cli]") {
  auto r = parse({"-f", "x", "--kill-after", "0.5", "--max-processes", "20000", "--max-threads", "100", "--summary",
                  "s.txt", "--", "true"});
  REQUIRE(r.run);
  CHECK(r.options.session.kill_after_s == 0.5);
  CHECK(r.options.session.max_processes == 20000);
  CHECK(r.options.session.max_threads == 100);
  CHECK(r.options.summary_path == "s.txt");
  CHECK_FALSE(r.options.session.command_stdout_to_stderr);
  auto defaults = parse({"-f", "x", "--", "true"});
  CHECK(defaults.options.session.kill_after_s == 5);
  CHECK(defaults.options.session.max_processes == 8192);
  // The report owns stdout: the command writes to stderr, beside the summary.
  CHECK(parse({"-f", "x", "-o", "-", "--", "true"}).options.session.command_stdout_to_stderr);
  expect_usage_error({"--pid", "1", "--kill-after", "2"}, "--kill-after goes with a command");
  expect_usage_error({"--pid", "1", "-o", "r.json", "--summary", "r.json"}, "same file");
}

TEST_CASE("the library checks the same ranges before anything starts", "[cli]") {
  auto expect_refused = [](SessionOptions o, const std::string& says) {
    o.pid = getpid();  // never reached: nothing is attached, no privilege needed
    try {
      run_session(o);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
      CHECK_THAT(e.what(), Catch::Contains(says));
    }
  };
  SessionOptions o;
  o.duration_s = 1e308;
  expect_refused(o, "duration_s 1e+308 is out of range");
  o = {};
  o.interval_s = std::nan("");
  expect_refused(o, "interval_s nan is not a finite number");
  o = {};
  o.min_block_us = -1;
  expect_refused(o, "min_block_us -1 is out of range");
  o = {};
  o.max_processes = 0;
  expect_refused(o, "max_processes 0 is out of range");
}

TEST_CASE("gate and diff subcommands", "[cli][gate]") {
  auto g = parse({"gate", "--baseline", "a1.json", "a2.json", "--candidate", "b1.json", "b2.json", "--max-regression",
                  "parse_request.p99=10%", "--max-regression", "*.mean=5%", "--fail-on", "high", "--junit", "g.xml",
                  "--markdown", "g.md", "--json", "g.json"});
  REQUIRE(g.run);
  CHECK(g.options.command == Command::Gate);
  CHECK(g.options.gate.baseline == std::vector<std::string>{"a1.json", "a2.json"});
  CHECK(g.options.gate.candidate == std::vector<std::string>{"b1.json", "b2.json"});
  CHECK(g.options.gate.max_regression.size() == 2);
  CHECK(g.options.gate.fail_on == "high");
  CHECK(g.options.gate.confidence == 0.99);
  CHECK(g.options.gate.junit_path == "g.xml");

  auto rounds = parse({"gate", "--rounds", "10", "-f", "handle_*", "--baseline-cmd", "./old/server --bench",
                       "--candidate-cmd", "./new/server --bench", "--collectors", "sched"});
  REQUIRE(rounds.run);
  CHECK(rounds.options.gate.rounds == 10);
  CHECK(rounds.options.session.functions == std::vector<std::string>{"handle_*"});
  CHECK(rounds.options.session.collectors == std::vector<std::string>{"sched"});

  auto calibrate = parse({"gate", "--calibrate", "--baseline", "base/", "--detect", "2%", "5%"});
  REQUIRE(calibrate.run);
  CHECK(calibrate.options.gate.detect == std::vector<std::string>{"2%", "5%"});

  auto diff = parse({"diff", "base.json", "new.json"});
  REQUIRE(diff.run);
  CHECK(diff.options.command == Command::Diff);
  CHECK(diff.options.gate.diff_confidence == 0.95);

  expect_usage_error({"gate", "--candidate", "b.json"}, "--baseline");
  expect_usage_error({"gate", "--baseline", "a.json"}, "--candidate");
  expect_usage_error({"gate", "--baseline", "a.json", "--candidate", "b.json", "--max-regression", "x.p98=1%"},
                     "unknown statistic 'p98'");
  expect_usage_error({"gate", "--baseline", "a.json", "--candidate", "b.json", "--fail-on", "severe"}, "severity");
  expect_usage_error({"gate", "--baseline", "a.json", "--candidate", "b.json", "--pairing", "maybe"}, "--pairing");
  expect_usage_error({"gate", "--baseline", "a.json", "--candidate", "b.json", "--confidence", "1.5"}, "confidence");
  expect_usage_error({"gate", "--rounds", "5", "-f", "x", "--candidate-cmd", "./b"}, "--baseline-cmd");
  expect_usage_error({"gate", "--rounds", "5", "-f", "x", "--baseline-cmd", "./a"}, "--candidate-cmd");
  expect_usage_error({"gate", "--rounds", "5", "--baseline-cmd", "./a", "--candidate-cmd", "./b"}, "nothing to gate");
  expect_usage_error({"gate", "--rounds", "5", "-f", "x", "--baseline-cmd", "./a", "--candidate-cmd", "./b",
                      "--baseline", "a.json"},
                     "--rounds");
  expect_usage_error({"gate", "--baseline", "a.json", "--candidate", "b.json", "--baseline-cmd", "./a"}, "--rounds N");
  expect_usage_error({"diff", "a.json"}, "CANDIDATE");
}

TEST_CASE("gate CLI: --fail-on on sessions and analyze", "[cli][gate]") {
  CHECK(parse({"-f", "main", "--fail-on", "high", "--", "true"}).options.fail_on == "high");
  CHECK(parse({"analyze", "r.json", "--fail-on", "medium"}).options.fail_on == "medium");
  expect_usage_error({"-f", "main", "--fail-on", "urgent", "--", "true"}, "severity");
  expect_usage_error({"analyze", "r.json", "--fail-on", "0"}, "severity");
}
