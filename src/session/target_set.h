// The set of processes a session profiles (bpf/target_set.bpf.c): every probe family filters
// on its map, shared by fd. The command perfbpf starts joins at its exec, so nothing perfbpf's
// forked child runs before exec is counted by any collector, sampler or probe; with
// follow_children its descendants join at fork and leave once reaped. A process that finds
// the set full is never profiled and is counted as lost ("target_set_full").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct target_set_bpf;
struct bpf_link;

namespace perfbpf {

constexpr uint32_t kDefaultMaxProcesses = 8192;  // TARGET_SET_MAX_PROCESSES
constexpr uint32_t kMaxProcessesLimit = 4194304;  // PID_MAX_LIMIT on 64-bit: more can never be alive

struct TargetSetSettings {
  bool follow_children = false;  // forked children of targets join, reaped ones leave
  // False: a fixed set userspace fills (one running process, nothing that joins at exec or
  // fork): only the map, no programs, so no parse of the kernel's BTF and no exec/fork tracing.
  bool tracked = true;
  uint32_t max_processes = kDefaultMaxProcesses;  // capacity: processes profiled at once
};

struct TargetSetStats {
  uint32_t max_processes = 0;
  uint64_t admitted = 0;  // processes that joined: the command, descendants, pid and cgroup members
  std::map<std::string, uint64_t> lost_by_reason;  // processes that could not join
};

class TargetSet {
 public:
  // Loads and attaches the exec, fork and free programs (tracked), or makes the map alone.
  // Throws Error.
  explicit TargetSet(const TargetSetSettings& settings);
  ~TargetSet();
  TargetSet(const TargetSet&) = delete;
  TargetSet& operator=(const TargetSet&) = delete;

  int fd() const;  // the map, for bpf_map__reuse_fd by every family
  // TGID joins now (--pid, a cgroup member). False when the set is full (counted as lost).
  bool add(uint32_t tgid);
  // TGID joins at its next exec: the command perfbpf forked and holds before exec (tracked).
  void admit_at_exec(uint32_t tgid);
  // Waits until the pending process has exec'd (and joined, or was counted lost), up to
  // TIMEOUT_MS; false when it has not exec'd by then.
  bool wait_exec(int timeout_ms) const;
  std::vector<uint32_t> tgids() const;  // the members now
  // The process's name as of its last exec, fork or reaping while in the set.
  std::optional<std::string> name(uint32_t tgid) const;
  TargetSetStats stats() const;
  std::vector<uint32_t> program_ids() const;  // for tests: nothing stays after the session
  std::vector<uint32_t> link_ids() const;

 private:
  void forget_start(uint32_t tgid);  // TGID's member is whichever process holds it (bpf "started")
  struct SkelDeleter { void operator()(target_set_bpf* s) const; };
  struct LinkDeleter { void operator()(bpf_link* l) const; };
  std::unique_ptr<target_set_bpf, SkelDeleter> skel_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  int untracked_fd_ = -1;  // the map of an untracked set
  uint32_t max_processes_;
  uint64_t added_ = 0, lost_full_ = 0;  // by userspace inserts
};

}  // namespace perfbpf
