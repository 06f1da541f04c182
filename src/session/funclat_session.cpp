#include "session/funclat_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include "collect/bpf_maps.h"
#include "collect/funclat_decoder.h"
#include <linux/types.h>

#include "funclat.h"
#include "funclat.skel.h"
#include "perfbpf/error.h"
#include "session/uprobe_multi.h"

namespace perfbpf {
namespace {

[[noreturn]] void throw_libbpf(const std::string& what, int err, const std::string& hint = {}) {
  if (err < 0) err = -err;
  throw Error(errno_message(what, err), hint.empty() && err == EPERM ? "run as root" : hint, err);
}

constexpr size_t kMaxDetachThreads = 64;

}  // namespace

void FuncLatSession::SkelDeleter::operator()(funclat_bpf* s) const { funclat_bpf__destroy(s); }
void FuncLatSession::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }
void FuncLatSession::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

FuncLatSession::FuncLatSession(const FuncLatSettings& settings, RecordSink sink)
    : sink_(std::move(sink)) {
  if (settings.bpf_stats) stats_fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);  // best effort: -1 if refused
  skel_.reset(funclat_bpf__open());
  if (!skel_) throw_libbpf("cannot open the funclat BPF object", errno);
  skel_->rodata->filter_tgid = settings.filter_tgid;
  if (settings.shared_targets_fd >= 0) {
    if (int err = bpf_map__reuse_fd(skel_->maps.targets, settings.shared_targets_fd))
      throw_libbpf("cannot share the target set with the funclat programs", err);
  }
  uprobe_multi_ = settings.uprobe_multi && kernel_has_uprobe_multi();
  if (uprobe_multi_) {
    for (bpf_program* prog : {skel_->progs.handle_entry, skel_->progs.handle_return})
      bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  }
  if (int err = bpf_map__set_max_entries(skel_->maps.stacks, settings.max_threads))
    throw_libbpf("cannot size the thread map", err);
  if (int err = funclat_bpf__load(skel_.get()))
    throw_libbpf("cannot load the funclat BPF programs", err,
                 "run with -v to see the verifier log; the kernel needs BTF, uprobes and ring buffers");
  // Thread exits keep the per-thread stacks map clean and report calls that never returned.
  bpf_link* exit_link = bpf_program__attach(skel_->progs.handle_exit);
  if (!exit_link) throw_libbpf("cannot attach handle_exit", errno);
  links_.emplace_back(exit_link);
  ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), &FuncLatSession::on_record, this, nullptr));
  if (!ring_) throw_libbpf("cannot create the ring buffer reader", errno);
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
  for (uint32_t id = 0; id < cost_ns.size() && id < FUNCLAT_MAX_PROBES; id++) {
    if (int err = bpf_map_update_elem(fd, &id, &cost_ns[id], BPF_ANY)) throw_libbpf("cannot set probe costs", err);
  }
}

std::vector<uint32_t> FuncLatSession::link_ids() const {
  std::vector<int> fds(multi_links_);
  for (const auto& link : links_) fds.push_back(bpf_link__fd(link.get()));
  return ::perfbpf::link_ids(fds);
}

std::pair<uint64_t, uint64_t> FuncLatSession::run_stats() const {
  uint64_t run_time = 0, runs = 0;
  if (stats_fd_ < 0) return {0, 0};
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0) continue;
    run_time += info.run_time_ns;
    runs += info.run_cnt;
  }
  return {run_time, runs};
}

void FuncLatSession::add_target_tgid(uint32_t tgid) {
  uint8_t one = 1;
  if (int err = bpf_map_update_elem(bpf_map__fd(skel_->maps.targets), &tgid, &one, BPF_ANY))
    throw_libbpf("cannot add pid " + std::to_string(tgid) + " to the target set", err);
}

