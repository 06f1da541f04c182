#include "aggregate/call_split.h"

#include <algorithm>
#include <functional>

#include "aggregate/aggregator.h"

namespace perfbpf {
namespace {

bool faster(const SplitBook::Kept& a, const SplitBook::Kept& b) { return a.duration_ns > b.duration_ns; }

SplitPart part_of(const LatencyHistogram& h) {
  return {h.mean(), h.quantile(0.5), h.quantile(0.99), h.sum()};
}

}  // namespace

const char* wait_kind_name(uint32_t kind) {
  switch (kind) {
    case 0: return "io";
    case 1: return "lock";
    default: return "sleep";
  }
}

uint64_t SplitBook::Kept::on_cpu() const {
  const uint64_t off = split.runqueue + split.io + split.lock + split.sleep;
  return duration_ns > off ? duration_ns - off : 0;
}

void SplitBook::add(const CallRecord& record, uint64_t duration_ns) {
  Kept k{duration_ns, record.start_ns, record.tgid, record.tid, record.split};
  calls_++;
  if (k.split.flags & kSplitMissed) incomplete_++;
  parts_[kOnCpu].record(k.on_cpu());
  parts_[kRunqueue].record(k.split.runqueue);
  parts_[kIo].record(k.split.io);
  parts_[kLock].record(k.split.lock);
  parts_[kSleep].record(k.split.sleep);
  if (kept_.size() < kKept) {
    kept_.push_back(k);
    std::push_heap(kept_.begin(), kept_.end(), faster);
  } else if (duration_ns > kept_.front().duration_ns) {
    std::pop_heap(kept_.begin(), kept_.end(), faster);
    kept_.back() = k;
    std::push_heap(kept_.begin(), kept_.end(), faster);
  }
}

std::vector<SplitBook::Kept> SplitBook::slowest(size_t n) const {
  std::vector<Kept> sorted = kept_;
  std::sort(sorted.begin(), sorted.end(), faster);
  if (sorted.size() > n) sorted.resize(n);
  return sorted;
}

void SplitBook::fill(FunctionProfile& out) const {
  CallDecomposition& all = out.decomposition;
  all.calls = calls_;
  all.incomplete = incomplete_;
  all.on_cpu = part_of(parts_[kOnCpu]);
  all.runqueue = part_of(parts_[kRunqueue]);
  all.io = part_of(parts_[kIo]);
  all.lock = part_of(parts_[kLock]);
  all.sleep = part_of(parts_[kSleep]);
  // The p99 band: the calls at or above the 99th percentile of duration.
  std::vector<Kept> band = slowest(std::min<uint64_t>(kKept, (calls_ + 99) / 100));
  LatencyHistogram parts[kParts];
  CallDecomposition& p99 = out.decomposition_p99;
  p99 = {};
  for (const Kept& k : band) {
    p99.calls++;
    if (k.split.flags & kSplitMissed) p99.incomplete++;
    parts[kOnCpu].record(k.on_cpu());
    parts[kRunqueue].record(k.split.runqueue);
    parts[kIo].record(k.split.io);
    parts[kLock].record(k.split.lock);
    parts[kSleep].record(k.split.sleep);
  }
  p99.on_cpu = part_of(parts[kOnCpu]);
  p99.runqueue = part_of(parts[kRunqueue]);
  p99.io = part_of(parts[kIo]);
  p99.lock = part_of(parts[kLock]);
  p99.sleep = part_of(parts[kSleep]);
}

SlowCall slow_call(const SplitBook::Kept& k, uint64_t session_start_ns) {
  SlowCall s;
  s.start_ns = k.start_ns;
  s.t_s = k.start_ns > session_start_ns ? static_cast<double>(k.start_ns - session_start_ns) / 1e9 : 0;
  s.tgid = k.tgid;
  s.tid = k.tid;
  s.duration_ns = k.duration_ns;
  s.on_cpu = k.on_cpu();
  s.runqueue = k.split.runqueue;
  s.io = k.split.io;
  s.lock = k.split.lock;
  s.sleep = k.split.sleep;
  s.incomplete = k.split.flags & kSplitMissed;
  if (k.split.wait_ns) {
    s.wait_kind = wait_kind_name(k.split.wait_kind);
    s.wait_ns = k.split.wait_ns;
  }
  if (k.split.wait_kind == 1 && k.split.holder_tid) {
    s.holder_tid = k.split.holder_tid;
    s.holder_source = (k.split.flags & kSplitHolderPi) ? "pi-futex" : "mutex-owner";
  }
  return s;
}

}  // namespace perfbpf
