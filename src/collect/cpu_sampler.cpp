#include "collect/cpu_sampler.h"

#include "collect/bpf_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>

#include "perfbpf/error.h"
#include "profile.h"
#include "profile.skel.h"
#include "session/system_info.h"

namespace perfbpf {
namespace {

// The stack stored at KEY of map FD (a zero-padded array of PROFILE_MAX_STACK_DEPTH
// addresses, innermost first); empty when there is none.
template <typename Key>
std::vector<uint64_t> read_frames(int fd, const Key& key) {
  task_stack s{};
  std::vector<uint64_t> frames;
  if (bpf_map_lookup_elem(fd, &key, s.ips) != 0) return frames;
  for (uint64_t ip : s.ips) {
    if (!ip) break;
    frames.push_back(ip);
  }
  return frames;
}

// From map "stacks" (bpf_get_stackid): ID < 0 when the capture failed or there is none.
std::vector<uint64_t> read_stack(int fd, int32_t id) {
  return id < 0 ? std::vector<uint64_t>{} : read_frames(fd, static_cast<uint32_t>(id));
}

}  // namespace

void CpuSampler::SkelDeleter::operator()(profile_bpf* s) const { profile_bpf__destroy(s); }
void CpuSampler::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

namespace {

// Room for about a second of samples at FREQUENCY_HZ on every CPU (the reader drains every
// 100 ms tick, and is woken at a quarter full), in a power of two between 4 and 64 MiB.
// Distinct unwound (thread, stacks) kept; like the kernel's counts map, a bound on memory.
constexpr size_t kMaxUnwoundStacks = 1 << 20;

uint32_t stack_ring_bytes(unsigned frequency_hz) {
  const uint64_t want = uint64_t{frequency_hz} * online_cpus().size() * sizeof(stack_sample);
  uint32_t bytes = 4u << 20;
  while (bytes < want && bytes < (64u << 20)) bytes <<= 1;
  return bytes;
}

}  // namespace

const char* profile_loss_name(unsigned reason) {
  switch (reason) {
    case PROFILE_LOSS_USER_STACK: return "user_stack_failed";
    case PROFILE_LOSS_KERNEL_STACK: return "kernel_stack_failed";
    case PROFILE_LOSS_COUNTS_FULL: return "counts_map_full";
    case PROFILE_LOSS_WAITS_FULL: return "waits_map_full";
    case PROFILE_LOSS_MISSED_SWITCH_IN: return "waits_end_unseen";
    case PROFILE_LOSS_STACK_COPY: return "stack_copy_ring_full";
    default: return "unknown";
  }
}

bool is_off_cpu_loss(unsigned reason) {
  return reason == PROFILE_LOSS_WAITS_FULL || reason == PROFILE_LOSS_MISSED_SWITCH_IN;
}

const char* offcpu_state_name(int state) {
  switch (state) {
    case OFFCPU_RUNNABLE: return "runnable";
    case OFFCPU_IO: return "io";
    default: return "sleep";
  }
}

CpuSampler::CpuSampler(const SamplerSettings& settings)
    : unwind_(settings.unwind), frequency_hz_(settings.frequency_hz), off_cpu_(settings.off_cpu) {
  skel_.reset(profile_bpf__open());
  if (!skel_) throw Error(errno_message("cannot open the sampling BPF object", errno), "", errno);
  skel_->rodata->filter_tgid = settings.filter_tgid;
  skel_->rodata->self_tgid = static_cast<uint32_t>(getpid());
  skel_->rodata->min_block_ns = settings.min_block_ns;
  skel_->rodata->copy_user_stack = static_cast<bool>(unwind_);
  if (int err = bpf_map__set_max_entries(skel_->maps.samples, unwind_ ? stack_ring_bytes(settings.frequency_hz) : 4096))
    throw Error(errno_message("cannot size the stack-sample ring", err), "", -err);
  if (settings.shared_targets_fd >= 0) {
    if (int err = bpf_map__reuse_fd(skel_->maps.targets, settings.shared_targets_fd))
      throw Error(errno_message("cannot share the target set with the sampler", err), "", -err);
  }
  if (int err = profile_bpf__load(skel_.get()))
    throw Error(errno_message("cannot load the sampling BPF program", err), "run with -v for the verifier log", -err);
  if (unwind_) {
    ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.samples), &CpuSampler::on_stack_sample, this, nullptr));
    if (!ring_) throw Error(errno_message("cannot open the stack-sample ring", errno), "", errno);
  }
}

