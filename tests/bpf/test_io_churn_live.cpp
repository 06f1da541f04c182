// The network and block collectors against short-lived processes: more children than their
// maps hold (16 384 processes each) each move a known number of bytes and exit, and each has
// exactly those bytes in its row. Their maps were never emptied: past the 16 384th process
// (seconds on a fork-heavy machine) nothing more was counted.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "live_session.h"
#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using namespace perfbpf::test;

namespace {

constexpr int kChildren = 17000;  // past the maps' 16 384 processes

// What io_churn_target's children did, by pid: bytes moved per child, times the children that
// had that pid (other tenants' forks wrap pid_max, 32 768, during a storm; one row per pid sums
// the processes that held it).
struct Truth {
  std::map<uint32_t, uint64_t> bytes;
  size_t children = 0;
};

// A session following io_churn_target ARGS and its children with COLLECTOR alone: kChildren
// children that move CHILD_BYTES each, then a pair of which the second was given the first's
// pid at once (before any read: the first's record still in the map, marked), moving FIRST and
// SECOND bytes.
Profile churn(const std::vector<std::string>& args, const std::string& collector, uint64_t child_bytes,
              uint64_t first, uint64_t second, Truth& truth) {
  std::vector<std::string> argv{workload("io_churn_target")};
  argv.insert(argv.end(), args.begin(), args.end());
  Spawned parent = spawn(argv);
  REQUIRE_THAT(read_until(parent.stdout_fd, "ready\n", 10'000), Catch::Contains("ready"));
  SessionOptions o;
  o.sample_freq = 0;
  o.collectors = {collector};
  o.pid = parent.pid;
  o.follow_children = true;  // children join at fork, however short their lives
  o.interval_s = 1;          // taken out a read after their exit: a read per second is enough
  o.top_n = 100000;          // every process keeps its row
  std::string stormed, paired;
  Profile p = run_while(o, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the session is attached
    send(parent, "churn " + std::to_string(kChildren) + " " + std::to_string(child_bytes) + "\n");
    stormed = read_until(parent.stdout_fd, "done=" + std::to_string(kChildren) + "\n", 120'000);
    send(parent, "reuse " + std::to_string(first) + " " + std::to_string(second) + "\n");
    paired = read_until(parent.stdout_fd, "paired=1", 10'000);
  });
  close(parent.stdin_fd);
  Finished f = finish(parent);
  INFO(f.err);
  REQUIRE(f.exit_code == 0);
  for (const auto& kv : key_values(stormed))
    if (kv.count("child")) {
      truth.bytes[static_cast<uint32_t>(std::stoul(kv.at("child")))] += child_bytes;
      truth.children++;
    }
  const auto pair = key_values(paired);
  REQUIRE(!pair.empty());
  REQUIRE(pair[0].count("reused"));
  REQUIRE(pair[0].at("first") == pair[0].at("reused"));  // the workload did reuse the pid
  truth.bytes[static_cast<uint32_t>(std::stoul(pair[0].at("reused")))] += first + second;
  return p;
}

// Every pid of TRUTH that has a row has BYTES_OF(row) equal to its bytes, and (nearly all) are
// exited; the first few that differ are named. A few may have no row at all, bounded at 1 % as the memory
// collector's storm test bounds them: runs of consecutive children (alive at once) whose bytes
// were charged to someone else. Seen system-wide too, with no target set (5 of 17 000 block
// writers, while kworkers were charged with their device's requests): a plug flushed as its
// owner is switched out is issued from kblockd's worker, with no block_rq_insert of its own, so
// the block collector's submitter is that worker. Not yet told apart from the target set losing
// a child at fork in --pid mode.
template <typename Bytes>
void check_rows(const Profile& p, const Truth& truth, Bytes&& bytes_of) {
  CHECK(truth.children == kChildren);
  size_t wrong = 0, missing = 0, live = 0;
  std::string which;
  for (const auto& [pid, bytes] : truth.bytes) {
    const ProcessResources* row = row_of(p, pid);
    if (!row) {
      if (missing++ < 5) which += std::to_string(pid) + " (no row); ";
      continue;
    }
    const uint64_t seen = bytes_of(*row);
    if (!row->exited && live++ < 5) which += std::to_string(pid) + " (not exited); ";
    if (seen == bytes) continue;
    if (wrong++ < 5) which += std::to_string(pid) + ": " + std::to_string(seen) + " of " + std::to_string(bytes) + " bytes; ";
  }
  INFO(truth.bytes.size() << " pids, " << missing << " without a row, " << live << " not exited; first: " << which);
  for (const auto& [reason, n] : p.system.lost_by_reason) UNSCOPED_INFO(reason << ": " << n);
  CHECK(wrong == 0);
  CHECK(missing <= kChildren / 100);
  // Block only, not understood yet: a row whose process's exit did not mark it (it stays in
  // the map until the pid's next holder exits). 5 and 13 of 17 000 (runs of consecutive pids)
  // before records made by a completion after their process's record left the map were
  // recognised by start time; 0, 0 and 1 since. Bounded as the missing rows are.
  CHECK(live <= kChildren / 100);
  CHECK(p.system.lost_by_reason.empty());
  CHECK(p.session.target_set.lost == 0);
}

}  // namespace

TEST_CASE("network: 17 000 short-lived processes each send and receive exactly their bytes, a reused pid's two once each",
          "[bpf][network]") {
  // Each child sends 3000 bytes to itself over loopback UDP and receives them; the pair moves
  // 5000 and then 7000 under one pid: its row is 12 000 (the first's record counted both where
  // userspace keeps the exited and under the new process would make it 17 000).
  Truth truth;
  Profile p = churn({"udp"}, "network", 3000, 5000, 7000, truth);
  check_rows(p, truth, [](const ProcessResources& r) {
    return r.usage.net.tx_bytes == r.usage.net.rx_bytes ? r.usage.net.tx_bytes : 0;
  });
}

// A loop device over a file of the test's own in /var/tmp (the disk the other block tests
// use), detached and removed at the end. Its I/O goes to the disk through the file (direct I/O).
struct LoopDevice {
  std::string backing = "/var/tmp/perfbpf-churn-" + std::to_string(getpid()) + ".img", dev;
  LoopDevice() {
    REQUIRE(std::ofstream(backing).good());
    std::filesystem::resize_file(backing, 16u << 20);
    Finished f = run({"/sbin/losetup", "--find", "--show", "--direct-io=on", backing});
    INFO(f.err);
    if (f.exit_code != 0) std::filesystem::remove(backing);  // no destructor for a throwing constructor
    REQUIRE(f.exit_code == 0);
    dev = f.out.substr(0, f.out.find('\n'));
  }
  ~LoopDevice() {
    if (!dev.empty()) run({"/sbin/losetup", "--detach", dev});
    std::error_code ec;
    std::filesystem::remove(backing, ec);
  }
};

TEST_CASE("block: 17 000 short-lived processes each have exactly the bytes they wrote, a reused pid's two once each",
          "[bpf][block]") {
  // Each child overwrites the first 8 KiB of a loop device with O_DIRECT: one request of its
  // bytes, in its own context, and no filesystem metadata. On the shared disk itself other
  // tenants' requests can absorb a child's (the elevator merges adjacent requests; a merged
  // request counts as its first submitter's).
  LoopDevice loop;
  Truth truth;
  Profile p = churn({"dio", loop.dev}, "block", 8192, 4096, 12288, truth);
  check_rows(p, truth, [](const ProcessResources& r) { return r.usage.disk.write_bytes; });
}
