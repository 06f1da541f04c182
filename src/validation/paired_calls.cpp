#include "validation/paired_calls.h"

#include <algorithm>
#include <cmath>

namespace perfbpf::validation {
namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// Nearest rank, as validation's other quantiles.
double quantile_of(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))));
  return v[std::min(rank, v.size()) - 1];
}

}  // namespace

PairedCalls pair_calls(const std::vector<CallTruth>& truth, std::vector<CallTiming> records) {
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.start_ns < b.start_ns; });
  PairedCalls out;
  out.calls = truth.size();
  size_t r = 0;
  for (size_t i = 0; i < truth.size(); i++) {
    const CallTruth& t = truth[i];
    // Records that ended before this body began held none of the bodies still to come.
    while (r < records.size() && records[r].start_ns + records[r].raw_ns < t.body_end_ns) {
      out.unmatched_records++;
      r++;
    }
    if (r == records.size()) break;
    const CallTiming& c = records[r];
    if (c.start_ns > t.body_start_ns) continue;  // no record holds this body: unpaired
    out.paired.push_back({i, static_cast<int64_t>(c.corrected_ns) - static_cast<int64_t>(t.body_ns()), t.off_cpu_ns(),
                          t.body_start_ns - c.start_ns, c.start_ns + c.raw_ns - t.body_end_ns});
    r++;
  }
  out.unmatched_records += records.size() - r;
  return out;
}

double ErrorStats::quantile(double q) const { return quantile_of(abs_errors, q); }

double ErrorStats::standard_error() const {
  return calls ? 1.2533 * spread_ns / std::sqrt(static_cast<double>(calls)) : 0;
}

namespace {

ErrorStats stats_of(const std::vector<double>& errors) {
  ErrorStats s;
  s.calls = errors.size();
  s.median_ns = median_of(errors);
  std::vector<double> deviations;
  for (double e : errors) {
    deviations.push_back(std::fabs(e - s.median_ns));
    s.abs_errors.push_back(std::fabs(e));
  }
  s.spread_ns = 1.4826 * median_of(deviations);
  std::sort(s.abs_errors.begin(), s.abs_errors.end());
  s.worst_ns = s.abs_errors.empty() ? 0 : s.abs_errors.back();
  return s;
}

}  // namespace

ErrorSummary summarize_errors(const PairedCalls& calls, const std::vector<bool>& judged) {
  std::vector<double> all, undisturbed, preempted;
  for (const auto& p : calls.paired) {
    if (p.call >= judged.size() || !judged[p.call]) continue;
    const double error = static_cast<double>(p.error_ns);
    all.push_back(error);
    (p.off_cpu_ns >= kPreemptedNs ? preempted : undisturbed).push_back(error);
  }
  return {stats_of(all), stats_of(undisturbed), stats_of(preempted)};
}

}  // namespace perfbpf::validation
