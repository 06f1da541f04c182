// Symbols and file offsets from binaries the build makes: the offsets must land on the very
// bytes the loaded program runs, for PIE, non-PIE and shared objects.
#include <dlfcn.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "perfbpf/error.h"
#include "process.h"
#include "symbols/elf_symbols.h"

using namespace perfbpf;

namespace {

std::string fixture(const std::string& name) { return test::workload("symbols/" + name); }

const ElfFunction* find(const ElfSymbols& s, const std::string& name) {
  for (const auto& f : s.functions())
    if (f.name == name) return &f;
  return nullptr;
}

std::string hex(const unsigned char* bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; i++) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

std::string file_bytes_hex(const std::string& path, uint64_t offset, size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<unsigned char> bytes(n);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
  return hex(bytes.data(), static_cast<size_t>(in.gcount()));
}

std::vector<std::string> names(const std::vector<const ElfFunction*>& fs) {
  std::vector<std::string> out;
  for (const auto* f : fs) out.push_back(f->demangled);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("file offsets hit the code the running program executes", "[symbols]") {
  struct Case {
    const char* exe;
    bool dyn, interp;
  };
  for (Case c : {Case{"sym_pie", true, true}, Case{"sym_nopie", false, true}, Case{"sym_static", false, false}}) {
    const char* exe = c.exe;
    INFO(exe);
    ElfSymbols s = ElfSymbols::load(fixture(exe));
    CHECK(s.is_dyn() == c.dyn);
    CHECK(s.has_symtab());
    CHECK(s.interpreter().empty() != c.interp);
    const ElfFunction* alpha = find(s, "alpha");
    REQUIRE(alpha);
    // The program prints alpha's first 16 bytes as mapped in its own memory.
    test::Finished run = test::run({fixture(exe), "code"});
    REQUIRE(run.exit_code == 0);
    CHECK(file_bytes_hex(fixture(exe), alpha->file_offset, 16) + "\n" == run.out);
  }
  // Non-PIE code is linked at a fixed address far above its file offset.
  ElfSymbols nopie = ElfSymbols::load(fixture("sym_nopie"));
  CHECK(find(nopie, "alpha")->address >= 0x400000);
  CHECK(find(nopie, "alpha")->file_offset < 0x400000);
}

TEST_CASE("shared library offsets match the code dlopen maps", "[symbols]") {
  std::string lib = fixture("libsym_lib.so");
  ElfSymbols s = ElfSymbols::load(lib);
  CHECK(s.is_dyn());
  CHECK(s.interpreter().empty());
  void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle);
  for (const char* name : {"sym_lib_add", "sym_lib_mul"}) {
    const ElfFunction* f = find(s, name);
    REQUIRE(f);
    auto* code = static_cast<const unsigned char*>(dlsym(handle, name));
    REQUIRE(code);
    CHECK(file_bytes_hex(lib, f->file_offset, 16) == hex(code, 16));
  }
  dlclose(handle);
  // A hidden function has no .dynsym entry but is still in .symtab.
  REQUIRE(find(s, "sym_lib_hidden"));
  CHECK_FALSE(find(s, "sym_lib_hidden")->dynamic);
}

TEST_CASE("globs match C names", "[symbols]") {
  ElfSymbols s = ElfSymbols::load(fixture("sym_pie"));
  CHECK(names(match_functions(s, "beta_*")) == std::vector<std::string>{"beta_one", "beta_two"});
  CHECK(names(match_functions(s, "alpha")) == std::vector<std::string>{"alpha"});
  CHECK(names(match_functions(s, "local_helper")) == std::vector<std::string>{"local_helper"});
  CHECK(match_functions(s, "alph").empty());  // a glob, not a substring search
}

TEST_CASE("C++ names match mangled, demangled and without parameters", "[symbols]") {
  ElfSymbols s = ElfSymbols::load(fixture("sym_cpp"));
  CHECK(names(match_functions(s, "shapes::Circle::area")) == std::vector<std::string>{"shapes::Circle::area() const"});
  CHECK(names(match_functions(s, "shapes::scale")) ==
        std::vector<std::string>{"shapes::scale(double)", "shapes::scale(int)"});
  CHECK(names(match_functions(s, "shapes::scale(int)")) == std::vector<std::string>{"shapes::scale(int)"});
  CHECK(names(match_functions(s, "_ZN6shapes5scaleEi")) == std::vector<std::string>{"shapes::scale(int)"});
  auto templates = names(match_functions(s, "shapes::twice*"));
  CHECK(templates == std::vector<std::string>{"double shapes::twice<double>(double)", "int shapes::twice<int>(int)"});
  auto all = match_functions(s, "shapes::*");
  CHECK(all.size() >= 7);  // constructor, area, grow, two scales, two twice
}

TEST_CASE("C++ names whose brackets and spaces are not a parameter list", "[symbols]") {
  ElfSymbols s = ElfSymbols::load(fixture("sym_cpp"));
  auto matched = [&](const std::string& glob) { return names(match_functions(s, glob)); };
  using V = std::vector<std::string>;
  CHECK(matched("shapes::(anonymous namespace)::hidden_helper") == V{"shapes::(anonymous namespace)::hidden_helper(int)"});
  CHECK(matched("shapes::Flag::operator bool") == V{"shapes::Flag::operator bool() const"});
  CHECK(matched("shapes::Flag::operator<") == V{"shapes::Flag::operator<(shapes::Flag const&) const"});
  CHECK(matched("shapes::Flag::operator()") == V{"shapes::Flag::operator()(int, int) const"});
  CHECK(matched("shapes::operator==<int>") ==
        V{"bool shapes::operator==<int>(shapes::Box<int> const&, shapes::Box<int> const&)"});
  CHECK(matched("main::{lambda(int, int)#1}::operator()") == V{"main::{lambda(int, int)#1}::operator()(int, int) const"});
  // The thunk jumps into Both::kind: probing both would count a call through Base2* twice.
  CHECK(matched("shapes::Both::kind") == V{"shapes::Both::kind()"});
  CHECK(matched("*shapes::Both::kind") == V{"non-virtual thunk to shapes::Both::kind()", "shapes::Both::kind()"});

  // The names an error suggests are the ones a user can type back.
  auto all = closest_function_names(s, "x", 1000);
  for (const char* name : {"shapes::(anonymous namespace)::hidden_helper", "shapes::Flag::operator bool",
                           "shapes::operator==<int>", "main::{lambda(int, int)#1}::operator()"}) {
    INFO(name);
    CHECK(std::find(all.begin(), all.end(), name) != all.end());
  }
  CHECK(std::find(all.begin(), all.end(), "bool") == all.end());
}

TEST_CASE("gcc's copies: constant-propagated clones match, cold fragments do not", "[symbols]") {
  ElfSymbols s = ElfSymbols::load(fixture("sym_clones"));
  // The fixture's premise: gcc made these copies (if not, the checks below test nothing).
  REQUIRE(find(s, "scaled.constprop.0"));
  REQUIRE(find(s, "checked.cold"));
  REQUIRE(find(s, "_ZN6shapes7checkedEi.cold"));
  using V = std::vector<std::string>;
  CHECK(names(match_functions(s, "scaled")) == V{"scaled.constprop.0"});
  // "checked.cold" is a block of checked moved away, jumped to and never called.
  CHECK(names(match_functions(s, "checked")) == V{"checked"});
  CHECK(names(match_functions(s, "shapes::checked")) == V{"shapes::checked(int)"});
  CHECK(names(match_functions(s, "*checked")) == V{"checked", "cxx_checked", "shapes::checked(int)"});
  // Asked for by name, a cold fragment is still found.
  CHECK(names(match_functions(s, "checked.cold")) == V{"checked.cold"});
  CHECK(names(match_functions(s, "*.cold")) == V{"checked.cold", "shapes::checked(int) [clone .cold]"});
  for (const auto& name : closest_function_names(s, "checkd", 100)) CHECK(name.find("cold") == std::string::npos);
}

TEST_CASE("gcc's clones are found under the function's own name", "[symbols]") {
  ElfSymbols s = ElfSymbols::load(fixture("sym_cpp_o2"));
  auto area = match_functions(s, "shapes::Circle::area");
  REQUIRE(area.size() == 1);
  CHECK_THAT(area[0]->demangled, Catch::StartsWith("shapes::Circle::area() const"));
}

TEST_CASE("closest names for a typo", "[symbols]") {
  ElfSymbols s = ElfSymbols::load(fixture("sym_pie"));
  auto closest = closest_function_names(s, "beta_too", 3);
  REQUIRE_FALSE(closest.empty());
  CHECK(closest[0] == "beta_two");
  ElfSymbols cpp = ElfSymbols::load(fixture("sym_cpp"));
  CHECK(closest_function_names(cpp, "shapes::Circle::aera", 1) == std::vector<std::string>{"shapes::Circle::area"});
}

TEST_CASE("stripped binaries: which tables are left", "[symbols]") {
  ElfSymbols stripped = ElfSymbols::load(fixture("sym_stripped"));
  CHECK_FALSE(stripped.has_symtab());
  CHECK(stripped.has_dynsym());
  CHECK(find(stripped, "alpha") == nullptr);

  ElfSymbols exported = ElfSymbols::load(fixture("sym_exported_stripped"));
  CHECK_FALSE(exported.has_symtab());
  const ElfFunction* alpha = find(exported, "alpha");
  REQUIRE(alpha);
  CHECK(alpha->dynamic);
  CHECK(find(exported, "local_helper") == nullptr);  // static: never exported

  // A static executable keeps no .dynsym: stripped, nothing is left to name.
  ElfSymbols bare = ElfSymbols::load(fixture("sym_static_stripped"));
  CHECK_FALSE(bare.has_symtab());
  CHECK_FALSE(bare.has_dynsym());
  CHECK(bare.functions().empty());
  CHECK_FALSE(bare.is_dyn());
  CHECK(bare.interpreter().empty());
}

TEST_CASE("a stripped binary is symbolized from its separate debug file", "[symbols]") {
  ElfSymbols full = ElfSymbols::load(fixture("sym_pie"));
  ElfSymbols split = ElfSymbols::load(fixture("sym_debuglinked"));
  CHECK(full.debug_file().empty());
  CHECK_THAT(split.debug_file(), Catch::EndsWith("/sym_pie.debug"));
  CHECK(split.has_symtab());
  for (const char* name : {"alpha", "local_helper", "beta_two"}) {
    INFO(name);
    const ElfFunction* from_debug = find(split, name);
    REQUIRE(from_debug);
    CHECK(from_debug->file_offset == find(full, name)->file_offset);
    CHECK(from_debug->size == find(full, name)->size);
  }
  // A debug file whose CRC does not match the link is not used.
  std::string dir = std::filesystem::path(test::temp_path("x")).parent_path();
  std::filesystem::copy_file(fixture("sym_debuglinked"), dir + "/sym_debuglinked");
  std::ofstream(dir + "/sym_pie.debug") << "not the debug file";
  CHECK(ElfSymbols::load(dir + "/sym_debuglinked").debug_file().empty());
}

TEST_CASE("not an ELF file, or no file at all", "[symbols]") {
  REQUIRE_THROWS_WITH(ElfSymbols::load(std::string(PERFBPF_TEST_DATA) + "/not-an-elf.txt"),
                      Catch::Contains("is not an ELF file"));
  REQUIRE_THROWS_WITH(ElfSymbols::load("/nonexistent/binary"), Catch::Contains("cannot open /nonexistent/binary"));
}
