// Up-front checks that turn the kernel's EPERM/ENOENT into errors that say what to do.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace perfbpf {

// Throws Error naming the missing capability (CAP_BPF + CAP_PERFMON, or root).
void check_bpf_privileges();
// Throws Error when the kernel has no BTF (CO-RE cannot relocate without it).
void check_kernel_btf(const std::string& btf_path = "/sys/kernel/btf/vmlinux");
// True when the effective capabilities allow loading tracing BPF programs.
bool has_bpf_privileges();
// True with CAP_SYS_ADMIN in the effective set (root): libbpf may list kernel modules' BTF.
bool has_sys_admin();

// The user that ran `sudo perfbpf`, so commands and reports are theirs and not root's.
struct InvokingUser {
  bool present = false;  // false when not running under sudo as root
  unsigned uid = 0, gid = 0;
  std::string name;
};
InvokingUser invoking_user();

// While alive, the calling thread opens, creates and renames files with USER's file-system
// identity (fsuid, fsgid and USER's groups), so the kernel grants exactly what USER could do
// alone: under sudo, an output can go only where the user may write, is owned by them, and
// root's power never reaches the file system on their behalf. Only this thread changes
// (the raw syscalls, not glibc's process-wide setgroups); other threads keep root's identity.
// Does nothing when USER is not present. Throws Error when the switch fails.
class ActingAs {
 public:
  explicit ActingAs(const InvokingUser& user);
  ~ActingAs();
  ActingAs(const ActingAs&) = delete;
  ActingAs& operator=(const ActingAs&) = delete;

 private:
  void restore();
  bool active_ = false;
  uid_t saved_fsuid_ = 0;
  gid_t saved_fsgid_ = 0;
  std::vector<gid_t> saved_groups_;
};

}  // namespace perfbpf
