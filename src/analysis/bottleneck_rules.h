// What the rule files share: severity order, the rule of an id, and the words the memory-growth
// and disk rules leave in their evidence for the recommendation to act on.
#pragma once

#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

// critical 0, high 1, medium 2, low 3; anything else sorts last.
int severity_rank(const std::string& severity);

// "io-bound-function:write_records" -> "io-bound-function".
std::string rule_of(const std::string& bottleneck_id);

// Data-quality findings say the numbers are incomplete, not that the target is slow: health
// counts them half.
inline bool is_data_quality(const Bottleneck& b) { return b.category == "data-quality"; }

// The rss-growth rule's detail ends with one of these, naming where the growth sits.
inline constexpr const char* kGrowthAnon = "mostly anonymous memory (heap, malloc, anonymous mmap)";
inline constexpr const char* kGrowthFile = "mostly file-backed pages (mapped files)";

// The cpu-bound rule's detail says which kind of process it is, for advice that fits it; the
// machine's CPU findings say when kernel threads were among the processes that waited.
inline constexpr const char* kKernelThread = "a kernel thread";
inline constexpr const char* kSingleThreaded = "one thread";
inline constexpr const char* kKernelThreadsWaited = "of them kernel threads";

// The disk-latency rule's detail ends with one of these, naming where the requests waited.
inline constexpr const char* kDiskQueued = "most of it queued: the device is saturated";
inline constexpr const char* kDiskDevice = "most of it at the device: the storage is slow";

}  // namespace perfbpf
