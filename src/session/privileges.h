// Up-front checks that turn the kernel's EPERM/ENOENT into errors that say what to do.
#pragma once

#include <string>

namespace perfbpf {

// Throws Error naming the missing capability (CAP_BPF + CAP_PERFMON, or root).
void check_bpf_privileges();
// Throws Error when the kernel has no BTF (CO-RE cannot relocate without it).
void check_kernel_btf(const std::string& btf_path = "/sys/kernel/btf/vmlinux");
// True when the effective capabilities allow loading tracing BPF programs.
bool has_bpf_privileges();

// The user that ran `sudo perfbpf`, so commands and reports are theirs and not root's.
struct InvokingUser {
  bool present = false;  // false when not running under sudo as root
  unsigned uid = 0, gid = 0;
  std::string name;
};
InvokingUser invoking_user();

}  // namespace perfbpf
