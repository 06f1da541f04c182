// Links the installed libperfbpf and profiles one call; check_install.sh checks the output.
#include <cstdio>

#include "perfbpf/profiler.h"

int main() {
  volatile unsigned long sink = 0;
  perfbpf::ProfilingMetrics m = perfbpf::quick_profile("sum", [&] {
    unsigned long s = 0;
    for (unsigned long i = 0; i < 1000000; i++) s += i;
    sink = s;
  });
  std::printf("perfbpf %s: %s calls=%llu avg=%.6f s\n", PERFBPF_VERSION, m.function_name.c_str(),
              static_cast<unsigned long long>(m.call_count), m.avg_time);
  return m.call_count == 1 ? 0 : 1;
}
