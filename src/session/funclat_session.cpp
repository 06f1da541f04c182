#include "session/funclat_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include "collect/bpf_maps.h"
#include "collect/funclat_decoder.h"
#include "collect/procfs.h"
#include "collect/ring_reader.h"
#include <linux/types.h>

#include "funclat.h"
#include "funclat.skel.h"
#include "funclat_sched.skel.h"
#include "perfbpf/error.h"
#include "session/uprobe_multi.h"
#include "util/unique_fd.h"

namespace perfbpf {
namespace {

[[noreturn]] void throw_libbpf(const std::string& what, int err, const std::string& hint = {}) {
  if (err < 0) err = -err;
  throw Error(errno_message(what, err), hint.empty() && err == EPERM ? "run as root" : hint, err);
}

constexpr size_t kMaxDetachThreads = 64;
// pidfd_open(2) of a thread that need not lead its group (PIDFD_THREAD, Linux 6.9+, is O_EXCL).
constexpr unsigned kPidfdThread = O_EXCL;

// The ring's size: a CPU makes at most ~770k probed calls/s whatever the functions (~1.3 us of
// probe each on NOP5 sites), 56 bytes each with the ring's header (128 with a split); 256 KiB
// per CPU holds ~5 ms of a CPU's fastest calls past the wake-up mark (an eighth of the ring),
// a lost record is counted (FUNCLAT_LOSS_RINGBUF_FULL). A power of two, as the kernel asks.
uint32_t ring_bytes(bool decompose) {
  const long cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  const uint64_t want = (256u << 10) * static_cast<uint64_t>(cpus) * (decompose ? 2 : 1);
  uint64_t bytes = 256u << 10;
  while (bytes < want && bytes < FUNCLAT_RINGBUF_BYTES) bytes *= 2;
  return static_cast<uint32_t>(bytes);
}

void size_map(bpf_map* map, size_t entries, const char* what) {
  if (int err = bpf_map__set_max_entries(map, static_cast<uint32_t>(std::max<size_t>(1, entries))))
    throw_libbpf(std::string("cannot size the ") + what, err);
}

}  // namespace

FuncLatNeeds funclat_needs(const std::vector<PlannedProbe>& probes) {
  FuncLatNeeds needs;
  needs.probes = probes.size();
  needs.indirect_jumps = 0;
  needs.uretprobe = needs.return_sites = false;
  for (const PlannedProbe& p : probes) {
    (p.method == ProbeMethod::ReturnSites ? needs.return_sites : needs.uretprobe) = true;
    for (const ExitProbe& e : p.exits) needs.indirect_jumps += e.site.kind == ExitKind::IndirectJump;
  }
  return needs;
}

void FuncLatSession::SkelDeleter::operator()(funclat_bpf* s) const { funclat_bpf__destroy(s); }
void FuncLatSession::SkelDeleter::operator()(funclat_sched_bpf* s) const { funclat_sched_bpf__destroy(s); }
void FuncLatSession::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

FuncLatSession::FuncLatSession(const FuncLatSettings& settings, RecordSink sink)
    : needs_(settings.needs), sink_(std::move(sink)) {
  if (needs_.probes > FUNCLAT_MAX_PROBES)
    throw Error(std::to_string(needs_.probes) + " functions matched, more than the " +
                    std::to_string(FUNCLAT_MAX_PROBES) + " perfbpf can probe at once",
                "narrow the -f patterns", E2BIG);
  if (needs_.indirect_jumps > FUNCLAT_MAX_INDIRECT)
    throw Error("more than " + std::to_string(FUNCLAT_MAX_INDIRECT) + " indirect jumps to probe as returns",
                "narrow the -f patterns", E2BIG);
  if (settings.bpf_stats) stats_fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);  // best effort: -1 if refused
  // The kernel types the programs' CO-RE reads need, so libbpf does not parse the kernel's whole
  // BTF (bpf_load/core_btf.h).
  uprobe_multi_ = settings.uprobe_multi && kernel_has_uprobe_multi();
  uprobe_session_ = uprobe_multi_ && settings.uprobe_session && kernel_has_uprobe_session();
  const CoreBtf core_btf = settings.core_btf ? CoreBtf::for_skeleton(funclat_bpf__elf_bytes) : CoreBtf();
  core_btf_source_ = core_btf.source();
  try {
    open_and_load(settings, core_btf.path());
  } catch (const Error&) {
    if (!core_btf.path()) throw;
    // Whatever the projection lacked, libbpf's own way (the kernel's whole BTF) is the answer.
    skel_.reset();
    core_btf_source_ = CoreBtfSource::None;
    open_and_load(settings, nullptr);
  }
  // Thread exits keep the per-thread stacks map clean and report calls that never returned.
  // Attached until the session is destroyed, not only while probes are: a thread's open calls
  // live in its task storage and go with it, so one that exits after detach (a command stopped
  // at the end) must still be counted then.
  exit_link_.reset(bpf_program__attach(skel_->progs.handle_exit));
  if (!exit_link_) throw_libbpf("cannot attach handle_exit", errno);
  if (settings.decompose) load_scheduler_programs();
  ring_ = std::make_unique<RingReader>(bpf_map__fd(skel_->maps.events), &FuncLatSession::on_record, this);
}

