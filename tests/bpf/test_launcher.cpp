// `perfbpf -- CMD` as a user runs it: only the command's own work counts (from its exec on),
// its rows carry its name, stdout stays the command's, a command that will not stop is ended
// as timeout(1) ends one, it dies with perfbpf, and no process is lost to the target set
// silently. Every figure is checked against the command's own account or a bpftrace witness.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "process.h"

using namespace perfbpf::test;
using nlohmann::json;

namespace {

// key=value words of a workload's output.
std::map<std::string, std::string> key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream words(text);
  for (std::string kv; words >> kv;)
    if (auto eq = kv.find('='); eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
  return out;
}

const json* process_row(const json& report, int64_t pid) {
  for (const auto& p : report.at("system").at("processes"))
    if (p.at("pid") == pid) return &p;
  return nullptr;
}

// The libc the test itself runs on, as the command will load it.
std::string libc_path() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    auto slash = line.find('/');
    if (slash != std::string::npos && line.find("/libc.so.6") != std::string::npos) return line.substr(slash);
  }
  FAIL("no libc.so.6 in /proc/self/maps");
  return {};
}

// bpftrace needs tracefs, which a fresh machine has not mounted.
void ensure_tracefs() {
  struct stat st {};
  if (stat("/sys/kernel/tracing/events", &st) == 0) return;
  REQUIRE(mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0);
}

