#include "aggregate/aggregator.h"

#include <algorithm>

namespace perfbpf {

Aggregator::Aggregator(size_t probe_count, std::vector<uint64_t> bias_ns) : functions_(probe_count) {
  for (size_t i = 0; i < probe_count && i < bias_ns.size(); i++) functions_[i].bias_ns = bias_ns[i];
}

void Aggregator::add(const CallRecord& record) {
  received_++;
  if (record.probe_id >= functions_.size()) {
    unknown_probe_++;
    return;
  }
  PerFunction& f = functions_[record.probe_id];
  uint64_t probe_time = f.bias_ns + record.nested_cost_ns;
  uint64_t corrected = record.duration_ns > probe_time ? record.duration_ns - probe_time : 0;
  f.raw.record(record.duration_ns);
  f.histogram.record(corrected);
  ThreadTotals& t = f.threads[record.tid];
  t.tgid = record.tgid;
  t.calls++;
  t.total_ns += corrected;
}

void Aggregator::fill(std::vector<FunctionProfile>& functions) const {
  for (size_t i = 0; i < functions_.size() && i < functions.size(); i++) {
    const PerFunction& f = functions_[i];
    FunctionProfile& out = functions[i];
    out.calls = f.histogram.count();
    out.latency = summarize(f.histogram);
    out.latency_raw = summarize(f.raw);
    out.histogram = f.histogram.buckets();
    out.threads.clear();
    for (const auto& [tid, t] : f.threads) out.threads.push_back({tid, t.tgid, t.calls, t.total_ns});
    std::sort(out.threads.begin(), out.threads.end(), [](const ThreadCalls& a, const ThreadCalls& b) {
      return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.tid < b.tid;
    });
  }
}

}  // namespace perfbpf