void FuncLatSession::open_and_load(const FuncLatSettings& settings, const char* core_btf_path) {
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.btf_custom_path = core_btf_path;
  skel_.reset(funclat_bpf__open_opts(&opts));
  if (!skel_) throw_libbpf("cannot open the funclat BPF object", errno);
  skel_->rodata->filter_tgid = settings.filter_tgid;
  if (settings.shared_targets_fd >= 0) {
    if (int err = bpf_map__reuse_fd(skel_->maps.targets, settings.shared_targets_fd))
      throw_libbpf("cannot share the target set with the funclat programs", err);
  }
  if (uprobe_multi_) {
    for (bpf_program* prog : {skel_->progs.handle_entry, skel_->progs.handle_return, skel_->progs.handle_exit_site})
      bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  }
  if (uprobe_session_)
    bpf_program__set_expected_attach_type(skel_->progs.handle_session,
                                          static_cast<bpf_attach_type>(kBpfTraceUprobeSession));
  // Only the programs the plan uses are loaded (batches() picks the same ones).
  const bool pairs = needs_.uretprobe && !uprobe_session_;
  bpf_program__set_autoload(skel_->progs.handle_session, needs_.uretprobe && uprobe_session_);
  bpf_program__set_autoload(skel_->progs.handle_entry, pairs || needs_.return_sites);
  bpf_program__set_autoload(skel_->progs.handle_return, pairs);
  bpf_program__set_autoload(skel_->progs.handle_exit_site, needs_.return_sites);
  for (bpf_map* map : {skel_->maps.threads, skel_->maps.stacks})
    if (int err = bpf_map__set_max_entries(map, settings.max_threads)) throw_libbpf("cannot size the thread map", err);
  for (bpf_map* map : {skel_->maps.unwound, skel_->maps.unreturned, skel_->maps.attach_orphans, skel_->maps.probe_cost})
    size_map(map, needs_.probes, "per-function counters");
  size_map(skel_->maps.indirect_sites, needs_.indirect_jumps, "indirect jump sites");
  const uint32_t ring = settings.ring_bytes ? settings.ring_bytes : ring_bytes(settings.decompose);
  size_map(skel_->maps.events, ring, "ring buffer");
  skel_->rodata->wakeup_bytes = ring / 8;
  skel_->rodata->decompose = settings.decompose;
  if (int err = funclat_bpf__load(skel_.get()))
    throw_libbpf("cannot load the funclat BPF programs", err,
                 "run with -v to see the verifier log; the kernel needs BTF, uprobes and ring buffers");
}

