// Where a function is defined (file:line), from the DWARF of its ELF file or of that file's
// separate debug file, read with libdw. Files are opened once and kept for the lookups until
// release(); a file whose DWARF is compressed is read from its inflated twin in the debug cache
// (debug_cache.h). Of a file libelf maps, only the pages of the compilation unit last looked
// up stay resident (unit_at).
#pragma once

#include <cstdint>
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "symbols/debug_cache.h"

#include <elfutils/libdw.h>

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
  // The source and the calls inlined at VADDR, from one walk of the unit: what a frame's
  // naming asks.
  struct Lookup {
    std::string source;            // function_source
    std::vector<Inlined> inlined;  // outermost first (the physical function itself excluded)
  };
  Lookup lookup(const std::string& path, uint64_t vaddr);

  // How PATH's DWARF was opened (NotCompressed also when it is not open yet).
  DebugCacheOutcome cache_outcome(const std::string& path) const;

  // Closes PATH's DWARF (its mapping, libdw's tables of it); a later lookup opens it again.
  // Naming binary by binary releases each when done: the pages of a debug file read for its
  // lookups are resident for as long as it is open (libc's: 7 MiB for a few dozen functions).
  void release(const std::string& path);
  size_t open_files() const { return files_.size(); }

  // Decoded line-table rows (all units') a file's handle may hold before it is renewed at the
  // next unit (see unit_at).
  static constexpr size_t kMaxLinesHeld = 32768;

 private:
  struct File {
    int fd = -1;
    Elf* elf = nullptr;
    Dwarf* dwarf = nullptr;
    DebugCacheOutcome cache = DebugCacheOutcome::NotCompressed;
    // The file as libelf mapped it (read-only), when it is a mapping of the file: its pages can
    // be given back at any time and are read again from the page cache when next touched.
    char* image = nullptr;
    size_t image_size = 0;
    uint64_t last_cu = UINT64_MAX;  // the compilation unit the last lookup read
    // Rows of the line tables libdw decoded and holds for this handle (lines_of: the unit
    // counted last), to let them go past kMaxLinesHeld.
    size_t lines_held = 0;
    uint64_t lines_of = UINT64_MAX;
  };
  DebugCacheSettings cache_;
  std::map<std::string, File> files_;
  File* open_dwarf(const std::string& path);  // null when PATH has no DWARF
  // A lookup's compilation unit: the pages read for the previous unit are given back first.
  // A lookup walks its whole unit (every top-level entry of it), and lookups over many units
  // would otherwise leave most of a large debug file resident (libc's: 7 MiB of 10). Moving to
  // another unit with more than kMaxLinesHeld decoded line-table rows held (libdw frees them
  // only with the handle: ~80 bytes a row with its sorting, 14 MiB for a few large C++ units of
  // a test binary at the end of an --off-cpu --system session) reopens the file's DWARF (kMaxLinesHeld).
  bool unit_at(File& f, uint64_t vaddr, Dwarf_Die* cu);
  // Reads every unit header of a file libelf maps, at most kUnitsPerRelease units' pages
  // resident at a time (each header's page and the kernel's fault-around: <= 1 MiB).
  static constexpr size_t kUnitsPerRelease = 16;
  void intern_units(File& f);
};

}  // namespace perfbpf
