// Naming a report's user frames ahead, binary by binary (Symbolizer::name_user_frames): the
// same frames as naming them one by one, one binary's DWARF held at a time, and a debug file's
// pages given back between compilation units (a --system report names frames in libc and in
// dozens of other binaries; holding every file's DWARF made its peak memory).
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <malloc.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "process.h"
#include "symbols/dwarf_sources.h"
#include "symbols/elf_symbols.h"
#include "symbols/symbolizer.h"

using namespace perfbpf;

namespace {

// FILE mapped whole, from offset 0, at START in process TGID, as the kernel's record says.
CodeMapping whole_file(uint32_t tgid, const std::string& file, uint64_t start) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CodeMapping m;
  m.tgid = tgid;
  m.path = file;
  m.start = start;
  m.end = start + ((static_cast<uint64_t>(st.st_size) + 4095) & ~uint64_t{4095});
  m.dev = st.st_dev;
  m.inode = st.st_ino;
  m.first = true;
  return m;
}

// Addresses inside functions of FILE mapped at START: every STEP-th function, its middle.
std::vector<uint64_t> inside_functions(const std::string& file, uint64_t start, size_t step) {
  std::vector<uint64_t> out;
  const ElfSymbols symbols = ElfSymbols::load(file);
  for (size_t i = 0; i < symbols.functions().size(); i += step) {
    const ElfFunction& f = symbols.functions()[i];
    out.push_back(start + f.file_offset + f.size / 2);
  }
  return out;
}

std::string describe(const SymbolizedFrame& f) {
  return f.name + " | " + f.object + " | " + f.source + (f.resolved ? " | resolved" : "");
}

// Resident KiB of this process's mappings whose smaps header (START, END, the line) WANTED takes.
template <typename Wanted>
long resident_kib_where(Wanted wanted) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  long kib = 0;
  while (std::getline(smaps, line)) {
    uint64_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (line.find(" r") != std::string::npos && (head >> std::hex >> start >> dash >> end) && dash == '-') {
      in = wanted(start, end, line);
      continue;
    }
    if (in && line.rfind("Rss:", 0) == 0) kib += std::stol(line.substr(4));
  }
  return kib;
}

// Resident KiB of the one mapping of PATH at least SIZE bytes long (DwarfSources maps a debug
// file whole; an executable's own mappings are its segments, each shorter than the file).
long resident_kib_of_whole_mapping(const std::string& path, uint64_t size) {
  return resident_kib_where([&](uint64_t start, uint64_t end, const std::string& line) {
    return line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0 &&
           end - start >= size;
  });
}

// What reading one byte through a file mapping makes resident on this kernel: fault-around maps
// the neighbouring pages the page cache holds (64 KiB by default), a large folio maybe more. Read
// on a mapping of PATH's own, at spots spread over the file, after the page cache has it.
long resident_kib_per_touch(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  void* const map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  constexpr uint64_t kTouches = 16;
  const auto* bytes = static_cast<const volatile unsigned char*>(map);
  for (uint64_t i = 0; i < kTouches; i++) (void)bytes[size / kTouches * i + size / (2 * kTouches)];
  const auto at = reinterpret_cast<uintptr_t>(map);
  const long kib = resident_kib_where([&](uint64_t start, uint64_t, const std::string&) { return start == at; });
  munmap(map, size);
  return std::max<long>(4, kib / static_cast<long>(kTouches));
}

