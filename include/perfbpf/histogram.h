// Log-linear latency histogram (HdrHistogram layout): values below 2*kSubBuckets are exact;
// above, every power-of-two range is split into kSubBuckets equal buckets, so any quantile is
// reported within kMaxRelativeError of a true sample value. Count, sum, min and max are exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace perfbpf {

struct HistogramBucket {
  uint64_t upper_ns = 0;  // inclusive upper bound of the bucket
  uint64_t count = 0;     // samples in this bucket (not cumulative)
};

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;  // per power of two
  // Midpoint of a bucket is within half a bucket width of every value in it.
  static constexpr double kMaxRelativeError = 0.5 / kSubBuckets;

  LatencyHistogram();

  void record(uint64_t value_ns) { record_n(value_ns, 1); }
  void record_n(uint64_t value_ns, uint64_t n);
  void merge(const LatencyHistogram& other);
  // What was recorded since EARLIER, an earlier state of this same histogram (cumulative
  // counts read twice). Min and max become the bounds of the first and last bucket left.
  void subtract(const LatencyHistogram& earlier);
  void clear();

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const;
  double stddev() const;  // population standard deviation
  // Nearest-rank quantile, q in [0, 1]; 0 when empty.
  uint64_t quantile(double q) const;

  // Non-empty buckets in ascending order.
  std::vector<HistogramBucket> buckets() const;
  // Rebuilds a histogram from saved buckets and exact moments (a loaded report).
  static LatencyHistogram from_buckets(const std::vector<HistogramBucket>& buckets, uint64_t sum,
                                       uint64_t min, uint64_t max, double sum_squares);

  static size_t bucket_index(uint64_t value);
  static uint64_t bucket_lower(size_t index);
  static uint64_t bucket_upper(size_t index);

 private:
  // Counts by bucket index, in chunks of one power of two (kSubBuckets buckets, 1 KiB), each
  // allocated when a value first falls in it: a function's calls span a few powers of two,
  // and all 7424 buckets at once were 58 KiB per histogram (three per probed function: 1.7 GiB
  // for 10 000 functions). Empty until the first value.
  std::vector<std::vector<uint64_t>> chunks_;
  uint64_t at(size_t index) const;
  uint64_t& slot(size_t index);
  template <typename Fn>
  void for_each_count(Fn&& fn) const;  // fn(index, count) for every non-empty bucket, ascending
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_squares_ = 0;  // for stddev; double keeps ~15 significant digits
};

}  // namespace perfbpf
