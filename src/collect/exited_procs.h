// The records of exited processes in a collector's BPF "procs" map (key tgid; the memory,
// network and block families, bpf/proc_exit.bpf.h): a process's exit marks its record, and
// nothing else would ever empty the map. On a fork-heavy machine (pid_max 32 768 wraps in
// seconds) it filled with the dead, and from then on no new process was counted. Here a record
// read as exited at two reads in a row (the read after the exit still saw it in the map, with
// its last counts) is taken out into a table of the collector's own, bounded, as is every record
// the BPF side displaced into its queue map (a new process was given the tgid first).
//
// A snapshot has one row per tgid (ResourceSnapshot::processes): a tgid's row is the sum of the
// processes that held it during the session, each counted once.
#pragma once

#include <bpf/bpf.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "collect/bpf_maps.h"

namespace perfbpf {

// Where a record handed to a row function comes from.
enum class RecordSource {
  kMap,            // the map: a live process, or one that exited since the previous read
  kKept,           // the table: processes that held the tgid and are gone
  kKeptUnderLive,  // the table, while the map holds a live process given the tgid since
};

// Whether a row function's RECORD makes its tgid's row an exited process's: one kept in the
// table (gone), or one in the map that its exit marked; not one kept under a live process that
// was given the tgid since (the row is the live process's).
template <typename Record>
bool record_exited(const Record& record, RecordSource from) {
  return from == RecordSource::kKept || (from == RecordSource::kMap && record.exited);
}

// RECORD: the map's value, with a u64 "exited". QUEUED: the queue map's value, {u32 tgid;
// u32 pad; RECORD proc} (bpf/net_stats.h's net_exited, bpf/block_io.h's block_exited).
template <typename Record, typename Queued = void>
class ExitedProcs {
 public:
  // Processes the table keeps at most (a Record each): tgids are reused, so their number is
  // bounded by pid_max (32 768 by default); past this, a process's row is counted as lost.
  static constexpr size_t kMaxRows = 65536;

  // LOSS_NAME names, in lost_by_reason, the processes the full table could not keep.
  explicit ExitedProcs(const char* loss_name) : loss_name_(loss_name) {}

  // Calls ROW(tgid, record, source) for every record of PROCS_FD and of the table, then takes
  // out of the map the records read as exited at the previous read too. The records queued on
  // QUEUE_FD (-1: none) join the table first, so this read counts them. MERGE(later, earlier)
  // adds, into a process's record, that of an earlier holder of its tgid. The table's losses
  // are added to LOST.
  template <typename Row, typename Merge>
  void read(int procs_fd, int queue_fd, Row&& row, Merge&& merge, std::map<std::string, uint64_t>& lost) {
    if constexpr (!std::is_void_v<Queued>) {
      Queued q{};
      while (queue_fd >= 0 && bpf_map_lookup_and_delete_elem(queue_fd, nullptr, &q) == 0) keep(q.tgid, q.proc, merge);
    }
    std::vector<uint32_t> done;
    std::set<uint32_t> exited_now, live;
    for_each_entry<uint32_t, Record>(procs_fd, [&](uint32_t tgid, Record r) {
      if (late_of_kept(tgid, r)) r.exited = 1;
      row(tgid, r, RecordSource::kMap);
      if (!r.exited)
        live.insert(tgid);
      else if (exited_seen_.count(tgid))
        done.push_back(tgid);
      else
        exited_now.insert(tgid);
    });
    for (const auto& [tgid, r] : kept_) row(tgid, r, live.count(tgid) ? RecordSource::kKeptUnderLive : RecordSource::kKept);
    // Each is taken with its value at deletion. One a new process reopened since (its record
    // started again) goes back; if the new process made another meanwhile, its counts stay here,
    // in the same tgid's row.
    for (uint32_t tgid : done) {
      Record r{};
      if (bpf_map_lookup_and_delete_elem(procs_fd, &tgid, &r) != 0) continue;
      if (r.exited || late_of_kept(tgid, r) || bpf_map_update_elem(procs_fd, &tgid, &r, BPF_NOEXIST) != 0)
        keep(tgid, r, merge);
    }
    exited_seen_ = std::move(exited_now);
    if (lost_) lost[loss_name_] += lost_;
  }

 private:
  // Whether R, unmarked, is the kept process's own, made after its record left the map: the
  // block collector's records carry their process's start time, and a request submitted before
  // the exit may complete after it (readahead of a page fault, say). No exit will mark it.
  bool late_of_kept(uint32_t tgid, const Record& r) const {
    if constexpr (requires { r.start_ns; }) {
      auto it = kept_.find(tgid);
      return !r.exited && it != kept_.end() && it->second.start_ns == r.start_ns;
    } else {
      return false;
    }
  }

  template <typename Merge>
  void keep(uint32_t tgid, Record r, Merge& merge) {
    auto it = kept_.find(tgid);
    if (it == kept_.end()) {
      if (kept_.size() >= kMaxRows) {
        lost_++;
        return;
      }
      kept_.emplace(tgid, r);
      return;
    }
    merge(r, it->second);
    it->second = r;
  }

  const char* loss_name_;
  std::map<uint32_t, Record> kept_;  // gone processes' final records, by tgid
  std::set<uint32_t> exited_seen_;   // read as exited at the previous read
  uint64_t lost_ = 0;
};

}  // namespace perfbpf
