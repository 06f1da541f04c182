#include "symbols/object_kind.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>

namespace perfbpf {
namespace {

class ElfFile {
 public:
  explicit ElfFile(const std::string& path) {
    if (elf_version(EV_CURRENT) == EV_NONE) return;
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ >= 0) elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
    if (elf_ && elf_kind(elf_) != ELF_K_ELF) {
      elf_end(elf_);
      elf_ = nullptr;
    }
  }
  ~ElfFile() {
    if (elf_) elf_end(elf_);
    if (fd_ >= 0) close(fd_);
  }
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  Elf* get() const { return elf_; }

 private:
  int fd_ = -1;
  Elf* elf_ = nullptr;
};

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
  ElfFile f(path);
  size_t shstrndx = 0;
  if (!f.get() || elf_getshdrstrndx(f.get(), &shstrndx) != 0) return false;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(f.get(), scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* name = elf_strptr(f.get(), shstrndx, sh.sh_name);
    if (name && (std::strcmp(name, ".go.buildinfo") == 0 || std::strcmp(name, ".gopclntab") == 0)) return true;
  }
  return false;
}

bool elf_references(const std::string& path, const std::vector<std::string>& names,
                    const std::vector<std::string>& needed) {
  ElfFile f(path);
  if (!f.get()) return false;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(f.get(), scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    const size_t n = sh.sh_size / sh.sh_entsize;
    if (sh.sh_type == SHT_DYNAMIC && !needed.empty()) {
      for (size_t i = 0; i < n; i++) {
        GElf_Dyn dyn;
        if (gelf_getdyn(data, static_cast<int>(i), &dyn) && dyn.d_tag == DT_NEEDED &&
            contains_any(elf_strptr(f.get(), sh.sh_link, dyn.d_un.d_val), needed))
          return true;
      }
    }
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    for (size_t i = 0; i < n; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
      const char* name = elf_strptr(f.get(), sh.sh_link, sym.st_name);
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
