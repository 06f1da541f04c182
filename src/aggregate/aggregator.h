// Folds completed calls into per-function histograms and per-thread totals. Pure: it sees
// decoded records only, so it is tested and benchmarked without BPF. Not thread-safe; the
// session's single poll loop owns it.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include <memory>

#include "aggregate/call_split.h"
#include "perfbpf/histogram.h"
#include "perfbpf/profile.h"

namespace perfbpf {

// One completed call, decoded from the BPF ring buffer (see bpf/funclat.h for field meaning).
struct CallRecord {
  uint64_t start_ns = 0;
  uint64_t duration_ns = 0;
  uint64_t nested_cost_ns = 0;
  uint32_t probe_id = 0;
  uint32_t tgid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;
  uint32_t depth = 0;
  uint32_t nested_calls = 0;
  bool has_split = false;  // --decompose and a thread's call (goroutines' calls are not split)
  CallSplit split;
};

// When a thread made its probed calls: from the first one's start to the last one's return.
struct ThreadSpan {
  uint32_t tid = 0, tgid = 0;
  uint64_t first_ns = 0, last_ns = 0;  // CLOCK_MONOTONIC
  uint64_t calls = 0;                  // over every function
  uint64_t cpu_ns = 0;  // its CPU time during the session, when known (filled by the session)
};

// Each call is recorded twice: as measured (raw) and corrected, i.e. less the probe time
// inside its interval (BIAS_NS of its probe) and the calibrated cost of every probed call
// nested in it (CallRecord::nested_cost_ns), never below zero.
class Aggregator {
 public:
  explicit Aggregator(size_t probe_count, std::vector<uint64_t> bias_ns = {});

  void add(const CallRecord& record);  // the hot path: must sustain >= 1M records/s on one core
  // RECORD's duration as add() records it in the corrected histogram (0 for an unknown probe).
  uint64_t corrected_ns(const CallRecord& record) const;

  size_t probe_count() const { return functions_.size(); }
  uint64_t received() const { return received_; }
  // Records naming a probe id outside [0, probe_count): a decoder/ABI bug, counted not dropped silently.
  uint64_t unknown_probe() const { return unknown_probe_; }
  const LatencyHistogram& histogram(size_t probe) const { return functions_.at(probe).histogram; }
  const LatencyHistogram& raw_histogram(size_t probe) const { return functions_.at(probe).raw; }

  // Fills calls, latency, latency_raw, histogram and threads[] of functions[i] from probe i;
  // functions.size() must equal probe_count(). Other fields are left as they are.
  void fill(std::vector<FunctionProfile>& functions) const;

  // Closes a monitoring interval ending T_S seconds into the session: each function's calls
  // since the last close become one FunctionInterval (from the cumulative histograms, so the
  // hot path pays nothing). Past MAX_INTERVALS, adjacent pairs are merged.
  void close_interval(double t_s, size_t max_intervals = 3600);
  // Each function's interval closed last (empty intervals before the first close).
  std::vector<FunctionInterval> last_intervals() const;
  // Every thread that made a probed call, over all functions, by tid.
  std::vector<ThreadSpan> thread_spans() const;
  // --decompose: the split calls of PROBE (null when none).
  const SplitBook* split_book(size_t probe) const { return probe < functions_.size() ? functions_[probe].split.get() : nullptr; }

 private:
  struct ThreadTotals {
    uint32_t tgid = 0;
    uint64_t calls = 0;
    uint64_t total_ns = 0;
    uint64_t first_start = UINT64_MAX, last_end = 0;
  };
  struct PerFunction {
    uint64_t bias_ns = 0;
    LatencyHistogram histogram;  // corrected
    LatencyHistogram raw;
    std::unordered_map<uint32_t, ThreadTotals> threads;  // key: tid
    LatencyHistogram at_last_interval;  // histogram when the last interval closed
    std::vector<FunctionInterval> series;
    std::unique_ptr<SplitBook> split;  // made at the first split call: most sessions have none
  };
  std::vector<PerFunction> functions_;
  uint64_t received_ = 0;
  uint64_t unknown_probe_ = 0;
};

}  // namespace perfbpf
