#include "session/self_probe.h"

#include <unistd.h>

#include "perfbpf/error.h"
#include "symbols/proc_maps.h"

namespace perfbpf {

PlannedProbe plan_own_function(uintptr_t address, const std::string& name, uint64_t size, ProbeMethod method) {
  for (const MapEntry& m : read_proc_maps("/proc", getpid())) {
    if (address < m.start || address >= m.end || m.path.empty() || m.path[0] != '/') continue;
    ProbeTarget t;
    t.attach_path = t.object = m.path;
    t.function.name = t.function.demangled = name;
    t.function.file_offset = address - m.start + m.offset;
    t.function.address = address;
    t.function.size = size;
    return plan_probe(t, method);
  }
  throw Error("cannot find perfbpf's own code in /proc/self/maps", "probing its own functions needs a file-backed executable");
}

}  // namespace perfbpf
