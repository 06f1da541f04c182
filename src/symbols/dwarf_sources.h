// Where a function is defined (file:line), from the DWARF of its ELF file or of that file's
// separate debug file, read with libdw. Files are opened once and kept for the lookups; a file
// whose DWARF is compressed is read from its inflated twin in the debug cache (debug_cache.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "symbols/debug_cache.h"

typedef struct Dwarf Dwarf;

namespace perfbpf {

class DwarfSources {
 public:
  DwarfSources() : cache_(debug_cache_settings_from_environment()) {}
  explicit DwarfSources(DebugCacheSettings cache) : cache_(std::move(cache)) {}
  ~DwarfSources();
  DwarfSources(const DwarfSources&) = delete;
  DwarfSources& operator=(const DwarfSources&) = delete;

  // "file.c:42" for the function holding VADDR (a virtual address as in the ELF file), or ""
  // when the file has no DWARF or does not cover the address.
  std::string function_source(const std::string& path, uint64_t vaddr);

  struct Inlined {
    std::string name;
    std::string source;  // where the inlined function is defined
  };
  // Functions inlined at VADDR, outermost first (the physical function itself excluded).
  std::vector<Inlined> inlined_at(const std::string& path, uint64_t vaddr);

  // How PATH's DWARF was opened (NotCompressed also when it is not open yet).
  DebugCacheOutcome cache_outcome(const std::string& path) const;

 private:
  struct File {
    int fd = -1;
    Dwarf* dwarf = nullptr;
    DebugCacheOutcome cache = DebugCacheOutcome::NotCompressed;
  };
  DebugCacheSettings cache_;
  std::map<std::string, File> files_;
  Dwarf* open_dwarf(const std::string& path);
};

}  // namespace perfbpf