// --decompose: the scheduler programs (bpf/funclat_sched.bpf.c), on the timing object's maps.
void FuncLatSession::load_scheduler_programs() {
  const CoreBtf core_btf = CoreBtf::for_skeleton(funclat_sched_bpf__elf_bytes);  // bpf_load/core_btf.h
  const bpf_object_open_opts open_opts = core_btf.open_opts();
  sched_.reset(funclat_sched_bpf__open_opts(&open_opts));
  if (!sched_) throw_libbpf("cannot open the --decompose BPF object", errno);
  const std::pair<bpf_map*, bpf_map*> shared[] = {{sched_->maps.thread_stacks, skel_->maps.thread_stacks},
                                                  {sched_->maps.split_threads, skel_->maps.split_threads},
                                                  {sched_->maps.losses, skel_->maps.losses}};
  for (const auto& [theirs, ours] : shared)
    if (int err = bpf_map__reuse_fd(theirs, bpf_map__fd(ours)))
      throw_libbpf("cannot share the funclat maps with the --decompose programs", err);
  KernelIdsScope kernel_ids(core_btf.ids());
  if (int err = funclat_sched_bpf__load(sched_.get()))
    throw_libbpf("cannot load the --decompose BPF programs", err,
                 "run with -v to see the verifier log; --decompose needs tp_btf programs and kernel BTF");
  for (bpf_program* prog : {sched_->progs.handle_split_switch, sched_->progs.handle_split_waking}) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) throw_libbpf(std::string("cannot attach ") + bpf_program__name(prog), errno);
    links_.emplace_back(link);
  }
}

FuncLatSession::~FuncLatSession() {
  for (int fd : multi_links_) close(fd);
  if (stats_fd_ >= 0) close(stats_fd_);
}

int FuncLatSession::targets_fd() const { return bpf_map__fd(skel_->maps.targets); }

std::vector<uint32_t> FuncLatSession::target_tgids() const {
  std::vector<uint32_t> tgids;
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(targets_fd(), prev, &next) == 0) {
    tgids.push_back(next);
    key = next;
    prev = &key;
  }
  return tgids;
}

void FuncLatSession::set_probe_costs(const std::vector<uint64_t>& cost_ns) {
  int fd = bpf_map__fd(skel_->maps.probe_cost);
  const size_t n = std::min(cost_ns.size(), needs_.probes);
  if (n == 0) return;
  // One syscall for all of them: 100 000 functions took 100 000 updates.
  std::vector<uint32_t> ids(n);
  for (uint32_t id = 0; id < n; id++) ids[id] = id;
  uint32_t count = static_cast<uint32_t>(n);
  if (bpf_map_update_batch(fd, ids.data(), cost_ns.data(), &count, nullptr) != 0)
    throw_libbpf("cannot set probe costs", errno);
}

std::vector<uint32_t> FuncLatSession::link_ids() const {
  std::vector<int> fds(multi_links_);
  for (const auto& link : links_) fds.push_back(bpf_link__fd(link.get()));
  if (exit_link_) fds.push_back(bpf_link__fd(exit_link_.get()));
  return ::perfbpf::link_ids(fds);
}

std::pair<uint64_t, uint64_t> FuncLatSession::run_stats() const {
  uint64_t run_time = 0, runs = 0;
  if (stats_fd_ < 0) return {0, 0};
  for (bpf_object* obj : {skel_->obj, sched_ ? sched_->obj : nullptr}) {
    bpf_program* prog;
    if (!obj) continue;
    bpf_object__for_each_program(prog, obj) {
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0) continue;
      run_time += info.run_time_ns;
      runs += info.run_cnt;
    }
  }
  return {run_time, runs};
}

void FuncLatSession::add_target_tgid(uint32_t tgid) {
  uint8_t one = 1;
  if (int err = bpf_map_update_elem(bpf_map__fd(skel_->maps.targets), &tgid, &one, BPF_ANY))
    throw_libbpf("cannot add pid " + std::to_string(tgid) + " to the target set", err);
}

void FuncLatSession::set_phase(unsigned phase) {
  skel_->bss->phase = phase;
  __sync_synchronize();  // programs on other CPUs read it from the same mapped page
}

