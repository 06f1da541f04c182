#include "perfbpf/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "perfbpf/profile.h"

namespace perfbpf {
namespace {

// Values below kLinearLimit have a bucket each; from there each power of two [2^k, 2^(k+1))
// gets kSubBuckets buckets of width 2^(k - kSubBucketBits).
constexpr uint64_t kLinearLimit = 2 * LatencyHistogram::kSubBuckets;
constexpr unsigned kLinearBits = LatencyHistogram::kSubBucketBits + 1;
constexpr size_t kBucketCount = kLinearLimit + (64 - kLinearBits) * LatencyHistogram::kSubBuckets;
constexpr size_t kChunks = kBucketCount / LatencyHistogram::kSubBuckets;
static_assert(kBucketCount % LatencyHistogram::kSubBuckets == 0);

}  // namespace

LatencyHistogram::LatencyHistogram() = default;

uint64_t LatencyHistogram::at(size_t index) const {
  const size_t chunk = index >> kSubBucketBits;
  return chunk < chunks_.size() && !chunks_[chunk].empty() ? chunks_[chunk][index & (kSubBuckets - 1)] : 0;
}

uint64_t& LatencyHistogram::slot(size_t index) {
  const size_t chunk = index >> kSubBucketBits;
  if (chunks_.empty()) chunks_.resize(kChunks);
  if (chunks_[chunk].empty()) chunks_[chunk].assign(kSubBuckets, 0);
  return chunks_[chunk][index & (kSubBuckets - 1)];
}

template <typename Fn>
void LatencyHistogram::for_each_count(Fn&& fn) const {
  for (size_t chunk = 0; chunk < chunks_.size(); chunk++) {
    const std::vector<uint64_t>& c = chunks_[chunk];
    for (size_t i = 0; i < c.size(); i++)
      if (c[i]) fn(chunk * kSubBuckets + i, c[i]);
  }
}

size_t LatencyHistogram::bucket_index(uint64_t v) {
  if (v < kLinearLimit) return static_cast<size_t>(v);
  unsigned magnitude = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= kLinearBits
  unsigned shift = magnitude - kSubBucketBits;
  uint64_t sub = (v >> shift) - kSubBuckets;  // [0, kSubBuckets)
  return kLinearLimit + (magnitude - kLinearBits) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::bucket_lower(size_t index) {
  if (index < kLinearLimit) return index;
  size_t rel = index - kLinearLimit;
  unsigned magnitude = static_cast<unsigned>(rel / kSubBuckets) + kLinearBits;
  uint64_t sub = rel % kSubBuckets;
  return (kSubBuckets + sub) << (magnitude - kSubBucketBits);
}

uint64_t LatencyHistogram::bucket_upper(size_t index) {
  if (index + 1 >= kBucketCount) return UINT64_MAX;
  return bucket_lower(index + 1) - 1;
}

void LatencyHistogram::record_n(uint64_t value, uint64_t n) {
  if (n == 0) return;
  slot(bucket_index(value)) += n;
  count_ += n;
  sum_ += value * n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  double v = static_cast<double>(value);
  sum_squares_ += v * v * static_cast<double>(n);
}

void LatencyHistogram::subtract(const LatencyHistogram& earlier) {
  size_t first = kBucketCount, last = 0;
  for (size_t chunk = 0; chunk < chunks_.size(); chunk++) {
    std::vector<uint64_t>& c = chunks_[chunk];
    for (size_t i = 0; i < c.size(); i++) {
      const size_t index = chunk * kSubBuckets + i;
      c[i] -= std::min(c[i], earlier.at(index));
      if (c[i]) {
        first = std::min(first, index);
        last = index;
      }
    }
  }
  count_ -= std::min(count_, earlier.count_);
  sum_ -= std::min(sum_, earlier.sum_);
  sum_squares_ = std::max(0.0, sum_squares_ - earlier.sum_squares_);
  if (first == kBucketCount) {
    clear();
    return;
  }
  min_ = bucket_lower(first);
  max_ = std::min(max_, bucket_upper(last));
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  other.for_each_count([this](size_t index, uint64_t n) { slot(index) += n; });
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_squares_ += other.sum_squares_;
}

void LatencyHistogram::clear() { *this = LatencyHistogram(); }

double LatencyHistogram::mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }

double LatencyHistogram::stddev() const {
  if (count_ < 2) return 0;
  double m = mean();
  double var = sum_squares_ / static_cast<double>(count_) - m * m;
  return var > 0 ? std::sqrt(var) : 0;
}

uint64_t LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  // The extremes are known exactly; only ranks in between need a bucket's representative.
  if (rank == count_) return max_;
  if (rank == 1) return min_;
  uint64_t seen = 0;
  for (size_t chunk = 0; chunk < chunks_.size(); chunk++) {
    const std::vector<uint64_t>& c = chunks_[chunk];
    for (size_t i = 0; i < c.size(); i++) {
      seen += c[i];
      if (seen >= rank) {
        const size_t index = chunk * kSubBuckets + i;
        uint64_t lo = bucket_lower(index), hi = bucket_upper(index);
        uint64_t mid = lo + (hi - lo) / 2;
        return std::clamp(mid, min(), max_);
      }
    }
  }
  return max_;
}

std::vector<HistogramBucket> LatencyHistogram::buckets() const {
  std::vector<HistogramBucket> out;
  for_each_count([&out](size_t index, uint64_t n) { out.push_back({bucket_upper(index), n}); });
  return out;
}

LatencyHistogram LatencyHistogram::from_buckets(const std::vector<HistogramBucket>& buckets, uint64_t sum,
                                                uint64_t min, uint64_t max, double sum_squares) {
  LatencyHistogram h;
  for (const auto& b : buckets) {
    if (b.count == 0) continue;
    h.slot(bucket_index(b.upper_ns)) += b.count;
    h.count_ += b.count;
  }
  h.sum_ = sum;
  h.min_ = h.count_ ? min : UINT64_MAX;
  h.max_ = max;
  h.sum_squares_ = sum_squares;
  return h;
}

LatencySummary summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.min = h.min();
  s.max = h.max();
  s.mean = h.mean();
  s.stddev = h.stddev();
  s.p50 = h.quantile(0.50);
  s.p90 = h.quantile(0.90);
  s.p99 = h.quantile(0.99);
  s.p999 = h.quantile(0.999);
  s.total = h.sum();
  return s;
}

}  // namespace perfbpf
