// Probes that never break the target: Go (goroutines moving threads, stacks copied, panics,
// net/http), C++ exceptions and longjmp through probed functions, and functions the kernel
// cannot probe. Each workload runs once unprobed and once under perfbpf: exit code and output
// must be the same, and every call counted against the workload's own counts.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "perfbpf/error.h"
#include "perfbpf/session.h"
#include "report/json_report.h"
#include "session/funclat_session.h"
#include "session/probe_plan.h"
#include "symbols/elf_symbols.h"
#include "process.h"

using namespace perfbpf;
using namespace perfbpf::test;

namespace {

struct Compared {
  Finished bare, probed;
  Profile profile;
};

// The workload alone, then under `perfbpf -q -f ... -- CMD` (its stdout is the command's).
Compared run_both(const std::vector<std::string>& functions, const std::vector<std::string>& command) {
  Compared c;
  c.bare = run(command);
  const std::string report = temp_path("r.json");
  std::vector<std::string> argv = {perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "none", "-o", report};
  for (const auto& f : functions) argv.insert(argv.end(), {"-f", f});
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  c.probed = run(argv);
  INFO(c.probed.err);
  REQUIRE(c.probed.exit_code == c.bare.exit_code);
  c.profile = read_json_report(report);
  return c;
}

const FunctionProfile& fn(const Profile& p, const std::string& name) {
  for (const auto& f : p.functions)
    if (f.name == name || f.demangled == name) return f;
  FAIL("no function " << name << " in the profile");
  throw std::logic_error("unreachable");
}

// "key=value key=value" lines a workload printed.
std::map<std::string, uint64_t> counts(const std::string& out) {
  std::map<std::string, uint64_t> kv;
  std::istringstream in(out);
  for (std::string word; in >> word;) {
    auto eq = word.find('=');
    if (eq != std::string::npos) kv[word.substr(0, eq)] = std::stoull(word.substr(eq + 1));
  }
  return kv;
}

uint64_t lost(const Profile& p, const std::string& reason) {
  auto it = p.events.lost_by_reason.find(reason);
  return it == p.events.lost_by_reason.end() ? 0 : it->second;
}

}  // namespace

TEST_CASE("Go: goroutines that move threads and stacks that grow under probed frames", "[bpf][go]") {
  Compared c = run_both({"main.Work", "main.Leaf", "main.grow"}, {workload("go_target"), "grow", "8", "150"});
  INFO(c.probed.err);
  CHECK(c.probed.out == c.bare.out);  // it ran to its end, as it does unprobed
  auto truth = counts(c.bare.out);
  REQUIRE(truth.at("work") == 1200);
  const auto& work = fn(c.profile, "main.Work");
  CHECK(work.probe_method == "return-sites");
  CHECK(work.probe_method_reason.find("Go") != std::string::npos);
  CHECK(work.probe_offset > 0);  // past the stack-bound check: morestack restarts the function
  CHECK(work.calls == truth.at("work"));
  CHECK(fn(c.profile, "main.Leaf").calls == truth.at("leaf"));
  // grow() recurses 101 deep per Work call: 32 levels are kept, the rest counted as overflow.
  const auto& grow = fn(c.profile, "main.grow");
  CHECK(grow.calls + lost(c.profile, "depth_overflow") == 101 * truth.at("work"));
  CHECK(work.in_flight == 0);
  CHECK(work.unwound == 0);
  CHECK(lost(c.profile, "missing_entry") == 0);
  CHECK(lost(c.profile, "no_goroutine") == 0);
  CHECK(lost(c.profile, "unwound") == 0);
  // Work's interval holds grow's 101 calls: what it measured is at least their probe cost.
  CHECK(work.latency_raw.min > 0);
}

