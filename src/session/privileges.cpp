#include "session/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "perfbpf/error.h"

namespace perfbpf {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

uint64_t effective_capabilities() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

bool has_cap(uint64_t caps, int cap) { return caps & (uint64_t{1} << cap); }

// USER's primary group and every group the group database gives them, as login would.
std::vector<gid_t> groups_of(const InvokingUser& user) {
  std::vector<gid_t> groups{user.gid};
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(user.uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return groups;
  int n = 64;
  groups.resize(static_cast<size_t>(n));
  if (getgrouplist(pw.pw_name, user.gid, groups.data(), &n) == -1) {
    groups.resize(static_cast<size_t>(n));
    if (getgrouplist(pw.pw_name, user.gid, groups.data(), &n) == -1) return {user.gid};
  }
  groups.resize(static_cast<size_t>(n));
  return groups;
}

// Raw syscalls: they change the calling thread only (glibc's wrappers of setgroups would
// change every thread of the process). An invalid id (-1) changes nothing and returns the
// current one.
long thread_setgroups(const std::vector<gid_t>& groups) { return syscall(SYS_setgroups, groups.size(), groups.data()); }
uid_t thread_setfsuid(uid_t uid) { return static_cast<uid_t>(syscall(SYS_setfsuid, uid)); }
gid_t thread_setfsgid(gid_t gid) { return static_cast<gid_t>(syscall(SYS_setfsgid, gid)); }

}  // namespace

bool has_bpf_privileges() {
  uint64_t caps = effective_capabilities();
  return has_cap(caps, kCapSysAdmin) || (has_cap(caps, kCapBpf) && has_cap(caps, kCapPerfmon));
}

bool has_sys_admin() { return has_cap(effective_capabilities(), kCapSysAdmin); }

void check_bpf_privileges() {
  if (has_bpf_privileges()) return;
  uint64_t caps = effective_capabilities();
  std::string missing;
  if (!has_cap(caps, kCapBpf)) missing = "CAP_BPF";
  if (!has_cap(caps, kCapPerfmon)) missing += missing.empty() ? "CAP_PERFMON" : " and CAP_PERFMON";
  throw Error("insufficient privilege: loading probes needs " + missing + " (or root)",
              "run with sudo, or grant them: sudo setcap cap_bpf,cap_perfmon+ep $(command -v perfbpf)",
              EPERM);
}

void check_kernel_btf(const std::string& btf_path) {
  if (access(btf_path.c_str(), R_OK) == 0) return;
  throw Error("kernel BTF not found at " + btf_path,
              "CO-RE programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y", ENOENT);
}

InvokingUser invoking_user() {
  InvokingUser user;
  const char* uid = std::getenv("SUDO_UID");
  const char* gid = std::getenv("SUDO_GID");
  const char* name = std::getenv("SUDO_USER");
  if (geteuid() != 0 || !uid || !gid) return user;
  char* end = nullptr;
  unsigned long u = std::strtoul(uid, &end, 10);
  if (*end) return user;
  unsigned long g = std::strtoul(gid, &end, 10);
  if (*end) return user;
  user.present = true;
  user.uid = static_cast<unsigned>(u);
  user.gid = static_cast<unsigned>(g);
  user.name = name ? name : "";
  return user;
}

ActingAs::ActingAs(const InvokingUser& user) {
  if (!user.present) return;
  const std::vector<gid_t> groups = groups_of(user);  // before the switch: NSS may read files
  int n = getgroups(0, nullptr);
  saved_groups_.resize(static_cast<size_t>(n > 0 ? n : 0));
  if (n > 0 && getgroups(n, saved_groups_.data()) != n) saved_groups_.clear();
  saved_fsgid_ = thread_setfsgid(static_cast<gid_t>(-1));
  saved_fsuid_ = thread_setfsuid(static_cast<uid_t>(-1));
  active_ = true;
  auto fail = [this](const std::string& what) {
    restore();
    throw Error(what, "perfbpf writes its outputs with the permissions of the user who ran sudo", EPERM);
  };
  if (thread_setgroups(groups) != 0) fail(errno_message("cannot take the groups of uid " + std::to_string(user.uid), errno));
  thread_setfsgid(user.gid);
  if (thread_setfsgid(static_cast<gid_t>(-1)) != user.gid) fail("cannot take gid " + std::to_string(user.gid));
  thread_setfsuid(user.uid);
  if (thread_setfsuid(static_cast<uid_t>(-1)) != user.uid) fail("cannot take uid " + std::to_string(user.uid));
}

ActingAs::~ActingAs() { restore(); }

void ActingAs::restore() {
  if (!active_) return;
  active_ = false;
  // Back to root's identity: fsuid first, which also gives back the file capabilities the
  // kernel took when fsuid left 0. A failure here leaves the thread with less power, not more.
  thread_setfsuid(saved_fsuid_);
  thread_setfsgid(saved_fsgid_);
  thread_setgroups(saved_groups_);
}

}  // namespace perfbpf
