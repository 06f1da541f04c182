#include "session/target_set.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "bpf_load/core_btf.h"
#include "collect/bpf_maps.h"
#include "perfbpf/error.h"
#include <target_set.h>  // bpf/target_set.h, the ABI (quotes would find this file's own header)
#include "target_set.skel.h"

namespace perfbpf {
namespace {

static_assert(kDefaultMaxProcesses == TARGET_SET_MAX_PROCESSES, "one default capacity on both sides");

const char* const kLossNames[TARGET_SET_LOSS_NR] = {"target_set_full"};

[[noreturn]] void fail(const std::string& what, int err, const std::string& hint = {}) {
  if (err < 0) err = -err;
  throw Error(errno_message(what, err), err == EPERM ? "run as root" : hint, err);
}

}  // namespace

void TargetSet::SkelDeleter::operator()(target_set_bpf* s) const { target_set_bpf__destroy(s); }
void TargetSet::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

TargetSet::TargetSet(const TargetSetSettings& settings) : max_processes_(settings.max_processes) {
  if (!settings.tracked) {
    // Allocated as members are added, not zeroed whole at creation (bpf/target_set.bpf.c).
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
    untracked_fd_ = bpf_map_create(BPF_MAP_TYPE_HASH, "targets", sizeof(uint32_t), sizeof(uint8_t), max_processes_, &opts);
    if (untracked_fd_ < 0) fail("cannot create the target set", errno);
    return;
  }
  const CoreBtf core_btf = CoreBtf::for_skeleton(target_set_bpf__elf_bytes);  // bpf_load/core_btf.h
  const bpf_object_open_opts open_opts = core_btf.open_opts();
  skel_.reset(target_set_bpf__open_opts(&open_opts));
  if (!skel_) fail("cannot open the target-set BPF object", errno);
  skel_->rodata->follow_children = settings.follow_children;
  for (bpf_map* map : {skel_->maps.targets, skel_->maps.names, skel_->maps.started})
    if (int err = bpf_map__set_max_entries(map, max_processes_)) fail("cannot size the target set", err);
  KernelIdsScope kernel_ids(core_btf.ids());
  if (int err = target_set_bpf__load(skel_.get()))
    fail("cannot load the target-set BPF programs", err, "run with -v to see the verifier log");
  for (bpf_program* prog : {skel_->progs.handle_exec, skel_->progs.handle_fork, skel_->progs.handle_free}) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) fail(std::string("cannot attach ") + bpf_program__name(prog), errno);
    links_.emplace_back(link);
  }
}

TargetSet::~TargetSet() {
  if (untracked_fd_ >= 0) close(untracked_fd_);
}

int TargetSet::fd() const { return skel_ ? bpf_map__fd(skel_->maps.targets) : untracked_fd_; }

bool TargetSet::add(uint32_t tgid) {
  uint8_t one = 1;
  if (bpf_map_update_elem(fd(), &tgid, &one, BPF_NOEXIST) == 0) {
    added_++;
    forget_start(tgid);  // an earlier process's: whichever leaves next takes this entry
    return true;
  }
  int err = errno;
  if (err == EEXIST) return true;
  if (err == E2BIG || err == ENOMEM) {
    lost_full_++;
    return false;
  }
  fail("cannot add pid " + std::to_string(tgid) + " to the target set", err);
}

void TargetSet::forget_start(uint32_t tgid) {
  if (skel_) bpf_map_delete_elem(bpf_map__fd(skel_->maps.started), &tgid);
}

void TargetSet::admit_at_exec(uint32_t tgid) { __atomic_store_n(&skel_->bss->pending_tgid, tgid, __ATOMIC_SEQ_CST); }

bool TargetSet::wait_exec(int timeout_ms) const {
  // The command's exec closes perfbpf's error pipe a little before the exec tracepoint runs
  // (close-on-exec happens while the new image is set up), so release() can return first.
  if (!skel_) return true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (__atomic_load_n(&skel_->bss->pending_tgid, __ATOMIC_SEQ_CST) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    usleep(50);
  }
  return true;
}

std::vector<uint32_t> TargetSet::tgids() const {
  std::vector<uint32_t> out;
  for_each_entry<uint32_t, uint8_t>(fd(), [&out](uint32_t tgid, uint8_t) { out.push_back(tgid); });
  return out;
}

std::optional<std::string> TargetSet::name(uint32_t tgid) const {
  target_set_name n{};
  if (!skel_) return std::nullopt;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.names), &tgid, &n) != 0) return std::nullopt;
  std::string comm(n.comm, strnlen(n.comm, sizeof(n.comm)));
  if (comm.empty()) return std::nullopt;
  return comm;
}

std::vector<uint32_t> TargetSet::program_ids() const {
  return skel_ ? ::perfbpf::program_ids(skel_->obj) : std::vector<uint32_t>{};
}

std::vector<uint32_t> TargetSet::link_ids() const {
  std::vector<int> fds;
  for (const auto& link : links_) fds.push_back(bpf_link__fd(link.get()));
  return ::perfbpf::link_ids(fds);
}

TargetSetStats TargetSet::stats() const {
  TargetSetStats s;
  s.max_processes = max_processes_;
  if (skel_) {
    for (uint64_t n : sum_percpu_counters(bpf_map__fd(skel_->maps.admissions), TARGET_SET_ADMISSION_NR)) s.admitted += n;
    add_losses(bpf_map__fd(skel_->maps.losses), kLossNames, s.lost_by_reason);
  }
  s.admitted += added_;
  if (lost_full_) s.lost_by_reason[kLossNames[TARGET_SET_LOSS_FULL]] += lost_full_;
  return s;
}

}  // namespace perfbpf