TEST_CASE("Go: a panic through a probed function is counted as unwound, never timed", "[bpf][go]") {
  Compared c = run_both({"main.Risky", "main.After"}, {workload("go_target"), "panic", "400"});
  CHECK(c.probed.out == c.bare.out);
  auto truth = counts(c.bare.out);
  const auto& risky = fn(c.profile, "main.Risky");
  CHECK(risky.calls == truth.at("risky") - truth.at("panicked"));
  CHECK(risky.unwound == truth.at("panicked"));
  CHECK(risky.in_flight == 0);
  CHECK(fn(c.profile, "main.After").calls == truth.at("after"));
  CHECK(lost(c.profile, "missing_entry") == 0);
}

TEST_CASE("Go net/http: every request the handler served is counted", "[bpf][go]") {
  const int port = free_tcp_port();
  REQUIRE(port > 0);
  const std::string report = temp_path("http.json");
  Spawned server = spawn({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "none", "-f", "main.Handle", "-o",
                          report, "--", workload("go_target"), "http", std::to_string(port)});
  REQUIRE(read_until(server.stdout_fd, "listening", 20000).find("listening") != std::string::npos);
  REQUIRE(eventually([&] { return !http_get(port, "/warmup").empty(); }, 5000));
  Finished ab = run({"/usr/bin/ab", "-q", "-n", "2000", "-c", "8", "http://127.0.0.1:" + std::to_string(port) + "/"});
  INFO(ab.out << ab.err);
  CHECK(ab.exit_code == 0);
  http_get(port, "/quit");
  Finished done = finish(server);
  INFO(done.err);
  CHECK(done.exit_code == 0);
  auto truth = counts(done.out);
  REQUIRE(truth.count("served"));
  CHECK(truth.at("served") == 2001);  // ab's requests and the warm-up
  Profile p = read_json_report(report);
  const auto& handle = fn(p, "main.Handle");
  CHECK(handle.probe_method == "return-sites");
  CHECK(handle.calls + handle.in_flight_at_attach == truth.at("served"));
  CHECK(handle.in_flight_at_attach == 0);  // the server was idle when the probes went in
  CHECK(p.events.lost == 0);
}

TEST_CASE("C++ exceptions through probed functions: the program runs as unprobed, left calls unwound", "[bpf]") {
  Compared c = run_both({"inner", "middle", "outer", "after"}, {workload("unwind_target"), "throw", "3000"});
  CHECK(c.probed.out == c.bare.out);
  CHECK(c.probed.exit_code == 0);
  auto truth = counts(c.bare.out);
  const uint64_t n = truth.at("outer"), thrown = truth.at("thrown");
  REQUIRE(thrown == 1000);
  for (const char* name : {"inner", "middle", "outer"}) {
    INFO(name);
    const auto& f = fn(c.profile, name);
    CHECK(f.probe_method == "return-sites");
    CHECK(f.calls == n - thrown);
    CHECK(f.unwound == thrown);
    CHECK(f.in_flight == 0);
  }
  // after() calls nothing: no exception can pass through it, so it keeps the cheap uretprobe.
  CHECK(fn(c.profile, "after").probe_method == "uretprobe");
  CHECK(fn(c.profile, "after").calls == n);
  CHECK(lost(c.profile, "unwound") == 3 * thrown);
  CHECK(lost(c.profile, "missing_entry") == 0);
  CHECK(lost(c.profile, "depth_overflow") == 0);
}

TEST_CASE("longjmp out of probed functions: unwound, later calls timed, no overflow", "[bpf]") {
  // 2000 jumps: far more than the 32 frames a thread keeps, which used to fill up for good.
  Compared c = run_both({"jumper", "outer_lj", "after"}, {workload("unwind_target"), "longjmp", "4000"});
  CHECK(c.probed.out == c.bare.out);
  auto truth = counts(c.bare.out);
  const uint64_t n = truth.at("outer_lj"), jumped = truth.at("jumped");
  REQUIRE(jumped == 2000);
  for (const char* name : {"jumper", "outer_lj"}) {
    INFO(name);
    CHECK(fn(c.profile, name).calls == n - jumped);
    CHECK(fn(c.profile, name).unwound == jumped);
    CHECK(fn(c.profile, name).in_flight == 0);
  }
  CHECK(fn(c.profile, "after").calls == n);
  CHECK(lost(c.profile, "depth_overflow") == 0);
  CHECK(lost(c.profile, "missing_entry") == 0);
}