// A process that is gone, or a zombie nobody reaped yet: it runs nothing.
bool not_running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  return text.empty() || paren == std::string::npos || text.substr(paren + 2, 1) == "Z";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("command mode: perfbpf's forked launcher is not counted, only the command from its exec on", "[bpf][launcher]") {
  const std::string target = workload("launch_target");
  std::string report = temp_path("mallocs.json");
  // Between fork and exec the launcher runs perfbpf's own code, which calls malloc; the
  // workload calls it exactly 1000 times itself and nothing in it allocates otherwise.
  Finished r = run({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "none", "-f", "libc:malloc", "-o", report,
                    "--", target, "mallocs", "1000"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const uint64_t calls = load_json(report).at("functions").at(0).at("calls").get<uint64_t>();
  CHECK(calls == 1000);

  // The independent witness: bpftrace -c counts the command's calls from its exec.
  ensure_tracefs();
  Finished w = run({"/usr/bin/bpftrace", "-e",
                    "uprobe:" + libc_path() + ":malloc /pid == cpid/ { @calls = count(); }", "-c",
                    target + " mallocs 1000"});
  INFO(w.err);
  REQUIRE(w.exit_code == 0);
  CHECK(w.out.find("@calls: " + std::to_string(calls)) != std::string::npos);
}

TEST_CASE("command mode: the command's memory is its own from exec on, not the launcher's copy of perfbpf", "[bpf][launcher]") {
  std::string report = temp_path("hwm.json");
  Finished r = run({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "memory", "-o", report, "--",
                    workload("launch_target"), "hwm", "4"});
  INFO(r.err << r.out);
  REQUIRE(r.exit_code == 0);
  json j = load_json(report);
  const json* row = process_row(j, j.at("session").at("pid").get<int64_t>());
  REQUIRE(row);
  // Truth: the process's own high-water RSS (VmHWM), which exec reset with its new memory map.
  // The collector reads the same kernel counters, so its peak cannot exceed it by more than
  // what the exit path touches after the workload read it (a few pages; 256 KiB allows 64).
  const uint64_t hwm = std::stoull(key_values(r.out).at("vm_hwm_bytes"));
  const uint64_t peak = row->at("memory").at("rss_peak_bytes").get<uint64_t>();
  INFO("rss_peak_bytes " << peak << ", VmHWM " << hwm);
  CHECK(peak >= 4u << 20);
  CHECK(peak <= hwm + (256u << 10));
}

TEST_CASE("command mode: rows are named after the program run, with any collector set", "[bpf][launcher]") {
  for (const char* collectors : {"memory", "block", "sched"}) {
    DYNAMIC_SECTION("--collectors " << collectors) {
      std::string report = temp_path("names.json");
      // sh forks a child that execs the workload and is reaped before the session ends: its
      // name can come only from what BPF saw at its exec.
      Finished r = run({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", collectors, "-o", report, "--",
                        "/bin/sh", "-c", workload("launch_target") + " hwm 1; exec " + workload("launch_target") + " hwm 1"});
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      json j = load_json(report);
      const json* command = process_row(j, j.at("session").at("pid").get<int64_t>());
      REQUIRE(command);
      CHECK(command->at("comm") == "launch_target");  // exec'd over sh, then over perfbpf
      if (std::string(collectors) == "block") continue;  // no I/O: only members have rows
      bool child_named = false;
      for (const auto& p : j.at("system").at("processes")) {
        CHECK(p.at("comm") != "perfbpf");
        CHECK(p.at("comm") != "");
        if (p.at("pid") != j.at("session").at("pid")) child_named |= p.at("comm") == "launch_target";
      }
      CHECK(child_named);
    }
  }
}

TEST_CASE("command mode: stdout is the command's alone, the summary goes to stderr or --summary", "[bpf][launcher]") {
  std::string expected;
  for (int i = 1; i <= 50; i++) expected += "line " + std::to_string(i) + "\n";
  const std::vector<std::string> command = {"--", workload("launch_target"), "lines", "50"};
  auto args = [&](std::vector<std::string> options) {
    options.insert(options.begin(), perfbpf_bin());
    options.insert(options.end(), command.begin(), command.end());
    return options;
  };

  SECTION("the summary on stderr") {
    Finished r = run(args({"-f", "child_work", "--sample-freq", "0", "--collectors", "none", "-o", temp_path("r.json")}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == expected);  // byte for byte: perfbpf -- ./prog > out keeps out intact
    CHECK(r.err.find("FUNCTION") != std::string::npos);
    CHECK(r.err.find("events: ") != std::string::npos);
  }
  SECTION("-o -: the report alone on stdout, the command's output on stderr") {
    Finished r = run(args({"-f", "child_work", "--sample-freq", "0", "--collectors", "none", "-o", "-"}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    json j = json::parse(r.out);  // throws if anything else is on stdout
    CHECK(j.at("schema") == "perfbpf.report/1");
    CHECK(r.err.find(expected) != std::string::npos);
  }
  SECTION("--summary FILE") {
    std::string summary = temp_path("summary.txt");
    Finished r = run(args({"-f", "child_work", "--sample-freq", "0", "--collectors", "none", "-o", temp_path("r.json"),
                           "--summary", summary}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == expected);
    CHECK(r.err.find("events: ") == std::string::npos);
    std::ifstream in(summary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("events: ") != std::string::npos);
  }
}

TEST_CASE("a duration ends a command that ignores SIGTERM: SIGKILL after --kill-after, report written", "[bpf][launcher]") {
  std::string report = temp_path("ignore.json");
  auto t0 = std::chrono::steady_clock::now();
  Finished r = run({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "none", "-f", "child_work", "-o", report,
                    "-d", "1", "--kill-after", "1", "--", workload("launch_target"), "ignore-term", "600"});
  const double elapsed = seconds_since(t0);
  INFO(r.err);
  CHECK(r.exit_code == 128 + SIGKILL);  // the command's status, as with timeout -k
  CHECK(elapsed < 60);                  // not the command's 600 s; ~2 s unless the machine is very busy
  json j = load_json(report);
  CHECK(j.at("session").at("end_reason") == "duration");
  CHECK(j.at("session").at("exit_code") == 128 + SIGKILL);
  // Its descendant, which ignores SIGTERM too, went with it (timeout signals the group).
  auto kv = key_values(r.out);
  REQUIRE(kv.count("child"));
  CHECK(eventually([&] { return not_running(std::stoi(kv.at("child"))); }, 5000));
}

TEST_CASE("Ctrl-C or SIGTERM during the kill grace period ends perfbpf at once, with the report", "[bpf][launcher]") {
  for (int sig : {SIGINT, SIGTERM}) {
    DYNAMIC_SECTION("signal " << sig) {
      std::string report = temp_path("grace.json");
      Spawned prof = spawn({perfbpf_bin(), "--sample-freq", "0", "--collectors", "none", "-f", "child_work", "-o", report,
                            "-d", "0.5", "--kill-after", "600", "--", workload("launch_target"), "ignore-term", "600"});
      std::string banner = read_until(prof.stderr_fd, "Ctrl-C to stop", 10000);
      REQUIRE(banner.find("Ctrl-C to stop") != std::string::npos);
      // The duration ends 0.5 s after the banner; the command got SIGTERM and ignores it.
      usleep(3'000'000);
      auto t0 = std::chrono::steady_clock::now();
      kill(prof.pid, sig);
      Finished done = finish(prof);
      INFO(done.err);
      CHECK(seconds_since(t0) < 60);  // not the 600 s grace period
      CHECK(done.exit_code == 128 + SIGKILL);
      json j = load_json(report);
      CHECK(j.at("session").at("end_reason") == "duration");
    }
  }
}

TEST_CASE("SIGKILL of perfbpf takes the command with it (it never runs on unprofiled)", "[bpf][launcher]") {
  Spawned prof = spawn({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "none", "-f", "child_work", "-o",
                        temp_path("k.json"), "--", workload("launch_target"), "sleep", "600"});
  std::string ready = read_until(prof.stdout_fd, "\n", 10000);
  auto kv = key_values(ready);
  REQUIRE(kv.count("ready"));
  const int command = std::stoi(kv.at("ready"));
  CHECK_FALSE(not_running(command));
  kill(prof.pid, SIGKILL);
  // Not finish(): a surviving command would hold the output pipes open.
  waitpid(prof.pid, nullptr, 0);
  for (int fd : {prof.stdin_fd, prof.stdout_fd, prof.stderr_fd}) close(fd);
  const bool gone = eventually([&] { return not_running(command); }, 5000);
  CHECK(gone);
  if (!gone) kill(command, SIGKILL);  // the test's own leftover
}

TEST_CASE("past --max-processes live descendants, every process left out is counted and warned of", "[bpf][launcher]") {
  // 9000 children alive at once, each calling child_work once. The set holds the command and
  // 8191 children by default: 809 cannot join.
  const std::vector<std::string> command = {"--", workload("launch_target"), "children", "9000"};
  auto session = [&](std::vector<std::string> options) {
    std::string report = temp_path("many.json");
    std::vector<std::string> argv = {perfbpf_bin(), "--sample-freq", "0", "--collectors", "none", "-f", "child_work",
                                     "-o", report};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), command.begin(), command.end());
    Finished r = run(argv);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.out.find("children=9000 ok=9000") != std::string::npos);  // the workload's own account
    return std::pair{load_json(report), r.err};
  };

  SECTION("default size: 809 processes lost by name, the summary warns") {
    auto [j, err] = session({});
    const json& set = j.at("session").at("target_set");
    CHECK(set.at("max_processes") == 8192);
    CHECK(set.at("lost") == 809);
    CHECK(set.at("lost_by_reason").at("target_set_full") == 809);
    CHECK(j.at("functions").at(0).at("calls") == 9000 - 809);
    CHECK(err.find("WARNING: 809 processes were never profiled") != std::string::npos);
    CHECK(err.find("100.00% complete") == std::string::npos);
    bool found = false;
    for (const auto& b : j.at("analysis").at("bottlenecks")) found |= b.at("id") == "lost-events:processes";
    CHECK(found);
  }
  SECTION("--max-processes 9001: all 9000 calls, nothing lost") {
    auto [j, err] = session({"--max-processes", "9001"});
    const json& set = j.at("session").at("target_set");
    CHECK(set.at("lost") == 0);
    CHECK(set.at("admitted") == 9001);
    CHECK(j.at("functions").at(0).at("calls") == 9000);
    // Other warnings (9000 forks make the probes' share of time high) are not about the set.
    CHECK(err.find("never profiled") == std::string::npos);
  }
}

TEST_CASE("bad option values stop perfbpf before the command starts", "[bpf][launcher]") {
  std::string marker = temp_path("started");
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"-d", "1e308"}, {"-d", "nan"}, {"-i", "nan"}, {"--min-block-us", "nan"}, {"-i", "0.01"}, {"--kill-after", "inf"}}) {
    DYNAMIC_SECTION(bad[0] << " " << bad[1]) {
      std::vector<std::string> argv = {perfbpf_bin(), "-q", "-o", temp_path("x.json")};
      argv.insert(argv.end(), bad.begin(), bad.end());
      argv.insert(argv.end(), {"--", "/bin/sh", "-c", "touch " + marker});
      Finished r = run(argv);
      CHECK(r.exit_code == 2);
      CHECK(r.err.rfind("perfbpf: error: --", 0) == 0);
      CHECK(r.err.find("valid: ") != std::string::npos);
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      CHECK(r.err.size() < 160);  // no 309-digit bound
      CHECK_FALSE(std::filesystem::exists(marker));
    }
  }
  SECTION("an unwritable --flamegraph or --alerts names that option, not -o") {
    for (const char* option : {"--flamegraph", "--alerts", "--summary"}) {
      Finished r = run({perfbpf_bin(), option, "/nonexistent-dir/x", "-o", temp_path("x.json"), "--", "/bin/sh", "-c",
                        "touch " + marker});
      CHECK(r.exit_code == 1);
      CHECK(r.err.find(std::string("(") + option + ": the directory does not exist)") != std::string::npos);
      CHECK(r.err.find("-o") == std::string::npos);
      CHECK_FALSE(std::filesystem::exists(marker));
    }
  }
}

TEST_CASE("the shortest interval, 0.1 s, is honoured", "[bpf][launcher]") {
  std::string report = temp_path("interval.json");
  Finished r = run({perfbpf_bin(), "-q", "--sample-freq", "0", "--collectors", "sched", "-i", "0.1", "-d", "2", "-o",
                    report, "--", workload("launch_target"), "sleep", "30"});
  INFO(r.err);
  json j = load_json(report);
  std::vector<double> dts;
  for (const auto& s : j.at("system").at("series")) dts.push_back(s.at("dt").get<double>());
  REQUIRE(dts.size() >= 10);
  std::sort(dts.begin(), dts.end());
  // Each interval is scheduled from the last due time, so a late wake-up shortens the next
  // one: the median stays at the interval however busy the machine (the old loop's 100 ms
  // tick gave 0.1-0.2 s). 20 % leaves room for a median of late ones on a loaded VM.
  const double median = dts[dts.size() / 2];
  CHECK(median == Approx(0.1).epsilon(0.2));
  CHECK(j.at("system").at("interval_s") == 0.1);
}
