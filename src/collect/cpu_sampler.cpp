#include "collect/cpu_sampler.h"

#include "bpf_load/core_btf.h"
#include "collect/bpf_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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

// Stacks of map "stacks" read once per id: bpf_get_stackid shares one id among every entry
// with that stack (a fork-heavy --system session's thousands of processes share a few dozen
// kernel stacks), and a lookup is a syscall.
class StackReader {
 public:
  explicit StackReader(int fd) : fd_(fd) {}
  const std::vector<uint64_t>& operator()(int32_t id) {
    auto it = read_.find(id);
    if (it == read_.end()) it = read_.emplace(id, read_stack(fd_, id)).first;
    return it->second;
  }

 private:
  int fd_;
  std::unordered_map<int32_t, std::vector<uint64_t>> read_;
};

}  // namespace

void CpuSampler::SkelDeleter::operator()(profile_bpf* s) const { profile_bpf__destroy(s); }
void CpuSampler::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

namespace {

// Room for about a second of samples at FREQUENCY_HZ on every CPU (the reader drains every
// 100 ms tick, and is woken at a quarter full), in a power of two between 4 and 64 MiB.
// Distinct unwound (thread, stacks) kept; like the kernel's counts map, a bound on memory.
constexpr size_t kMaxUnwoundStacks = 1 << 20;
// Map sizes for samples the full ring turns away (a session with stack copies, no off-CPU).
constexpr uint32_t kFallbackStacks = 1024;
constexpr uint32_t kFallbackCounts = 4096;
// Stack copies held until their process's code mappings come (past it they are unwound at once).
constexpr size_t kMaxParkedBytes = 64u << 20;

uint32_t stack_ring_bytes(unsigned frequency_hz) {
  // The ring's data pages are mapped into perfbpf twice (and so counted twice in its RSS):
  // half a second of samples, woken at an eighth of a second, not a whole second's.
  const uint64_t want = uint64_t{frequency_hz} * online_cpus().size() * sizeof(stack_sample) / 2;
  uint32_t bytes = 1u << 20;
  while (bytes < want && bytes < (64u << 20)) bytes <<= 1;
  return bytes;
}

// Programs and maps a session does not use are neither verified nor allocated: verifying a
// program is most of a short session's CPU (handle_sample alone ~27 ms), and the off-CPU
// books are preallocated hashes of PROFILE_MAX_COUNTS entries.
void trim_to_mode(profile_bpf* skel, const SamplerSettings& settings) {
  if (!settings.off_cpu) {
    for (bpf_program* prog : {skel->progs.handle_switch, skel->progs.handle_wakeup, skel->progs.handle_wakeup_new,
                              skel->progs.open_waits, skel->progs.close_waits})
      bpf_program__set_autoload(prog, false);
    for (bpf_map* map : {skel->maps.switched_out, skel->maps.offcpu})
      if (int err = bpf_map__set_max_entries(map, 1))
        throw Error(errno_message("cannot size the off-CPU maps", err), "", -err);
  }
  if (settings.unwind && !settings.off_cpu) {
    // Samples carry their stacks in the ring: the maps take only those a full ring turns
    // away (frame-pointer stacks), and need not be allocated whole for a session's worth.
    if (int err = bpf_map__set_max_entries(skel->maps.stacks, kFallbackStacks))
      throw Error(errno_message("cannot size the stack map", err), "", -err);
    if (int err = bpf_map__set_max_entries(skel->maps.counts, kFallbackCounts))
      throw Error(errno_message("cannot size the sample counts map", err), "", -err);
  }
  if (settings.frequency_hz == 0) {
    bpf_program__set_autoload(skel->progs.handle_sample, false);
    // Only the sample program counts: its preallocated hash (32 768 entries) would be zeroed
    // page by page in perfbpf's time for nothing.
    if (int err = bpf_map__set_max_entries(skel->maps.counts, 1))
      throw Error(errno_message("cannot size the sample counts map", err), "", -err);
  }
  if (settings.fixed_targets && settings.filter_tgid) bpf_program__set_autoload(skel->progs.handle_fork, false);
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
    case PROFILE_LOSS_CODE_MAPPING: return "code_mappings_ring_full";
    default: return "unknown";
  }
}

