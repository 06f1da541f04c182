// uprobe_multi links (Linux 6.6+): every probe on one file in one link, so detaching costs
// one RCU grace period instead of one per probe (~100 ms each on our VMs: a session with 20
// functions took 3.5 s to end through perf-event links). libbpf 1.1 predates them, hence
// the raw BPF_LINK_CREATE here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace perfbpf {

inline constexpr unsigned kBpfTraceUprobeMulti = 48;    // enum bpf_attach_type, Linux 6.6
inline constexpr unsigned kBpfTraceUprobeSession = 57;  // enum bpf_attach_type, Linux 6.13

bool kernel_has_uprobe_multi();
// Uprobe sessions: one program, one link for a function's entry and return, and a call the
// entry program declines costs no return probe (Linux 6.13).
bool kernel_has_uprobe_session();

enum class UprobeLinkKind {
  Entry,    // uprobe at each offset
  Return,   // uretprobe at each offset
  Session,  // both, one program (its expected attach type must be kBpfTraceUprobeSession)
};

// Attaches PROG_FD at every offset of PATH with the matching cookie; PID -1 for every
// process. Returns the link fd, or -errno.
int create_uprobe_multi_link(int prog_fd, const std::string& path, const std::vector<uint64_t>& offsets,
                             const std::vector<uint64_t>& cookies, pid_t pid, UprobeLinkKind kind);

}  // namespace perfbpf
