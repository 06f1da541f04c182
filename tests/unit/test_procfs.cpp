// /proc readers against the fixture tree tests/data/proc, the live /proc of this process, and
// fake cgroup trees built in a temporary directory.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "collect/procfs.h"
#include "perfbpf/error.h"

using namespace perfbpf;
namespace fs = std::filesystem;

namespace {

const ProcFs kFixture(PERFBPF_TEST_DATA "/proc");

// A fresh directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "perfbpf-procfs-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel) << text;
  }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("process stat: comm with spaces and parentheses", "[procfs]") {
  auto s = kFixture.stat(1234);
  REQUIRE(s);
  CHECK(s->pid == 1234);
  CHECK(s->comm == "(my proc) x");
  CHECK(s->state == 'S');
  CHECK(s->ppid == 1);
  CHECK(s->minflt == 5120);
  CHECK(s->majflt == 7);
  CHECK(s->utime_ticks == 250);
  CHECK(s->stime_ticks == 75);
  CHECK(s->num_threads == 2);
  CHECK(s->starttime_ticks == 98765);
  CHECK(s->rss_pages == 4321);
}

TEST_CASE("thread stat and thread list", "[procfs]") {
  CHECK(kFixture.threads(1234) == std::vector<uint32_t>{1234, 1235});
  auto main_thread = kFixture.thread_stat(1234, 1234);
  REQUIRE(main_thread);
  CHECK(main_thread->utime_ticks == 200);
  CHECK(main_thread->stime_ticks == 50);
  auto worker = kFixture.thread_stat(1234, 1235);
  REQUIRE(worker);
  CHECK(worker->pid == 1235);
  CHECK(worker->comm == "worker 1");
  CHECK(worker->state == 'R');
  CHECK(worker->minflt == 120);
  CHECK(worker->utime_ticks == 50);
  CHECK(worker->stime_ticks == 25);
  CHECK(worker->starttime_ticks == 98770);
  CHECK_FALSE(kFixture.thread_stat(1234, 1236));
}

TEST_CASE("process memory from status", "[procfs]") {
  auto m = kFixture.memory(1234);
  REQUIRE(m);
  CHECK(m->vm_rss_bytes == 17284ull * 1024);
  CHECK(m->rss_anon_bytes == 12000ull * 1024);
  CHECK(m->rss_file_bytes == 5000ull * 1024);
  CHECK(m->rss_shmem_bytes == 284ull * 1024);
  CHECK(m->vm_hwm_bytes == 20480ull * 1024);
}

TEST_CASE("a process that is gone", "[procfs]") {
  CHECK_FALSE(kFixture.stat(99999));
  CHECK_FALSE(kFixture.thread_stat(99999, 99999));
  CHECK_FALSE(kFixture.memory(99999));
  CHECK(kFixture.threads(99999).empty());
}

TEST_CASE("pids lists only numeric entries", "[procfs]") {
  auto pids = kFixture.pids();
  CHECK(std::find(pids.begin(), pids.end(), 1234u) != pids.end());
  CHECK(std::find(pids.begin(), pids.end(), 4242u) != pids.end());
  CHECK(pids.size() == 2);  // not "net", "stat", "meminfo"
}

TEST_CASE("meminfo", "[procfs]") {
  auto info = kFixture.meminfo();
  CHECK(info.total_bytes == 24684096ull * 1024);
  CHECK(info.available_bytes == 18513072ull * 1024);
  CHECK(info.used_pct() == Approx((24684096.0 - 18513072.0) / 24684096.0 * 100.0));
  CHECK(MemInfo{}.used_pct() == 0.0);
}

TEST_CASE("meminfo without MemAvailable, and unreadable", "[procfs]") {
  TempDir dir;
  dir.write("meminfo", "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n");
  auto info = ProcFs(dir.path().string()).meminfo();
  CHECK(info.total_bytes == 1000 * 1024);
  CHECK(info.available_bytes == 400 * 1024);
  CHECK(info.used_pct() == Approx(60.0));
  CHECK_THROWS_AS(ProcFs((dir.path() / "nowhere").string()).meminfo(), Error);
}

TEST_CASE("diskstats: devices, malformed lines skipped", "[procfs]") {
  auto disks = kFixture.diskstats();
  REQUIRE(disks.size() == 5);
  const auto& vda = disks[1];
  CHECK(vda.major == 254);
  CHECK(vda.minor == 0);
  CHECK(vda.name == "vda");
  CHECK(vda.reads == 28119);
  CHECK(vda.sectors_read == 1305018);
  CHECK(vda.writes == 5302);
  CHECK(vda.sectors_written == 2023216);
  CHECK(disks[2].name == "vda1");
  CHECK(disks[2].minor == 1);
  CHECK(disks[4].name == "nvme0n1");  // an old kernel's 14 fields are enough
  CHECK(disks[4].sectors_written == 128000);
}

TEST_CASE("net/dev: headers and malformed lines skipped, names touching counters", "[procfs]") {
  auto devs = kFixture.net_dev();
  REQUIRE(devs.size() == 3);
  CHECK(devs[0].name == "lo");
  CHECK(devs[0].rx_bytes == 3267);
  CHECK(devs[0].tx_packets == 29);
  CHECK(devs[1].name == "eth0");
  CHECK(devs[1].rx_bytes == 26276275);
  CHECK(devs[1].rx_packets == 739);
  CHECK(devs[1].tx_bytes == 31884);
  CHECK(devs[1].tx_packets == 389);
  CHECK(devs[2].name == "wlan0");
  CHECK(devs[2].rx_bytes == 12345678901ull);
  CHECK(devs[2].tx_bytes == 98765432);
}

