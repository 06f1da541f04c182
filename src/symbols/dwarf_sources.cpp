#include "symbols/dwarf_sources.h"

#include <dwarf.h>
#include <fcntl.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "symbols/lazy_library.h"
#include "symbols/proc_maps.h"
#include "util/safe_path.h"

namespace perfbpf {

namespace {

void close_file(int fd, Elf* elf, Dwarf* dwarf) {
  if (dwarf) libdw().dwarf_end(dwarf);
  if (elf) elf_end(elf);
  if (fd >= 0) close(fd);
}

// Whether [IMAGE, IMAGE + SIZE) lies in one read-only mapping of a file: libelf maps the file
// (ELF_C_READ_MMAP) unless that fails, when it reads it into the heap instead, whose pages must
// never be discarded.
bool is_file_mapping(const char* image, size_t size) {
  const auto start = reinterpret_cast<uint64_t>(image);
  if (!image || start % static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) != 0) return false;
  try {
    for (const MapEntry& m : read_proc_maps("/proc", getpid()))
      if (m.start <= start && start + size <= m.end) return m.inode != 0 && m.perms.find('w') == std::string::npos;
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace

DwarfSources::~DwarfSources() {
  for (auto& [path, f] : files_) close_file(f.fd, f.elf, f.dwarf);
}

DwarfSources::File* DwarfSources::open_dwarf(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) {
    File f;
    InflatedDebugFile inflated = open_inflated_debug_file(path, cache_);
    f.cache = inflated.outcome;
    f.fd = inflated.fd ? inflated.fd.release() : open_regular_file(path);
    elf_version(EV_CURRENT);
    if (f.fd >= 0) f.elf = elf_begin(f.fd, ELF_C_READ_MMAP, nullptr);
    if (f.elf) f.dwarf = libdw().dwarf_begin_elf(f.elf, DWARF_C_READ, nullptr);  // null: no DWARF in this file
    if (f.dwarf) {
      f.image = elf_rawfile(f.elf, &f.image_size);
      if (!is_file_mapping(f.image, f.image_size)) f.image = nullptr;
      intern_units(f);
    }
    it = files_.emplace(path, f).first;
  }
  return it->second.dwarf ? &it->second : nullptr;
}

// libdw finds a unit by its offset only after reading the header of every unit before it
// (__libdw_findcu interns them in order), and dwarf_getaranges asks for every unit the
// .debug_aranges sets name: the first lookup reads all unit headers in one call, a page (and the
// kernel's fault-around of 64 KiB) per unit, so libc's debug file (4 000 units) was 5.7 MiB
// resident for that call alone, the peak of an --off-cpu --system session. Read here first, in
// steps with the pages given back between them, the same headers are interned at the same CPU
// cost and every later lookup finds its unit in libdw's tree without touching them again.
void DwarfSources::intern_units(File& f) {
  if (!f.image) return;  // in the heap: nothing to give back
  Dwarf_CU* cu = nullptr;
  size_t since = 0;
  while (libdw().dwarf_get_units(f.dwarf, cu, &cu, nullptr, nullptr, nullptr, nullptr) == 0)
    if (++since == kUnitsPerRelease) {
      madvise(f.image, f.image_size, MADV_DONTNEED);
      since = 0;
    }
  // The address index too: dwarf_addrdie builds it at the first lookup, and reading it walked
  // the DIEs of a unit the lookup did not ask for (the first 256 KiB of the unit tests' own
  // first unit), left resident as the first lookup gives nothing back.
  Dwarf_Aranges* aranges = nullptr;
  size_t naranges = 0;
  libdw().dwarf_getaranges(f.dwarf, &aranges, &naranges);
  madvise(f.image, f.image_size, MADV_DONTNEED);
}

bool DwarfSources::unit_at(File& f, uint64_t vaddr, Dwarf_Die* cu) {
  if (!libdw().dwarf_addrdie(f.dwarf, vaddr, cu)) return false;
  uint64_t offset = libdw().dwarf_dieoffset(cu);
  if (offset != f.last_cu && f.lines_held > kMaxLinesHeld) {
    // libdw keeps every line table it decoded until dwarf_end, and lookups go unit by unit:
    // the tables of the units left behind go with a fresh handle (their unit headers are read
    // again, at open's cost).
    libdw().dwarf_end(f.dwarf);
    f.dwarf = libdw().dwarf_begin_elf(f.elf, DWARF_C_READ, nullptr);
    f.lines_held = 0;
    f.lines_of = UINT64_MAX;
    if (!f.dwarf) return false;
    intern_units(f);
    if (!libdw().dwarf_addrdie(f.dwarf, vaddr, cu)) return false;
    offset = libdw().dwarf_dieoffset(cu);
  }
  if (offset != f.last_cu && f.last_cu != UINT64_MAX && f.image) madvise(f.image, f.image_size, MADV_DONTNEED);
  f.last_cu = offset;
  return true;
}

void DwarfSources::release(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return;
  close_file(it->second.fd, it->second.elf, it->second.dwarf);
  files_.erase(it);
}

DebugCacheOutcome DwarfSources::cache_outcome(const std::string& path) const {
  auto it = files_.find(path);
  return it == files_.end() ? DebugCacheOutcome::NotCompressed : it->second.cache;
}

namespace {

std::string decl_source(Dwarf_Die* die) {
  const char* file = libdw().dwarf_decl_file(die);
  int line = 0;
  return file && libdw().dwarf_decl_line(die, &line) == 0 ? fmt::format("{}:{}", file, line) : std::string();
}

}  // namespace

// One walk of VADDR's unit answers both questions (a frame asked for its source and then its
// inlined calls walked the unit twice: a fifth of naming's CPU). dwarf_getscopes goes on from an
// inlined instance into its abstract definition's scopes (where it was written: for a lambda,
// the function it was written in), not into the code it was inlined into; the chain of the code
// itself is the innermost scope's containing DIEs in the unit (dwarf_getscopes_die), as
// eu-addr2line -i reads it, up to the subprogram the code physically belongs to.
DwarfSources::Lookup DwarfSources::lookup(const std::string& path, uint64_t vaddr) {
  Lookup out;
  File* f = open_dwarf(path);
  Dwarf_Die cu;
  if (!f || !unit_at(*f, vaddr, &cu)) return out;
  Dwarf_Die* scopes = nullptr;
  int n = libdw().dwarf_getscopes(&cu, vaddr, &scopes);
  if (n > 0) {
    Dwarf_Die innermost = scopes[0];
    free(scopes);
    scopes = nullptr;
    n = libdw().dwarf_getscopes_die(&innermost, &scopes);
  }
  // Innermost first; inlined callees appear as DW_TAG_inlined_subroutine, not as subprograms.
  for (int i = 0; i < n; i++) {
    const int tag = libdw().dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_subprogram) {
      out.source = decl_source(&scopes[i]);
      break;
    }
    if (tag != DW_TAG_inlined_subroutine) continue;
    const char* name = libdw().dwarf_diename(&scopes[i]);  // follows DW_AT_abstract_origin
    out.inlined.push_back({name ? name : "[inlined]", decl_source(&scopes[i])});
  }
  free(scopes);
  std::reverse(out.inlined.begin(), out.inlined.end());  // outermost first
  // A declaration's file name came from the unit's line program, which libdw 0.188 decodes
  // whole (every row: a large C++ unit's is megabytes) and keeps: counted for unit_at.
  Dwarf_Lines* lines = nullptr;
  size_t nlines = 0;
  const bool read_files = !out.source.empty() ||
                          std::any_of(out.inlined.begin(), out.inlined.end(), [](const Inlined& i) { return !i.source.empty(); });
  if (read_files && f->lines_of != f->last_cu && libdw().dwarf_getsrclines(&cu, &lines, &nlines) == 0) {
    f->lines_held += nlines;
    f->lines_of = f->last_cu;
  }
  return out;
}

std::string DwarfSources::function_source(const std::string& path, uint64_t vaddr) {
  return lookup(path, vaddr).source;
}

}  // namespace perfbpf
