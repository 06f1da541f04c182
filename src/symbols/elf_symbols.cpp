#include "symbols/elf_symbols.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "symbols/elf_file.h"
#include "symbols/go_pclntab.h"
#include "symbols/xz_decode.h"
#include "util/safe_path.h"

namespace perfbpf {
namespace {

std::string demangle(const std::string& name) {
  if (name.rfind("_Z", 0) != 0) return name;
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status),
                                                   &std::free);
  return status == 0 && out ? std::string(out.get()) : name;
}

struct Candidate {
  ElfFunction fn;
  bool global;
};

// .symtab spells versions into the name: "vfn@V1", "vfn@@V2" (the default).
void split_version(ElfFunction& fn) {
  size_t at = fn.name.find('@');
  if (at == std::string::npos || at == 0) return;
  fn.default_version = fn.name.compare(at, 2, "@@") == 0;
  fn.version = fn.name.substr(at + (fn.default_version ? 2 : 1));
  fn.name.resize(at);
}

// One function per address, named by its most public alias; the others kept as aliases.
void add_candidate(std::map<uint64_t, Candidate>& by_address, ElfFunction fn, bool global) {
  auto it = by_address.find(fn.address);
  if (it == by_address.end()) {
    by_address.emplace(fn.address, Candidate{std::move(fn), global});
    return;
  }
  Candidate& have = it->second;
  // Among aliases the public name wins (global, no leading underscore: clock_nanosleep
  // over __clock_nanosleep), whichever table it came from.
  auto rank = [](const std::string& n, bool g) { return (g ? 2 : 0) + (n.rfind('_', 0) == 0 ? 0 : 1); };
  bool better = rank(fn.name, global) > rank(have.fn.name, have.global);
  // The name not chosen stays findable: -f clock_nanosleep must match __clock_nanosleep.
  std::string other = better ? have.fn.name : fn.name;
  std::vector<std::string> aliases = std::move(have.fn.aliases);
  // What one table knows and the other not (the version, IFUNC, the size) is kept.
  bool dynamic = have.fn.dynamic && fn.dynamic, ifunc = have.fn.ifunc || fn.ifunc;
  uint64_t size = std::max(have.fn.size, fn.size);
  if (have.fn.version.empty() && !fn.version.empty() && (better || fn.name == have.fn.name)) {
    have.fn.version = fn.version;
    have.fn.default_version = fn.default_version;
  }
  if (better) {
    if (fn.version.empty() && have.fn.name == fn.name) {
      fn.version = have.fn.version;
      fn.default_version = have.fn.default_version;
    }
    have = Candidate{std::move(fn), global};
  }
  have.fn.dynamic = dynamic;
  have.fn.ifunc = ifunc;
  have.fn.size = size;
  if (other != have.fn.name && std::find(aliases.begin(), aliases.end(), other) == aliases.end())
    aliases.push_back(other);
  have.fn.aliases = std::move(aliases);
}

void read_symbol_tables(Elf* elf, const std::vector<Segment>& segments, std::map<uint64_t, Candidate>& by_address,
                        bool& has_symtab, bool& has_dynsym) {
  const std::map<uint16_t, std::string> versions = version_names(elf);
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)) continue;
    bool dynamic = sh.sh_type == SHT_DYNSYM;
    (dynamic ? has_dynsym : has_symtab) = true;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || sh.sh_entsize == 0) continue;
    Elf_Data* versym = dynamic ? version_indices(elf, elf_ndxscn(scn)) : nullptr;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
      int type = GELF_ST_TYPE(sym.st_info);
      if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_value == 0 || sym.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (!name || !*name) continue;
      ElfFunction fn;
      fn.name = name;
      fn.address = sym.st_value;
      fn.size = sym.st_size;
      fn.dynamic = dynamic;
      fn.ifunc = type == STT_GNU_IFUNC;
      if (!to_file_offset(segments, fn.address, fn.file_offset)) continue;
      GElf_Versym index;
      if (versym && gelf_getversym(versym, static_cast<int>(i), &index)) {
        auto v = versions.find(static_cast<uint16_t>(index & kVersymIndex));
        if (v != versions.end()) {
          fn.version = v->second;
          fn.default_version = !(index & kVersymHidden);
        }
      } else if (!dynamic) {
        split_version(fn);
      }
      add_candidate(by_address, std::move(fn), GELF_ST_BIND(sym.st_info) != STB_LOCAL);
    }
  }
}