// One link's worth of probes: one program at many offsets of one file.
struct FuncLatSession::Batch {
  bpf_program* prog = nullptr;
  UprobeLinkKind kind = UprobeLinkKind::Entry;
  std::string path;
  std::vector<uint64_t> offsets, cookies;
  std::vector<size_t> owners;  // probe id of each offset
};

namespace {

uint64_t exit_cookie(const ExitSite& site, uint32_t indirect) {
  uint64_t kind = site.kind == ExitKind::Return         ? FUNCLAT_EXIT_RET
                  : site.kind == ExitKind::Jump         ? FUNCLAT_EXIT_JMP
                  : site.kind == ExitKind::JumpIf       ? FUNCLAT_EXIT_JCC
                                                        : FUNCLAT_EXIT_INDIRECT;
  return FUNCLAT_COOKIE_EXIT(kind, site.condition, indirect) | (site.at_entry_sp ? FUNCLAT_F_AT_ENTRY_SP : 0);
}

}  // namespace

// Attach order is link order: exits, then the entries they pair with, then the uretprobe
// functions (entry before return when they are two links).
std::vector<FuncLatSession::Batch> FuncLatSession::batches(const std::vector<PlannedProbe>& probes,
                                                           const std::vector<bool>& left_out) const {
  enum Stage { kExits, kSiteEntries, kSessions, kEntries, kReturns, kStages };
  std::map<std::pair<int, std::string>, Batch> by_stage_file;
  auto add = [&](int stage, bpf_program* prog, UprobeLinkKind kind, const std::string& path, uint64_t offset,
                 uint64_t cookie, size_t owner) {
    Batch& b = by_stage_file[{stage, path}];
    b.prog = prog;
    b.kind = kind;
    b.path = path;
    b.offsets.push_back(offset);
    b.cookies.push_back(cookie);
    b.owners.push_back(owner);
  };
  uint32_t indirect = 0;
  for (size_t id = 0; id < probes.size(); id++) {
    const PlannedProbe& p = probes[id];
    const std::string& path = p.target.attach_path;
    const uint64_t base = id | (p.go ? FUNCLAT_F_GO : 0);
    if (p.method == ProbeMethod::ReturnSites) {
      for (const ExitProbe& e : p.exits) {
        uint32_t slot = e.site.kind == ExitKind::IndirectJump ? indirect++ : 0;
        if (!left_out[id])
          add(kExits, skel_->progs.handle_exit_site, UprobeLinkKind::Entry, path, e.file_offset,
              base | FUNCLAT_F_RETURN_SITES | exit_cookie(e.site, slot), id);
      }
      if (!left_out[id])
        add(kSiteEntries, skel_->progs.handle_entry, UprobeLinkKind::Entry, path, p.entry_offset,
            base | FUNCLAT_F_RETURN_SITES, id);
    } else if (left_out[id]) {
    } else if (uprobe_session_) {
      add(kSessions, skel_->progs.handle_session, UprobeLinkKind::Session, path, p.entry_offset, base, id);
    } else {
      add(kEntries, skel_->progs.handle_entry, UprobeLinkKind::Entry, path, p.entry_offset, base, id);
      add(kReturns, skel_->progs.handle_return, UprobeLinkKind::Return, path, p.entry_offset, base, id);
    }
  }
  std::vector<Batch> out;
  for (auto& [key, b] : by_stage_file) out.push_back(std::move(b));  // map order: stage, then file
  return out;
}

void FuncLatSession::write_indirect_sites(const std::vector<PlannedProbe>& probes) {
  int fd = bpf_map__fd(skel_->maps.indirect_sites);
  uint32_t slot = 0;
  for (const PlannedProbe& p : probes) {
    for (const ExitProbe& e : p.exits) {
      if (e.site.kind != ExitKind::IndirectJump) continue;
      funclat_indirect site{};
      site.disp = e.site.target.disp;
      site.offset = static_cast<uint32_t>(e.site.offset);
      site.size = static_cast<uint32_t>(e.range_size);
      site.base = e.site.target.base;
      site.index = e.site.target.index;
      site.scale = e.site.target.scale;
      site.flags = static_cast<uint8_t>((e.site.target.memory ? FUNCLAT_TARGET_MEMORY : 0) |
                                        (e.site.target.rip_relative ? FUNCLAT_TARGET_RIP : 0));
      site.length = e.site.length;
      if (int err = bpf_map_update_elem(fd, &slot, &site, BPF_ANY)) throw_libbpf("cannot set jump sites", err);
      slot++;
    }
  }
}

