#include "aggregate/aggregator.h"

#include <algorithm>
#include <map>

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
  const uint64_t corrected = corrected_ns(record);
  f.raw.record(record.duration_ns);
  f.histogram.record(corrected);
  ThreadTotals& t = f.threads[record.tid];
  t.tgid = record.tgid;
  t.calls++;
  t.total_ns += corrected;
  t.first_start = std::min(t.first_start, record.start_ns);
  t.last_end = std::max(t.last_end, record.start_ns + record.duration_ns);
  if (record.has_split) {
    if (!f.split) f.split = std::make_unique<SplitBook>();
    f.split->add(record, corrected);
  }
}

std::vector<ThreadSpan> Aggregator::thread_spans() const {
  std::map<uint32_t, ThreadSpan> by_tid;
  for (const PerFunction& f : functions_) {
    for (const auto& [tid, t] : f.threads) {
      auto [it, fresh] = by_tid.try_emplace(tid, ThreadSpan{tid, t.tgid, t.first_start, t.last_end, 0});
      ThreadSpan& s = it->second;
      s.first_ns = std::min(s.first_ns, t.first_start);
      s.last_ns = std::max(s.last_ns, t.last_end);
      s.calls += t.calls;
    }
  }
  std::vector<ThreadSpan> out;
  for (const auto& [tid, s] : by_tid) out.push_back(s);
  return out;
}

uint64_t Aggregator::corrected_ns(const CallRecord& record) const {
  if (record.probe_id >= functions_.size()) return 0;
  const uint64_t probe_time = functions_[record.probe_id].bias_ns + record.nested_cost_ns;
  return record.duration_ns > probe_time ? record.duration_ns - probe_time : 0;
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
    out.series = f.series;
    if (f.split) f.split->fill(out);
  }
}

namespace {

// Two adjacent intervals as one: calls add up, p99 and max are the larger (an upper bound for
// the pair), p50 the call-weighted mean of the two (an approximation, the buckets are gone).
FunctionInterval merge_intervals(const FunctionInterval& a, const FunctionInterval& b) {
  FunctionInterval m = b;
  m.calls = a.calls + b.calls;
  m.p50 = m.calls ? (a.p50 * a.calls + b.p50 * b.calls) / m.calls : 0;
  m.p99 = std::max(a.p99, b.p99);
  m.max = std::max(a.max, b.max);
  return m;
}

}  // namespace

std::vector<FunctionInterval> Aggregator::last_intervals() const {
  std::vector<FunctionInterval> out;
  for (const PerFunction& f : functions_) out.push_back(f.series.empty() ? FunctionInterval{} : f.series.back());
  return out;
}

void Aggregator::close_interval(double t_s, size_t max_intervals) {
  for (PerFunction& f : functions_) {
    LatencyHistogram delta = f.histogram;
    delta.subtract(f.at_last_interval);
    f.at_last_interval = f.histogram;
    f.series.push_back({t_s, delta.count(), delta.quantile(0.5), delta.quantile(0.99), delta.max()});
    if (max_intervals < 2 || f.series.size() <= max_intervals) continue;
    std::vector<FunctionInterval> halved;
    for (size_t i = 0; i + 1 < f.series.size(); i += 2) halved.push_back(merge_intervals(f.series[i], f.series[i + 1]));
    if (f.series.size() % 2) halved.push_back(f.series.back());
    f.series = std::move(halved);
  }
}

}  // namespace perfbpf
