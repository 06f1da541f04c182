#include "perfbpf/calibration.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "perfbpf/error.h"
#include "report/json_report.h"
#include "report/output_file.h"
#include "funclat.h"  // bpf/funclat.h: the ring and record sizes
#include "session/funclat_session.h"
#include "session/privileges.h"
#include "session/system_info.h"
#include "session/probe_plan.h"
#include "session/self_probe.h"
#include "symbols/disassembler.h"
#include "symbols/probe_site.h"
#include "util/cache_dir.h"
#include "util/safe_path.h"

extern "C" {
uint64_t perfbpf_calib_optimized(uint64_t);
uint64_t perfbpf_calib_emulated(uint64_t);
uint64_t perfbpf_calib_single_stepped(uint64_t);
uint64_t perfbpf_calib_rs_optimized(uint64_t);
uint64_t perfbpf_calib_rs_emulated(uint64_t);
uint64_t perfbpf_calib_rs_single_stepped(uint64_t);
}

namespace perfbpf {
namespace {

using CalibFn = uint64_t (*)(uint64_t);

struct CalibTarget {
  ProbeSiteKind kind;
  ProbeMethod method;
  CalibFn fn;
  const char* name;
  size_t calls;  // fewer for the slow kinds: the whole calibration stays near 200 ms
};

constexpr CalibTarget kTargets[] = {
    {ProbeSiteKind::Optimized, ProbeMethod::Uretprobe, perfbpf_calib_optimized, "perfbpf_calib_optimized", 4000},
    {ProbeSiteKind::Emulated, ProbeMethod::Uretprobe, perfbpf_calib_emulated, "perfbpf_calib_emulated", 4000},
    {ProbeSiteKind::SingleStepped, ProbeMethod::Uretprobe, perfbpf_calib_single_stepped,
     "perfbpf_calib_single_stepped", 1500},
    {ProbeSiteKind::Optimized, ProbeMethod::ReturnSites, perfbpf_calib_rs_optimized, "perfbpf_calib_rs_optimized",
     2000},
    {ProbeSiteKind::Emulated, ProbeMethod::ReturnSites, perfbpf_calib_rs_emulated, "perfbpf_calib_rs_emulated", 2000},
    {ProbeSiteKind::SingleStepped, ProbeMethod::ReturnSites, perfbpf_calib_rs_single_stepped,
     "perfbpf_calib_rs_single_stepped", 1000},
};
constexpr size_t kWarmupCalls = 100;  // lets the kernel optimize a NOP site before we time it

// Calibration reads the records only after each target's burst of calls: the ring holds a
// whole burst under its wake-up mark (an eighth), so that no call of it pays a forced wake-up
// (a self-IPI) measured as probe cost, nor a record is lost.
constexpr uint32_t kCalibrationRingBytes = FUNCLAT_RINGBUF_BYTES;
constexpr size_t largest_burst() {
  size_t most = 0;
  for (const auto& t : kTargets) most = std::max(most, t.calls);
  return most + kWarmupCalls;
}
static_assert(kCalibrationRingBytes / 8 > largest_burst() * (sizeof(funclat_event) + 8),
              "a calibration burst's records fit under the ring's wake-up mark");

volatile uint64_t g_sink;

double ns_per_call(CalibFn fn, size_t calls) {
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < calls; i++) g_sink = g_sink + fn(i);
  std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  return took.count() / static_cast<double>(calls);
}

// Median of per-call times (clock reads included): a preempted call, which would move a
// loop's mean by milliseconds, moves a median not at all.
double median_ns_per_call(CalibFn fn, size_t calls) {
  std::vector<double> each(calls);
  for (size_t i = 0; i < calls; i++) {
    auto t0 = std::chrono::steady_clock::now();
    g_sink = g_sink + fn(i);
    each[i] = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(each.begin(), each.end());
  return each[each.size() / 2];
}

// Our own code as a probe target, probed the calibration's way; 16 bytes each (a few
// instructions, then the next: the analysis stops at the first ret).
PlannedProbe self_target(const CalibTarget& c) {
  return plan_own_function(reinterpret_cast<uintptr_t>(c.fn), c.name, 16, c.method);
}

double median_of_sorted(const std::vector<double>& v) {
  if (v.empty()) return 0;
  size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// The cache is the report's calibration section plus what it is only valid for.
nlohmann::json to_cache_json(const CalibrationInfo& c) {
  return {{"kernel", kernel_release()}, {"version", PERFBPF_VERSION}, {"calibration", calibration_to_json(c)}};
}

bool from_cache_json(const nlohmann::json& j, CalibrationInfo& out) {
  try {
    if (j.at("kernel") != kernel_release() || j.at("version") != PERFBPF_VERSION) return false;
    out = calibration_from_json(j.at("calibration"));
    out.from_cache = true;
    return out.cpu_model == cpu_model() && out.sites.size() == std::size(kTargets);
  } catch (const std::exception&) {
    return false;  // an unreadable or outdated cache is measured again, not an error
  }
}

// The probe programs' own run time, from kernel BPF stats in a session of its own: stats
// slow every run down, so the costs above are measured without them.
double bpf_ns_per_run(const PlannedProbe& target) {
  FuncLatSettings settings;
  settings.ring_bytes = kCalibrationRingBytes;
  settings.max_threads = 64;
  settings.bpf_stats = true;
  settings.needs = funclat_needs({target});
  FuncLatSession bpf(settings, [](const CallRecord&) {});
  if (!bpf.bpf_stats_enabled()) return 0;
  bpf.add_target_tgid(static_cast<uint32_t>(getpid()));
  bpf.attach({target}, getpid());
  ns_per_call(kTargets[0].fn, kTargets[0].calls);
  auto [run_time, runs] = bpf.run_stats();
  return runs ? static_cast<double>(run_time) / static_cast<double>(runs) : 0;
}

}  // namespace

CalibrationInfo calibrate_probes() {
  check_bpf_privileges();
  std::vector<PlannedProbe> targets;
  std::vector<double> unprobed, unprobed_timed;
  const Disassembler disassembler;  // one load of libcapstone for all the targets' plans
  for (const auto& t : kTargets) {
    targets.push_back(self_target(t));
    ns_per_call(t.fn, t.calls);  // warm caches and branch predictors
    unprobed.push_back(ns_per_call(t.fn, t.calls));
    unprobed_timed.push_back(median_ns_per_call(t.fn, t.calls));
  }

  std::vector<std::vector<double>> durations(targets.size());
  FuncLatSettings settings;
  settings.ring_bytes = kCalibrationRingBytes;
  settings.max_threads = 64;
  settings.needs = funclat_needs(targets);
  FuncLatSession bpf(settings, [&](const CallRecord& r) {
    if (r.probe_id < durations.size()) durations[r.probe_id].push_back(static_cast<double>(r.duration_ns));
  });
  bpf.add_target_tgid(static_cast<uint32_t>(getpid()));
  bpf.attach(targets, getpid());

  CalibrationInfo info;
  info.method = "self-probe";
  info.cpu_model = cpu_model();
  info.measured_at = rfc3339_now();
  for (size_t i = 0; i < targets.size(); i++) {
    const CalibTarget& t = kTargets[i];
    ns_per_call(t.fn, kWarmupCalls);
    bpf.consume();
    durations[i].clear();
    double probed = median_ns_per_call(t.fn, t.calls);
    while (bpf.consume() > 0) {
    }
    std::vector<double>& d = durations[i];
    std::sort(d.begin(), d.end());
    double median = median_of_sorted(d);
    std::vector<double> deviations;
    for (double x : d) deviations.push_back(std::fabs(x - median));
    std::sort(deviations.begin(), deviations.end());
    double spread = 1.4826 * median_of_sorted(deviations);  // robust standard deviation

    SiteCalibration s;
    s.kind = probe_site_name(t.kind);
    s.method = probe_method_name(t.method);
    s.samples = d.size();
    s.bias_ns = std::max(0.0, median - unprobed[i]);
    s.bias_spread_ns = spread;
    s.bias_uncertainty_ns = d.empty() ? 0 : 1.2533 * spread / std::sqrt(static_cast<double>(d.size()));
    s.cost_ns = std::max(0.0, probed - unprobed_timed[i]);
    info.sites.push_back(s);
  }
  info.bpf_ns_per_run = bpf_ns_per_run(targets[0]);
  return info;
}

std::string calibration_cache_path() { return perfbpf_cache_directory() + "/calibration.json"; }

namespace {

// The cache feeds the latency correction of every report, so it is trusted only as the
// effective user's own (root's: /var/cache/perfbpf): a regular file that no one else may write,
// in directories no one else may write, opened without following a link or blocking on a FIFO.
// Anything else is ignored with one line, neither read nor written, and calibration measured.
struct CacheRead {
  std::optional<nlohmann::json> json;  // parsed content when usable
  bool refused = false;                // the one line was printed: leave the cache alone
};

constexpr size_t kMaxCacheBytes = 1 << 20;  // a real cache is about 1 KiB

void warn_refused(const std::string& path, const PathRefused& why) {
  std::fprintf(stderr,
               "perfbpf: warning: ignoring the calibration cache %s: %s (it must be a regular file that only its "
               "owner, root or you, may write, in a directory only they may write); measuring again, not caching\n",
               path.c_str(), why.what()[0] ? why.what() : std::strerror(why.err()));
}

CacheRead read_cache(const std::string& path) {
  CacheRead out;
  try {
    ResolvedPath r = resolve_private_path(path, /*create=*/false);
    if (!r.exists) return out;
    RegularFile f = read_regular_file(r.dir.get(), r.name, kMaxCacheBytes);
    if (!owned_privately(f.st))
      throw PathRefused(EPERM, fmt::format("it is owned by uid {} with mode {:o}", f.st.st_uid, f.st.st_mode & 07777));
    nlohmann::json j = nlohmann::json::parse(f.text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) out.json = std::move(j);  // else half-written or outdated: measured again
  } catch (const PathRefused& e) {
    if (e.err() == ENOENT || e.err() == EACCES) return out;  // no cache yet, or not ours to read
    warn_refused(path, e);
    out.refused = true;
  }
  return out;
}

// A cache that cannot be written only makes the next session slower.
void write_cache(const std::string& path, const CalibrationInfo& info) {
  try {
    OutputFile out(resolve_private_path(path, /*create=*/true), path, "calibration cache");
    out.write(to_cache_json(info).dump(2) + "\n");
    out.commit();
  } catch (const PathRefused& e) {
    if (e.err() != ENOENT && e.err() != EACCES && e.err() != EROFS) warn_refused(path, e);
  } catch (const Error&) {
  }
}

}  // namespace

CalibrationInfo load_or_calibrate(bool refresh) {
  const std::string path = calibration_cache_path();
  CalibrationInfo info;
  // A refresh reads no cache, but one in a directory someone else controls is still refused.
  CacheRead cached = refresh ? CacheRead{} : read_cache(path);
  if (cached.json && from_cache_json(*cached.json, info)) return info;
  info = calibrate_probes();
  if (!cached.refused) write_cache(path, info);
  return info;
}

}  // namespace perfbpf