LossScope loss_scope(unsigned reason) {
  switch (reason) {
    case PROFILE_LOSS_COUNTS_FULL: return {.samples = true, .off_cpu = false, .drops = true};
    case PROFILE_LOSS_WAITS_FULL:
    case PROFILE_LOSS_MISSED_SWITCH_IN: return {.samples = false, .off_cpu = true, .drops = true};
    // Code mappings name the user frames of both views (of processes gone by the report).
    case PROFILE_LOSS_CODE_MAPPING: return {.samples = true, .off_cpu = true, .drops = false};
    default: return {.samples = true, .off_cpu = false, .drops = false};  // a sample kept without a stack
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
    : unwind_(settings.unwind), code_mapping_(settings.code_mapping), fork_(settings.fork), frequency_hz_(settings.frequency_hz), off_cpu_(settings.off_cpu) {
  // CO-RE and the attach and kfunc ids without reading the kernel's BTF once cached (it is
  // most of an --off-cpu session's peak memory when read: bpf_load/core_btf.h).
  const CoreBtf core_btf = CoreBtf::for_skeleton(profile_bpf__elf_bytes);
  const bpf_object_open_opts open_opts = core_btf.open_opts();
  skel_.reset(profile_bpf__open_opts(&open_opts));
  if (!skel_) throw Error(errno_message("cannot open the sampling BPF object", errno), "", errno);
  skel_->rodata->filter_tgid = settings.filter_tgid;
  skel_->rodata->self_tgid = static_cast<uint32_t>(getpid());
  skel_->rodata->min_block_ns = settings.min_block_ns;
  skel_->rodata->copy_user_stack = static_cast<bool>(unwind_);
  trim_to_mode(skel_.get(), settings);
  // Without stack copies the ring carries code mappings only: a set is about 20 KiB, and its
  // first record wakes the reader. The kernel maps a ring's pages into perfbpf whole, and twice
  // (its RSS), so it is not sized for more than two dozen sets in flight.
  if (int err = bpf_map__set_max_entries(skel_->maps.samples, unwind_ ? stack_ring_bytes(settings.frequency_hz) : 1u << 19))
    throw Error(errno_message("cannot size the stack-sample ring", err), "", -err);
  if (settings.shared_targets_fd >= 0) {
    if (int err = bpf_map__reuse_fd(skel_->maps.targets, settings.shared_targets_fd))
      throw Error(errno_message("cannot share the target set with the sampler", err), "", -err);
  }
  KernelIdsScope kernel_ids(core_btf.ids());
  if (int err = profile_bpf__load(skel_.get()))
    throw Error(errno_message("cannot load the sampling BPF program", err), "run with -v for the verifier log", -err);
  ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.samples), &CpuSampler::on_record, this, nullptr));
  if (!ring_) throw Error(errno_message("cannot open the stack-sample ring", errno), "", errno);
}

int CpuSampler::epoll_fd() const { return ring_ ? ring_buffer__epoll_fd(ring_.get()) : -1; }