// The compilation units of PATH's DWARF, read with libdw apart from DwarfSources: each unit
// with code, with its offset and size in .debug_info and its first function's address.
struct DwarfUnit {
  uint64_t offset, size, first_function;
};
struct DwarfUnits {
  uint64_t units = 0;  // all, with code or not; 0 when PATH has no DWARF
  std::vector<DwarfUnit> with_code;
};
DwarfUnits dwarf_units(const std::string& path) {
  DwarfUnits out;
  elf_version(EV_CURRENT);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  // Read, not mapped: no second mapping of the file beside the one DwarfSources makes.
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  Dwarf* dw = elf ? dwarf_begin_elf(elf, DWARF_C_READ, nullptr) : nullptr;
  uint64_t off = 0, next = 0;
  size_t header = 0;
  while (dw && dwarf_nextcu(dw, off, &next, &header, nullptr, nullptr, nullptr) == 0) {
    out.units++;
    Dwarf_Die cu;
    if (dwarf_offdie(dw, off + header, &cu)) {
      Dwarf_Die child;
      if (dwarf_child(&cu, &child) == 0) do {
          Dwarf_Addr pc = 0;
          if (dwarf_tag(&child) == DW_TAG_subprogram && dwarf_lowpc(&child, &pc) == 0 && pc) {
            out.with_code.push_back({off, next - off, pc});
            break;
          }
        } while (dwarf_siblingof(&child, &child) == 0);
    }
    off = next;
  }
  if (dw) dwarf_end(dw);
  if (elf) elf_end(elf);
  ::close(fd);
  return out;
}

// Where PATH's section NAME lies in the file (offset, size); {0, 0} when it is missing or
// compressed (then libdw reads it into the heap, not from the file's mapping).
std::pair<uint64_t, uint64_t> section_in_file(const std::string& path, const char* name) {
  std::pair<uint64_t, uint64_t> out{0, 0};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  size_t strndx = 0;
  if (elf && elf_getshdrstrndx(elf, &strndx) == 0)
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn));) {
      GElf_Shdr sh;
      const char* n = gelf_getshdr(scn, &sh) ? elf_strptr(elf, strndx, sh.sh_name) : nullptr;
      if (n && std::string(n) == name && !(sh.sh_flags & SHF_COMPRESSED)) out = {sh.sh_offset, sh.sh_size};
    }
  if (elf) elf_end(elf);
  ::close(fd);
  return out;
}

// Start of the one read-only mapping of PATH at least SIZE bytes long, from offset 0 (how
// libelf maps a file DwarfSources reads); 0 when there is none or more than one.
uint64_t whole_mapping_start(const std::string& path, uint64_t size) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  uint64_t found = 0, count = 0;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    uint64_t start = 0, end = 0, offset = 0;
    char dash = 0;
    std::string perms;
    in >> std::hex >> start >> dash >> end >> perms >> offset;
    if (dash == '-' && perms[0] == 'r' && offset == 0 && end - start >= size && line.ends_with(" " + path)) {
      found = start;
      count++;
    }
  }
  return count == 1 ? found : 0;
}

// Pages of [START, END) mapped into this process now (the present bit of /proc/self/pagemap:
// the kernel's page tables, what RSS counts; mincore would say what the page cache holds).
uint64_t present_pages(uint64_t start, uint64_t end) {
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  uint64_t present = 0, unread = 0;
  for (uint64_t page = start / 4096; page < (end + 4095) / 4096; page++) {
    uint64_t entry = 0;
    if (::pread(fd, &entry, sizeof(entry), static_cast<off_t>(page * sizeof(entry))) != sizeof(entry)) unread++;
    present += entry >> 63;
  }
  ::close(fd);
  REQUIRE(unread == 0);
  return present;
}
}  // namespace