int FuncLatSession::create_link(const Batch& b, const std::vector<size_t>& subset, pid_t pid) const {
  std::vector<uint64_t> offsets, cookies;
  for (size_t i : subset) {
    offsets.push_back(b.offsets[i]);
    cookies.push_back(b.cookies[i]);
  }
  return create_uprobe_multi_link(bpf_program__fd(b.prog), b.path, offsets, cookies, pid, b.kind);
}

// Splits a refused link until the offsets at fault are alone: uprobe_multi fails a whole
// link for one instruction the kernel will not probe. Its first offsets' functions go.
void FuncLatSession::find_refused(const Batch& b, std::vector<size_t> subset, pid_t pid,
                                  std::vector<Refused>& out) const {
  int fd = create_link(b, subset, pid);
  if (fd >= 0) {
    close(fd);
    return;
  }
  if (subset.size() == 1) {
    out.push_back({b.owners[subset[0]], -fd});
    return;
  }
  std::vector<size_t> second(subset.begin() + static_cast<long>(subset.size() / 2), subset.end());
  subset.resize(subset.size() / 2);
  find_refused(b, subset, pid, out);
  find_refused(b, second, pid, out);
}

void FuncLatSession::check_needs(const std::vector<PlannedProbe>& probes) const {
  const FuncLatNeeds asked = funclat_needs(probes);
  if (asked.probes > needs_.probes || asked.indirect_jumps > needs_.indirect_jumps ||
      (asked.uretprobe && !needs_.uretprobe) || (asked.return_sites && !needs_.return_sites))
    throw Error("the funclat programs were loaded for a different plan (" + std::to_string(needs_.probes) +
                    " functions) than the one attached (" + std::to_string(asked.probes) + ")",
                "a perfbpf bug: FuncLatSettings::needs must come from the plan attached", EINVAL);
}

std::vector<FuncLatSession::Refused> FuncLatSession::attach(const std::vector<PlannedProbe>& probes, pid_t pid) {
  check_needs(probes);
  write_indirect_sites(probes);
  std::vector<bool> left_out(probes.size(), false);
  std::vector<Refused> refused;
  auto object_of = [&](const std::string& path) {
    for (const auto& p : probes)
      if (p.target.attach_path == path) return p.target.object;
    return path;
  };
  if (!uprobe_multi_) {
    for (const Batch& b : batches(probes, left_out)) {
      for (size_t i = 0; i < b.offsets.size(); i++) {
        if (left_out[b.owners[i]]) continue;
        LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = b.cookies[i], .retprobe = b.kind == UprobeLinkKind::Return);
        bpf_link* link = bpf_program__attach_uprobe_opts(b.prog, pid, b.path.c_str(), b.offsets[i], &opts);
        if (link) {
          links_.emplace_back(link);
          continue;
        }
        int err = errno;
        if (err == ENOENT || err == ESRCH) throw_libbpf("cannot attach probes to " + object_of(b.path), err, "the process or file is gone");
        left_out[b.owners[i]] = true;  // its links made so far fire for nothing: no frame is ever opened
        refused.push_back({b.owners[i], err});
      }
    }
    set_phase(FUNCLAT_RUNNING);
    return refused;
  }
  for (bool done = false; !done;) {
    done = true;
    for (const Batch& b : batches(probes, left_out)) {
      std::vector<size_t> all(b.offsets.size());
      for (size_t i = 0; i < all.size(); i++) all[i] = i;
      int fd = create_link(b, all, pid);
      if (fd >= 0) {
        multi_links_.push_back(fd);
        continue;
      }
      const size_t before = refused.size();
      if (fd != -ENOENT && fd != -ESRCH) find_refused(b, all, pid, refused);
      if (refused.size() == before)
        throw_libbpf("cannot attach " + std::to_string(b.offsets.size()) + " probes to " + object_of(b.path), fd,
                     fd == -ENOENT || fd == -ESRCH ? "the process or file is gone" : "");
      // Start over without the functions at fault, so none is left half attached.
      for (size_t i = before; i < refused.size(); i++) left_out[refused[i].probe_id] = true;
      for (int link : multi_links_) close(link);
      multi_links_.clear();
      done = false;
      break;
    }
  }
  set_phase(FUNCLAT_RUNNING);
  return refused;
}

