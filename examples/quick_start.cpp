// The quick start: time a function call by call with PerformanceProfiler, time a scope, look
// at what it measured, profile one call with quick_profile, and write the JSON report.
//
//   quick_start_example          # writes perfbpf-output/perfbpf-report-<timestamp>.json
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "perfbpf/profiler.h"

namespace {

volatile uint64_t g_sink = 0;  // keeps the compiler from dropping work whose result is unused

// Deliberately exponential, so there is something to time.
uint64_t fibonacci(unsigned n) { return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2); }
void fibonacci_into_sink(unsigned n) { g_sink = fibonacci(n); }

// Sorts N pseudo-random numbers; allocates its vector, so the memory delta moves a little.
size_t sort_numbers(size_t n) {
  std::mt19937_64 rng(42 /* seed: the same numbers every run */);
  std::vector<uint64_t> v(n);
  for (auto& x : v) x = rng();
  std::sort(v.begin(), v.end());
  g_sink = v.front();
  return v.size();
}

void print_metrics(const perfbpf::ProfilingMetrics& m) {
  fmt::print("{}: calls {}, avg {:.3f} ms, min {:.3f} ms, max {:.3f} ms, p99 {:.3f} ms, "
             "CPU {:.1f}%, memory delta {} bytes (the timer's own {:.0f} ns a call taken out)\n",
             m.function_name, m.call_count, m.avg_time * 1e3, m.min_time * 1e3, m.max_time * 1e3,
             m.p99_time * 1e3, m.cpu_percent, m.memory_delta, m.timer_self_time * 1e9);
}

}  // namespace

int main() {
  try {
    perfbpf::PerformanceProfiler profiler("perfbpf-output");

    // Every profile_function call adds one call to the function's metrics and returns what
    // the function returns.
    for (int i = 0; i < 5; i++) profiler.profile_function("fibonacci", fibonacci_into_sink, 30u /* n */);
    print_metrics(profiler.metrics("fibonacci"));

    size_t sorted = 0;
    for (int i = 0; i < 5; i++) sorted += profiler.profile_function("sort_numbers", sort_numbers, size_t{200000} /* n */);
    print_metrics(profiler.metrics("sort_numbers"));
    fmt::print("sorted {} numbers in all\n", sorted);

    // A scope timed as one call: from here to the end of the block.
    {
      auto timer = profiler.scope("fill_and_sum");
      std::vector<uint64_t> v(1 << 20 /* elements */, 1);
      g_sink = std::accumulate(v.begin(), v.end(), uint64_t{0});
    }
    print_metrics(profiler.metrics("fill_and_sum"));

    // One call, with a throwaway profiler of its own.
    print_metrics(perfbpf::quick_profile("fibonacci_once", fibonacci_into_sink, 25u /* n */));

    const std::string report = profiler.generate_profiling_report();
    fmt::print("report: {}\n", report);
    return 0;
  } catch (const perfbpf::Error& e) {
    fmt::print(stderr, "quick_start: {}{}{}\n", e.what(), e.hint().empty() ? "" : "\n  hint: ", e.hint());
    return e.exit_code();
  }
}
