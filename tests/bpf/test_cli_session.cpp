// The perfbpf binary end to end: what a user types, what they see, what lands on disk.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.h"

using namespace perfbpf::test;
using nlohmann::json;

namespace {

// The ids of the BPF programs PID holds open (its fdinfo says prog_id for each).
std::vector<uint32_t> bpf_programs_of(pid_t pid) {
  std::vector<uint32_t> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec)) {
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);)
      if (line.rfind("prog_id:", 0) == 0) ids.push_back(static_cast<uint32_t>(std::stoul(line.substr(8))));
  }
  return ids;
}

const json& function_named(const json& report, const std::string& name) {
  for (const auto& f : report.at("functions"))
    if (f.at("name") == name) return f;
  FAIL("no function " << name << " in the report");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("perfbpf -- CMD: summary on stderr, JSON report, command's exit code", "[bpf][cli]") {
  std::string report = temp_path("r.json");
  std::filesystem::create_directories(std::string(PERFBPF_WORKLOADS) + "/../svg");
  const std::string svg = std::string(PERFBPF_WORKLOADS) + "/../svg/session.svg";
  const std::string folded = report + ".folded";
  Finished r = run({perfbpf_bin(), "-f", "leaf", "-f", "recurse", "-o", report, "--sample-freq", "999", "--folded",
                    folded, "--flamegraph", svg, "--", workload("funclat_target"), "shares", "300"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("leaf") != std::string::npos);
  CHECK(r.err.find("P99") != std::string::npos);
  CHECK(r.out.find("spin_three_ns=") != std::string::npos);  // the command's own output
  CHECK(r.out.find("P99") == std::string::npos);             // and nothing of perfbpf's
  CHECK(r.err.find("hottest functions") != std::string::npos);
  json j = load_json(report);
  CHECK(j.at("schema") == "perfbpf.report/1");
  CHECK(function_named(j, "leaf").at("calls") == 0);
  // The folded file and the SVG carry the samples the report has.
  std::ifstream folded_in(folded);
  uint64_t folded_total = 0;
  for (std::string line; std::getline(folded_in, line);) folded_total += std::stoull(line.substr(line.rfind(' ') + 1));
  CHECK(folded_total == j.at("stacks").at("samples").get<uint64_t>());
  CHECK(folded_total > 100);
  std::ifstream svg_in(svg);
  std::string svg_text((std::istreambuf_iterator<char>(svg_in)), std::istreambuf_iterator<char>());
  CHECK(svg_text.find("spin_three") != std::string::npos);
  CHECK(function_named(j, "recurse").at("calls") == 0);
  CHECK(j.at("session").at("mode") == "command");
  // A real session's report joins the fixtures that the schema test validates.
  std::filesystem::create_directories(std::string(PERFBPF_WORKLOADS) + "/../reports");
  std::filesystem::copy_file(report, std::string(PERFBPF_WORKLOADS) + "/../reports/session.json",
                             std::filesystem::copy_options::overwrite_existing);

  SECTION("perfbpf report re-renders the summary without a session") {
    Finished again = run({perfbpf_bin(), "report", report});
    CHECK(again.exit_code == 0);
    CHECK(again.out.find("leaf") != std::string::npos);
    CHECK(again.out.find("spin_three") != std::string::npos);
  }
  SECTION("the command's failure is perfbpf's exit code") {
    Finished bad = run({perfbpf_bin(), "-q", "-f", "leaf", "-o", report, "--", workload("funclat_target"), "bogus"});
    CHECK(bad.exit_code == 2);
  }
}

TEST_CASE("Ctrl-C ends a --pid session cleanly and still writes the report", "[bpf][cli]") {
  Spawned target = spawn({workload("funclat_target"), "wait", "10"});
  REQUIRE(read_until(target.stdout_fd, "ready", 5000).find("ready") != std::string::npos);
  std::string report = temp_path("sigint.json");
  Spawned prof = spawn({perfbpf_bin(), "--pid", std::to_string(target.pid), "-f", "leaf", "-o", report});
  std::string banner = read_until(prof.stderr_fd, "Ctrl-C to stop", 10000);
  INFO(banner);
  REQUIRE(banner.find("Ctrl-C to stop") != std::string::npos);
  const std::vector<uint32_t> programs = bpf_programs_of(prof.pid);
  CHECK_FALSE(programs.empty());

  kill(prof.pid, SIGINT);
  Finished done = finish(prof);
  INFO(done.err);
  CHECK(done.exit_code == 0);
  json j = load_json(report);
  CHECK(j.at("session").at("end_reason") == "signal");
  CHECK(j.at("session").at("pid") == target.pid);

  // The target is untouched and keeps running normally without probes.
  REQUIRE(write(target.stdin_fd, "go\n", 3) == 3);
  Finished t = finish(target);
  CHECK(t.exit_code == 0);
  CHECK(t.out.find("leaf_calls=10") != std::string::npos);

  // Nothing of ours is left in the kernel: the session's programs are soon gone (the kernel
  // frees them one RCU grace period after their last link). Its own programs, by id: other
  // perfbpf sessions may run on this machine meanwhile.
  CHECK(eventually([&] { return bpf_programs_freed(programs); }, 10000));
}

TEST_CASE("user errors: one line, a hint, exit code 1 or 2", "[bpf][cli]") {
  SECTION("unknown pid") {
    Finished r = run({perfbpf_bin(), "--pid", "999999", "-f", "leaf"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.rfind("perfbpf: error: no process with pid 999999", 0) == 0);
  }
  SECTION("missing function shows the closest names") {
    Finished r = run({perfbpf_bin(), "-f", "thread_wrk", "-o", temp_path("x.json"), "--", workload("funclat_target"), "count", "1"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("thread_work") != std::string::npos);
  }
  SECTION("unwritable output fails before anything is attached") {
    Finished r = run({perfbpf_bin(), "-f", "leaf", "-o", "/nonexistent-dir/r.json", "--",
                      workload("funclat_target"), "count", "1"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("/nonexistent-dir") != std::string::npos);
    CHECK(r.out.find("leaf_calls") == std::string::npos);  // the command never ran
  }
  SECTION("no privilege names the capabilities") {
    Finished r = run({perfbpf_bin(), "-f", "leaf", "-o", "-", "--", workload("funclat_target"), "count", "1"},
                     65534 /* nobody */);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("CAP_BPF") != std::string::npos);
    CHECK(r.err.find("CAP_PERFMON") != std::string::npos);
  }
  SECTION("usage errors exit 2") {
    Finished r = run({perfbpf_bin(), "-f", "leaf"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("perfbpf: error: no target") == 0);
  }
}

TEST_CASE("under sudo the command runs as the invoking user, probed in libc", "[bpf][cli]") {
  std::string report = temp_path("sudo.json");
  // Under sudo the report is written with nobody's permissions: a directory of theirs.
  REQUIRE(chown(std::filesystem::path(report).parent_path().c_str(), 65534, 65534) == 0);
  Finished r = run({"/usr/bin/env", "SUDO_UID=65534", "SUDO_GID=65534", "SUDO_USER=nobody", perfbpf_bin(),
                    "-q", "-o", report, "-f", "libc:get*uid", "--", "/usr/bin/id", "-u"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "65534\n");  // id ran as nobody, and printed nothing else
  json j = load_json(report);
  uint64_t calls = 0;
  for (const auto& f : j.at("functions")) {
    CHECK(f.at("object").get<std::string>().find("libc.so") != std::string::npos);
    calls += f.at("calls").get<uint64_t>();
  }
  CHECK(calls >= 1);
}

TEST_CASE("a stripped executable is named as such", "[bpf][cli]") {
  // Debian ships /usr/bin/id stripped: no .symtab, only the dynamic symbols it imports.
  Finished r = run({perfbpf_bin(), "-o", "-", "-f", "main", "--", "/usr/bin/id"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("stripped") != std::string::npos);
  CHECK(r.err.find(".symtab") != std::string::npos);
}

TEST_CASE("both views from one run: --off-cpu with --folded, --folded-off-cpu and flame graphs", "[bpf][cli][stacks]") {
  const std::string report = temp_path("both.json");
  const std::string dir = report.substr(0, report.rfind('/'));
  // Spins, sleeps, spins: time both on and off CPU.
  std::vector<std::string> argv = {perfbpf_bin(), "-q", "--off-cpu", "--collectors", "none", "--sample-freq", "499",
                                   "-o", report, "--folded", dir + "/cpu.folded", "--folded-off-cpu", dir + "/off.folded",
                                   "--folded-per-thread", dir + "/threads.folded", "--flamegraph", dir + "/cpu.svg",
                                   "--flamegraph-off-cpu", dir + "/off.svg", "--", "/bin/sh", "-c",
                                   "\"$0\" 150 && sleep 0.2 && \"$0\" 150", workload("nofp_target")};
  Finished r = run(argv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json j = load_json(report);
  struct Folded {
    uint64_t total = 0;
    bool off_cpu_frames = false, tids = false;
  };
  auto read = [](const std::string& path) {
    Folded f;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      f.total += std::stoull(line.substr(line.rfind(' ') + 1));
      f.off_cpu_frames |= line.find("[off-cpu: ") != std::string::npos;
      f.tids |= line.find(";tid-") != std::string::npos;
    }
    return f;
  };
  Folded on = read(dir + "/cpu.folded"), off = read(dir + "/off.folded"), threads = read(dir + "/threads.folded");
  CHECK(on.total == j.at("stacks").at("samples").get<uint64_t>());
  CHECK(off.total == j.at("off_cpu").at("samples").get<uint64_t>());
  CHECK(threads.total == on.total);
  CHECK_FALSE(on.off_cpu_frames);
  CHECK(off.off_cpu_frames);
  CHECK_FALSE(on.tids);  // threads merge unless asked per thread
  CHECK(threads.tids);
  std::ifstream cpu_svg(dir + "/cpu.svg"), off_svg(dir + "/off.svg");
  std::string cpu_text((std::istreambuf_iterator<char>(cpu_svg)), std::istreambuf_iterator<char>());
  std::string off_text((std::istreambuf_iterator<char>(off_svg)), std::istreambuf_iterator<char>());
  CHECK(cpu_text.find("nofp_lib_leaf") != std::string::npos);
  CHECK(off_text.find("[off-cpu: ") != std::string::npos);
}
