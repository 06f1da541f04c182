// User stacks from a sample's registers and a copy of the top of its stack (bpf/profile.h
// stack_sample), unwound with the binaries' call-frame information (.eh_frame, .debug_frame)
// by elfutils' libdwfl, and with frame pointers where a function has no CFI: what perf's
// --call-graph dwarf does, but with one cached Dwfl per process rather than one per sample.
// The process's mappings come from the Symbolizer (read at its first sample, re-read when a
// sample lands outside them); its binaries are read through the files the Symbolizer holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

namespace perfbpf {

class Symbolizer;

struct UnwoundStack {
  std::vector<uint64_t> frames;  // innermost first: the sampled pc, then return addresses
  // How the walk ended: at the outermost frame (_start, a thread's start, or CFI that says so),
  // at the end of the copied stack (truncated), or at a frame nothing could unwind (broken).
  enum class End { Complete, Truncated, Broken } end = End::Broken;
};

struct UserRegs {
  static constexpr int kCount = 17;  // x86-64 DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip
  uint64_t r[kCount];
};

// A sample's user registers and the copy of its stack: STACK holds SIZE bytes of the thread's
// memory from user address START; CUT: the stack went on above them (the copy stopped at its
// limit, not at the stack's top).
struct StackCopy {
  uint32_t tgid = 0, tid = 0;
  const UserRegs* regs = nullptr;
  const uint8_t* stack = nullptr;
  size_t size = 0;
  uint64_t start = 0;
  bool cut = false;
};

class StackUnwinder {
 public:
  // MAX_FRAMES bounds a walk (a stack deeper than that is truncated).
  explicit StackUnwinder(Symbolizer& symbols, size_t max_frames = 127);
  ~StackUnwinder();
  StackUnwinder(const StackUnwinder&) = delete;
  StackUnwinder& operator=(const StackUnwinder&) = delete;

  UnwoundStack unwind(const StackCopy& copy);

  struct Stats {
    uint64_t stacks = 0, complete = 0, truncated = 0, broken = 0;
    uint64_t processes_cached = 0;  // Dwfl sessions alive now
  };
  Stats stats() const;

  struct Process;     // one process's Dwfl (public for the C callbacks)
  struct Sample;      // the stack being unwound

 private:
  Process* process(uint32_t tgid, uint64_t pc);
  void evict(uint32_t keep);  // least recently used processes, past the cache's bounds
  Symbolizer& symbols_;
  size_t max_frames_;
  std::map<uint32_t, std::unique_ptr<Process>> processes_;
  uint64_t uses_ = 0;
  Stats stats_;
};

}  // namespace perfbpf
