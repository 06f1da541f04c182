// libFuzzer target for the report loader: the bytes of a file given to `perfbpf report` or
// `perfbpf analyze`, read through the same read_json_report as the CLI, then rendered and
// analysed as those commands do. A report is input from anyone (shared in tickets, CI artifacts),
// so any crash, leak, hang or undefined behaviour here is a bug; a malformed report must end in
// perfbpf::Error and nothing else.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "perfbpf/dashboard.h"
#include "perfbpf/error.h"
#include "report/json_report.h"
#include "report/text_summary.h"

namespace {

// One memory file for the whole run: the loader opens it by path, as it opens a user's file.
int report_fd() {
  static int fd = [] {
    int f = memfd_create("fuzzed-report.json", MFD_CLOEXEC);
    if (f < 0) std::abort();
    return f;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = report_fd();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    perfbpf::PerformanceAnalysisDashboard dashboard;
    dashboard.load_profiler_data(path);  // read_json_report
    dashboard.load_profile(dashboard.latest());  // a second run: cross-run trends
    std::ostringstream text;
    perfbpf::write_text_summary(dashboard.latest(), text);  // perfbpf report
    perfbpf::write_analysis(dashboard.analysis(), text);     // perfbpf analyze
    (void)dashboard.generate_performance_summary();          // analyze --json
    (void)perfbpf::to_json(dashboard.latest()).dump();       // a loaded report writes back
  } catch (const perfbpf::Error&) {
    // The one way a bad report may end: a message naming what is wrong.
  }
  return 0;
}