int FuncLatSession::epoll_fd() const { return ring_->epoll_fd(); }

int FuncLatSession::on_record(void* ctx, const void* data, size_t size) {
  auto* self = static_cast<FuncLatSession*>(ctx);
  CallRecord record;
  if (!decode_funclat_event(data, size, record)) {
    self->malformed_++;
    return 0;
  }
  self->records_++;
  self->sink_(record);
  return 0;
}

int FuncLatSession::consume() {
  // on_record never stops a read: the count is all there is.
  return static_cast<int>(ring_->consume());
}

void FuncLatSession::detach_and_drain() {
  set_phase(FUNCLAT_ENDING);
  // Each link's uprobes wait out an RCU grace period (~100 ms here) when released; releasing
  // them from parallel threads lets independent waits overlap.
  std::vector<std::function<void()>> releases;
  for (auto& link : links_) releases.emplace_back([&link] { link.reset(); });
  for (int fd : multi_links_) releases.emplace_back([fd] { close(fd); });
  std::vector<std::thread> threads;
  const size_t per_thread = releases.size() / kMaxDetachThreads + 1;
  for (size_t first = 0; first < releases.size(); first += per_thread) {
    size_t last = std::min(releases.size(), first + per_thread);
    threads.emplace_back([&releases, first, last] {
      for (size_t i = first; i < last; i++) releases[i]();
    });
  }
  for (auto& t : threads) t.join();
  links_.clear();
  multi_links_.clear();
  while (consume() > 0) {
  }
}

