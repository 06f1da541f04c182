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
#include <string>
#include <utility>
#include <vector>

namespace perfbpf {

class Symbolizer;
struct MapEntry;

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

// What the unwinder keeps at most. A Dwfl per process holds its modules' files (each binary
// opened and mapped once for all processes that map it: only the pages of CFI read become
// resident) and their parsed CFI: the least recently used
// process goes when any bound is passed, and everything goes with the unwinder (a session's
// end, an agent's period).
struct UnwinderLimits {
  size_t max_processes = 256;  // Dwfl sessions
  size_t max_modules = 256;    // files reported to them, all processes together
  // Separate debug files read for .debug_frame (libdwfl loads and decompresses a debug file's
  // whole DWARF to read it, in each process's Dwfl again): only files that have one count.
  size_t max_debug_files = 16;
};

class StackUnwinder {
 public:
  // MAX_FRAMES bounds a walk (a stack deeper than that is truncated).
  explicit StackUnwinder(Symbolizer& symbols, size_t max_frames = 127, UnwinderLimits limits = {});
  ~StackUnwinder();
  StackUnwinder(const StackUnwinder&) = delete;
  StackUnwinder& operator=(const StackUnwinder&) = delete;

  UnwoundStack unwind(const StackCopy& copy);
  // Drops every process's Dwfl, its parsed CFI and mapped files: once the last sample is
  // unwound, so that naming the frames (symbol tables, DWARF for source lines) does not add
  // to them at the session's peak. A later unwind() starts the process again.
  void release();

  struct Stats {
    uint64_t stacks = 0, complete = 0, truncated = 0, broken = 0;
    uint64_t processes_cached = 0;  // Dwfl sessions alive now
    uint64_t modules_open = 0;      // files reported to them now
    uint64_t debug_files = 0;       // separate debug files taken for .debug_frame now
    uint64_t debug_files_refused = 0;  // debug files looked at and not taken (no .debug_frame, or past the bound)
    uint64_t evicted = 0;           // processes dropped to stay within the limits
  };
  Stats stats() const;

  struct Process;     // one process's Dwfl (public for the C callbacks)
  struct Sample;      // the stack being unwound
  struct SharedFile;  // one mapped binary, shared by the Dwfls of every process mapping it

 private:
  Process* process(uint32_t tgid, uint64_t pc);
  void evict(uint32_t keep);  // least recently used processes, past the cache's bounds
  std::string module_file(uint32_t tgid, const MapEntry& m);
  std::shared_ptr<SharedFile> shared_file(const std::string& file);
  Symbolizer& symbols_;
  size_t max_frames_;
  UnwinderLimits limits_;
  std::map<uint32_t, std::unique_ptr<Process>> processes_;
  // Open binaries by (device, inode), alive while a cached process's Dwfl reports them.
  std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<SharedFile>> files_;
  uint64_t uses_ = 0;
  size_t debug_taken_ = 0, debug_refused_ = 0;  // separate debug files (find_debug_frame)
  Stats stats_;
};

}  // namespace perfbpf
