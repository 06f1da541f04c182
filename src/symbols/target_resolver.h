// Turns `-f [OBJECT:]PATTERN` specs into concrete probe targets: which file, which symbol,
// which file offset. Pure over its inputs (proc root, dependency list), so tests need no pid.
#pragma once

#include <string>
#include <vector>

#include "symbols/elf_symbols.h"

namespace perfbpf {

struct FunctionSpec {
  std::string object;   // "" = main executable; a path (contains '/') or a library name
  std::string pattern;  // glob over function names
  std::string text;     // the spec as the user wrote it
};

// Splits at the first single ':' ("libssl:SSL_read"); "::" belongs to C++ names
// ("ns::f" has no object; "/lib/libx.so:ns::f" has one). Throws Error::usage on an empty part.
FunctionSpec parse_function_spec(const std::string& text);

struct ResolveContext {
  std::string proc_root = "/proc";
  int pid = 0;                        // live process to resolve against, 0 when none
  std::string executable;             // main executable, as a path this process can open
  std::vector<std::string> libraries; // command mode: the loader's dependency list of executable
};

struct ProbeTarget {
  std::string attach_path;  // path this process opens to attach (may go through /proc/PID/root)
  std::string object;       // the object's path as the target sees it, for reports
  // The function as named. For an IFUNC, address, size and file_offset are those of the
  // implementation the target runs (ifunc is then false: the probe is on real code).
  ElfFunction function;
  std::string spec;         // which -f produced it
  std::string implementation;         // IFUNC: the implementation's name ("__strlen_evex"), else ""
  std::string implementation_source;  // IFUNC: "target" or "perfbpf" (symbols/ifunc_resolver.h)
};

// Resolves every spec, de-duplicating (same file offset in the same object). Throws Error:
// object not found (lists what is mapped / what the command depends on), nothing matched
// (closest names), stripped (which tables are missing), not an ELF file, the main executable
// is a script, an IFUNC named exactly whose implementation cannot be known. NOTES, when given,
// receives one line per function a glob matched but that was left out (an IFUNC that cannot be
// resolved) or that shares its code with another row.
std::vector<ProbeTarget> resolve_targets(const std::vector<FunctionSpec>& specs, const ResolveContext& ctx,
                                         std::vector<std::string>* notes = nullptr);

// "#!/bin/sh -e" -> "/bin/sh"; "#!/usr/bin/env python3" -> python3 found on PATH. "" when
// PATH is not a script.
std::string script_interpreter(const std::string& path);

// The shared objects EXECUTABLE would load, found the way the dynamic loader finds them (asks
// its PT_INTERP with --list, honouring LD_LIBRARY_PATH). Empty for static executables. For a
// script, those of its interpreter: the process the kernel starts runs the interpreter.
std::vector<std::string> loader_dependencies(const std::string& executable);

}  // namespace perfbpf