TEST_CASE("cpu times from the first cpu line", "[procfs]") {
  auto t = kFixture.cpu_times();
  // user nice system idle iowait irq softirq steal; guest columns are inside user already.
  uint64_t total = 18069 + 0 + 3320 + 22049 + 349 + 0 + 27 + 39;
  CHECK(t.total_ticks == total);
  CHECK(t.busy_ticks == total - 22049 - 349);
}

TEST_CASE("missing files give empty results", "[procfs]") {
  TempDir dir;
  ProcFs empty(dir.path().string());
  CHECK(empty.pids().empty());
  CHECK(empty.diskstats().empty());
  CHECK(empty.net_dev().empty());
  CHECK(empty.cpu_times().total_ticks == 0);
  CHECK(empty.root() == dir.path().string());
}

TEST_CASE("malformed stat text", "[procfs]") {
  CHECK_FALSE(parse_proc_stat(""));
  CHECK_FALSE(parse_proc_stat("1234 (x"));
  CHECK_FALSE(parse_proc_stat("1234 (x) S 1 2 3"));
  CHECK_FALSE(parse_proc_stat("abc (x) S 1 1234 1234 0 -1 0 1 0 0 0 1 1 0 0 20 0 1 0 1 1 1"));
  auto ok = parse_proc_stat("7 (a) b) R 1 7 7 0 -1 0 1 0 2 0 3 4 0 0 20 0 1 0 5 1 6");
  REQUIRE(ok);
  CHECK(ok->comm == "a) b");
  CHECK(ok->rss_pages == 6);
}

TEST_CASE("the live /proc of this process", "[procfs]") {
  ProcFs live;
  CHECK(live.root() == "/proc");
  auto self = live.stat(static_cast<uint32_t>(getpid()));
  REQUIRE(self);
  CHECK(self->pid == static_cast<uint32_t>(getpid()));
  CHECK(self->ppid == static_cast<uint32_t>(getppid()));
  CHECK(self->num_threads >= 1);
  auto mem = live.memory(static_cast<uint32_t>(getpid()));
  REQUIRE(mem);
  CHECK(mem->vm_rss_bytes > 0);
  CHECK(mem->vm_hwm_bytes >= mem->vm_rss_bytes);
  auto threads = live.threads(static_cast<uint32_t>(getpid()));
  CHECK(std::find(threads.begin(), threads.end(), static_cast<uint32_t>(getpid())) != threads.end());
  auto pids = live.pids();
  CHECK(std::find(pids.begin(), pids.end(), static_cast<uint32_t>(getpid())) != pids.end());
  CHECK(live.meminfo().total_bytes > 0);
  CHECK(live.cpu_times().total_ticks > 0);
}

TEST_CASE("clock ticks to ns", "[procfs]") {
  long hz = sysconf(_SC_CLK_TCK);
  REQUIRE(hz > 0);
  CHECK(clock_ticks_to_ns(0) == 0);
  CHECK(clock_ticks_to_ns(static_cast<uint64_t>(hz)) == 1'000'000'000ull);
  CHECK(clock_ticks_to_ns(static_cast<uint64_t>(hz) * 3600 * 24 * 365) == 3600ull * 24 * 365 * 1'000'000'000ull);
}

TEST_CASE("cgroup pids: the directory and its descendants", "[procfs]") {
  TempDir dir;
  dir.write("cgroup.procs", "10\n11\n");
  dir.write("a/cgroup.procs", "20\n");
  dir.write("a/b/cgroup.procs", "30\n31\n11\n");
  dir.write("empty/cgroup.procs", "");
  dir.write("c/cgroup.procs", "garbage\n40\n");
  dir.write("a/memory.max", "max\n");
  CHECK(cgroup_pids(dir.path().string()) == std::vector<uint32_t>{10, 11, 20, 30, 31, 40});
  CHECK(cgroup_pids((dir.path() / "a").string()) == std::vector<uint32_t>{11, 20, 30, 31});
}

TEST_CASE("cgroup pids of a directory that is not a cgroup", "[procfs]") {
  TempDir dir;
  dir.write("sub/cgroup.procs", "1\n");
  try {
    cgroup_pids(dir.path().string());
    FAIL("a directory without cgroup.procs was taken for a cgroup");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("not a cgroup") != std::string::npos);
    CHECK_FALSE(e.hint().empty());
  }
  CHECK_THROWS_AS(cgroup_pids((dir.path() / "missing").string()), Error);
}

TEST_CASE("procfs: a thread's schedstat gives its CPU time, run-queue wait and switch-ins, gone is nullopt", "[procfs]") {
  auto s = kFixture.thread_schedstat(1234, 1235);
  REQUIRE(s);
  CHECK(s->exec_ns == 9003118474u);
  CHECK(s->run_delay_ns == 1577220u);
  CHECK(s->timeslices == 412u);
  CHECK_FALSE(kFixture.thread_schedstat(1234, 1234));  // no schedstat file in the fixture
  CHECK_FALSE(kFixture.thread_schedstat(99999, 99999));
  // The live file of this thread parses too, and its CPU time only grows.
  const auto tid = static_cast<uint32_t>(getpid());
  auto a = ProcFs().thread_schedstat(tid, tid);
  REQUIRE(a);
  auto b = ProcFs().thread_schedstat(tid, tid);
  REQUIRE(b);
  CHECK(b->exec_ns >= a->exec_ns);
}
