// Where exactly to put a function's entry probe, and what kind of site that is. The kind
// decides what a hit costs on x86-64 (measured on our Linux 6.18 VMs, entry + return):
//   optimized       a 5-byte NOP: the kernel turns the trap into a call, ~1.4 us
//   emulated        push/jmp/call/jcc/nop: the kernel emulates it, ~1.6 us
//   single-stepped  anything else (endbr64 too): int3 + out-of-line single-step, ~10 us
// clang puts a 5-byte NOP at function entry with -fpatchable-function-entry=5 (gcc five
// one-byte NOPs, which are emulated), after endbr64 with -fcf-protection. Behind an endbr64,
// perfbpf probes the next instruction (+4) when that makes the site cheaper.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace perfbpf {

enum class ProbeSiteKind { Optimized, Emulated, SingleStepped };
inline constexpr ProbeSiteKind kAllProbeSiteKinds[] = {ProbeSiteKind::Optimized, ProbeSiteKind::Emulated,
                                                       ProbeSiteKind::SingleStepped};

struct ProbeSite {
  ProbeSiteKind kind = ProbeSiteKind::SingleStepped;
  uint64_t offset_in_function = 0;  // add to the symbol's file offset
};

const char* probe_site_name(ProbeSiteKind kind);  // "optimized", "emulated", "single-stepped"

// Classifies a function from its first bytes (9 are enough).
ProbeSite classify_probe_site(const uint8_t* code, size_t size);
// Reads the bytes at FILE_OFFSET of PATH; an unreadable file counts as single-stepped.
ProbeSite probe_site_in_file(const std::string& path, uint64_t file_offset);

}  // namespace perfbpf
