#include "symbols/elf_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "util/safe_path.h"
#include <fmt/format.h>

namespace perfbpf {

ElfHandle::ElfHandle(const std::string& path) {
  elf_version(EV_CURRENT);
  fd = open_regular_file(path);  // never a FIFO planted as a debug file: it would block open()
  if (fd < 0) return;
  elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (elf && elf_kind(elf) != ELF_K_ELF) {
    elf_end(elf);
    elf = nullptr;
  }
}

ElfHandle::~ElfHandle() {
  if (elf) elf_end(elf);
  if (fd >= 0) close(fd);
}

std::vector<Segment> load_segments(Elf* elf) {
  std::vector<Segment> segments;
  size_t n = 0;
  if (elf_getphdrnum(elf, &n) != 0) return segments;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
      segments.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, (ph.p_flags & PF_X) != 0});
  }
  return segments;
}

bool to_file_offset(const std::vector<Segment>& segments, uint64_t addr, uint64_t& offset) {
  for (int pass = 0; pass < 2; pass++) {
    for (const auto& s : segments) {
      if ((pass == 0) != s.exec) continue;
      if (addr >= s.vaddr && addr < s.vaddr + s.memsz) {
        offset = addr - s.vaddr + s.offset;
        return true;
      }
    }
  }
  return false;
}

bool to_vaddr(const std::vector<Segment>& segments, uint64_t offset, uint64_t& vaddr) {
  for (const auto& s : segments) {
    if (offset >= s.offset && offset < s.offset + s.filesz) {
      vaddr = offset - s.offset + s.vaddr;
      return true;
    }
  }
  return false;
}

Elf_Scn* find_section(Elf* elf, const char* wanted) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    const char* name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : nullptr;
    if (name && std::strcmp(name, wanted) == 0) return scn;
  }
  return nullptr;
}

Elf_Data* section_data(Elf* elf, const char* wanted) {
  Elf_Scn* scn = find_section(elf, wanted);
  return scn ? elf_getdata(scn, nullptr) : nullptr;
}

std::map<uint16_t, std::string> version_names(Elf* elf) {
  std::map<uint16_t, std::string> names;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_GNU_verdef && sh.sh_type != SHT_GNU_verneed)) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    // sh_info entries, each a chain of auxiliary records; offsets are relative to the entry.
    size_t at = 0;
    for (size_t i = 0; i < sh.sh_info; i++) {
      if (sh.sh_type == SHT_GNU_verdef) {
        GElf_Verdef def;
        GElf_Verdaux aux;
        if (!gelf_getverdef(data, static_cast<int>(at), &def) ||
            !gelf_getverdaux(data, static_cast<int>(at + def.vd_aux), &aux))
          break;
        if (!(def.vd_flags & VER_FLG_BASE))
          if (const char* name = elf_strptr(elf, sh.sh_link, aux.vda_name)) names[def.vd_ndx] = name;
        if (def.vd_next == 0) break;
        at += def.vd_next;
      } else {
        GElf_Verneed need;
        if (!gelf_getverneed(data, static_cast<int>(at), &need)) break;
        size_t aux_at = at + need.vn_aux;
        for (size_t j = 0; j < need.vn_cnt; j++) {
          GElf_Vernaux aux;
          if (!gelf_getvernaux(data, static_cast<int>(aux_at), &aux)) break;
          if (const char* name = elf_strptr(elf, sh.sh_link, aux.vna_name)) names[aux.vna_other] = name;
          if (aux.vna_next == 0) break;
          aux_at += aux.vna_next;
        }
        if (need.vn_next == 0) break;
        at += need.vn_next;
      }
    }
  }
  return names;
}

Elf_Data* version_indices(Elf* elf, size_t table) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_versym && sh.sh_link == table) return elf_getdata(scn, nullptr);
  }
  return nullptr;
}


std::string gnu_build_id(Elf* elf) {
  Elf_Data* note = section_data(elf, ".note.gnu.build-id");
  if (!note || note->d_size <= 16) return {};
  const auto* bytes = static_cast<const unsigned char*>(note->d_buf);
  uint32_t namesz, descsz;
  std::memcpy(&namesz, bytes, 4);
  std::memcpy(&descsz, bytes + 4, 4);
  size_t desc = 12 + ((namesz + 3) & ~3u);
  if (descsz <= 1 || desc + descsz > note->d_size) return {};
  std::string hex;
  for (uint32_t i = 0; i < descsz; i++) hex += fmt::format("{:02x}", bytes[desc + i]);
  return hex;
}

}  // namespace perfbpf