bool readable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// CRC of a regular file; 0 for anything else (a FIFO named like a debug file would block).
uint32_t file_crc32(const std::string& path) {
  UniqueFd fd(open_regular_file(path));
  if (!fd) return 0;
  uLong crc = crc32(0L, Z_NULL, 0);
  char buf[65536];
  for (ssize_t n; (n = read(fd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 0;
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

// Where gdb looks: /usr/lib/debug/.build-id/xx/rest.debug, then the .gnu_debuglink name next
// to the file, in its .debug/ directory and under /usr/lib/debug (with the CRC checked).
std::string find_debug_file(Elf* elf, const std::string& path) {
  if (std::string hex = gnu_build_id(elf); !hex.empty()) {
    std::string candidate = "/usr/lib/debug/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug";
    if (readable(candidate)) return candidate;
  }
  Elf_Data* link = section_data(elf, ".gnu_debuglink");
  if (!link || link->d_size < 8) return {};
  const char* raw = static_cast<const char*>(link->d_buf);
  std::string name(raw, strnlen(raw, link->d_size));
  size_t crc_at = (name.size() + 4) & ~size_t{3};
  if (name.empty() || crc_at + 4 > link->d_size) return {};
  uint32_t crc;
  std::memcpy(&crc, raw + crc_at, 4);
  std::string dir = path.substr(0, path.rfind('/') + 1);
  for (const std::string& candidate : {dir + name, dir + ".debug/" + name, "/usr/lib/debug" + dir + name})
    if (candidate != path && readable(candidate) && file_crc32(candidate) == crc) return candidate;
  return {};
}

// MiniDebugInfo (Fedora, RHEL): .gnu_debugdata is an xz-compressed ELF file whose .symtab
// holds the functions .dynsym lacks. Its addresses are the stripped file's own.
bool read_minidebuginfo(Elf* elf, const std::vector<Segment>& segments, std::map<uint64_t, Candidate>& by_address) {
  Elf_Data* packed = section_data(elf, ".gnu_debugdata");
  if (!packed || !packed->d_buf || packed->d_size == 0) return false;
  std::vector<uint8_t> bytes = xz_decode(static_cast<const uint8_t*>(packed->d_buf), packed->d_size);
  if (bytes.empty()) return false;
  Elf* mini = elf_memory(reinterpret_cast<char*>(bytes.data()), bytes.size());
  bool has_symtab = false, ignored = false;
  if (mini && elf_kind(mini) == ELF_K_ELF) read_symbol_tables(mini, segments, by_address, has_symtab, ignored);
  if (mini) elf_end(mini);
  return has_symtab;
}

// A stripped Go binary still carries the runtime's own function table.
bool read_go_functions(Elf* elf, const std::vector<Segment>& segments, std::map<uint64_t, Candidate>& by_address) {
  Elf_Scn* table = find_section(elf, ".gopclntab");
  if (!table) table = find_section(elf, ".data.rel.ro.gopclntab");  // PIE builds
  Elf_Scn* text = find_section(elf, ".text");
  GElf_Shdr text_sh;
  Elf_Data* data = table ? elf_getdata(table, nullptr) : nullptr;
  if (!data || !text || !gelf_getshdr(text, &text_sh)) return false;
  std::vector<GoFunction> functions =
      read_go_pclntab(static_cast<const uint8_t*>(data->d_buf), data->d_size, text_sh.sh_addr);
  for (GoFunction& g : functions) {
    ElfFunction fn;
    fn.name = std::move(g.name);
    fn.address = g.entry;
    fn.size = g.end - g.entry;
    if (to_file_offset(segments, fn.address, fn.file_offset)) add_candidate(by_address, std::move(fn), true);
  }
  return !functions.empty();
}

}  // namespace

std::string unversioned_name(const std::string& name) {
  size_t at = name.find('@');
  return at == std::string::npos || at == 0 ? name : name.substr(0, at);
}

ElfSymbols ElfSymbols::load(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) throw Error("libelf initialisation failed");
  ElfHandle h(path);
  if (h.fd < 0) throw Error(errno_message("cannot open " + path, errno), "check the path", errno);
  if (!h.elf) throw Error(path + " is not an ELF file", "name an executable or shared library", ENOEXEC);
  GElf_Ehdr ehdr;
  if (!gelf_getehdr(h.elf, &ehdr)) throw Error(path + " has no readable ELF header", "", ENOEXEC);

  ElfSymbols out;
  out.path_ = path;
  out.is_dyn_ = ehdr.e_type == ET_DYN;

  const std::vector<Segment> segments = load_segments(h.elf);
  size_t nphdr = 0;
  elf_getphdrnum(h.elf, &nphdr);
  for (size_t i = 0; i < nphdr; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(h.elf, static_cast<int>(i), &ph)) continue;
    if (ph.p_type == PT_INTERP && ph.p_filesz > 0 && ph.p_filesz <= 4096) {
      // Only the path's bytes: elf_rawfile() on a file libelf has not mapped reads the whole
      // file into memory (a 300 MB executable, 300 MB of RSS while its symbols are read).
      std::string text(ph.p_filesz, '\0');
      if (pread(h.fd, text.data(), text.size(), static_cast<off_t>(ph.p_offset)) == static_cast<ssize_t>(text.size()))
        out.interpreter_.assign(text.c_str(), strnlen(text.c_str(), text.size()));
    }
  }
  if (segments.empty()) throw Error(path + " has no loadable segments", "name an executable or shared library", ENOEXEC);

  out.is_go_ = section_data(h.elf, ".go.buildinfo") || section_data(h.elf, ".note.go.buildid") ||
               find_section(h.elf, ".gopclntab") || find_section(h.elf, ".data.rel.ro.gopclntab");

  std::map<uint64_t, Candidate> by_address;
  read_symbol_tables(h.elf, segments, by_address, out.has_symtab_, out.has_dynsym_);
  if (out.has_symtab_) out.symbol_source_ = ".symtab";
  // Stripped: the local function names may still be found, fullest source first.
  if (!out.has_symtab_) {
    // A separate debug file (build-id or .gnu_debuglink); its addresses are the stripped
    // file's, so our segments map them.
    out.debug_file_ = find_debug_file(h.elf, path);
    if (!out.debug_file_.empty()) {
      ElfHandle d(out.debug_file_);
      bool ignored = false;
      if (d.elf) read_symbol_tables(d.elf, segments, by_address, out.has_symtab_, ignored);
      if (out.has_symtab_) out.symbol_source_ = out.debug_file_;
      else out.debug_file_.clear();
    }
  }
  if (!out.has_symtab_ && read_minidebuginfo(h.elf, segments, by_address)) {
    out.has_symtab_ = true;
    out.symbol_source_ = ".gnu_debugdata";
  }
  if (!out.has_symtab_ && out.is_go_ && read_go_functions(h.elf, segments, by_address)) {
    out.has_symtab_ = true;
    out.symbol_source_ = ".gopclntab";
  }
  // A name defined in several versions: each row says which ("vfn@V1", "vfn@@V2").
  std::map<std::string, int> versions_of;
  for (const auto& [addr, c] : by_address)
    if (!c.fn.version.empty()) versions_of[c.fn.name]++;
  for (auto& [addr, c] : by_address) {
    if (c.fn.version.empty() || versions_of[c.fn.name] < 2) continue;
    c.fn.name += (c.fn.default_version ? "@@" : "@") + c.fn.version;
  }
  // Sized once, each candidate's node freed as its function moves: a large library's table
  // (libLLVM's ~100 000 functions) was held twice, in the map and in a vector that doubled as
  // it grew (15.7 MiB of reallocations at the end of a --system session).
  out.functions_.reserve(by_address.size());
  while (!by_address.empty()) {
    Candidate& c = by_address.begin()->second;
    c.fn.demangled = demangle(c.fn.name);
    // The demangler does not know versions: "_ZN2ns1fEv@V1" -> "ns::f()@V1".
    if (c.fn.demangled == c.fn.name && c.fn.name.rfind("_Z", 0) == 0) {
      std::string base = unversioned_name(c.fn.name);
      if (base != c.fn.name) c.fn.demangled = demangle(base) + c.fn.name.substr(base.size());
    }
    out.functions_.push_back(std::move(c.fn));
    by_address.erase(by_address.begin());
  }
  std::sort(out.functions_.begin(), out.functions_.end(),
            [](const ElfFunction& a, const ElfFunction& b) { return a.name < b.name; });
  return out;
}

namespace {

// Where a compiler's copy-of-a-function suffix starts ("f.isra.0", "f.constprop.0.cold",
// clang's "f.llvm.123"), or npos. A suffix is a run of ".KIND" and ".N" parts with one KIND at least.
size_t clone_suffix_at(std::string_view name) {
  static const std::set<std::string_view> kinds = {"isra",  "constprop",  "part",  "cold",
                                                   "lto_priv", "localalias", "llvm", "clone"};
  size_t at = std::string_view::npos;
  size_t end = name.size();
  while (end > 0) {
    size_t dot = name.rfind('.', end - 1);
    if (dot == std::string_view::npos || dot == 0) break;
    std::string_view part = name.substr(dot + 1, end - dot - 1);
    bool number = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!number && !kinds.count(part)) break;
    if (!number) at = dot;
    end = dot;
  }
  return at;
}

// gcc's hot/cold splitting puts a function's unlikely blocks in "f.cold": code jumped to from
// inside f, never called. A probe there would count a call that never happened.
bool is_cold_fragment(const ElfFunction& f) {
  size_t at = clone_suffix_at(f.name);
  return at != std::string::npos && f.name.find(".cold", at) != std::string::npos;
}

bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Length of the symbolic operator at d[at] ("<<=", "->*", "=="), longest first; 0 if none.
size_t operator_token_length(const std::string& d, size_t at) {
  static const std::string_view tokens[] = {"->*", "<<=", ">>=", "<=>", "->", "<<", ">>", "<=", ">=", "==", "!=",
                                            "&&",  "||",  "++",  "--",  "+=", "-=", "*=", "/=", "%=", "&=", "|=",
                                            "^=",  "+",   "-",   "*",   "/",  "%",  "^",  "&",  "|",  "~",  "!",
                                            "=",   "<",   ">",   ","};
  for (std::string_view t : tokens)
    if (d.compare(at, t.size(), t) == 0) return t.size();
  return 0;
}

// "ns::Klass::method(int) const [clone .isra.0]" -> "ns::Klass::method", and for template
// instances "double ns::twice<double>(double)" -> "ns::twice<double>": what a user types.
// Brackets are balanced left to right, so "(anonymous namespace)::f", "operator<",
// "operator()", "operator bool" and "{lambda(int, int)#1}" keep their own parentheses,
// angles and spaces.
std::string cxx_plain_name(std::string d) {
  size_t clone = d.find(" [clone ");
  if (clone != std::string::npos) d.resize(clone);
  // A thunk adjusts `this` and jumps to the function: it keeps its prefix so that the
  // function's own name does not probe both (one call would count twice).
  for (std::string_view prefix :
       {"non-virtual thunk to ", "virtual thunk to ", "covariant return thunk to ", "transaction clone for "})
    if (d.rfind(prefix, 0) == 0) return std::string(prefix) + cxx_plain_name(d.substr(prefix.size()));
  static const std::string_view kAnonymous = "(anonymous namespace)";
  int depth = 0;
  bool in_operator_name = false;  // "operator bool", "operator new[]": spaces belong to the name
  size_t last_space = std::string::npos, name_start = 0, params = std::string::npos;
  for (size_t i = 0; i < d.size(); i++) {
    if (d.compare(i, kAnonymous.size(), kAnonymous) == 0) {
      i += kAnonymous.size() - 1;
      continue;
    }
    if (d.compare(i, 8, "operator") == 0 && (i == 0 || !is_ident(d[i - 1])) &&
        (i + 8 == d.size() || !is_ident(d[i + 8]))) {
      size_t j = i + 8;
      if (d.compare(j, 2, "()") == 0 || d.compare(j, 2, "[]") == 0) {
        j += 2;
      } else if (size_t len = operator_token_length(d, j)) {
        // "operator==<char>(...)": the template arguments start after the token; the
        // demangler writes "operator< <int>" with a space when the token ends in '<'.
        j += len;
        if (d.compare(j, 2, " <") == 0) j++;
      } else {
        in_operator_name = true;
      }
      i = j - 1;
      continue;
    }
    char c = d[i];
    if (c == '(' && depth == 0) {
      // The first top-level '(' opens a parameter list; spaces before it end a return type.
      if (params == std::string::npos) name_start = last_space == std::string::npos ? 0 : last_space + 1;
      params = i;
      in_operator_name = false;
    }
    if (c == '(' || c == '<' || c == '[' || c == '{') depth++;
    else if (c == ')' || c == '>' || c == ']' || c == '}') depth--;
    else if (c == ' ' && depth == 0 && !in_operator_name && params == std::string::npos) last_space = i;
  }
  // The last top-level parameter list is the function's own ("f(int)::{lambda()#1}::operator()()").
  if (params == std::string::npos) return d;
  return d.substr(name_start, params - name_start);
}

std::string plain_name(const ElfFunction& f) {
  if (f.demangled != f.name) return cxx_plain_name(f.demangled);
  std::string name = unversioned_name(f.name);
  return name.substr(0, std::min(name.size(), clone_suffix_at(name)));
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<const ElfFunction*> match_functions(const ElfSymbols& symbols, const std::string& glob) {
  auto hit = [&](const std::string& name) { return fnmatch(glob.c_str(), name.c_str(), 0) == 0; };
  bool wants_cold = glob.find(".cold") != std::string::npos;
  std::vector<const ElfFunction*> out;
  for (const auto& f : symbols.functions()) {
    if (!wants_cold && is_cold_fragment(f)) continue;
    const std::string plain = plain_name(f);
    bool versioned = false;
    if (!f.version.empty())
      for (const std::string& base : {unversioned_name(f.name), plain})
        versioned = versioned || hit(base + "@" + f.version) || (f.default_version && hit(base + "@@" + f.version));
    if (versioned || std::any_of(f.aliases.begin(), f.aliases.end(), hit) || hit(f.name) || hit(f.demangled) ||
        hit(plain))
      out.push_back(&f);
  }
  return out;
}

std::vector<std::string> closest_function_names(const ElfSymbols& symbols, const std::string& pattern, size_t n) {
  std::vector<std::pair<size_t, std::string>> scored;
  std::set<std::string> seen;
  for (const auto& f : symbols.functions()) {
    if (is_cold_fragment(f)) continue;
    std::string name = plain_name(f);
    if (!seen.insert(name).second) continue;
    scored.emplace_back(edit_distance(pattern, name), name);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < n; i++) out.push_back(scored[i].second);
  return out;
}

}  // namespace perfbpf
