// --decompose: each function's split calls folded into per-part distributions (on CPU, run
// queue, I/O, lock, sleep), and its slowest calls kept whole in bounded memory, for the p99
// band and the slow-call exemplars. Pure: fed decoded records, tested without BPF.
#pragma once

#include <cstdint>
#include <vector>

#include "perfbpf/histogram.h"
#include "perfbpf/profile.h"

namespace perfbpf {

struct CallRecord;

// Where a call's time went (bpf/funclat.h struct funclat_split), ns. On-CPU time is the rest
// of the call's probe-corrected duration.
struct CallSplit {
  uint64_t runqueue = 0, io = 0, lock = 0, sleep = 0;
  uint64_t wait_ns = 0;                        // its longest blocked wait
  int32_t wait_kstack = -1, wait_ustack = -1;  // that wait's stacks (FuncLatSession::wait_stack)
  uint32_t wait_kind = 0;                      // enum funclat_wait: 0 io, 1 lock, 2 sleep
  uint32_t holder_tid = 0;                     // a lock wait's holder, 0: unknown
  uint32_t holder_probe = UINT32_MAX;          // the holder's innermost open probed call
  uint32_t flags = 0;                          // FUNCLAT_SPLIT_*
  // A lock wait ended by a futex wake on its word from a thread of the same process, in its own
  // syscall: that thread (0: none), its user stack then (wait_stack id, -1: none) and its
  // registers and stack top (FuncLatSession::user_copy, 0: none).
  uint32_t waker_tid = 0;
  int32_t waker_ustack = -1;
  uint32_t waker_copy = 0;
  uint32_t wait_copy = 0;  // a lock wait: the waiter's registers and stack top, 0: none
};

inline constexpr uint32_t kSplitHolderPi = 1, kSplitHolderOwner = 2, kSplitMissed = 4;  // = bpf/funclat.h
const char* wait_kind_name(uint32_t kind);  // "io", "lock", "sleep"

class SplitBook {
 public:
  static constexpr size_t kKept = 1024;  // slowest calls kept whole: the p99 band of up to 102 400 calls

  // A call of corrected duration DURATION_NS whose split is RECORD.split.
  void add(const CallRecord& record, uint64_t duration_ns);
  // decomposition, and decomposition_p99 over the slowest ceil(calls / 100) (at most kKept).
  void fill(FunctionProfile& out) const;

  struct Kept {
    uint64_t duration_ns = 0;  // corrected
    uint64_t start_ns = 0;
    uint32_t tgid = 0, tid = 0;
    CallSplit split;
    uint64_t on_cpu() const;
  };
  std::vector<Kept> slowest(size_t n) const;  // slowest first

 private:
  enum Part { kOnCpu, kRunqueue, kIo, kLock, kSleep, kParts };
  LatencyHistogram parts_[kParts];
  uint64_t calls_ = 0, incomplete_ = 0;
  std::vector<Kept> kept_;  // min-heap by duration: the slowest kKept calls
};

// The slow call's report shape, stacks left empty (the session symbolizes them).
SlowCall slow_call(const SplitBook::Kept& k, uint64_t session_start_ns);

}  // namespace perfbpf
