// Where a function is defined (file:line), from the DWARF of its ELF file or of that file's
// separate debug file, read with libdw. Files are opened once and kept for the lookups.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

typedef struct Dwarf Dwarf;

namespace perfbpf {

class DwarfSources {
 public:
  DwarfSources() = default;
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

 private:
  struct File {
    int fd = -1;
    Dwarf* dwarf = nullptr;
  };
  std::map<std::string, File> files_;
  Dwarf* open_dwarf(const std::string& path);
};

}  // namespace perfbpf
