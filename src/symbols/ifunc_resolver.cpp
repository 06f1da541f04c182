#include "symbols/ifunc_resolver.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "symbols/elf_file.h"
#include "symbols/proc_maps.h"

namespace perfbpf {
namespace {

struct Relocation {
  uint32_t type;
  uint64_t offset;  // the slot's virtual address
  int64_t addend;
  std::string symbol, version;
};

// The relocation types that leave a code address in a slot, per architecture.
struct RelocTypes {
  uint32_t irelative, jump_slot, glob_dat, abs64;
};
std::optional<RelocTypes> reloc_types(unsigned machine) {
  if (machine == EM_X86_64) return RelocTypes{R_X86_64_IRELATIVE, R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT, R_X86_64_64};
  if (machine == EM_AARCH64)
    return RelocTypes{R_AARCH64_IRELATIVE, R_AARCH64_JUMP_SLOT, R_AARCH64_GLOB_DAT, R_AARCH64_ABS64};
  return std::nullopt;
}

struct Object {
  std::vector<Segment> segments;
  std::vector<Relocation> relocations;  // RELA sections, symbols named from .dynsym
  unsigned machine = EM_NONE;
};

Object read_object(const std::string& path) {
  Object o;
  ElfHandle h(path);
  GElf_Ehdr ehdr;
  if (!h.elf || !gelf_getehdr(h.elf, &ehdr)) return o;
  o.machine = ehdr.e_machine;
  o.segments = load_segments(h.elf);
  const std::map<uint16_t, std::string> versions = version_names(h.elf);
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(h.elf, scn))) {
    GElf_Shdr sh, symsh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || sh.sh_entsize == 0) continue;
    Elf_Scn* symscn = elf_getscn(h.elf, sh.sh_link);
    Elf_Data* data = elf_getdata(scn, nullptr);
    Elf_Data* syms = symscn ? elf_getdata(symscn, nullptr) : nullptr;
    if (!data || !symscn || !gelf_getshdr(symscn, &symsh)) continue;
    Elf_Data* versym = version_indices(h.elf, sh.sh_link);
    for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
      GElf_Rela r;
      if (!gelf_getrela(data, static_cast<int>(i), &r)) continue;
      Relocation rel{static_cast<uint32_t>(GELF_R_TYPE(r.r_info)), r.r_offset, r.r_addend, {}, {}};
      const int index = static_cast<int>(GELF_R_SYM(r.r_info));
      GElf_Sym sym;
      if (index != 0 && syms && gelf_getsym(syms, index, &sym)) {
        if (const char* name = elf_strptr(h.elf, symsh.sh_link, sym.st_name)) rel.symbol = name;
        GElf_Versym v;
        if (versym && gelf_getversym(versym, index, &v)) {
          auto it = versions.find(static_cast<uint16_t>(v & kVersymIndex));
          if (it != versions.end()) rel.version = it->second;
        }
      }
      o.relocations.push_back(std::move(rel));
    }
  }
  return o;
}

std::string file_id(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? fmt::format("{}:{}", st.st_dev, st.st_ino) : std::string();
}

// Where an object's virtual address 0 sits in the process: its mapping of the page holding
// the first loadable segment.
std::optional<uint64_t> load_bias(const std::vector<const MapEntry*>& maps, const std::vector<Segment>& segments) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  for (const MapEntry* m : maps)
    for (const Segment& s : segments)
      if ((s.offset & ~(page - 1)) == m->offset) return m->start - (s.vaddr & ~(page - 1));
  return std::nullopt;
}

bool in_code(const std::vector<Segment>& segments, uint64_t vaddr) {
  for (const Segment& s : segments)
    if (s.exec && vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz) return true;
  return false;
}

// The implementation as the running process chose it, from its relocated slots.
std::optional<uint64_t> read_from_target(const std::string& path, const ElfFunction& ifunc, const IfuncContext& ctx) {
  const std::string proc = ctx.proc_root + "/" + std::to_string(ctx.pid);
  const std::vector<MapEntry> maps = read_proc_maps(ctx.proc_root, ctx.pid);
  std::map<std::string, std::vector<const MapEntry*>> by_path;  // file-backed mappings, in order
  for (const MapEntry& m : maps)
    if (!m.path.empty() && m.path[0] == '/' && m.inode != 0) by_path[m.path].push_back(&m);
  auto open_path = [&](const std::string& p) {
    std::string through_root = proc + "/root" + p;
    return access(through_root.c_str(), R_OK) == 0 ? through_root : p;
  };

  const std::string defining = file_id(path);
  const std::vector<const MapEntry*>* own_maps = nullptr;
  for (const auto& [p, ms] : by_path)
    if (file_id(open_path(p)) == defining) own_maps = &ms;
  if (!own_maps) return std::nullopt;  // not loaded (yet) in the target
  const Object own = read_object(path);
  const std::optional<RelocTypes> types = reloc_types(own.machine);
  const std::optional<uint64_t> own_bias = load_bias(*own_maps, own.segments);
  if (!types || !own_bias) return std::nullopt;

  const int mem = open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (mem < 0) return std::nullopt;
  // A slot holding an address inside the defining object's code: the implementation. A lazy
  // JUMP_SLOT not bound yet points into its own object's PLT and is passed over.
  auto chosen = [&](uint64_t slot) -> std::optional<uint64_t> {
    uint64_t value = 0;
    if (pread(mem, &value, sizeof(value), static_cast<off_t>(slot)) != static_cast<ssize_t>(sizeof(value)))
      return std::nullopt;
    uint64_t vaddr = value - *own_bias;
    if (value < *own_bias || !in_code(own.segments, vaddr) || vaddr == ifunc.address) return std::nullopt;
    return vaddr;
  };
  std::optional<uint64_t> found;
  // The defining object's own calls go through IRELATIVE slots, bound before any code runs.
  for (const Relocation& r : own.relocations)
    if (!found && r.type == types->irelative && static_cast<uint64_t>(r.addend) == ifunc.address)
      found = chosen(*own_bias + r.offset);
  // Then every object bound to the symbol by name (and version, where both say one).
  const std::string name = unversioned_name(ifunc.name);
  for (auto it = by_path.begin(); !found && it != by_path.end(); ++it) {
    const Object other = read_object(open_path(it->first));
    const std::optional<uint64_t> bias = load_bias(it->second, other.segments);
    if (!bias) continue;
    for (const Relocation& r : other.relocations) {
      if (found) break;
      if (r.type != types->jump_slot && r.type != types->glob_dat && r.type != types->abs64) continue;
      if (r.symbol != name || (!r.version.empty() && !ifunc.version.empty() && r.version != ifunc.version)) continue;
      found = chosen(*bias + r.offset);
    }
  }
  close(mem);
  return found;
}

