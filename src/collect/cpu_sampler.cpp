#include "collect/cpu_sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "perfbpf/error.h"
#include "profile.h"
#include "profile.skel.h"

namespace perfbpf {
namespace {

// "0-3,5" from /sys/devices/system/cpu/online.
std::vector<int> online_cpus() {
  std::vector<int> cpus;
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string range;
  while (std::getline(in, range, ',')) {
    int lo = 0, hi = 0;
    if (std::sscanf(range.c_str(), "%d-%d", &lo, &hi) == 2) {
      for (int c = lo; c <= hi; c++) cpus.push_back(c);
    } else if (std::sscanf(range.c_str(), "%d", &lo) == 1) {
      cpus.push_back(lo);
    }
  }
  return cpus;
}

std::vector<uint64_t> read_stack(int fd, int32_t id) {
  std::vector<uint64_t> frames;
  if (id < 0) return frames;
  uint64_t ips[PROFILE_MAX_STACK_DEPTH] = {};
  uint32_t key = static_cast<uint32_t>(id);
  if (bpf_map_lookup_elem(fd, &key, ips) != 0) return frames;
  for (uint64_t ip : ips) {
    if (!ip) break;
    frames.push_back(ip);
  }
  return frames;
}

}  // namespace

void CpuSampler::SkelDeleter::operator()(profile_bpf* s) const { profile_bpf__destroy(s); }

const char* profile_loss_name(unsigned reason) {
  switch (reason) {
    case PROFILE_LOSS_USER_STACK: return "user_stack_failed";
    case PROFILE_LOSS_KERNEL_STACK: return "kernel_stack_failed";
    case PROFILE_LOSS_COUNTS_FULL: return "counts_map_full";
    default: return "unknown";
  }
}

const char* offcpu_state_name(int state) {
  switch (state) {
    case OFFCPU_RUNNABLE: return "runnable";
    case OFFCPU_IO: return "io";
    default: return "sleep";
  }
}

CpuSampler::CpuSampler(const SamplerSettings& settings)
    : frequency_hz_(settings.frequency_hz), off_cpu_(settings.off_cpu) {
  skel_.reset(profile_bpf__open());
  if (!skel_) throw Error(errno_message("cannot open the sampling BPF object", errno), "", errno);
  skel_->rodata->filter_tgid = settings.filter_tgid;
  skel_->rodata->self_tgid = static_cast<uint32_t>(getpid());
  skel_->rodata->min_block_ns = settings.min_block_ns;
  if (settings.shared_targets_fd >= 0) {
    if (int err = bpf_map__reuse_fd(skel_->maps.targets, settings.shared_targets_fd))
      throw Error(errno_message("cannot share the target set with the sampler", err), "", -err);
  }
  if (int err = profile_bpf__load(skel_.get()))
    throw Error(errno_message("cannot load the sampling BPF program", err), "run with -v for the verifier log", -err);
}

CpuSampler::~CpuSampler() { stop(); }

void CpuSampler::add_target_tgid(uint32_t tgid) {
  uint8_t one = 1;
  if (int err = bpf_map_update_elem(bpf_map__fd(skel_->maps.targets), &tgid, &one, BPF_ANY))
    throw Error(errno_message("cannot add pid " + std::to_string(tgid) + " to the sampling set", err), "", -err);
}

void CpuSampler::start() {
  if (off_cpu_) {
    bpf_link* link = bpf_program__attach(skel_->progs.handle_switch);
    if (!link) throw Error(errno_message("cannot attach the off-CPU program to sched_switch", errno), "", errno);
    links_.push_back(link);
  }
  for (int cpu : frequency_hz_ ? online_cpus() : std::vector<int>{}) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;  // cpu-clock: works without hardware counters (VMs)
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = frequency_hz_;
    int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1 /* every pid */, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // went offline meanwhile
      int e = errno;
      stop();
      throw Error(errno_message("cannot open a cpu-clock event on CPU " + std::to_string(cpu), e),
                  e == EACCES ? "needs CAP_PERFMON" : "", e);
    }
    event_fds_.push_back(fd);
    bpf_link* link = bpf_program__attach_perf_event(skel_->progs.handle_sample, fd);
    if (!link) {
      int e = errno;
      stop();
      throw Error(errno_message("cannot attach the sampler on CPU " + std::to_string(cpu), e), "", e);
    }
    links_.push_back(link);
  }
}

void CpuSampler::stop() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
  for (int fd : event_fds_) close(fd);
  event_fds_.clear();
}

std::vector<RawStackSample> CpuSampler::collect() const {
  std::vector<RawStackSample> out;
  int counts = bpf_map__fd(skel_->maps.counts), stacks = bpf_map__fd(skel_->maps.stacks);
  profile_key key{}, next{};
  const profile_key* prev = nullptr;
  while (bpf_map_get_next_key(counts, prev, &next) == 0) {
    key = next;
    prev = &key;
    uint64_t n = 0;
    if (bpf_map_lookup_elem(counts, &key, &n) != 0) continue;
    out.push_back({key.tgid, key.tid, read_stack(stacks, key.user_stack_id), read_stack(stacks, key.kernel_stack_id), n});
  }
  return out;
}

std::vector<RawStackSample> CpuSampler::collect_off_cpu() const {
  std::vector<RawStackSample> out;
  int times = bpf_map__fd(skel_->maps.offcpu), stacks = bpf_map__fd(skel_->maps.stacks);
  offcpu_key key{}, next{};
  const offcpu_key* prev = nullptr;
  while (bpf_map_get_next_key(times, prev, &next) == 0) {
    key = next;
    prev = &key;
    uint64_t ns = 0;
    if (bpf_map_lookup_elem(times, &key, &ns) != 0) continue;
    const profile_key& w = key.where;
    out.push_back({w.tgid, w.tid, read_stack(stacks, w.user_stack_id), read_stack(stacks, w.kernel_stack_id), ns,
                   static_cast<int>(key.state)});
  }
  return out;
}

std::vector<uint64_t> CpuSampler::losses() const {
  int ncpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(ncpus > 0 ? ncpus : 1), totals(PROFILE_LOSS_NR, 0);
  int fd = bpf_map__fd(skel_->maps.losses);
  for (uint32_t r = 0; r < PROFILE_LOSS_NR; r++) {
    if (bpf_map_lookup_elem(fd, &r, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[r] += v;
  }
  return totals;
}

}  // namespace perfbpf
