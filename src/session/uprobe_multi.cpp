#include "session/uprobe_multi.h"

#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace perfbpf {
namespace {

constexpr int kBpfLinkCreate = 28;            // enum bpf_cmd BPF_LINK_CREATE
constexpr uint32_t kUprobeMultiReturn = 1;    // BPF_F_UPROBE_MULTI_RETURN

// The BPF_LINK_CREATE member of union bpf_attr, uprobe_multi variant, as in Linux 6.6+.
struct LinkCreateUprobeMulti {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t cnt;
  uint32_t multi_flags;
  uint32_t pid;
  uint32_t pad;
};
static_assert(sizeof(LinkCreateUprobeMulti) == 64, "bpf_attr link_create.uprobe_multi layout");

bool kernel_at_least(int want_major, int want_minor) {
  utsname u{};
  int major = 0, minor = 0;
  if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > want_major || (major == want_major && minor >= want_minor);
}

}  // namespace

bool kernel_has_uprobe_multi() { return kernel_at_least(6, 6); }
bool kernel_has_uprobe_session() { return kernel_at_least(6, 13); }

int create_uprobe_multi_link(int prog_fd, const std::string& path, const std::vector<uint64_t>& offsets,
                             const std::vector<uint64_t>& cookies, pid_t pid, UprobeLinkKind kind) {
  if (offsets.empty() || offsets.size() != cookies.size()) return -EINVAL;
  LinkCreateUprobeMulti attr{};
  attr.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = kind == UprobeLinkKind::Session ? kBpfTraceUprobeSession : kBpfTraceUprobeMulti;
  attr.path = reinterpret_cast<uintptr_t>(path.c_str());
  attr.offsets = reinterpret_cast<uintptr_t>(offsets.data());
  attr.cookies = reinterpret_cast<uintptr_t>(cookies.data());
  attr.cnt = static_cast<uint32_t>(offsets.size());
  attr.multi_flags = kind == UprobeLinkKind::Return ? kUprobeMultiReturn : 0;
  attr.pid = pid > 0 ? static_cast<uint32_t>(pid) : 0;  // 0: every process
  long fd = syscall(__NR_bpf, kBpfLinkCreate, &attr, sizeof(attr));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace perfbpf
