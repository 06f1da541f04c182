#include "session/privileges.h"

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

}  // namespace

bool has_bpf_privileges() {
  uint64_t caps = effective_capabilities();
  return has_cap(caps, kCapSysAdmin) || (has_cap(caps, kCapBpf) && has_cap(caps, kCapPerfmon));
}

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

}  // namespace perfbpf
