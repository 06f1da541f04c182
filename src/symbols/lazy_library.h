// Debian libraries that only some sessions call, opened with dlopen the first time one is
// called instead of being linked: a linked library is mapped and relocated at every start and its
// touched pages stay resident. elfutils' libdw (with liblzma and libbz2, which it needs) is
// ~350 KiB of a function-timing session's peak RSS, and such a session reads no DWARF until its
// report: libdw serves source lines (symbols/dwarf_sources) and DWARF unwinding
// (symbols/stack_unwinder); liblzma serves MiniDebugInfo (symbols/xz_decode).
//
// Opened by soname through the dynamic loader's own search, as a NEEDED entry would be (no path
// of ours, nothing from the working directory), RTLD_LOCAL, and kept for the process: the
// pointers are used from libdw's own callbacks and from cached Dwfl sessions.
#pragma once

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <lzma.h>

namespace perfbpf {

// X(name) for each libdw function perfbpf calls.
#define PERFBPF_LIBDW_FUNCTIONS(X)                                                                          \
  X(dwarf_addrdie) X(dwarf_begin_elf) X(dwarf_decl_file) X(dwarf_decl_line) X(dwarf_diename)                \
  X(dwarf_dieoffset) X(dwarf_end) X(dwarf_get_units) X(dwarf_getaranges) X(dwarf_getscopes)                 \
  X(dwarf_getscopes_die) X(dwarf_getsrclines) X(dwarf_tag) X(dwfl_attach_state) X(dwfl_begin)               \
  X(dwfl_end) X(dwfl_frame_pc) X(dwfl_getthread_frames) X(dwfl_module_build_id) X(dwfl_module_info)         \
  X(dwfl_offline_section_address) X(dwfl_report_begin_add) X(dwfl_report_end) X(dwfl_report_module)         \
  X(dwfl_thread_state_registers)

#define PERFBPF_LZMA_FUNCTIONS(X) X(lzma_stream_decoder) X(lzma_code) X(lzma_end)

#define PERFBPF_LAZY_MEMBER(name) decltype(&::name) name = nullptr;
struct LibdwApi {
  PERFBPF_LIBDW_FUNCTIONS(PERFBPF_LAZY_MEMBER)
};
struct LzmaApi {
  PERFBPF_LZMA_FUNCTIONS(PERFBPF_LAZY_MEMBER)
};
#undef PERFBPF_LAZY_MEMBER

// The library, opened on the first call (thread-safe) and kept. Throws Error naming the library
// and dlerror() when it cannot be opened or lacks a function (a broken install: the package is a
// dependency); a later call tries again.
const LibdwApi& libdw();
const LzmaApi& liblzma();

}  // namespace perfbpf
