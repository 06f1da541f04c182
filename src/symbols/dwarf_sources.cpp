#include "symbols/dwarf_sources.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "util/safe_path.h"

namespace perfbpf {

DwarfSources::~DwarfSources() {
  for (auto& [path, f] : files_) {
    if (f.dwarf) dwarf_end(f.dwarf);
    if (f.fd >= 0) close(f.fd);
  }
}

Dwarf* DwarfSources::open_dwarf(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) {
    File f;
    InflatedDebugFile inflated = open_inflated_debug_file(path, cache_);
    f.cache = inflated.outcome;
    f.fd = inflated.fd ? inflated.fd.release() : open_regular_file(path);
    if (f.fd >= 0) f.dwarf = dwarf_begin(f.fd, DWARF_C_READ);  // null: no DWARF in this file
    it = files_.emplace(path, f).first;
  }
  return it->second.dwarf;
}

DebugCacheOutcome DwarfSources::cache_outcome(const std::string& path) const {
  auto it = files_.find(path);
  return it == files_.end() ? DebugCacheOutcome::NotCompressed : it->second.cache;
}

namespace {

std::string decl_source(Dwarf_Die* die) {
  const char* file = dwarf_decl_file(die);
  int line = 0;
  return file && dwarf_decl_line(die, &line) == 0 ? fmt::format("{}:{}", file, line) : std::string();
}

}  // namespace

std::vector<DwarfSources::Inlined> DwarfSources::inlined_at(const std::string& path, uint64_t vaddr) {
  std::vector<Inlined> chain;
  Dwarf* dw = open_dwarf(path);
  Dwarf_Die cu;
  if (!dw || !dwarf_addrdie(dw, vaddr, &cu)) return chain;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(&cu, vaddr, &scopes);
  // Innermost first; stop at the physical function.
  for (int i = 0; i < n && dwarf_tag(&scopes[i]) != DW_TAG_subprogram; i++) {
    if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
    const char* name = dwarf_diename(&scopes[i]);  // follows DW_AT_abstract_origin
    chain.push_back({name ? name : "[inlined]", decl_source(&scopes[i])});
  }
  free(scopes);
  return {chain.rbegin(), chain.rend()};
}

std::string DwarfSources::function_source(const std::string& path, uint64_t vaddr) {
  Dwarf* dw = open_dwarf(path);
  Dwarf_Die cu;
  if (!dw || !dwarf_addrdie(dw, vaddr, &cu)) return {};
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(&cu, vaddr, &scopes);
  std::string source;
  // Innermost first: the first subprogram is the function the code physically belongs to
  // (inlined callees appear as DW_TAG_inlined_subroutine, not as subprograms).
  for (int i = 0; i < n; i++) {
    if (dwarf_tag(&scopes[i]) != DW_TAG_subprogram) continue;
    source = decl_source(&scopes[i]);
    break;
  }
  free(scopes);
  return source;
}

}  // namespace perfbpf
