#include "symbols/debug_cache.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string_view>
#include <vector>

#include "perfbpf/error.h"
#include "report/output_file.h"
#include "symbols/elf_file.h"
#include "util/cache_dir.h"
#include "util/safe_path.h"

namespace perfbpf {

DebugCacheSettings debug_cache_settings_from_environment() {
  DebugCacheSettings s;
  s.dir = perfbpf_cache_directory() + "/debug";
  if (const char* v = std::getenv("PERFBPF_DEBUG_CACHE"); v && *v) {
    const std::string_view value(v);
    if (value == "off" || value == "0" || value == "no") s.enabled = false;
    else s.dir = value;
  }
  if (const char* v = std::getenv("PERFBPF_DEBUG_CACHE_MAX_MB"); v && *v) {
    char* end = nullptr;
    unsigned long long mb = std::strtoull(v, &end, 10);
    if (end && *end == '\0') s.max_bytes = static_cast<uint64_t>(mb) << 20;
  }
  return s;
}

namespace {

// What a section of the inflated twin must be, read from the original's headers alone (the
// inflated size is in each compressed section's header), so a cache hit inflates nothing.
struct Section {
  std::string name;  // .zdebug_x named .debug_x, as libdw names it once inflated
  GElf_Shdr shdr;    // as in the twin: no SHF_COMPRESSED, the inflated size
  enum class Packing { None, Chdr, Gnu } packing = Packing::None;
};

struct Layout {
  std::vector<Section> sections;  // index 0 included
  size_t shstrndx = 0;
  bool compressed = false;
};

struct ElfEnd {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfEnd>;

bool is_native_elf64(Elf* elf) {
  size_t n = 0;
  const char* ident = elf_getident(elf, &n);
  constexpr unsigned char host_data = std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  return ident && n > EI_DATA && ident[EI_CLASS] == ELFCLASS64 && static_cast<unsigned char>(ident[EI_DATA]) == host_data;
}

// The .zdebug_ header: "ZLIB" and the inflated size, 8 bytes big-endian.
bool gnu_inflated_size(Elf_Scn* scn, uint64_t& size) {
  Elf_Data* raw = elf_rawdata(scn, nullptr);
  if (!raw || raw->d_size < 12 || std::memcmp(raw->d_buf, "ZLIB", 4) != 0) return false;
  const auto* b = static_cast<const unsigned char*>(raw->d_buf) + 4;
  size = 0;
  for (int i = 0; i < 8; i++) size = size << 8 | b[i];
  return true;
}

bool read_layout(Elf* elf, Layout& out) {
  if (!is_native_elf64(elf) || elf_getshdrstrndx(elf, &out.shstrndx) != 0) return false;
  size_t count = 0;
  if (elf_getshdrnum(elf, &count) != 0 || count == 0) return false;
  for (size_t i = 0; i < count; i++) {
    Elf_Scn* scn = elf_getscn(elf, i);
    Section s;
    if (!scn || !gelf_getshdr(scn, &s.shdr)) return false;
    const char* name = i ? elf_strptr(elf, out.shstrndx, s.shdr.sh_name) : "";
    if (!name) return false;
    s.name = name;
    if (s.shdr.sh_flags & SHF_COMPRESSED) {
      GElf_Chdr ch;
      if (!gelf_getchdr(scn, &ch)) return false;
      s.packing = Section::Packing::Chdr;
      s.shdr.sh_flags &= ~static_cast<uint64_t>(SHF_COMPRESSED);
      s.shdr.sh_size = ch.ch_size;
      s.shdr.sh_addralign = ch.ch_addralign;
    } else if (s.name.starts_with(".zdebug") && s.shdr.sh_type != SHT_NOBITS) {
      uint64_t size = 0;
      if (!gnu_inflated_size(scn, size)) return false;
      s.packing = Section::Packing::Gnu;
      s.name.erase(1, 1);
      s.shdr.sh_size = size;
    }
    out.compressed |= s.packing != Section::Packing::None;
    out.sections.push_back(std::move(s));
  }
  return true;
}

uint64_t inflated_bytes(const Layout& l) {
  uint64_t total = 0;
  for (const Section& s : l.sections)
    if (s.shdr.sh_type != SHT_NOBITS) total += s.shdr.sh_size;
  return total;
}

// FD is the twin of the original described by WANT and BUILD_ID: nothing else is trusted.
bool valid_twin(int fd, const Layout& want, const std::string& build_id) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !owned_privately(st)) return false;
  ElfPtr elf(elf_begin(fd, ELF_C_READ_MMAP, nullptr));
  Layout got;
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF || !read_layout(elf.get(), got)) return false;
  if (got.compressed || got.sections.size() != want.sections.size() || got.shstrndx != want.shstrndx) return false;
  for (size_t i = 1; i < got.sections.size(); i++) {
    const Section &g = got.sections[i], &w = want.sections[i];
    // The section-name table is rebuilt (the original's may share tails of names): its names are compared.
    if (g.name != w.name || g.shdr.sh_type != w.shdr.sh_type || g.shdr.sh_flags != w.shdr.sh_flags ||
        (g.shdr.sh_size != w.shdr.sh_size && i != want.shstrndx) || g.shdr.sh_addr != w.shdr.sh_addr || g.shdr.sh_link != w.shdr.sh_link ||
        g.shdr.sh_info != w.shdr.sh_info)
      return false;
    if (g.shdr.sh_type != SHT_NOBITS && (g.shdr.sh_offset > static_cast<uint64_t>(st.st_size) ||
                                         g.shdr.sh_size > static_cast<uint64_t>(st.st_size) - g.shdr.sh_offset))
      return false;
  }
  return gnu_build_id(elf.get()) == build_id;
}