TEST_CASE("longjmp in a C program keeps its uretprobes, and is counted all the same", "[bpf]") {
  // No C++ runtime and no Go: the cheap method is safe, longjmp included.
  Compared c = run_both({"leaf"}, {workload("funclat_target"), "count", "100"});
  CHECK(fn(c.profile, "leaf").probe_method == "uretprobe");
  CHECK(fn(c.profile, "leaf").probe_method_reason.find("no C++") != std::string::npos);
}

TEST_CASE("a function the kernel cannot probe: skipped by name in a glob, an error when named", "[bpf]") {
  SECTION("inside a glob: the others are timed exactly") {
    Compared c = run_both({"spin_*"}, {workload("lock_target"), "2000"});
    CHECK(c.probed.out == c.bare.out);
    INFO(c.probed.err);
    CHECK(c.probed.err.find("skipped 1 function that cannot be probed: spin_locked") != std::string::npos);
    REQUIRE(c.profile.skipped_functions.size() == 1);
    CHECK(c.profile.skipped_functions[0].name == "spin_locked");
    CHECK(c.profile.skipped_functions[0].reason.find("LOCK") != std::string::npos);
    CHECK(c.profile.skipped_functions[0].spec == "spin_*");
    REQUIRE(c.profile.functions.size() == 2);
    CHECK(fn(c.profile, "spin_plain").calls == 2000);
    CHECK(fn(c.profile, "spin_other").calls == 2000);
  }
  SECTION("named exactly: a clear error naming it, nothing run") {
    Finished r = run({perfbpf_bin(), "-q", "-f", "spin_locked", "-o", temp_path("x.json"), "--",
                      workload("lock_target"), "10"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("perfbpf: error: cannot probe spin_locked") != std::string::npos);
    CHECK(r.err.find("LOCK") != std::string::npos);
    CHECK(r.out.find("spin_locked=") == std::string::npos);
  }
  SECTION("libc's pthread_spin_lock, the case users meet") {
    Finished r = run({perfbpf_bin(), "-q", "-f", "libc:pthread_spin_lock", "-o", temp_path("x.json"), "--",
                      workload("lock_target"), "10"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("cannot probe pthread_spin_lock") != std::string::npos);
  }
}

TEST_CASE("a link the kernel refuses is split until the function at fault is found", "[bpf]") {
  // The plan's own check is bypassed: the entry probe is put on the LOCK instruction as if
  // the check had missed it, and the kernel's refusal must name the function, not fail all.
  Spawned target = spawn({workload("lock_target"), "100", "wait"});
  const std::string path = workload("lock_target");
  ElfSymbols symbols = ElfSymbols::load(path);
  std::vector<PlannedProbe> probes;
  for (const char* name : {"spin_locked", "spin_plain", "spin_other"}) {
    for (const auto& f : symbols.functions()) {
      if (f.name != name) continue;
      PlannedProbe p;
      p.target.attach_path = p.target.object = path;
      p.target.function = f;
      p.entry_offset = f.file_offset;
      probes.push_back(p);
    }
  }
  REQUIRE(probes.size() == 3);
  FuncLatSettings settings;
  uint64_t records = 0;
  FuncLatSession bpf(settings, [&](const CallRecord&) { records++; });
  bpf.add_target_tgid(static_cast<uint32_t>(target.pid));
  auto refused = bpf.attach(probes, target.pid);
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].probe_id == 0);
  CHECK(refused[0].error == 524);  // ENOTSUPP
  REQUIRE(write(target.stdin_fd, "go\n", 3) == 3);
  Finished done = finish(target);
  CHECK(done.exit_code == 0);
  bpf.detach_and_drain();
  CHECK(records == 200);  // spin_plain and spin_other, 100 calls each
}
