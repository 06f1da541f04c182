// Function symbols of one ELF file, read with libelf, with the file offsets uprobes need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace perfbpf {

struct ElfFunction {
  std::string name;       // as in the symbol table (mangled for C++)
  std::string demangled;  // __cxa_demangle result, or name when not a mangled name
  uint64_t address = 0;   // st_value
  uint64_t size = 0;      // st_size
  uint64_t file_offset = 0;  // st_value mapped through the PT_LOAD segment that holds it
  bool dynamic = false;      // found only in .dynsym
  // Symbol version (.gnu.version_d, or "name@V" in .symtab), "" when unversioned. When one
  // object defines a name in several versions, name and demangled carry it ("vfn@V1",
  // "vfn@@V2"), so each version is its own row.
  std::string version;
  bool default_version = true;  // "name@@V", what new links bind to; false for "name@V"
  // STT_GNU_IFUNC: the address is the resolver, which runs once; the code callers run is the
  // implementation it returns (symbols/ifunc_resolver.h finds it).
  bool ifunc = false;
  std::vector<std::string> aliases;  // other names at the same address (libc: __clock_nanosleep)
};

class ElfSymbols {
 public:
  // Throws Error: file missing/unreadable, not an ELF file, no loadable segments.
  static ElfSymbols load(const std::string& path);

  const std::string& path() const { return path_; }
  bool has_symtab() const { return has_symtab_; }  // its own, or its debug file's
  bool has_dynsym() const { return has_dynsym_; }
  bool is_dyn() const { return is_dyn_; }  // ET_DYN: PIE executable or shared library
  const std::string& interpreter() const { return interpreter_; }  // PT_INTERP, "" if none
  // The separate debug file the full symbol table came from ("" if none was needed or found).
  const std::string& debug_file() const { return debug_file_; }
  // Where the local (non-exported) function names came from: ".symtab", the debug file's path,
  // ".gnu_debugdata" (MiniDebugInfo), ".gopclntab" (a stripped Go binary), "" when none.
  const std::string& symbol_source() const { return symbol_source_; }
  // A Go binary (.go.buildinfo, .gopclntab or a Go build-id note): its runtime moves goroutine
  // stacks, so return addresses must never be replaced (no uretprobes).
  bool is_go() const { return is_go_; }
  // Defined STT_FUNC / STT_GNU_IFUNC symbols with a non-zero address, one per address
  // (.symtab preferred over .dynsym; among aliases, a global name over a local one), sorted by name.
  const std::vector<ElfFunction>& functions() const { return functions_; }

 private:
  std::string path_;
  bool has_symtab_ = false;
  bool has_dynsym_ = false;
  bool is_dyn_ = false;
  std::string interpreter_;
  std::string debug_file_;
  std::string symbol_source_;
  bool is_go_ = false;
  std::vector<ElfFunction> functions_;
};

// "vfn" for "vfn@V1" and "vfn@@V2"; NAME itself when it carries no version.
std::string unversioned_name(const std::string& name);

// Functions whose mangled name, an alias, demangled name, or plain name (demangled without parameter
// list, template return type and gcc clone suffix) matches the glob (fnmatch, no flags):
// "Parser::parse" matches "Parser::parse(char const*) [clone .isra.0]", "scale" matches
// "scale.constprop.0". A thunk keeps its prefix ("non-virtual thunk to X::f"), and gcc's ".cold"
// fragments (not entry points) match only a glob that says ".cold". A versioned symbol also
// matches as "vfn" (every version), "vfn@V1" and, for the default version, "vfn@@V2".
std::vector<const ElfFunction*> match_functions(const ElfSymbols& symbols, const std::string& glob);

// Up to n function names nearest to the pattern (edit distance, case-insensitive), for errors.
std::vector<std::string> closest_function_names(const ElfSymbols& symbols, const std::string& pattern,
                                                size_t n = 5);

}  // namespace perfbpf