// Entry NAME in DIR, when it is a regular file (never through a link), ours, and the twin.
UniqueFd open_entry(int dir, const std::string& name, const Layout& want, const std::string& build_id) {
  UniqueFd fd(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd || !valid_twin(fd.get(), want, build_id)) return {};
  futimens(fd.get(), nullptr);  // used now: eviction removes the least recently used first
  return fd;
}

// Writes the twin of ELF (whose compressed sections are inflated here) to OUT: the ELF header,
// the program headers, the sections in their order, each at its alignment, then the section
// headers, with a section-name table rebuilt for the renamed .zdebug sections.
void write_twin(Elf* elf, const Layout& l, OutputFile& out) {
  GElf_Ehdr eh;
  if (!gelf_getehdr(elf, &eh)) throw Error("no ELF header");
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) phnum = 0;
  std::string names(1, '\0');
  std::vector<GElf_Shdr> shdrs(l.sections.size());
  std::vector<std::string_view> bodies(l.sections.size());
  for (size_t i = 1; i < l.sections.size(); i++) {
    const Section& s = l.sections[i];
    Elf_Scn* scn = elf_getscn(elf, i);
    shdrs[i] = s.shdr;
    shdrs[i].sh_name = static_cast<uint32_t>(names.size());
    names += s.name;
    names += '\0';
    if (s.shdr.sh_type == SHT_NOBITS || i == l.shstrndx) continue;
    Elf_Data* d = nullptr;
    if (s.packing == Section::Packing::Chdr) {
      if (elf_compress(scn, 0, 0) < 0 || !(d = elf_getdata(scn, nullptr))) throw Error("cannot inflate");
    } else if (s.packing == Section::Packing::Gnu) {
      if (elf_compress_gnu(scn, 0, 0) < 0 || !(d = elf_getdata(scn, nullptr))) throw Error("cannot inflate");
    } else if (!(d = elf_rawdata(scn, nullptr))) {
      throw Error("cannot read a section");
    }
    if (d->d_size != s.shdr.sh_size || (d->d_size && !d->d_buf)) throw Error("a section's size is not its header's");
    bodies[i] = {static_cast<const char*>(d->d_buf), d->d_size};
  }
  if (l.shstrndx > 0 && l.shstrndx < l.sections.size()) {
    bodies[l.shstrndx] = names;
    shdrs[l.shstrndx].sh_size = names.size();
  }
  GElf_Shdr null_shdr;
  if (!gelf_getshdr(elf_getscn(elf, 0), &null_shdr)) throw Error("no section 0");
  shdrs[0] = null_shdr;  // holds the real counts when they overflow the ELF header's fields

  uint64_t at = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  auto align = [&at](uint64_t a) { at = a > 1 ? (at + a - 1) / a * a : at; };
  for (size_t i = 1; i < shdrs.size(); i++) {
    align(shdrs[i].sh_addralign);
    shdrs[i].sh_offset = at;
    if (shdrs[i].sh_type != SHT_NOBITS) at += bodies[i].size();
  }
  align(8);
  eh.e_phoff = phnum ? sizeof(Elf64_Ehdr) : 0;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_shoff = at;
  eh.e_shentsize = sizeof(Elf64_Shdr);

  uint64_t written = 0;
  auto put = [&](const void* p, size_t n) {
    out.write({static_cast<const char*>(p), n});
    written += n;
  };
  auto pad_to = [&](uint64_t offset) {
    static const char zeros[64] = {};
    while (written < offset) put(zeros, std::min<uint64_t>(sizeof zeros, offset - written));
  };
  static_assert(sizeof(GElf_Ehdr) == sizeof(Elf64_Ehdr) && sizeof(GElf_Shdr) == sizeof(Elf64_Shdr) &&
                sizeof(GElf_Phdr) == sizeof(Elf64_Phdr));
  put(&eh, sizeof eh);
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph)) throw Error("cannot read a program header");
    put(&ph, sizeof ph);
  }
  for (size_t i = 1; i < shdrs.size(); i++) {
    if (shdrs[i].sh_type == SHT_NOBITS) continue;
    pad_to(shdrs[i].sh_offset);
    put(bodies[i].data(), bodies[i].size());
  }
  pad_to(eh.e_shoff);
  put(shdrs.data(), shdrs.size() * sizeof(GElf_Shdr));
}

