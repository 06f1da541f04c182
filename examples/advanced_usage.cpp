// Advanced use of the library: custom thresholds, background system monitoring around a
// workload that mixes CPU, memory and disk, calls timed by hand, and the dashboard's analysis
// of the report written at the end.
//
//   advanced_usage_example [OUTPUT_DIR]   # default perfbpf-output; writes the report and
//                                         # OUTPUT_DIR/analysis.json
//
// Monitoring uses the BPF collectors when the process may load BPF and /proc otherwise.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "perfbpf/dashboard.h"
#include "perfbpf/error.h"
#include "perfbpf/profiler.h"

namespace {

volatile double g_sink = 0;  // keeps the compiler from dropping work whose result is unused

// CPU-bound: a few million floating-point operations.
void crunch_numbers(int rounds) {
  double acc = 0;
  for (int i = 1; i <= rounds * 1000000; i++) acc += std::sqrt(static_cast<double>(i));
  g_sink = acc;
}

// Memory: allocates BYTES and touches every page so the resident set really grows.
std::vector<char> allocate_buffer(size_t bytes) {
  std::vector<char> buf(bytes);
  for (size_t i = 0; i < buf.size(); i += 4096 /* page */) buf[i] = static_cast<char>(i);
  return buf;
}

// Disk: writes DATA to PATH and waits for it to reach the device.
void write_and_sync(const std::filesystem::path& path, const std::vector<char>& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    throw perfbpf::Error(perfbpf::errno_message("open " + path.string(), err), "", err);
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      throw perfbpf::Error(perfbpf::errno_message("write " + path.string(), err), "", err);
    }
    done += static_cast<size_t>(n);
  }
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) throw perfbpf::Error(perfbpf::errno_message("fsync " + path.string(), err), "", err);
}

// Prints the monitoring intervals not printed yet; returns how many have been printed.
size_t print_new_intervals(const perfbpf::PerformanceProfiler& profiler, size_t printed) {
  const std::vector<perfbpf::SystemMetrics> m = profiler.system_metrics();
  for (size_t i = printed; i < m.size(); i++)
    fmt::print("  t={:5.2f}s  cpu {:5.1f}%  rss {:6.1f} MiB  mem {:4.1f}%  disk write {:8} B  faults {}/{}\n",
               m[i].timestamp, m[i].cpu_percent, static_cast<double>(m[i].memory_rss_bytes) / (1 << 20),
               m[i].memory_percent, m[i].disk_write_bytes, m[i].minor_faults, m[i].major_faults);
  return m.size();
}

// A private scratch directory for the file the workload writes, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "perfbpf-example-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      const int err = errno;
      throw perfbpf::Error(perfbpf::errno_message("mkdtemp " + tmpl, err), "", err);
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

int run(const std::string& output_dir) {
  perfbpf::PerformanceProfiler profiler(output_dir);
  // Tighter than the defaults, so a short example has something to report.
  profiler.performance_thresholds.function_time_warning = 0.05;  // s
  profiler.performance_thresholds.memory_usage_warning = 90.0;   // % of machine memory
  profiler.performance_thresholds.cpu_usage_warning = 80.0;      // % of one CPU
  profiler.performance_thresholds.functions.push_back({"write_and_sync", "p99", 20e6 /* ns */});

  ScratchDir scratch;
  profiler.start_system_monitoring(0.1 /* s */);
  fmt::print("monitoring every 0.1 s ({})\n", profiler.monitoring_active() ? "active" : "inactive");
  size_t printed = 0;

  for (int round = 0; round < 3; round++) {
    profiler.profile_function("crunch_numbers", crunch_numbers, 20 /* rounds */);

    std::vector<char> buffer = profiler.profile_function("allocate_buffer", allocate_buffer, 32u << 20 /* 32 MiB */);

    // A call timed by hand: start and stop around code that is not one function call.
    const uint64_t id = profiler.start_function_profiling("write_and_sync");
    write_and_sync(scratch.path() / fmt::format("data-{}.bin", round), buffer);
    profiler.stop_function_profiling(id);

    usleep(100000 /* us: one idle interval between rounds */);
    printed = print_new_intervals(profiler, printed);
  }

  profiler.stop_system_monitoring();
  print_new_intervals(profiler, printed);
  fmt::print("monitoring source: {}\n\n", profiler.system_profile().source);

  for (const auto& [name, m] : profiler.profiling_data())
    fmt::print("{:16} {} calls, avg {:8.3f} ms, max {:8.3f} ms, CPU {:5.1f}%, memory delta {} B\n", name,
               m.call_count, m.avg_time * 1e3, m.max_time * 1e3, m.cpu_percent, m.memory_delta);

  const std::string report = profiler.generate_profiling_report();
  fmt::print("\nreport: {}\n", report);

  // The dashboard reads the saved report, as it would one from `perfbpf -o`.
  perfbpf::PerformanceAnalysisDashboard dashboard(profiler.performance_thresholds);
  dashboard.load_profiler_data(report);
  const nlohmann::json summary = dashboard.generate_performance_summary();
  const nlohmann::json& health = summary.at("performance_overview").at("system_health_score");
  fmt::print("health score: {} (grade {})\n", health.at("score").get<double>(), health.value("grade", "?"));

  const std::vector<perfbpf::Bottleneck> bottlenecks = dashboard.identify_performance_bottlenecks();
  fmt::print("bottlenecks: {}\n", bottlenecks.size());
  for (const auto& b : bottlenecks)
    fmt::print("  [{}] {}: {} ({} = {:.3g} {}, threshold {:.3g})\n", b.severity, b.category, b.title,
               b.evidence.metric, b.evidence.value, b.evidence.unit, b.evidence.threshold);
  const nlohmann::json& recommendations = summary.at("recommendations");
  fmt::print("recommendations: {}\n", recommendations.size());
  for (const auto& r : recommendations) fmt::print("  - {}\n", r.value("text", ""));
  fmt::print("trends: {}\n", dashboard.analyze_performance_trends().size());

  const std::string analysis = (std::filesystem::path(output_dir) / "analysis.json").string();
  dashboard.export_analysis_report(analysis);
  fmt::print("analysis: {}\n", analysis);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc > 1 ? argv[1] : "perfbpf-output");
  } catch (const perfbpf::Error& e) {
    fmt::print(stderr, "advanced_usage: {}{}{}\n", e.what(), e.hint().empty() ? "" : "\n  hint: ", e.hint());
    return e.exit_code();
  }
}