int CpuSampler::consume() {
  if (!ring_) return 0;
  int n = ring_buffer__consume(ring_.get());
  if (n < 0) throw Error(errno_message("cannot read the stack-sample ring", -n), "", -n);
  // Samples that waited for their process's code mappings: unwound once a set came after them
  // (the task work sending it runs as the thread returns to user mode, microseconds later), or
  // after a second without one (the thread died first), or when the session is over.
  const uint64_t now = monotonic_ns();
  std::erase_if(parked_, [&](const Parked& p) {
    if (!stopped_ && sets_[p.tgid] == p.sets && now - p.at_ns < 1'000'000'000u) return false;
    unwind_sample(reinterpret_cast<const stack_sample*>(p.record.data()));
    parked_bytes_ -= p.record.size();
    return true;
  });
  return n;
}

namespace {
// FNV-1a over 64-bit words: cheap, and stacks differ in their leaf addresses anyway.
struct Fnv1a {
  uint64_t h = 1469598103934665603ull;
  void mix(uint64_t v) { h = (h ^ v) * 1099511628211ull; }
  void mix(const std::vector<uint64_t>& frames) {
    for (uint64_t a : frames) mix(a);
  }
};
}  // namespace

size_t CpuSampler::UnwoundHash::operator()(const UnwoundKey& k) const {
  Fnv1a f;
  f.mix(std::get<0>(k));
  f.mix(std::get<1>(k));
  f.mix(std::get<2>(k));
  f.mix(std::get<3>(k));
  f.mix(std::get<4>(k));
  return static_cast<size_t>(f.h);
}

size_t CpuSampler::FramesHash::operator()(const std::vector<uint64_t>& frames) const {
  Fnv1a f;
  f.mix(frames);
  return static_cast<size_t>(f.h);
}

int CpuSampler::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<CpuSampler*>(ctx);
  uint32_t kind = 0;
  if (size >= sizeof(kind)) std::memcpy(&kind, data, sizeof(kind));
  if (kind == PROFILE_RECORD_STACK) self->on_stack_sample(data, size);
  else if (kind == PROFILE_RECORD_MAPPING) self->on_code_mapping(data, size);
  else if (kind == PROFILE_RECORD_FORK && size >= sizeof(code_fork)) {
    const auto* rec = static_cast<const code_fork*>(data);
    if (self->fork_) self->fork_(rec->tgid, rec->parent_tgid);
  }
  else self->malformed_++;
  return 0;
}

void CpuSampler::on_code_mapping(const void* data, size_t size) {
  const auto* rec = static_cast<const code_mapping*>(data);
  if (size < sizeof(*rec) || rec->depth > PROFILE_PATH_DEPTH) {
    malformed_++;
    return;
  }
  if (rec->flags & CODE_MAPPING_FIRST) sets_[rec->tgid]++;
  if (!code_mapping_) return;
  CodeMapping m;
  m.tgid = rec->tgid;
  m.start = rec->start;
  m.end = rec->end;
  m.offset = rec->offset;
  m.dev = makedev(static_cast<unsigned>(rec->dev >> 20), static_cast<unsigned>(rec->dev & 0xfffff));
  m.inode = rec->ino;
  m.first = rec->flags & CODE_MAPPING_FIRST;
  m.new_image = rec->flags & CODE_MAPPING_NEW_MM;
  // Components come leaf first; a path cut at PROFILE_PATH_DEPTH names no file.
  if (rec->flags & CODE_MAPPING_VDSO) m.path = "[vdso]";
  else if (!(rec->flags & CODE_MAPPING_PATH_CUT))
    for (uint32_t i = rec->depth; i-- > 0;)
      m.path += "/" + std::string(rec->names[i], strnlen(rec->names[i], PROFILE_NAME_LEN));
  code_mapping_(m);
}

void CpuSampler::on_stack_sample(const void* data, size_t size) {
  const auto* rec = static_cast<const stack_sample*>(data);
  // The ring hands back what the program sent; a record that disagrees with itself (an ABI
  // mismatch) is counted, never read past its end.
  if (size < PROFILE_STACK_SAMPLE_HEADER || rec->stack_size > sizeof(rec->stack) ||
      size < PROFILE_STACK_SAMPLE_HEADER + rec->stack_size || rec->kernel_depth > PROFILE_MAX_STACK_DEPTH) {
    malformed_++;
    return;
  }
  if (!unwind_) {  // never sent without copy_user_stack
    malformed_++;
    return;
  }
  if ((rec->flags & STACK_SAMPLE_MAPPINGS_PENDING) && parked_bytes_ + size <= kMaxParkedBytes) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    parked_.push_back({rec->tgid, sets_[rec->tgid], monotonic_ns(), std::vector<uint8_t>(bytes, bytes + size)});
    parked_bytes_ += size;
    return;
  }
  unwind_sample(rec);
}