int CpuSampler::epoll_fd() const { return ring_ ? ring_buffer__epoll_fd(ring_.get()) : -1; }

int CpuSampler::consume() {
  if (!ring_) return 0;
  int n = ring_buffer__consume(ring_.get());
  if (n < 0) throw Error(errno_message("cannot read the stack-sample ring", -n), "", -n);
  return n;
}

size_t CpuSampler::UnwoundHash::operator()(const UnwoundKey& k) const {
  // FNV-1a over the fields: cheap, and stacks differ in their leaf addresses anyway.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix(std::get<0>(k));
  mix(std::get<1>(k));
  mix(static_cast<uint32_t>(std::get<2>(k)));
  mix(std::get<3>(k));
  for (uint64_t a : std::get<4>(k)) mix(a);
  return static_cast<size_t>(h);
}

int CpuSampler::on_stack_sample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<CpuSampler*>(ctx);
  const auto* rec = static_cast<const stack_sample*>(data);
  // The ring hands back what the program sent; a record that disagrees with itself (an ABI
  // mismatch) is counted, never read past its end.
  if (size < PROFILE_STACK_SAMPLE_HEADER || rec->stack_size > sizeof(rec->stack) ||
      size < PROFILE_STACK_SAMPLE_HEADER + rec->stack_size) {
    self->malformed_++;
    return 0;
  }
  UserRegs regs;
  std::copy(std::begin(rec->regs), std::end(rec->regs), regs.r);
  StackCopy copy;
  copy.tgid = rec->tgid;
  copy.tid = rec->tid;
  copy.regs = &regs;
  copy.stack = rec->stack;
  copy.size = rec->stack_size;
  copy.start = rec->stack_start;
  copy.cut = rec->stack_size == sizeof(rec->stack);
  UnwoundStack user = self->unwind_(copy);
  const bool truncated = user.end == UnwoundStack::End::Truncated;
  auto key = std::make_tuple(rec->tgid, rec->tid, rec->kernel_stack_id, truncated, std::move(user.frames));
  auto it = self->unwound_.find(key);
  if (it != self->unwound_.end()) it->second++;
  else if (self->unwound_.size() < kMaxUnwoundStacks) self->unwound_.emplace(std::move(key), 1);
  else self->unwound_full_++;  // reported as counts_map_full: the sample is lost
  return 0;
}

CpuSampler::~CpuSampler() { stop(); }

void CpuSampler::add_target_tgid(uint32_t tgid) {
  uint8_t one = 1;
  if (int err = bpf_map_update_elem(bpf_map__fd(skel_->maps.targets), &tgid, &one, BPF_ANY))
    throw Error(errno_message("cannot add pid " + std::to_string(tgid) + " to the sampling set", err), "", -err);
}

void CpuSampler::start() {
  if (off_cpu_) {
    try {
      for (bpf_program* prog : {skel_->progs.handle_switch, skel_->progs.handle_wakeup, skel_->progs.handle_wakeup_new}) {
        bpf_link* link = bpf_program__attach(prog);
        if (!link)
          throw Error(errno_message(std::string("cannot attach the off-CPU program ") + bpf_program__name(prog), errno),
                      "", errno);
        links_.push_back(link);
      }
      for (auto [prog, link] : {std::pair{skel_->progs.open_waits, &open_waits_}, {skel_->progs.close_waits, &close_waits_}}) {
        *link = bpf_program__attach_iter(prog, nullptr);
        if (!*link) throw Error(errno_message("cannot create the off-CPU task iterator", errno), "", errno);
        links_.push_back(*link);
      }
    } catch (...) {
      stop();
      throw;
    }
  }
  if (frequency_hz_ == 0) return;
  perf_event_attr attr{};
  attr.freq = 1;
  attr.sample_freq = frequency_hz_;
  try {
    // Cycles sample where the CPU spends its cycles, as perf does by default; virtual
    // machines seldom expose the counter, and then the cpu-clock timer stands in.
    attr.type = PERF_TYPE_HARDWARE;
    attr.config = PERF_COUNT_HW_CPU_CYCLES;
    try {
      events_.open(skel_->progs.handle_sample, attr, "cycles");
      event_ = "cycles";
      return;
    } catch (const Error& e) {
      if (e.errno_value() != ENOENT && e.errno_value() != EOPNOTSUPP && e.errno_value() != ENODEV) throw;
    }
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    events_.open(skel_->progs.handle_sample, attr, "cpu-clock");
    event_ = "cpu-clock";
  } catch (...) {
    stop();
    throw;
  }
}

