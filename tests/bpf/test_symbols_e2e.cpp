// Names a user gives with -f, resolved the way the target runs them, end to end: IFUNC
// implementations, MiniDebugInfo, versioned symbols, a script as the command, a stripped Go
// binary. Counts are checked against the workloads' own counts, and every probed run's exit
// code and output against an unprobed run's.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "process.h"

using namespace perfbpf::test;
using nlohmann::json;

namespace {

std::string fixture(const std::string& name) { return workload("symbols/" + name); }

json load(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return json::parse(in);
}

const json& row(const json& report, const std::string& name) {
  for (const auto& f : report.at("functions"))
    if (f.at("name") == name) return f;
  FAIL("no function " << name << " in the report");
  throw std::logic_error("unreachable");
}

uint64_t calls(const json& report, const std::string& name) { return row(report, name).at("calls").get<uint64_t>(); }

// perfbpf -q ... -o REPORT -- COMMAND: the command's stdout is perfbpf's (no summary with -q).
Finished profile(const std::vector<std::string>& args, const std::vector<std::string>& command, const std::string& report) {
  std::vector<std::string> argv{perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "none", "-o", report};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  return run(argv);
}

// The probed run changed nothing the target shows: same exit code, same output.
void same_as_unprobed(const Finished& probed, const std::vector<std::string>& command) {
  Finished plain = run(command);
  INFO(probed.err);
  CHECK(probed.exit_code == plain.exit_code);
  CHECK(probed.out == plain.out);
}

// Samples in the folded file whose stack holds FRAME, and all samples.
std::pair<uint64_t, uint64_t> folded_share(const std::string& path, const std::string& frame) {
  std::ifstream in(path);
  uint64_t with = 0, all = 0;
  for (std::string line; std::getline(in, line);) {
    size_t space = line.rfind(' ');
    uint64_t n = std::stoull(line.substr(space + 1));
    all += n;
    if (line.find(";" + frame + ";") != std::string::npos || line.find(";" + frame + " ") != std::string::npos) with += n;
  }
  return {with, all};
}

}  // namespace

TEST_CASE("IFUNC: strlen and strcmp counted at the implementation the command runs", "[bpf][symbols][ifunc]") {
  const std::vector<std::string> command{fixture("ifunc_target"), "calls", "20000"};
  const std::string report = temp_path("ifunc.json");
  Finished r = profile({"-f", "libc:strlen", "-f", "libc:strcmp"}, command, report);
  same_as_unprobed(r, command);
  CHECK_THAT(r.err, Catch::Contains("strlen is an IFUNC: probing"));
  json j = load(report);
  const std::map<std::string, uint64_t> at = code_addresses(r.out);
  for (const char* name : {"strlen", "strcmp"}) {
    INFO(name);
    // The workload makes exactly 20000 calls of each and no other libc string call.
    CHECK(calls(j, name) == 20000);
    const json& f = row(j, name);
    CHECK(f.at("address") == at.at(name));
    CHECK(f.at("version") == "GLIBC_2.2.5");
    CHECK(f.at("implementation").at("source") == "perfbpf");
    CHECK(f.at("implementation").at("name") != name);
  }
}

TEST_CASE("IFUNC --pid: the implementation the target bound under its own tunables", "[bpf][symbols][ifunc]") {
  // Tunables that mask AVX-512 in the target only: on CPUs that have it, the target's strlen
  // and memcpy are not perfbpf's own, and only its relocated slots tell which they are.
  const std::vector<std::string> command{"/usr/bin/env", "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW",
                                         fixture("ifunc_target"), "wait", "30000"};
  Spawned target = spawn(command);
  std::string head = read_until(target.stdout_fd, "ready", 10000);
  REQUIRE(head.find("ready") != std::string::npos);
  const std::map<std::string, uint64_t> at = code_addresses(head);
  const std::string report = temp_path("ifunc-pid.json");
  Spawned prof = spawn({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "none", "--pid",
                        std::to_string(target.pid), "-f", "libc:strlen", "-f", "libc:memcpy@@GLIBC_2.14", "-f",
                        "libifunc_lib:ifunc_scale", "-o", report});
  std::string banner = read_until(prof.stderr_fd, "Ctrl-C to stop", 20000);
  INFO(banner);
  REQUIRE(banner.find("Ctrl-C to stop") != std::string::npos);
  REQUIRE(write(target.stdin_fd, "g", 1) == 1);
  Finished t = finish(target);
  Finished p = finish(prof);  // the session ends with the target
  INFO(p.err);
  REQUIRE(p.exit_code == 0);

  // Unprobed, the same target prints the same and exits the same.
  Spawned plain = spawn(command);
  std::string plain_head = read_until(plain.stdout_fd, "ready", 10000);
  REQUIRE(write(plain.stdin_fd, "g", 1) == 1);
  Finished plain_end = finish(plain);
  CHECK(head + t.out == plain_head + plain_end.out);
  CHECK(t.exit_code == plain_end.exit_code);

  json j = load(report);
  for (const auto& [name, row_name] : std::map<std::string, std::string>{
           {"strlen", "strlen"}, {"memcpy", "memcpy@@GLIBC_2.14"}, {"ifunc_scale", "ifunc_scale"}}) {
    INFO(name);
    const json& f = row(j, row_name);
    CHECK(f.at("calls") == 30000);  // the window holds exactly the workload's calls
    CHECK(f.at("address") == at.at(name));
    CHECK(f.at("implementation").at("source") == "target");
  }
  CHECK_THAT(row(j, "ifunc_scale").at("implementation").at("name").get<std::string>(), Catch::StartsWith("scale_"));
}

