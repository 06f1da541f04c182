// Which code an IFUNC symbol (glibc's strlen, memcpy, strcmp...) runs in the target. Its
// symbol's address is a resolver the dynamic loader calls once per process; callers then
// jump straight to the implementation it returned (__strlen_evex on a CPU with AVX-512), so
// a probe on the symbol would count one call for thousands. The choice depends on the CPU
// and on GLIBC_TUNABLES, so it is read where it was made, in this order:
//   "target"   the running target's own relocated slots: an R_*_IRELATIVE slot of the
//              defining object whose resolver is this one, or a JUMP_SLOT/GLOB_DAT slot of
//              any mapped object bound to the symbol (read from /proc/PID/mem);
//   "perfbpf"  perfbpf's own loader, when perfbpf has the very same file (device and inode)
//              mapped and the target's GLIBC_TUNABLES equal perfbpf's: the same resolver on
//              the same CPU with the same tunables returns the same code (how a command,
//              which has not started when probes attach, is resolved for libc and friends).
// Anything else (a library perfbpf does not load, before the target chose) is refused with
// the reason: probing the resolver would silently count nothing.
#pragma once

#include <cstdint>
#include <string>

#include "symbols/elf_symbols.h"

namespace perfbpf {

struct IfuncContext {
  std::string proc_root = "/proc";
  int pid = 0;  // the running target; 0 when it has not started (command mode)
};

struct IfuncImplementation {
  uint64_t address = 0;      // virtual address in the defining object (as st_value)
  uint64_t file_offset = 0;  // where its code is in the file
  std::string source;        // "target" or "perfbpf" (see above)
};

// PATH is the defining object as perfbpf opens it; IFUNC one of its functions with ifunc set.
// Throws Error naming the symbol and why its implementation cannot be known.
IfuncImplementation resolve_ifunc(const std::string& path, const ElfFunction& ifunc, const IfuncContext& ctx);

}  // namespace perfbpf