void CpuSampler::open_window(uint64_t at_ns) {
  if (!off_cpu_ || window_opened_ || !open_waits_) return;
  window_opened_ = true;
  skel_->bss->window_start_ns = at_ns;
  run_iterator(open_waits_, "off-CPU");
}

void CpuSampler::close_window(uint64_t at_ns) {
  if (!window_opened_ || window_closed_) return;
  window_closed_ = true;
  skel_->bss->window_end_ns = at_ns;
  run_iterator(close_waits_, "off-CPU");
  for_each_entry<uint32_t, offcpu_start>(bpf_map__fd(skel_->maps.switched_out),
                                         [&](uint32_t, const offcpu_start&) { waits_not_closed_++; });
}

void CpuSampler::stop() {
  if (window_opened_ && !window_closed_ && !links_.empty()) close_window(monotonic_ns());
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
  open_waits_ = close_waits_ = nullptr;
  events_.close();
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
  for (const auto& [key, n] : unwound_) {
    const auto& [tgid, tid, kernel_id, truncated, user] = key;
    RawStackSample s{tgid, tid, user, read_stack(stacks, kernel_id), n};
    s.user_truncated = truncated;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<uint32_t> CpuSampler::sampled_tgids() const {
  std::set<uint32_t> tgids;
  int counts = bpf_map__fd(skel_->maps.counts);
  profile_key key{}, next{};
  const profile_key* prev = nullptr;
  while (bpf_map_get_next_key(counts, prev, &next) == 0) {
    key = next;
    prev = &key;
    tgids.insert(key.tgid);
  }
  for (const auto& [key, n] : unwound_) tgids.insert(std::get<0>(key));
  return {tgids.begin(), tgids.end()};
}

std::map<uint32_t, std::string> CpuSampler::process_names() const {
  std::map<uint32_t, std::string> names;
  for_each_entry<uint32_t, std::array<char, PROFILE_COMM_LEN>>(
      bpf_map__fd(skel_->maps.comms), [&](uint32_t tgid, const std::array<char, PROFILE_COMM_LEN>& comm) {
        names[tgid].assign(comm.data(), strnlen(comm.data(), comm.size()));
      });
  return names;
}

std::vector<RawStackSample> CpuSampler::collect_off_cpu() const {
  std::vector<RawStackSample> out;
  int times = bpf_map__fd(skel_->maps.offcpu), stacks = bpf_map__fd(skel_->maps.stacks),
      start_stacks = bpf_map__fd(skel_->maps.start_stacks);
  offcpu_key key{}, next{};
  const offcpu_key* prev = nullptr;
  while (bpf_map_get_next_key(times, prev, &next) == 0) {
    key = next;
    prev = &key;
    uint64_t ns = 0;
    if (bpf_map_lookup_elem(times, &key, &ns) != 0) continue;
    const profile_key& w = key.where;
    // A wait already open when the session began: the kernel stack bpf_get_task_stack read.
    std::vector<uint64_t> kernel = key.flags & OFFCPU_SINCE_START ? read_frames(start_stacks, w.tid)
                                                                  : read_stack(stacks, w.kernel_stack_id);
    out.push_back({w.tgid, w.tid, read_stack(stacks, w.user_stack_id), std::move(kernel), ns,
                   static_cast<int>(key.state)});
  }
  return out;
}

std::vector<uint64_t> CpuSampler::losses() const {
  std::vector<uint64_t> lost = sum_percpu_counters(bpf_map__fd(skel_->maps.losses), PROFILE_LOSS_NR);
  lost[PROFILE_LOSS_COUNTS_FULL] += unwound_full_ + malformed_;  // samples lost in userspace
  return lost;
}

}  // namespace perfbpf