TEST_CASE("IFUNC: one that cannot be known is refused in one line, not probed at its resolver", "[bpf][symbols][ifunc]") {
  // Before the command runs, only its own resolver knows; perfbpf does not load this library.
  Finished r = profile({"-f", "libifunc_lib:ifunc_scale"}, {fixture("ifunc_target"), "calls", "10"}, temp_path("x.json"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::StartsWith("perfbpf: error: ifunc_scale in ") && Catch::Contains("is an IFUNC"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.out.empty());  // the command never ran
}

TEST_CASE("MiniDebugInfo: a function named only in .gnu_debugdata, for -f and for stacks", "[bpf][symbols]") {
  const std::vector<std::string> command{fixture("mdi_target_mini"), "300"};
  const std::string report = temp_path("mdi.json");
  Finished r = profile({"-f", "hidden_work"}, command, report);
  same_as_unprobed(r, command);
  CHECK(calls(load(report), "hidden_work") == 300);

  // Stacks: the spin is almost all the process does, and its frames are named.
  const std::string folded = temp_path("mdi.folded");
  Finished s = run({perfbpf_bin(), "-q", "--sample-freq", "997", "--collectors", "none", "--folded", folded, "-o",
                    temp_path("mdi-s.json"), "--", fixture("mdi_target_mini"), "spin", "600"});
  INFO(s.err);
  REQUIRE(s.exit_code == 0);
  auto [named, all] = folded_share(folded, "hidden_spin");
  INFO(named << " of " << all << " samples name hidden_spin");
  CHECK(all > 200);  // 0.6 s of CPU time at 997 Hz: about 600
  CHECK(named * 2 > all);
}

TEST_CASE("versioned symbols: each row carries its version, -f NAME@VERSION picks one", "[bpf][symbols]") {
  const std::string report = temp_path("vers.json");
  for (const auto& [program, bound] : std::map<std::string, std::string>{{"vers_user_old", "vfn@V1"}, {"vers_user_new", "vfn@@V2"}}) {
    INFO(program);
    const std::vector<std::string> command{fixture(program), "4000"};
    Finished r = profile({"-f", "libvers_lib:vfn"}, command, report);
    same_as_unprobed(r, command);
    json j = load(report);
    CHECK(j.at("functions").size() == 2);
    CHECK(calls(j, bound) == 4000);
    CHECK(calls(j, bound == "vfn@V1" ? "vfn@@V2" : "vfn@V1") == 0);
    CHECK(row(j, "vfn@V1").at("version") == "V1");
    CHECK(row(j, "vfn@@V2").at("version") == "V2");
  }
  Finished one = profile({"-f", "libvers_lib:vfn@V1"}, {fixture("vers_user_old"), "100"}, report);
  REQUIRE(one.exit_code == 0);
  json j = load(report);
  REQUIRE(j.at("functions").size() == 1);
  CHECK(calls(j, "vfn@V1") == 100);
}

TEST_CASE("a script as the command with -f /path/to/elf:fn", "[bpf][symbols]") {
  const std::string dir = std::filesystem::path(temp_path("x")).parent_path();
  const std::string script = dir + "/run_count.sh";
  std::ofstream(script) << "#!/bin/sh\necho script starts\n\"$1\" count \"$2\"\necho script ends\nexit 3\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::others_read | std::filesystem::perms::others_exec |
                                           std::filesystem::perms::group_exec);
  const std::vector<std::string> command{script, workload("funclat_target"), "250"};
  const std::string report = temp_path("script.json");
  Finished r = profile({"-f", workload("funclat_target") + ":leaf"}, command, report);
  same_as_unprobed(r, command);
  CHECK(r.exit_code == 3);
  CHECK(calls(load(report), "leaf") == 250);

  // Without an OBJECT the main executable is meant, and a script has none to probe.
  Finished bad = profile({"-f", "leaf"}, command, report);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("is a script (run by /bin/sh)") && Catch::Contains("-f /bin/sh:FUNC"));
}

TEST_CASE("a stripped Go binary: functions and stacks named from its pclntab", "[bpf][symbols][go]") {
  const std::vector<std::string> command{fixture("go_target_stripped"), "calls", "5000"};
  const std::string report = temp_path("go.json");
  Finished r = profile({"-f", "main.(*Server).handle", "-f", "main.Work"}, command, report);
  same_as_unprobed(r, command);
  json j = load(report);
  CHECK(calls(j, "main.(*Server).handle") == 5000);
  CHECK(calls(j, "main.Work") == 5000);

  const std::string folded = temp_path("go.folded");
  Finished s = run({perfbpf_bin(), "-q", "--sample-freq", "997", "--collectors", "none", "--folded", folded, "-o",
                    temp_path("go-s.json"), "--", fixture("go_target_stripped"), "spin", "600"});
  INFO(s.err);
  REQUIRE(s.exit_code == 0);
  auto [named, all] = folded_share(folded, "main.spin");
  INFO(named << " of " << all << " samples name main.spin");
  CHECK(all > 200);  // 0.6 s of CPU time at 997 Hz: about 600
  CHECK(named * 2 > all);
}
