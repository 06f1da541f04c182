#include "collect/bpf_maps.h"

#include <linux/types.h>
#include <unistd.h>

#include <cerrno>

#include "perfbpf/error.h"

#include "log_hist.h"
#include "target_set.h"

namespace perfbpf {

static_assert(LOG_HIST_SUB_BUCKET_BITS == LatencyHistogram::kSubBucketBits,
              "BPF histograms must use the userspace bucket layout");

int create_target_set(const std::vector<uint32_t>& tgids) {
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "targets", sizeof(uint32_t), sizeof(uint8_t), TARGET_SET_MAX_PROCESSES,
                          nullptr);
  if (fd < 0) throw Error(errno_message("cannot create the BPF target set", errno), "run as root", errno);
  for (uint32_t tgid : tgids) {
    uint8_t one = 1;
    if (bpf_map_update_elem(fd, &tgid, &one, BPF_ANY) != 0) {
      int e = errno;
      close(fd);
      throw Error(errno_message("cannot add pid " + std::to_string(tgid) + " to the BPF target set", e), "", e);
    }
  }
  return fd;
}

std::vector<uint32_t> program_ids(const bpf_object* object) {
  std::vector<uint32_t> ids;
  bpf_program* prog = nullptr;
  while ((prog = bpf_object__next_program(object, prog))) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) ids.push_back(info.id);
  }
  return ids;
}

std::vector<uint32_t> link_ids(const std::vector<int>& link_fds) {
  std::vector<uint32_t> ids;
  for (int fd : link_fds) {
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) ids.push_back(info.id);
  }
  return ids;
}

void run_iterator(const bpf_link* link, const std::string& what) {
  int fd = link ? bpf_iter_create(bpf_link__fd(link)) : -EINVAL;
  if (fd < 0) throw Error(errno_message("cannot start the " + what + " iterator", -fd), "", -fd);
  char discard[256];
  ssize_t n;
  while ((n = read(fd, discard, sizeof(discard))) > 0 || (n < 0 && errno == EINTR)) {
  }
  const int err = n < 0 ? errno : 0;
  close(fd);
  if (err) throw Error(errno_message("the " + what + " iterator failed", err), "", err);
}

uint64_t recursion_misses(const bpf_object* object) {
  uint64_t missed = 0;
  bpf_program* prog = nullptr;
  while ((prog = bpf_object__next_program(object, prog))) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) missed += info.recursion_misses;
  }
  return missed;
}

std::vector<uint64_t> sum_percpu_counters(int map_fd, uint32_t count) {
  int ncpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(ncpus > 0 ? ncpus : 1), totals(count, 0);
  for (uint32_t i = 0; i < count; i++) {
    if (bpf_map_lookup_elem(map_fd, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[i] += v;
  }
  return totals;
}

namespace {

// One histogram's buckets as BPF kept them.
struct LogHistParts {
  std::vector<HistogramBucket> buckets;
  uint64_t sum = 0, max = 0;
  size_t min_index = SIZE_MAX;

  void add(size_t index, uint64_t count) {
    buckets.push_back({LatencyHistogram::bucket_upper(index), count});
    min_index = std::min(min_index, index);
  }

  std::optional<LatencyHistogram> histogram() const {
    if (buckets.empty()) return std::nullopt;
    // The BPF side keeps no squares: bucket midpoints give the spread within 0.4 %.
    double squares = 0;
    for (const auto& b : buckets) {
      size_t i = LatencyHistogram::bucket_index(b.upper_ns);
      double mid = (static_cast<double>(LatencyHistogram::bucket_lower(i)) + static_cast<double>(b.upper_ns)) / 2;
      squares += mid * mid * static_cast<double>(b.count);
    }
    uint64_t min = LatencyHistogram::bucket_lower(min_index);
    return LatencyHistogram::from_buckets(buckets, sum, min, std::max(max, min), squares);
  }
};

}  // namespace

std::map<HistogramKey, LatencyHistogram> read_log_hists(int map_fd) {
  std::map<HistogramKey, LogHistParts> parts;
  for_each_entry<log_hist_key, uint64_t>(map_fd, [&](const log_hist_key& k, uint64_t v) {
    LogHistParts& p = parts[{k.id, k.kind}];
    if (k.bucket == LOG_HIST_SUM)
      p.sum = v;
    else if (k.bucket == LOG_HIST_MAX)
      p.max = v;
    else if (v > 0)
      p.add(k.bucket, v);
  });
  std::map<HistogramKey, LatencyHistogram> out;
  for (auto& [key, p] : parts)
    if (auto h = p.histogram()) out.emplace(key, std::move(*h));
  return out;
}

std::optional<LatencyHistogram> read_percpu_log_hist(int map_fd) {
  const int ncpus = libbpf_num_possible_cpus();
  const size_t cpus = ncpus > 0 ? static_cast<size_t>(ncpus) : 1;
  // One batch for the whole array: its keys are 0..N-1, its values one u64 per possible CPU.
  std::vector<uint32_t> keys(LOG_HIST_PERCPU_ENTRIES);
  std::vector<uint64_t> values(LOG_HIST_PERCPU_ENTRIES * cpus);
  uint32_t out_batch = 0, count = LOG_HIST_PERCPU_ENTRIES;
  if (bpf_map_lookup_batch(map_fd, nullptr, &out_batch, keys.data(), values.data(), &count, nullptr) != 0 &&
      errno != ENOENT)
    return std::nullopt;
  LogHistParts p;
  for (uint32_t i = 0; i < count; i++) {
    const uint64_t* per_cpu = &values[i * cpus];
    const uint32_t key = keys[i];
    if (key == LOG_HIST_PERCPU_MAX) {
      for (size_t c = 0; c < cpus; c++) p.max = std::max(p.max, per_cpu[c]);
      continue;
    }
    uint64_t total = 0;
    for (size_t c = 0; c < cpus; c++) total += per_cpu[c];
    if (key == LOG_HIST_PERCPU_SUM)
      p.sum = total;
    else if (total > 0)
      p.add(key, total);
  }
  return p.histogram();
}

}  // namespace perfbpf
