// Naming a report's user frames ahead, binary by binary (Symbolizer::name_user_frames): the
// same frames as naming them one by one, one binary's DWARF held at a time, and a debug file's
// pages given back between compilation units (a --system report names frames in libc and in
// dozens of other binaries; holding every file's DWARF made its peak memory).
#include <sys/stat.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <libelf.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

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

// Resident KiB of the one mapping of PATH at least SIZE bytes long (DwarfSources maps a debug
// file whole; an executable's own mappings are its segments, each shorter than the file).
long resident_kib_of_whole_mapping(const std::string& path, uint64_t size) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  long kib = 0;
  while (std::getline(smaps, line)) {
    uint64_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (line.find(" r") != std::string::npos && (head >> std::hex >> start >> dash >> end) && dash == '-') {
      in = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0 &&
           end - start >= size;
      continue;
    }
    if (in && line.rfind("Rss:", 0) == 0) kib += std::stol(line.substr(4));
  }
  return kib;
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
  elf_version(EV_CURRENT);
  const int fd = ::open(exe.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  Dwarf* dw = dwarf_begin(fd, DWARF_C_READ);
  if (!dw) {
    ::close(fd);
    WARN("the unit tests were built without DWARF: nothing to measure");
    return;
  }
  // The first function of each unit with code, and each unit's size.
  std::map<uint64_t, uint64_t> unit_size;  // by offset
  std::vector<uint64_t> first_function;
  uint64_t off = 0, next = 0, units = 0;
  size_t header = 0;
  while (dwarf_nextcu(dw, off, &next, &header, nullptr, nullptr, nullptr) == 0) {
    units++;
    Dwarf_Die cu;
    if (dwarf_offdie(dw, off + header, &cu)) {
      Dwarf_Die child;
      if (dwarf_child(&cu, &child) == 0) do {
          Dwarf_Addr pc = 0;
          if (dwarf_tag(&child) == DW_TAG_subprogram && dwarf_lowpc(&child, &pc) == 0 && pc) {
            unit_size[off] = next - off;
            first_function.push_back(pc);
            break;
          }
        } while (dwarf_siblingof(&child, &child) == 0);
    }
    off = next;
  }
  dwarf_end(dw);
  ::close(fd);
  REQUIRE(first_function.size() >= 10);

  uint64_t visited = 0, largest = 0;
  for (const auto& [at, size] : unit_size) {
    visited += size;
    largest = std::max(largest, size);
  }
  // What one lookup may leave: its unit, a page of each unit header libdw reads on its way to
  // it, and the index and line tables (generously).
  const uint64_t bound = largest + units * 4096 + (4u << 20);
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
                   << " KiB); bound " << bound / 1024 << " KiB");
  WARN("resident " << kib << " KiB, units visited " << visited / 1024 << " KiB, bound " << bound / 1024 << " KiB");
  CHECK(kib > 0);
  CHECK(static_cast<uint64_t>(kib) * 1024 <= bound);
}