TEST_CASE("symbolizer: frames named ahead, binary by binary, are the frames named one by one", "[symbols]") {
  // Two processes known only from the kernel's records: one maps a program whose DWARF has
  // inlined calls (compressed: read through the debug cache, here a directory of the test's
  // own), the other the same program and libc (named through libc6-dbg's debug file).
  const std::string inlined = test::workload("inlined_gz"), libc = "/lib/x86_64-linux-gnu/libc.so.6";
  const std::string proc = test::temp_path("proc"), cache = test::temp_path("debug-cache");
  std::filesystem::create_directories(proc);
  ::setenv("PERFBPF_DEBUG_CACHE", cache.c_str(), 1);
  struct Unset {
    ~Unset() { ::unsetenv("PERFBPF_DEBUG_CACHE"); }
  } unset;
  const uint64_t a = 0x555500000000, b = 0x7f0000000000;
  std::vector<Symbolizer::UserAddress> asked;
  for (uint32_t tgid : {100u, 200u}) {
    for (uint64_t at : inside_functions(inlined, a, 1))
      for (bool leaf : {true, false}) asked.push_back({tgid, at, leaf});
    asked.push_back({tgid, a + 0x10000000, true});  // mapped nowhere
  }
  for (uint64_t at : inside_functions(libc, b, 23)) asked.push_back({200, at, false});
  REQUIRE(asked.size() > 100);

  Symbolizer one_by_one(proc), ahead(proc);
  for (Symbolizer* s : {&one_by_one, &ahead}) {
    s->add_code_mapping(whole_file(100, inlined, a));
    s->add_code_mapping(whole_file(200, inlined, a));
    CodeMapping second = whole_file(200, libc, b);
    second.first = false;
    s->add_code_mapping(second);
  }
  ahead.name_user_frames(asked);
  CHECK(ahead.dwarf_files_open() == 0);  // each released once its frames were named

  size_t frames = 0, with_source = 0, inlined_frames = 0;
  for (const auto& [tgid, address, leaf] : asked) {
    const auto& want = one_by_one.user_frames(tgid, address, leaf);
    const auto& got = ahead.user_frames(tgid, address, leaf);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); i++) {
      CHECK(describe(got[i]) == describe(want[i]));
      frames++;
      with_source += !want[i].source.empty();
      inlined_frames += want[i].name.ends_with(" [inlined]");
    }
  }
  CHECK(ahead.dwarf_files_open() == 0);  // answered from what was named ahead
  CHECK(one_by_one.dwarf_files_open() >= 2);  // the lazy path keeps them (the old behaviour)
  // What the comparison covered: DWARF sources and inlined frames, in both files.
  INFO(frames << " frames, " << with_source << " with a source, " << inlined_frames << " inlined");
  CHECK(with_source > frames / 4);
  CHECK(inlined_frames > 0);
}

TEST_CASE("DWARF sources: lookups over many compilation units keep about one unit resident", "[symbols]") {
  // This test binary's own DWARF (built with -g): large C++ units, many of them.
  const std::string exe = std::filesystem::canonical("/proc/self/exe");
  struct stat st {};
  REQUIRE(::stat(exe.c_str(), &st) == 0);
  const DwarfUnits all = dwarf_units(exe);
  if (all.units == 0) {
    WARN("the unit tests were built without DWARF: nothing to measure");
    return;
  }
  // The first function of each unit with code, and each unit's size.
  std::map<uint64_t, uint64_t> unit_size;  // by offset
  std::vector<uint64_t> first_function;
  const uint64_t units = all.units;
  for (const DwarfUnit& u : all.with_code) {
    unit_size[u.offset] = u.size;
    first_function.push_back(u.first_function);
  }
  REQUIRE(first_function.size() >= 10);

  uint64_t visited = 0, largest = 0;
  for (const auto& [at, size] : unit_size) {
    visited += size;
    largest = std::max(largest, size);
  }
  // What one lookup may leave: its unit, what reading each unit header on its way to it makes
  // resident (a page, or the kernel's fault-around window: measured, not assumed), and the index
  // and line tables (generously).
  const uint64_t per_touch = static_cast<uint64_t>(resident_kib_per_touch(exe, static_cast<uint64_t>(st.st_size))) * 1024;
  const uint64_t bound = largest + units * per_touch + (4u << 20);
  if (visited < 2 * bound) {
    WARN("this build's units are too small to tell (" << visited << " bytes in all)");
    return;
  }
  DebugCacheSettings off_cache;
  off_cache.enabled = false;
  DwarfSources sources(off_cache);
  size_t named = 0;
  for (uint64_t pc : first_function) named += !sources.function_source(exe, pc).empty();
  CHECK(named >= 10);
  const long kib = resident_kib_of_whole_mapping(exe, static_cast<uint64_t>(st.st_size));
  INFO("resident " << kib << " KiB of the DWARF of " << unit_size.size() << " units (" << visited / 1024
                   << " KiB); bound " << bound / 1024 << " KiB (" << per_touch / 1024 << " KiB per page read)");
  WARN("resident " << kib << " KiB, units visited " << visited / 1024 << " KiB, bound " << bound / 1024 << " KiB");
  CHECK(kib > 0);
  CHECK(static_cast<uint64_t>(kib) * 1024 <= bound);
}

