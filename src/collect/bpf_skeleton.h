// RAII over a bpftool-generated skeleton, with the steps every collector takes: open, point
// the shared target filter (bpf/target_filter.bpf.h) at the session's set, load, attach.
// libbpf's -errno returns become Error with the step that failed.
#pragma once

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "bpf_load/core_btf.h"
#include "bpf_load/kernel_ids.h"
#include "collect/collector.h"
#include "perfbpf/error.h"
#include "session/privileges.h"
#include "util/cache_dir.h"

namespace perfbpf {

// CO-RE against vmlinux's BTF alone. Without a path, libbpf 1.1 searches the kernel modules'
// BTF for any type vmlinux lacks (mem_stats' pre-6.2 rss_stat flavor), and listing module BTF
// needs CAP_SYS_ADMIN: with the path, CAP_BPF + CAP_PERFMON suffice (docs/security.md). Used
// only without a projection (bpf_load/core_btf.h), when the kernel's BTF is read anyway.
inline const bpf_object_open_opts* vmlinux_core_opts() {
  static const bpf_object_open_opts opts = [] {
    LIBBPF_OPTS(bpf_object_open_opts, o, .btf_custom_path = "/sys/kernel/btf/vmlinux");
    return o;
  }();
  static const bool without_sys_admin = !has_sys_admin();
  return without_sys_admin ? &opts : nullptr;
}

template <typename Skel, Skel* (*Open)(const bpf_object_open_opts*), int (*Load)(Skel*), int (*Attach)(Skel*),
          void (*Destroy)(Skel*), const void* (*ElfBytes)(size_t*)>
class BpfSkeleton {
 public:
  // Opens the object and configures its target filter; load() when the rest is set. CO-RE
  // resolves against the object's projection of the kernel BTF and the attach points against
  // the ids cached with it (bpf_load/core_btf.h, kernel_ids.h): once cached, no collector's
  // load reads the kernel's BTF (5.5 MiB, ~11 MiB of peak memory and 10-15 ms of CPU each).
  BpfSkeleton(const std::string& what, const CollectorSettings& settings) : what_(what), settings_(settings) {
    size_t size = 0;
    const void* elf = ElfBytes(&size);
    core_btf_ = CoreBtf::for_object(elf, size, perfbpf_cache_directory() + "/btf");
    if (core_btf_.path()) {
      LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = core_btf_.path());
      open(&opts);
    } else {
      open(vmlinux_core_opts());
    }
  }
  ~BpfSkeleton() { Destroy(skel_); }
  BpfSkeleton(const BpfSkeleton&) = delete;
  BpfSkeleton& operator=(const BpfSkeleton&) = delete;

  // Where CO-RE resolved against: the projection (Cache or Built), or None (the kernel's BTF).
  CoreBtfSource core_btf_source() const { return source_; }

  Skel* operator->() const { return skel_; }
  Skel* get() const { return skel_; }

  // Collectors load right after construction (nothing is set between), so a load that fails
  // with the projection can be retried the old way: whatever it lacked, libbpf's own reading
  // of the kernel BTF is the answer.
  void load() {
    int err = load_with(core_btf_.ids());
    if (err && core_btf_.path()) {
      Destroy(skel_);
      skel_ = nullptr;
      core_btf_ = CoreBtf();
      open(vmlinux_core_opts());
      err = load_with(core_btf_.ids());  // none: the kernel's BTF is read
    }
    source_ = core_btf_.source();
    core_btf_ = CoreBtf();  // libbpf has read it: the memory file goes
    if (err) fail("cannot load the " + what_ + " BPF programs", err, "run with -v to see the verifier log");
  }
  void attach() {
    if (int err = Attach(skel_))
      fail("cannot attach the " + what_ + " collector", err, "the kernel lacks a tracepoint it needs; choose others with --collectors");
  }

 private:
  [[noreturn]] void fail(const std::string& what, int err, const std::string& hint = {}) {
    if (err < 0) err = -err;
    Destroy(skel_);
    skel_ = nullptr;
    throw Error(errno_message(what, err), err == EPERM ? "run as root" : hint, err);
  }
  int load_with(const KernelIds& ids) {
    KernelIdsScope scope(ids);
    return Load(skel_);
  }
  void open(const bpf_object_open_opts* opts) {
    skel_ = Open(opts);
    if (!skel_) throw Error(errno_message("cannot open the " + what_ + " BPF object", errno), "", errno);
    skel_->rodata->filter_tgid = settings_.filter_tgid;
    skel_->rodata->self_tgid = settings_.exclude_self ? static_cast<uint32_t>(getpid()) : 0;
    if (settings_.targets_fd >= 0) {
      if (int err = bpf_map__reuse_fd(skel_->maps.targets, settings_.targets_fd))
        fail("cannot share the target set with the " + what_ + " collector", err);
    }
  }
  Skel* skel_ = nullptr;
  std::string what_;
  CollectorSettings settings_;
  CoreBtf core_btf_;
  CoreBtfSource source_ = CoreBtfSource::None;
};

// The BpfSkeleton of bpftool's skeleton OBJ (OBJ_bpf and its OBJ_bpf__* functions).
#define PERFBPF_BPF_SKELETON(obj)                                                                                \
  ::perfbpf::BpfSkeleton<obj##_bpf, obj##_bpf__open_opts, obj##_bpf__load, obj##_bpf__attach, obj##_bpf__destroy, \
                         obj##_bpf__elf_bytes>

}  // namespace perfbpf