std::optional<std::string> environment_variable(const std::string& environ_path, const std::string& name) {
  std::ifstream in(environ_path, std::ios::binary);
  std::string entry;
  while (std::getline(in, entry, '\0'))
    if (entry.compare(0, name.size() + 1, name + "=") == 0) return entry.substr(name.size() + 1);
  return std::nullopt;
}

// perfbpf's own loader picks for the target when that is provably the same choice.
std::optional<uint64_t> resolve_here(const std::string& path, const ElfFunction& ifunc, const IfuncContext& ctx,
                                     std::string& why_not) {
  const std::string defining = file_id(path);
  const MapEntry* here = nullptr;
  std::vector<MapEntry> maps = read_proc_maps("/proc", static_cast<int>(getpid()));
  for (const MapEntry& m : maps)
    if (!m.path.empty() && m.path[0] == '/' && file_id(m.path) == defining) {
      here = &m;
      break;
    }
  if (!here) {
    why_not = "perfbpf does not load " + path + " itself";
    return std::nullopt;
  }
  // The resolvers glibc and gcc generate read the CPU's features, which GLIBC_TUNABLES can
  // mask; a setuid or file-capability perfbpf (AT_SECURE) ignores tunables the target honours.
  const char* ours_raw = std::getenv("GLIBC_TUNABLES");
  std::optional<std::string> ours = ours_raw ? std::optional<std::string>(ours_raw) : std::nullopt;
  std::optional<std::string> theirs =
      ctx.pid ? environment_variable(ctx.proc_root + "/" + std::to_string(ctx.pid) + "/environ", "GLIBC_TUNABLES") : ours;
  if (theirs.value_or("") != ours.value_or("") || (ours && getauxval(AT_SECURE))) {
    why_not = "the target's GLIBC_TUNABLES (" + theirs.value_or("unset") + ") are not perfbpf's (" +
              (ours && getauxval(AT_SECURE) ? "ignored: perfbpf runs setuid or with file capabilities" : ours.value_or("unset")) +
              ")";
    return std::nullopt;
  }
  void* handle = dlopen(here->path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) {
    why_not = "perfbpf's loader does not know " + here->path;
    return std::nullopt;
  }
  const std::string name = unversioned_name(ifunc.name);
  void* code = ifunc.version.empty() ? dlsym(handle, name.c_str()) : dlvsym(handle, name.c_str(), ifunc.version.c_str());
  dlclose(handle);
  const uint64_t at = reinterpret_cast<uint64_t>(code);
  for (const MapEntry& m : maps) {
    if (!code || at < m.start || at >= m.end || file_id(m.path) != defining) continue;
    uint64_t vaddr = 0;
    ElfHandle h(path);
    if (h.elf && to_vaddr(load_segments(h.elf), at - m.start + m.offset, vaddr) && vaddr != ifunc.address) return vaddr;
  }
  why_not = "perfbpf's loader did not resolve " + name + " into " + path;
  return std::nullopt;
}

}  // namespace

IfuncImplementation resolve_ifunc(const std::string& path, const ElfFunction& ifunc, const IfuncContext& ctx) {
  IfuncImplementation out;
  std::optional<uint64_t> vaddr;
  if (ctx.pid) {
    vaddr = read_from_target(path, ifunc, ctx);
    out.source = "target";
  }
  std::string why_not;
  if (!vaddr) {
    vaddr = resolve_here(path, ifunc, ctx, why_not);
    out.source = "perfbpf";
  }
  const std::string name = ifunc.demangled;
  if (!vaddr) {
    const std::string when = ctx.pid ? "pid " + std::to_string(ctx.pid) + " has not bound it yet (nothing in it has called it)"
                                     : "the command has not started, so no resolver has run";
    throw Error(name + " in " + path + " is an IFUNC: the code it runs is picked by its resolver in the target; " + when +
                    ", and " + why_not,
                ctx.pid ? "probe it again once the program has called it, or name the implementation: -f OBJECT:IMPL"
                        : "start the program and use --pid, or name the implementation: -f OBJECT:IMPL",
                ENOENT);
  }
  ElfHandle h(path);
  if (!h.elf || !to_file_offset(load_segments(h.elf), *vaddr, out.file_offset))
    throw Error(name + " in " + path + ": its implementation at 0x" + fmt::format("{:x}", *vaddr) + " is outside the file's code",
                "name the implementation: -f OBJECT:IMPL", ENOEXEC);
  out.address = *vaddr;
  return out;
}

}  // namespace perfbpf
