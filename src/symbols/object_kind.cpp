#include "symbols/object_kind.h"

#include <gelf.h>
#include <libelf.h>

#include <cstring>

#include "symbols/elf_file.h"

namespace perfbpf {
namespace {

bool contains_any(const char* text, const std::vector<std::string>& parts) {
  for (const auto& p : parts)
    if (text && std::strstr(text, p.c_str())) return true;
  return false;
}

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

const std::vector<std::string> kThrowSymbols = {"__cxa_throw", "_Unwind_RaiseException"};
const std::vector<std::string> kUnwindLibraries = {"libstdc++", "libgcc_s"};

}  // namespace

bool is_go_object(const std::string& path) {
  // The sections ElfSymbols::is_go looks for, without reading the symbol tables.
  ElfHandle f(path);
  return f.elf && (find_section(f.elf, ".go.buildinfo") || find_section(f.elf, ".note.go.buildid") ||
                   find_section(f.elf, ".gopclntab") || find_section(f.elf, ".data.rel.ro.gopclntab"));
}

bool elf_references(const std::string& path, const std::vector<std::string>& names,
                    const std::vector<std::string>& needed) {
  ElfHandle f(path);
  if (!f.elf) return false;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(f.elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    const size_t n = sh.sh_size / sh.sh_entsize;
    if (sh.sh_type == SHT_DYNAMIC && !needed.empty()) {
      for (size_t i = 0; i < n; i++) {
        GElf_Dyn dyn;
        if (gelf_getdyn(data, static_cast<int>(i), &dyn) && dyn.d_tag == DT_NEEDED &&
            contains_any(elf_strptr(f.elf, sh.sh_link, dyn.d_un.d_val), needed))
          return true;
      }
    }
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    for (size_t i = 0; i < n; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
      const char* name = elf_strptr(f.elf, sh.sh_link, sym.st_name);
      if (!name || !*name) continue;
      for (const auto& want : names)
        if (want == name) return true;
    }
  }
  return false;
}

std::string cxx_exceptions_reason(const std::vector<std::string>& objects, size_t first_to_read) {
  for (const auto& path : objects)
    if (contains_any(basename_of(path).c_str(), kUnwindLibraries)) return "the process loads " + basename_of(path);
  for (size_t i = 0; i < objects.size() && i < first_to_read; i++)
    if (elf_references(objects[i], kThrowSymbols, kUnwindLibraries))
      return basename_of(objects[i]) + " throws or links the C++ runtime";
  return "";
}

}  // namespace perfbpf