void FuncLatSession::attach(const std::vector<ProbeTarget>& targets, pid_t pid) {
  if (targets.size() > FUNCLAT_MAX_PROBES)
    throw Error(std::to_string(targets.size()) + " functions matched, more than the " +
                    std::to_string(FUNCLAT_MAX_PROBES) + " perfbpf can probe at once",
                "narrow the -f patterns", E2BIG);
  if (uprobe_multi_)
    attach_multi(targets, pid);
  else
    attach_per_probe(targets, pid);
}

void FuncLatSession::attach_multi(const std::vector<ProbeTarget>& targets, pid_t pid) {
  // One entry and one return link per file, each carrying all its offsets and probe ids.
  std::map<std::string, std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> by_file;
  for (size_t i = 0; i < targets.size(); i++) {
    auto& [offsets, cookies] = by_file[targets[i].attach_path];
    offsets.push_back(targets[i].function.file_offset);
    cookies.push_back(i);
  }
  for (const auto& [path, probes] : by_file) {
    for (bool ret : {false, true}) {
      bpf_program* prog = ret ? skel_->progs.handle_return : skel_->progs.handle_entry;
      int fd = create_uprobe_multi_link(bpf_program__fd(prog), path, probes.first, probes.second, pid, ret);
      if (fd < 0) {
        std::string object = path;
        for (const auto& t : targets)
          if (t.attach_path == path) object = t.object;
        throw_libbpf("cannot attach " + std::to_string(probes.first.size()) + " probes to " + object, fd,
                     fd == -ENOENT || fd == -ESRCH ? "the process or file is gone" : "");
      }
      multi_links_.push_back(fd);
    }
  }
}

void FuncLatSession::attach_per_probe(const std::vector<ProbeTarget>& targets, pid_t pid) {
  for (size_t i = 0; i < targets.size(); i++) {
    const ProbeTarget& t = targets[i];
    for (bool ret : {false, true}) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = i, .retprobe = ret);
      bpf_program* prog = ret ? skel_->progs.handle_return : skel_->progs.handle_entry;
      bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, t.attach_path.c_str(),
                                                       t.function.file_offset, &opts);
      if (!link) {
        int err = errno;
        throw_libbpf("cannot attach to " + t.function.demangled + " in " + t.object, err,
                     err == ENOENT || err == ESRCH ? "the process or file is gone" : "");
      }
      links_.emplace_back(link);
    }
  }
}

int FuncLatSession::epoll_fd() const { return ring_buffer__epoll_fd(ring_.get()); }

int FuncLatSession::on_record(void* ctx, void* data, size_t size) {
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
  int n = ring_buffer__consume(ring_.get());
  if (n < 0 && n != -EINTR) throw_libbpf("cannot read the ring buffer", n);
  return n < 0 ? 0 : n;
}

void FuncLatSession::detach_and_drain() {
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

std::vector<uint64_t> FuncLatSession::in_flight(size_t probes) const {
  std::vector<uint64_t> open(probes, 0);
  int unreturned_fd = bpf_map__fd(skel_->maps.unreturned);
  for (uint32_t id = 0; id < probes; id++) {
    uint64_t n = 0;
    if (bpf_map_lookup_elem(unreturned_fd, &id, &n) == 0) open[id] += n;
  }
  // Threads still alive with open calls: walk their stacks.
  int stacks_fd = bpf_map__fd(skel_->maps.stacks);
  uint32_t key = 0, next = 0;
  uint32_t* prev = nullptr;
  funclat_stack stack;
  while (bpf_map_get_next_key(stacks_fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(stacks_fd, &key, &stack) != 0) continue;
    uint32_t frames = stack.depth < FUNCLAT_MAX_DEPTH ? stack.depth : FUNCLAT_MAX_DEPTH;
    for (uint32_t i = 0; i < frames; i++)
      if (stack.frames[i].probe_id < probes) open[stack.frames[i].probe_id]++;
  }
  return open;
}

std::vector<uint32_t> FuncLatSession::program_ids() const { return ::perfbpf::program_ids(skel_->obj); }

}  // namespace perfbpf
