#include "symbols/probe_site.h"

#include <unistd.h>

#include <cstring>

#include "util/safe_path.h"

namespace perfbpf {
namespace {

// nopl disp8(%rax,%rax,1): gcc and the kernel use disp8 = 0, clang's patchable entry uses 8.
constexpr uint8_t kNop5Prefix[] = {0x0f, 0x1f, 0x44, 0x00};
constexpr size_t kNop5Size = 5;
constexpr uint8_t kEndbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
constexpr size_t kBytesNeeded = sizeof(kEndbr64) + kNop5Size;

bool is_nop5(const uint8_t* code, size_t size) {
  return size >= kNop5Size && std::memcmp(code, kNop5Prefix, sizeof(kNop5Prefix)) == 0;
}

// Instructions arch/x86/kernel/uprobes.c emulates instead of single-stepping
// (branch_setup_xol_ops, push_setup_xol_ops): push reg, nop, call/jmp rel, jcc.
bool is_emulated(const uint8_t* code, size_t size) {
  if (size < 1) return false;
  uint8_t op = code[0];
  if (op == 0x41 && size >= 2) op = code[1] >= 0x50 && code[1] <= 0x57 ? code[1] : 0x00;  // push r8-r15
  if (op >= 0x50 && op <= 0x57) return true;                                                  // push reg
  if (op == 0x90 || op == 0xe8 || op == 0xe9 || op == 0xeb) return true;
  if (op >= 0x70 && op <= 0x7f) return true;  // jcc rel8
  return op == 0x0f && size >= 2 && code[1] >= 0x80 && code[1] <= 0x8f;  // jcc rel32
}

}  // namespace

const char* probe_site_name(ProbeSiteKind kind) {
  switch (kind) {
    case ProbeSiteKind::Optimized: return "optimized";
    case ProbeSiteKind::Emulated: return "emulated";
    case ProbeSiteKind::SingleStepped: return "single-stepped";
  }
  return "single-stepped";
}

ProbeSite classify_probe_site(const uint8_t* code, size_t size) {
#if defined(__x86_64__)
  if (is_nop5(code, size)) return {ProbeSiteKind::Optimized, 0};
  if (is_emulated(code, size)) return {ProbeSiteKind::Emulated, 0};
  // The kernel single-steps endbr64, but every entry runs through it to the next
  // instruction: probing that one instead (+4) is equally exact and often far cheaper.
  if (size >= sizeof(kEndbr64) && std::memcmp(code, kEndbr64, sizeof(kEndbr64)) == 0) {
    const uint8_t* next = code + sizeof(kEndbr64);
    size_t rest = size - sizeof(kEndbr64);
    if (is_nop5(next, rest)) return {ProbeSiteKind::Optimized, sizeof(kEndbr64)};
    if (is_emulated(next, rest)) return {ProbeSiteKind::Emulated, sizeof(kEndbr64)};
  }
#else
  (void)code;
  (void)size;
#endif
  return {};
}

ProbeSite probe_site_in_file(const std::string& path, uint64_t file_offset) {
  UniqueFd fd(open_regular_file(path));
  uint8_t code[kBytesNeeded] = {};
  ssize_t n = fd ? pread(fd.get(), code, sizeof code, static_cast<off_t>(file_offset)) : -1;
  if (n <= 0) return {};
  return classify_probe_site(code, static_cast<size_t>(n));
}

}  // namespace perfbpf
