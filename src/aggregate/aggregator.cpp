#include "aggregate/aggregator.h"

#include <algorithm>

namespace perfbpf {

Aggregator::Aggregator(size_t probe_count) : functions_(probe_count) {}

void Aggregator::add(const CallRecord& record) {
  received_++;
  if (record.probe_id >= functions_.size()) {
    unknown_probe_++;
    return;
  }
  PerFunction& f = functions_[record.probe_id];
  f.histogram.record(record.duration_ns);
  ThreadTotals& t = f.threads[record.tid];
  t.tgid = record.tgid;
  t.calls++;
  t.total_ns += record.duration_ns;
}

void Aggregator::fill(std::vector<FunctionProfile>& functions) const {
  for (size_t i = 0; i < functions_.size() && i < functions.size(); i++) {
    const PerFunction& f = functions_[i];
    FunctionProfile& out = functions[i];
    out.calls = f.histogram.count();
    out.latency = summarize(f.histogram);
    out.histogram = f.histogram.buckets();
    out.threads.clear();
    for (const auto& [tid, t] : f.threads) out.threads.push_back({tid, t.tgid, t.calls, t.total_ns});
    std::sort(out.threads.begin(), out.threads.end(), [](const ThreadCalls& a, const ThreadCalls& b) {
      return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.tid < b.tid;
    });
  }
}

}  // namespace perfbpf