void CpuSampler::unwind_sample(const stack_sample* rec) {
  UnwoundStack user;
  if (!(rec->flags & STACK_SAMPLE_NO_USER)) {
    UserRegs regs;
    std::copy(std::begin(rec->regs), std::end(rec->regs), regs.r);
    StackCopy copy;
    copy.tgid = rec->tgid;
    copy.tid = rec->tid;
    copy.regs = &regs;
    copy.stack = rec->stack;
    copy.size = rec->stack_size;
    copy.start = rec->stack_start;
    // Every page the copy may hold was read: the stack may go on above it.
    const uint64_t first = PROFILE_PAGE_SIZE - (rec->stack_start & (PROFILE_PAGE_SIZE - 1));
    copy.cut = rec->stack_size == first + (PROFILE_STACK_PAGES - 1) * PROFILE_PAGE_SIZE;
    user = unwind_(copy);
  }
  const bool truncated = user.end == UnwoundStack::End::Truncated;
  // Kernel stacks interned: a few dozen shared by thousands of (thread, user stack) keys.
  std::vector<uint64_t> kernel(rec->kernel_ips, rec->kernel_ips + rec->kernel_depth);
  auto known = kernel_ids_.find(kernel);
  if (known == kernel_ids_.end()) {
    if (kernel_ids_.size() >= kMaxUnwoundStacks) {
      unwound_full_++;  // as below: a bound on memory, the sample lost and counted
      return;
    }
    known = kernel_ids_.emplace(std::move(kernel), static_cast<uint32_t>(kernel_ids_.size())).first;
  }
  auto key = std::make_tuple(rec->tgid, rec->tid, known->second, truncated, std::move(user.frames));
  auto it = unwound_.find(key);
  if (it != unwound_.end()) it->second++;
  else if (unwound_.size() < kMaxUnwoundStacks) unwound_.emplace(std::move(key), 1);
  else unwound_full_++;  // reported as counts_map_full: the sample is lost
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
  // Code mappings of processes that exec during the session, before their first sample.
  for (bpf_program* prog : {skel_->progs.handle_exec, skel_->progs.handle_fork}) {
    if (!bpf_program__autoload(prog)) continue;
    if (bpf_link* link = bpf_program__attach(prog)) links_.push_back(link);
    else throw Error(errno_message(std::string("cannot attach the sampler's program ") + bpf_program__name(prog), errno), "", errno);
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
  stopped_ = true;  // nothing more comes: the next consume() unwinds every parked sample
}

std::vector<RawStackSample> CpuSampler::collect() const {
  std::vector<RawStackSample> out;
  StackReader stack(bpf_map__fd(skel_->maps.stacks));
  for_each_entry<profile_key, uint64_t>(bpf_map__fd(skel_->maps.counts), [&](const profile_key& key, uint64_t n) {
    out.push_back({key.tgid, key.tid, stack(key.user_stack_id), stack(key.kernel_stack_id), n});
  });
  std::vector<const std::vector<uint64_t>*> kernel_stacks(kernel_ids_.size());
  for (const auto& [frames, id] : kernel_ids_) kernel_stacks[id] = &frames;
  for (const auto& [key, n] : unwound_) {
    const auto& [tgid, tid, kernel_id, truncated, user] = key;
    RawStackSample s{tgid, tid, user, *kernel_stacks[kernel_id], n};
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
  StackReader stack(bpf_map__fd(skel_->maps.stacks));
  const int start_stacks = bpf_map__fd(skel_->maps.start_stacks);
  for_each_entry<offcpu_key, uint64_t>(bpf_map__fd(skel_->maps.offcpu), [&](const offcpu_key& key, uint64_t ns) {
    const profile_key& w = key.where;
    // A wait already open when the session began: the kernel stack bpf_get_task_stack read.
    std::vector<uint64_t> kernel = key.flags & OFFCPU_SINCE_START ? read_frames(start_stacks, w.tid)
                                                                  : stack(w.kernel_stack_id);
    out.push_back({w.tgid, w.tid, stack(w.user_stack_id), std::move(kernel), ns, static_cast<int>(key.state)});
  });
  return out;
}

std::vector<uint64_t> CpuSampler::losses() const {
  std::vector<uint64_t> lost = sum_percpu_counters(bpf_map__fd(skel_->maps.losses), PROFILE_LOSS_NR);
  lost[PROFILE_LOSS_COUNTS_FULL] += unwound_full_ + malformed_;  // samples lost in userspace
  return lost;
}

}  // namespace perfbpf
