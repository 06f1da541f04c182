#include "symbols/dwarf_sources.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

namespace perfbpf {

DwarfSources::~DwarfSources() {
  for (auto& [path, f] : files_) {
    if (f.dwarf) dwarf_end(f.dwarf);
    if (f.fd >= 0) close(f.fd);
  }
}

std::string DwarfSources::function_source(const std::string& path, uint64_t vaddr) {
  auto it = files_.find(path);
  if (it == files_.end()) {
    File f;
    f.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd >= 0) f.dwarf = dwarf_begin(f.fd, DWARF_C_READ);  // null: no DWARF in this file
    it = files_.emplace(path, f).first;
  }
  Dwarf* dw = it->second.dwarf;
  Dwarf_Die cu;
  if (!dw || !dwarf_addrdie(dw, vaddr, &cu)) return {};
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(&cu, vaddr, &scopes);
  std::string source;
  // Innermost first: the first subprogram is the function the code physically belongs to
  // (inlined callees appear as DW_TAG_inlined_subroutine, not as subprograms).
  for (int i = 0; i < n; i++) {
    if (dwarf_tag(&scopes[i]) != DW_TAG_subprogram) continue;
    const char* file = dwarf_decl_file(&scopes[i]);
    int line = 0;
    if (file && dwarf_decl_line(&scopes[i], &line) == 0) source = fmt::format("{}:{}", file, line);
    break;
  }
  free(scopes);
  return source;
}

}  // namespace perfbpf