size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

TEST_CASE("DWARF sources: line tables of the units already looked up do not pile up", "[symbols]") {
  // libdw 0.188 decodes a unit's whole line program for a declaration's file name and frees it
  // only with the Dwarf handle; this test binary's large C++ units hold many rows each.
  const std::string exe = std::filesystem::canonical("/proc/self/exe");
  const DwarfUnits all = dwarf_units(exe);
  if (all.with_code.size() < 10) {
    WARN("the unit tests were built without DWARF: nothing to measure");
    return;
  }
  // The rows of each unit and what libdw's decoded tables cost here, with a handle of our own.
  size_t total_rows = 0, largest_rows = 0, table_bytes = 0;
  {
    const int fd = ::open(exe.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    Dwarf* dw = elf ? dwarf_begin_elf(elf, DWARF_C_READ, nullptr) : nullptr;
    REQUIRE(dw);
    const size_t before = heap_in_use();
    for (const DwarfUnit& u : all.with_code) {
      Dwarf_Die cu;
      Dwarf_Lines* lines = nullptr;
      size_t n = 0;
      if (dwarf_addrdie(dw, u.first_function, &cu) && dwarf_getsrclines(&cu, &lines, &n) == 0) {
        total_rows += n;
        largest_rows = std::max(largest_rows, n);
      }
    }
    table_bytes = heap_in_use() - before;
    dwarf_end(dw);
    elf_end(elf);
    ::close(fd);
  }
  REQUIRE(total_rows > 0);
  const double per_row = static_cast<double>(table_bytes) / static_cast<double>(total_rows);
  DebugCacheSettings off_cache;
  off_cache.enabled = false;
  DwarfSources sources(off_cache);
  const size_t before = heap_in_use();
  size_t named = 0, peak = 0, first = 0;
  for (const DwarfUnit& u : all.with_code) {
    named += !sources.function_source(exe, u.first_function).empty();
    peak = std::max(peak, heap_in_use() - before);
    if (!first) first = peak;  // libdw's tables of the file (unit headers, address index) and one unit's
  }
  // Held at most: what the first lookup holds, the rows past which a handle is renewed and a
  // unit's rows on top of them.
  const size_t bound = first + static_cast<size_t>(per_row * static_cast<double>(DwarfSources::kMaxLinesHeld + largest_rows));
  if (table_bytes < 2 * bound) {
    WARN("this build's line tables are too small to tell (" << table_bytes / 1024 << " KiB in all)");
    return;
  }
  INFO(named << " of " << all.with_code.size() << " units named; their line tables " << total_rows << " rows, "
             << table_bytes / 1024 << " KiB; largest " << largest_rows << " rows; first lookup " << first / 1024
             << " KiB; held at most " << peak / 1024 << " KiB, bound " << bound / 1024 << " KiB");
  CHECK(named >= all.with_code.size() / 2);
  CHECK(peak <= bound);
}

TEST_CASE("DWARF sources: a file's first lookup leaves no other unit's header resident, and names what llvm-symbolizer names",
          "[symbols]") {
  // libdw reads the header of every unit before the one asked (and .debug_aranges names them
  // all): a page and the kernel's fault-around per unit, all left resident by the first lookup
  // unless DwarfSources reads them at open with the pages given back (libc's: 5.7 MiB).
  const std::string exe = std::filesystem::canonical("/proc/self/exe");
  struct stat st {};
  REQUIRE(::stat(exe.c_str(), &st) == 0);
  const DwarfUnits all = dwarf_units(exe);
  const auto [info_at, info_size] = section_in_file(exe, ".debug_info");
  if (all.with_code.size() < 32 || info_size == 0) {
    WARN("too few units (" << all.with_code.size() << ") or a compressed .debug_info: nothing to measure");
    return;
  }
  DebugCacheSettings off_cache;
  off_cache.enabled = false;
  DwarfSources sources(off_cache);
  // The last unit: libdw must go past every other unit's header to find it.
  const DwarfUnit& last = all.with_code.back();
  const DwarfSources::Lookup last_found = sources.lookup(exe, last.first_function);
  const uint64_t map = whole_mapping_start(exe, static_cast<uint64_t>(st.st_size));
  REQUIRE(map != 0);
  // The pages holding the other units' headers, and how many of them the lookup left resident:
  // reading every header before the unit asked maps each of them. A lookup also walks the unit
  // the address index names for the address, which need not be the one listing the function
  // first (a function claimed by several units' ranges, as with COMDAT copies: the linker
  // keeps one): a unit or two with their fault-around neighbours, never every header.
  const uint64_t info = map + info_at;
  std::set<uint64_t> header_pages;
  for (const DwarfUnit& u : all.with_code) header_pages.insert((info + u.offset) / 4096);
  header_pages.erase((info + last.offset) / 4096);
  uint64_t resident = 0;
  for (uint64_t page : header_pages) resident += present_pages(page * 4096, page * 4096 + 1);
  INFO(resident << " of the " << header_pages.size()
                << " pages holding other units' headers resident after the first lookup");
  REQUIRE(header_pages.size() >= 32);
  CHECK(resident <= header_pages.size() / 8);

  // The same lookups name what llvm-symbolizer names: the function's declaration (its
  // StartFileName:StartLine) and each call inlined there, for the first function of every unit.
  std::vector<std::string> argv = {"/usr/bin/llvm-symbolizer", "--output-style=JSON", "-e", exe};
  for (const DwarfUnit& u : all.with_code) argv.push_back(fmt::format("{:#x}", u.first_function));
  const test::Finished symbolizer = test::run(argv);
  REQUIRE(symbolizer.exit_code == 0);
  const nlohmann::json answers = nlohmann::json::parse(symbolizer.out);  // one per address, in order
  REQUIRE(answers.size() == all.with_code.size());
  // perfbpf keeps the line table's file name (relative to the unit's directory); llvm-symbolizer
  // puts the directory in front. llvm-symbolizer 14 leaves StartFileName empty where it cannot
  // place a declaration: nothing to compare then.
  auto same_place = [](const std::string& got, const nlohmann::json& frame) {
    const std::string file = frame.value("StartFileName", ""), want = file + ":" + std::to_string(frame.value("StartLine", 0));
    INFO(got << " vs " << want);
    CHECK((got.empty() || got.size() > want.size() ? false : want.ends_with(got.front() == '/' ? got : "/" + got)));
  };
  size_t compared = 0, unnamed = 0, inlined = 0;
  for (size_t i = 0; i < all.with_code.size(); i++) {
    const auto& frames = answers.at(i).at("Symbol");  // innermost first: the function is the last
    if (frames.empty() || frames.back().value("StartFileName", "").empty()) continue;
    const DwarfSources::Lookup got =
        i + 1 == all.with_code.size() ? last_found : sources.lookup(exe, all.with_code[i].first_function);
    INFO("unit at " << all.with_code[i].offset << ", function at " << std::hex << all.with_code[i].first_function);
    compared++;
    // perfbpf names no source where subprograms overlap (a deleting destructor holding the
    // complete one's code, both through abstract origins): unnamed, never named otherwise.
    if (got.source.empty()) {
      unnamed++;
      continue;
    }
    same_place(got.source, frames.back());
    REQUIRE(got.inlined.size() + 1 == frames.size());
    for (size_t k = 0; k < got.inlined.size(); k++) {  // perfbpf's outermost first
      const auto& want = frames[frames.size() - 2 - k];
      // perfbpf names an inlined call by its DW_AT_name ("end"); llvm-symbolizer demangles
      // its linkage name where it has one ("std::vector<...>::end() const").
      CHECK_THAT(want.value("FunctionName", ""), Catch::Contains(got.inlined[k].name));
      if (!want.value("StartFileName", "").empty()) same_place(got.inlined[k].source, want);
      inlined++;
    }
  }
  WARN(compared << " functions compared, " << unnamed << " without a source from perfbpf, " << inlined
                << " inlined calls compared");
  CHECK(compared >= all.with_code.size() / 2);
  CHECK(unnamed <= compared / 2);
  CHECK(inlined > 0);
}
