// What kind of code an ELF file holds, as far as probing it safely goes: Go (whose runtime
// moves goroutines between threads and copies their stacks, so return addresses must not be
// touched) and C++ exception support (whose unwinder must not meet a replaced return address).
#pragma once

#include <string>
#include <vector>

namespace perfbpf {

// A Go binary or library: it has Go's build info or pclntab sections (.go.buildinfo,
// .note.go.buildid, .gopclntab). False when unreadable.
bool is_go_object(const std::string& path);

// Whether PATH names (defines or imports) any of NAMES in .dynsym or .symtab, or needs a
// library whose file name contains one of NEEDED (DT_NEEDED). False when unreadable.
bool elf_references(const std::string& path, const std::vector<std::string>& names,
                    const std::vector<std::string>& needed = {});

// Why a process made of OBJECTS (its executable, libraries, the files probed) can throw C++
// exceptions, or "" when none of them can: libstdc++ or libgcc_s among them or needed by one,
// or __cxa_throw / _Unwind_RaiseException referenced (a static C++ runtime). Only the
// probed files and the executable (FIRST_TO_READ of them, in order) are read; the others are
// judged by name.
std::string cxx_exceptions_reason(const std::vector<std::string>& objects, size_t first_to_read);

}  // namespace perfbpf
