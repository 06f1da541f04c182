// RAII over a bpftool-generated skeleton, with the steps every collector takes: open, point
// the shared target filter (bpf/target_filter.bpf.h) at the session's set, load, attach.
// libbpf's -errno returns become Error with the step that failed.
#pragma once

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "collect/collector.h"
#include "perfbpf/error.h"
#include "session/privileges.h"

namespace perfbpf {

// CO-RE against vmlinux's BTF alone. Without a path, libbpf 1.1 searches the kernel modules'
// BTF for any type vmlinux lacks (mem_stats' pre-6.2 rss_stat flavor), and listing module BTF
// needs CAP_SYS_ADMIN: with the path, CAP_BPF + CAP_PERFMON suffice (docs/security.md). Only
// then: with a path libbpf parses vmlinux's BTF twice per object (for CO-RE, and again for
// attach points and kfuncs), 5.5 MB read and copied each time, the most of --system's RSS.
inline const bpf_object_open_opts* vmlinux_core_opts() {
  static const bpf_object_open_opts opts = [] {
    LIBBPF_OPTS(bpf_object_open_opts, o, .btf_custom_path = "/sys/kernel/btf/vmlinux");
    return o;
  }();
  static const bool without_sys_admin = !has_sys_admin();
  return without_sys_admin ? &opts : nullptr;
}

template <typename Skel, Skel* (*Open)(const bpf_object_open_opts*), int (*Load)(Skel*), int (*Attach)(Skel*),
          void (*Destroy)(Skel*)>
class BpfSkeleton {
 public:
  // Opens the object and configures its target filter; load() when the rest is set.
  BpfSkeleton(const std::string& what, const CollectorSettings& settings) : what_(what) {
    skel_ = Open(vmlinux_core_opts());
    if (!skel_) throw Error(errno_message("cannot open the " + what_ + " BPF object", errno), "", errno);
    skel_->rodata->filter_tgid = settings.filter_tgid;
    skel_->rodata->self_tgid = settings.exclude_self ? static_cast<uint32_t>(getpid()) : 0;
    if (settings.targets_fd >= 0) {
      if (int err = bpf_map__reuse_fd(skel_->maps.targets, settings.targets_fd))
        fail("cannot share the target set with the " + what_ + " collector", err);
    }
  }
  ~BpfSkeleton() { Destroy(skel_); }
  BpfSkeleton(const BpfSkeleton&) = delete;
  BpfSkeleton& operator=(const BpfSkeleton&) = delete;

  Skel* operator->() const { return skel_; }
  Skel* get() const { return skel_; }

  void load() {
    if (int err = Load(skel_))
      fail("cannot load the " + what_ + " BPF programs", err, "run with -v to see the verifier log");
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
  Skel* skel_ = nullptr;
  std::string what_;
};

}  // namespace perfbpf
