// Reading BPF maps from userspace: every entry of a hash map, per-CPU counters summed, and
// the log-linear histograms of bpf/log_hist.bpf.h as LatencyHistograms.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "perfbpf/histogram.h"

namespace perfbpf {

// Calls FN(key, value) for every entry. Entries added or removed meanwhile may be missed.
// Reads in chunks (bpf_map_lookup_batch: one syscall per chunk, not two per entry — the
// per-entry walk of --system's per-process maps was a fifth of perfbpf's CPU); maps whose type
// has no batch operation are walked entry by entry.
template <typename Key, typename Value, typename Fn>
void for_each_entry(int map_fd, Fn&& fn) {
  // The batch token is opaque: a hash map's is a u32 bucket, an array's a key.
  struct Token {
    alignas(8) unsigned char bytes[sizeof(Key) > 8 ? sizeof(Key) : 8];
  } in{}, out{};
  uint32_t chunk = 256;
  std::vector<Key> keys(chunk);
  std::vector<Value> values(chunk);
  for (bool started = false;;) {
    uint32_t count = chunk;
    const int err = bpf_map_lookup_batch(map_fd, started ? &in : nullptr, &out, keys.data(), values.data(), &count,
                                         nullptr) < 0 ? errno : 0;
    if (err == ENOSPC && count == 0 && chunk < (1u << 20)) {  // one bucket holds more than a chunk
      chunk *= 4;
      keys.resize(chunk);
      values.resize(chunk);
      continue;
    }
    if (!started && count == 0 && (err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP)) break;
    for (uint32_t i = 0; i < count; i++) fn(keys[i], values[i]);
    if (err) return;  // ENOENT: the walk is complete
    in = out;
    started = true;
  }
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    Value value{};
    if (bpf_map_lookup_elem(map_fd, &key, &value) == 0) fn(key, value);
  }
}

// A fixed target set (bpf/target_filter.bpf.h: tgid -> 1) holding TGIDS, for the library's
// collectors watching known processes; sessions use session/target_set.h, which follows
// exec, fork and exit. Returns the map fd; throws Error.
int create_target_set(const std::vector<uint32_t>& tgids);

// Kernel ids of OBJECT's loaded programs, and of the links behind LINK_FDS (for tests: a
// session leaves none behind).
std::vector<uint32_t> program_ids(const bpf_object* object);
std::vector<uint32_t> link_ids(const std::vector<int>& link_fds);

// Runs of OBJECT's programs the kernel skipped because one was already running on that CPU
// (bpf_prog_info.recursion_misses, summed): events the maps never saw.
uint64_t recursion_misses(const bpf_object* object);

// One pass of the BPF iterator behind LINK (e.g. SEC("iter/task")): its program runs once per
// object iterated, here and now, in this thread; what it writes to the seq file is discarded
// (our iterators update maps). Throws Error naming WHAT.
void run_iterator(const bpf_link* link, const std::string& what);

// Entries 0..COUNT-1 of a per-CPU array of u64, each summed over the CPUs.
std::vector<uint64_t> sum_percpu_counters(int map_fd, uint32_t count);

// Adds the non-zero entries of a per-CPU loss array (enum order: NAMES[i] names entry i),
// summed over CPUs, to INTO.
template <size_t N>
void add_losses(int map_fd, const char* const (&names)[N], std::map<std::string, uint64_t>& into) {
  std::vector<uint64_t> lost = sum_percpu_counters(map_fd, static_cast<uint32_t>(N));
  for (size_t i = 0; i < N; i++)
    if (lost[i]) into[names[i]] += lost[i];
}

// The histograms of a log_hist map, by (id, kind).
using HistogramKey = std::pair<uint32_t, uint32_t>;
std::map<HistogramKey, LatencyHistogram> read_log_hists(int map_fd);
// The histogram of a per-CPU array in log_hist.h's per-CPU layout, summed over CPUs; nullopt
// while it holds no value.
std::optional<LatencyHistogram> read_percpu_log_hist(int map_fd);

}  // namespace perfbpf