std::vector<uint64_t> FuncLatSession::losses() const {
  int ncpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(ncpus > 0 ? ncpus : 1);
  std::vector<uint64_t> totals(FUNCLAT_LOSS_NR, 0);
  int fd = bpf_map__fd(skel_->maps.losses);
  for (uint32_t reason = 0; reason < FUNCLAT_LOSS_NR; reason++) {
    if (bpf_map_lookup_elem(fd, &reason, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[reason] += v;
  }
  return totals;
}

std::vector<uint64_t> FuncLatSession::per_probe(bpf_map* map, size_t probes) const {
  std::vector<uint64_t> counts(probes, 0);
  int fd = bpf_map__fd(map);
  for_each_entry<uint32_t, uint64_t>(fd, [&counts](uint32_t id, uint64_t n) {
    if (id < counts.size()) counts[id] = n;
  });
  return counts;
}

std::vector<uint64_t> FuncLatSession::unwound(size_t probes) const { return per_probe(skel_->maps.unwound, probes); }

std::vector<uint64_t> FuncLatSession::in_flight_at_attach(size_t probes) const {
  return per_probe(skel_->maps.attach_orphans, probes);
}

std::map<uint32_t, uint64_t> FuncLatSession::thread_cpu_ns() const {
  std::map<uint32_t, uint64_t> cpu;
  int exited_fd = bpf_map__fd(skel_->maps.thread_cpu);
  uint32_t tid = 0, next_tid = 0;
  const uint32_t* prev_tid = nullptr;
  while (bpf_map_get_next_key(exited_fd, prev_tid, &next_tid) == 0) {
    tid = next_tid;
    prev_tid = &tid;
    funclat_thread_cpu t{};
    if (bpf_map_lookup_elem(exited_fd, &tid, &t) == 0) cpu[tid] = t.cpu_ns;
  }
  // Live threads: the first field of schedstat is the same sum_exec_runtime.
  for_each_thread([&](uint32_t tid, uint32_t tgid) {
    if (auto s = ProcFs().thread_schedstat(tgid, tid)) cpu[tid] = s->exec_ns;
  });
  return cpu;
}

void FuncLatSession::for_each_thread(const std::function<void(uint32_t tid, uint32_t tgid)>& fn) const {
  int fd = bpf_map__fd(skel_->maps.threads);
  uint32_t tid = 0, next = 0, tgid = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    tid = next;
    prev = &tid;
    if (bpf_map_lookup_elem(fd, &tid, &tgid) == 0) fn(tid, tgid);
  }
}

std::vector<uint64_t> FuncLatSession::in_flight(size_t probes) const {
  std::vector<uint64_t> open = per_probe(skel_->maps.unreturned, probes);
  auto count = [&](const funclat_stack& stack) {
    uint32_t frames = stack.depth < FUNCLAT_MAX_DEPTH ? stack.depth : FUNCLAT_MAX_DEPTH;
    for (uint32_t i = 0; i < frames; i++)
      if (stack.frames[i].probe_id < probes) open[stack.frames[i].probe_id]++;
  };
  funclat_stack stack;
  // Threads still alive with open calls: their task storage, read through a pidfd of each.
  int thread_stacks_fd = bpf_map__fd(skel_->maps.thread_stacks);
  for_each_thread([&](uint32_t tid, uint32_t) {
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, tid, kPidfdThread)));
    int key = pidfd.get();
    if (key >= 0 && bpf_map_lookup_elem(thread_stacks_fd, &key, &stack) == 0) count(stack);
  });
  // Goroutines' stacks.
  int stacks_fd = bpf_map__fd(skel_->maps.stacks);
  funclat_key key{}, next{};
  funclat_key* prev = nullptr;
  while (bpf_map_get_next_key(stacks_fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(stacks_fd, &key, &stack) == 0) count(stack);
  }
  return open;
}

std::vector<uint64_t> FuncLatSession::wait_stack(int32_t id) const {
  std::vector<uint64_t> ips(FUNCLAT_WAIT_STACK_DEPTH, 0);
  if (id < 0) return {};
  const uint32_t key = static_cast<uint32_t>(id);
  if (!sched_ || bpf_map_lookup_elem(bpf_map__fd(sched_->maps.wait_stacks), &key, ips.data()) != 0) return {};
  while (!ips.empty() && ips.back() == 0) ips.pop_back();
  return ips;
}

uint64_t FuncLatSession::wakeup_bytes() const { return skel_->rodata->wakeup_bytes; }

uint64_t FuncLatSession::forced_wakeups() const {
  return __atomic_load_n(&skel_->bss->events_forced_wakeups, __ATOMIC_RELAXED);
}

bool FuncLatSession::user_copy(uint32_t seq, funclat_user_copy& out) const {
  if (!seq || !sched_) return false;
  const uint32_t slot = (seq - 1) % FUNCLAT_MAX_USER_COPIES;
  // A slot whose seq differs was reused by a later copy (or is being written); splits carry
  // the seq's low 32 bits.
  return bpf_map_lookup_elem(bpf_map__fd(sched_->maps.user_copies), &slot, &out) == 0 &&
         static_cast<uint32_t>(out.seq) == seq && out.size <= sizeof(out.stack);
}

bool FuncLatSession::decompose() const { return skel_->rodata->decompose; }

std::vector<uint32_t> FuncLatSession::program_ids() const {
  std::vector<uint32_t> ids = ::perfbpf::program_ids(skel_->obj);
  if (sched_) {
    const std::vector<uint32_t> more = ::perfbpf::program_ids(sched_->obj);
    ids.insert(ids.end(), more.begin(), more.end());
  }
  return ids;
}

}  // namespace perfbpf
