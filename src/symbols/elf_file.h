// Small libelf pieces shared by the symbol reader and the IFUNC resolver: an owned handle,
// sections by name, loadable segments and symbol-version names.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace perfbpf {

// An ELF file opened read-only; elf is null when the file is missing or not ELF.
struct ElfHandle {
  int fd = -1;
  Elf* elf = nullptr;
  explicit ElfHandle(const std::string& path);
  ~ElfHandle();
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;
};

struct Segment {  // a PT_LOAD program header
  uint64_t vaddr, memsz, offset, filesz;
  bool exec;
};
std::vector<Segment> load_segments(Elf* elf);

// st_value -> file offset through the loadable segment holding it (executable ones first).
bool to_file_offset(const std::vector<Segment>& segments, uint64_t addr, uint64_t& offset);
// File offset -> virtual address, the other way.
bool to_vaddr(const std::vector<Segment>& segments, uint64_t offset, uint64_t& vaddr);

Elf_Scn* find_section(Elf* elf, const char* name);
Elf_Data* section_data(Elf* elf, const char* name);

// The GNU build-id (.note.gnu.build-id) as lower-case hex, "" when the file has none: what
// debuginfod, gdb's /usr/lib/debug/.build-id/ and pprof mappings identify a binary by.
std::string gnu_build_id(Elf* elf);

// .gnu.version entries: the index of a version definition or requirement; the top bit marks
// a hidden version ("name@V", not the default a new link binds to).
constexpr uint16_t kVersymHidden = 0x8000;
constexpr uint16_t kVersymIndex = 0x7fff;
// Version names by index: those the object defines (.gnu.version_d, the file's own base
// name left out) and those it requires of others (.gnu.version_r).
std::map<uint16_t, std::string> version_names(Elf* elf);
// The .gnu.version entries that go with the symbol table at section index TABLE, or null.
Elf_Data* version_indices(Elf* elf, size_t table);

}  // namespace perfbpf
