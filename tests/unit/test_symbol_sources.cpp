// Names a stripped binary still carries (MiniDebugInfo, a Go binary's pclntab) and names an
// object defines in several versions, on binaries the build makes: every name must land on
// the address and file offset the unstripped build's own symbol table gives.
#include <dlfcn.h>

#include <catch2/catch.hpp>

#include <cstring>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>

#include "process.h"
#include "symbols/elf_file.h"
#include "symbols/elf_symbols.h"
#include "symbols/go_pclntab.h"

using namespace perfbpf;

namespace {

std::string fixture(const std::string& name) { return test::workload("symbols/" + name); }

const ElfFunction* find(const ElfSymbols& s, const std::string& name) {
  for (const auto& f : s.functions())
    if (f.name == name) return &f;
  return nullptr;
}

std::vector<std::string> matched(const ElfSymbols& s, const std::string& glob) {
  std::vector<std::string> out;
  for (const ElfFunction* f : match_functions(s, glob)) out.push_back(f->name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("MiniDebugInfo: static functions named from .gnu_debugdata", "[symbols]") {
  ElfSymbols full = ElfSymbols::load(fixture("mdi_target"));
  ElfSymbols mini = ElfSymbols::load(fixture("mdi_target_mini"));
  CHECK(full.symbol_source() == ".symtab");
  CHECK(mini.symbol_source() == ".gnu_debugdata");
  CHECK(mini.has_symtab());
  CHECK(mini.debug_file().empty());
  for (const char* name : {"hidden_work", "hidden_spin", "exported_work", "main"}) {
    INFO(name);
    const ElfFunction* want = find(full, name);
    const ElfFunction* got = find(mini, name);
    REQUIRE(want);
    REQUIRE(got);
    CHECK(got->address == want->address);
    CHECK(got->file_offset == want->file_offset);
    CHECK(got->size == want->size);
  }
  CHECK(matched(mini, "hidden_*") == std::vector<std::string>{"hidden_spin", "hidden_work"});
}

TEST_CASE("a stripped Go binary: names, entries and sizes from its pclntab", "[symbols][go]") {
  ElfSymbols full = ElfSymbols::load(fixture("go_target_full"));
  ElfSymbols stripped = ElfSymbols::load(fixture("go_target_stripped"));
  CHECK(full.is_go());
  CHECK(stripped.is_go());
  CHECK_FALSE(ElfSymbols::load(fixture("sym_pie")).is_go());
  CHECK(stripped.symbol_source() == ".gopclntab");
  CHECK(stripped.has_symtab());

  // Go's own symbol names, as `go tool nm` and tracebacks spell them.
  for (const char* name : {"main.(*Server).handle", "main.Work", "main.spin", "main.main", "runtime.mallocgc"}) {
    INFO(name);
    const ElfFunction* want = find(full, name);
    const ElfFunction* got = find(stripped, name);
    REQUIRE(want);
    REQUIRE(got);
    CHECK(got->address == want->address);
    CHECK(got->file_offset == want->file_offset);
    // The next function's entry: the symbol's size plus the alignment padding after it.
    CHECK(got->size >= want->size);
    CHECK(got->size < want->size + 32);
  }
  CHECK(matched(stripped, "main.(*Server).handle") == std::vector<std::string>{"main.(*Server).handle"});

  // Every Go function the full build's .symtab has, the stripped pclntab has too; .symtab
  // spells assembly functions with their ABI ("runtime.morestack.abi0"), the pclntab without.
  std::map<uint64_t, std::string> from_pclntab;
  for (const auto& f : stripped.functions()) from_pclntab[f.address] = f.name;
  size_t compared = 0, missing = 0;
  for (const auto& f : full.functions()) {
    if (f.name.rfind("main.", 0) != 0 && f.name.rfind("runtime.", 0) != 0) continue;
    compared++;
    std::string name = f.name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".abi0") == 0) name.resize(name.size() - 5);
    auto it = from_pclntab.find(f.address);
    if (it == from_pclntab.end() || it->second != name) {
      missing++;
      UNSCOPED_INFO("not in the pclntab: " << f.name);
    }
  }
  CHECK(compared > 500);
  CHECK(missing == 0);
}

TEST_CASE("pclntab: a cut or damaged table gives nothing, never a read past it", "[symbols][go]") {
  ElfHandle h(fixture("go_target_stripped"));
  REQUIRE(h.elf);
  Elf_Data* table = section_data(h.elf, ".gopclntab");
  REQUIRE(table);
  const auto* bytes = static_cast<const uint8_t*>(table->d_buf);
  const std::vector<GoFunction> whole = read_go_pclntab(bytes, table->d_size, 0);
  REQUIRE(whole.size() > 1000);
  // Cut anywhere: a prefix whose function table is incomplete yields nothing.
  for (size_t cut : {size_t{0}, size_t{15}, size_t{64}, table->d_size / 3, table->d_size - 1}) {
    std::vector<uint8_t> prefix(bytes, bytes + cut);  // its own allocation: ASan-visible bounds
    CHECK(read_go_pclntab(prefix.data(), prefix.size(), 0).size() <= whole.size());
  }
  std::vector<uint8_t> damaged(bytes, bytes + table->d_size);
  damaged[0] ^= 0xff;  // unknown magic
  CHECK(read_go_pclntab(damaged.data(), damaged.size(), 0).empty());
  damaged[0] ^= 0xff;
  for (size_t i = 8; i < 8 + 8 * 8; i++) damaged[i] = 0xff;  // absurd counts and offsets
  CHECK(read_go_pclntab(damaged.data(), damaged.size(), 0).empty());
}

TEST_CASE("versioned symbols: one row per version, selectable by version", "[symbols]") {
  ElfSymbols lib = ElfSymbols::load(fixture("libvers_lib.so"));
  const ElfFunction* v1 = find(lib, "vfn@V1");
  const ElfFunction* v2 = find(lib, "vfn@@V2");
  REQUIRE(v1);
  REQUIRE(v2);
  CHECK(v1->version == "V1");
  CHECK_FALSE(v1->default_version);
  CHECK(v2->version == "V2");
  CHECK(v2->default_version);
  CHECK(v1->address != v2->address);
  CHECK(matched(lib, "vfn") == std::vector<std::string>{"vfn@@V2", "vfn@V1"});
  CHECK(matched(lib, "vfn@V1") == std::vector<std::string>{"vfn@V1"});
  CHECK(matched(lib, "vfn@V2") == std::vector<std::string>{"vfn@@V2"});
  CHECK(matched(lib, "vfn@@V2") == std::vector<std::string>{"vfn@@V2"});
  CHECK(matched(lib, "vfn@@V1").empty());  // V1 is not the default
  CHECK(unversioned_name("vfn@@V2") == "vfn");

  // glibc: a name with one version keeps its plain name and carries the version; memcpy has
  // two (the 2.2.5 one old binaries bind to) and strlen is an IFUNC.
  Dl_info libc_info{};
  REQUIRE(dladdr(reinterpret_cast<void*>(&std::strlen), &libc_info));
  ElfSymbols libc = ElfSymbols::load(libc_info.dli_fname);
  const ElfFunction* strlen_fn = find(libc, "strlen");
  REQUIRE(strlen_fn);
  CHECK(strlen_fn->version == "GLIBC_2.2.5");
  CHECK(strlen_fn->ifunc);
  CHECK(matched(libc, "strlen@GLIBC_2.2.5") == std::vector<std::string>{"strlen"});
  CHECK(matched(libc, "memcpy") == std::vector<std::string>{"memcpy@@GLIBC_2.14", "memcpy@GLIBC_2.2.5"});
}
