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

std::map<HistogramKey, LatencyHistogram> read_log_hists(int map_fd) {
  struct Parts {
    std::vector<HistogramBucket> buckets;
    uint64_t sum = 0, max = 0;
    size_t min_index = SIZE_MAX;
  };
  std::map<HistogramKey, Parts> parts;
  for_each_entry<log_hist_key, uint64_t>(map_fd, [&](const log_hist_key& k, uint64_t v) {
    Parts& p = parts[{k.id, k.kind}];
    if (k.bucket == LOG_HIST_SUM) {
      p.sum = v;
    } else if (k.bucket == LOG_HIST_MAX) {
      p.max = v;
    } else if (v > 0) {
      p.buckets.push_back({LatencyHistogram::bucket_upper(k.bucket), v});
      p.min_index = std::min<size_t>(p.min_index, k.bucket);
    }
  });
  std::map<HistogramKey, LatencyHistogram> out;
  for (auto& [key, p] : parts) {
    if (p.buckets.empty()) continue;
    // The BPF side keeps no squares: bucket midpoints give the spread within 0.4 %.
    double squares = 0;
    for (const auto& b : p.buckets) {
      size_t i = LatencyHistogram::bucket_index(b.upper_ns);
      double mid = (static_cast<double>(LatencyHistogram::bucket_lower(i)) + static_cast<double>(b.upper_ns)) / 2;
      squares += mid * mid * static_cast<double>(b.count);
    }
    uint64_t min = LatencyHistogram::bucket_lower(p.min_index);
    out.emplace(key, LatencyHistogram::from_buckets(p.buckets, p.sum, min, std::max(p.max, min), squares));
  }
  return out;
}

}  // namespace perfbpf