// Keeps the directory's regular files within MAX_BYTES, the least recently used removed first
// (KEEP, the entry just made, last of all).
void evict(int dir_path_fd, const std::string& keep, uint64_t max_bytes) {
  UniqueFd dir_fd(openat(dir_path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return;
  DIR* dir = fdopendir(dir_fd.get());
  if (!dir) return;
  dir_fd.release();
  struct Entry {
    std::string name;
    uint64_t bytes;
    struct timespec used;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  const time_t now = time(nullptr);
  while (dirent* e = readdir(dir)) {
    struct stat st {};
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    // A temporary (.NAME.XXXXXXXX) another session is writing is left alone; one left behind
    // by a session that was killed is removed once it is ten minutes old.
    if (e->d_name[0] == '.') {
      if (now - st.st_mtim.tv_sec > 600) unlinkat(dirfd(dir), e->d_name, 0);
      continue;
    }
    entries.push_back({e->d_name, static_cast<uint64_t>(st.st_size), st.st_mtim});
    total += static_cast<uint64_t>(st.st_size);
  }
  std::sort(entries.begin(), entries.end(), [&keep](const Entry& a, const Entry& b) {
    if ((a.name == keep) != (b.name == keep)) return b.name == keep;
    return a.used.tv_sec != b.used.tv_sec ? a.used.tv_sec < b.used.tv_sec : a.used.tv_nsec < b.used.tv_nsec;
  });
  for (const Entry& e : entries) {
    if (total <= max_bytes) break;
    if (e.name != keep && unlinkat(dirfd(dir), e.name.c_str(), 0) == 0) total -= e.bytes;
  }
  closedir(dir);
}

}  // namespace

InflatedDebugFile open_inflated_debug_file(const std::string& path, const DebugCacheSettings& settings) {
  InflatedDebugFile result;
  elf_version(EV_CURRENT);
  UniqueFd src(open_regular_file(path));
  if (!src) return result;
  ElfPtr elf(elf_begin(src.get(), ELF_C_READ_MMAP, nullptr));
  Layout layout;
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF || !read_layout(elf.get(), layout)) return result;
  if (!layout.compressed) {
    result.outcome = DebugCacheOutcome::NotCompressed;
    return result;
  }
  const std::string build_id = gnu_build_id(elf.get());
  if (!settings.enabled || build_id.empty() || settings.dir.empty()) return result;
  const std::string name = build_id + ".debug", entry = settings.dir + "/" + name;
  try {
    UniqueFd dir = open_private_directory(settings.dir);
    if ((result.fd = open_entry(dir.get(), name, layout, build_id))) {
      result.outcome = DebugCacheOutcome::Hit;
      return result;
    }
    if (inflated_bytes(layout) > settings.max_bytes) return result;
    // A fresh temporary renamed over NAME: whatever is there (a stale twin, a planted link) is
    // replaced, never written through.
    ResolvedPath target;
    target.dir.reset(openat(dir.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    target.dir_shown = settings.dir;
    target.name = name;
    if (!target.dir) return result;
    OutputFile out(std::move(target), entry, "debug cache");
    write_twin(elf.get(), layout, out);
    out.commit();
    if ((result.fd = open_entry(dir.get(), name, layout, build_id))) result.outcome = DebugCacheOutcome::Made;
    evict(dir.get(), name, settings.max_bytes);
  } catch (const PathRefused&) {  // not ours to trust or write: the original is read
  } catch (const Error&) {        // full disk, read-only cache, a section libelf cannot inflate
  }
  return result;
}

}  // namespace perfbpf
