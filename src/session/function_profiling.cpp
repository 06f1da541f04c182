// PerformanceProfiler's function timing (the timer's own cost measured and subtracted) and its
// report.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "aggregate/aggregator.h"
#include "collect/bpf_maps.h"
#include "collect/system_collectors.h"
#include "perfbpf/error.h"
#include "report/json_report.h"
#include "report/output_file.h"
#include "session/function_timer.h"
#include "session/privileges.h"
#include "session/resource_monitor.h"
#include "session/system_info.h"
#include "analysis/analyze.h"

namespace perfbpf {
namespace {

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint32_t current_tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

// This process's resident set now, from /proc/self/statm: one short line, read with pread on
// a descriptor kept open, because it is read twice per profiled call.
uint64_t self_rss_bytes() {
  static const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  char buf[128];
  ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size = 0, resident = 0;
  return std::sscanf(buf, "%llu %llu", &size, &resident) == 2 ? resident * page : 0;
}

// The process's peak resident set (VmHWM), which getrusage reports without reading /proc.
uint64_t self_peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

OffCpuTime off_cpu_between(const ResourceUsage& before, const ResourceUsage& after) {
  auto d = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  return {d(after.off_cpu_ns.runqueue, before.off_cpu_ns.runqueue), d(after.off_cpu_ns.io, before.off_cpu_ns.io),
          d(after.off_cpu_ns.sleep, before.off_cpu_ns.sleep)};
}

}  // namespace

ClockReading start_clocks() {
  ClockReading r;
  r.cpu_ns = thread_cpu_ns();
  r.wall_ns = monotonic_ns();
  return r;
}

ClockReading stop_clocks() {
  ClockReading r;
  r.wall_ns = monotonic_ns();
  r.cpu_ns = thread_cpu_ns();
  return r;
}

void FunctionTimer::add(const Call& call, const TimerCost& cost) {
  cost_ = cost;
  const uint64_t wall = call.raw_wall_ns > cost.self_wall_ns ? call.raw_wall_ns - cost.self_wall_ns : 0;
  // The CPU window holds the wall window and a median is subtracted from each: a call's CPU
  // time is kept within its wall time.
  const uint64_t cpu = std::min(wall, call.raw_cpu_ns > cost.self_cpu_ns ? call.raw_cpu_ns - cost.self_cpu_ns : 0);
  durations_.record(wall);
  raw_.record(call.raw_wall_ns);
  cpu_ns_ += cpu;
  raw_cpu_ns_ += call.raw_cpu_ns;
  exceptions_ += call.by_exception;
  memory_delta_ = call.memory_delta;
  peak_memory_ = call.peak_memory;
  if (call.off_cpu) {
    off_cpu_measured_ = true;
    off_cpu_.runqueue += call.off_cpu->runqueue;
    off_cpu_.io += call.off_cpu->io;
    off_cpu_.sleep += call.off_cpu->sleep;
    // The call's split, as --decompose gives it for probed calls (lock waits are in sleep here).
    CallRecord r;
    r.start_ns = call.start_ns;
    r.tgid = static_cast<uint32_t>(getpid());
    r.tid = call.tid;
    r.has_split = true;
    r.split.runqueue = call.off_cpu->runqueue;
    r.split.io = call.off_cpu->io;
    r.split.sleep = call.off_cpu->sleep;
    // The collector books a wait when it ends, so near the call's edges its off-CPU time can
    // pass the call's own: scaled down to the call, never more off CPU than the call lasted.
    const uint64_t off = r.split.runqueue + r.split.io + r.split.sleep;
    if (off > wall) {
      const double scale = static_cast<double>(wall) / static_cast<double>(off);
      r.split.runqueue = static_cast<uint64_t>(static_cast<double>(r.split.runqueue) * scale);
      r.split.io = static_cast<uint64_t>(static_cast<double>(r.split.io) * scale);
      r.split.sleep = wall - r.split.runqueue - r.split.io;
    }
    if (!split_) {
      split_ = std::make_unique<SplitBook>();
      first_start_ns_ = call.start_ns;
    }
    split_->add(r, wall);
  }
  ThreadCalls& t = threads_[call.tid];
  t.tid = call.tid;
  t.tgid = static_cast<uint32_t>(getpid());
  t.calls++;
  t.total_ns += wall;
}

ProfilingMetrics FunctionTimer::metrics() const {
  auto s = [](uint64_t ns) { return static_cast<double>(ns) / 1e9; };
  ProfilingMetrics m;
  m.function_name = name_;
  m.call_count = durations_.count();
  m.exceptions = exceptions_;
  m.total_time = s(durations_.sum());
  m.avg_time = durations_.mean() / 1e9;
  m.min_time = s(durations_.min());
  m.max_time = s(durations_.max());
  const double sd = durations_.stddev() / 1e9;
  m.time_variance = sd * sd;
  m.p50_time = s(durations_.quantile(0.5));
  m.p99_time = s(durations_.quantile(0.99));
  m.raw_total_time = s(raw_.sum());
  m.raw_avg_time = raw_.mean() / 1e9;
  m.raw_min_time = s(raw_.min());
  m.raw_max_time = s(raw_.max());
  m.raw_p50_time = s(raw_.quantile(0.5));
  m.raw_p99_time = s(raw_.quantile(0.99));
  m.timer_self_time = s(cost_.self_wall_ns);
  m.timer_cost = s(cost_.per_call_ns);
  m.cpu_time = s(cpu_ns_);
  m.cpu_percent = m.total_time > 0 ? 100 * (m.cpu_time / m.total_time) : 0;  // x / x is exactly 1
  m.memory_delta = memory_delta_;
  m.peak_memory = peak_memory_;
  m.off_cpu_measured = off_cpu_measured_;
  m.off_cpu_ns = off_cpu_;
  if (split_) {
    FunctionProfile f;
    split_->fill(f);
    m.decomposition = f.decomposition;
  }
  return m;
}

FunctionProfile FunctionTimer::profile() const {
  FunctionProfile f;
  f.name = f.demangled = name_;
  f.object = "[in-process]";  // timed by the library in the process itself, no probe
  f.probe_site = "in-process";
  f.probe_method = "in-process";
  f.calls = durations_.count();
  f.latency = summarize(durations_);
  f.latency_raw = summarize(raw_);
  f.histogram = durations_.buckets();
  // The timer plays the probe's part: its time inside each call is subtracted, its whole cost
  // is what timing a call costs the caller.
  f.bias_ns = static_cast<double>(cost_.self_wall_ns);
  f.probe_cost_ns = static_cast<double>(cost_.per_call_ns);
  if (split_) {
    split_->fill(f);
    for (const auto& k : split_->slowest(5)) f.slowest_calls.push_back(slow_call(k, first_start_ns_));
  }
  for (const auto& [tid, t] : threads_) f.threads.push_back(t);
  std::sort(f.threads.begin(), f.threads.end(), [](const auto& a, const auto& b) { return a.total_ns > b.total_ns; });
  return f;
}

std::unique_ptr<CallSched> CallSched::try_create() {
  if (!has_bpf_privileges() || !std::filesystem::exists("/sys/kernel/btf/vmlinux")) return nullptr;
  std::unique_ptr<CallSched> s(new CallSched());
  try {
    CollectorSettings c;
    c.exclude_self = false;
    c.targets_fd = s->targets_fd_ = create_target_set({static_cast<uint32_t>(getpid())});
    s->collector_ = make_sched_collector(c);
    s->collector_->attach();
  } catch (const Error&) {
    return nullptr;  // the metrics then say off_cpu_measured = false
  }
  return s;
}

CallSched::~CallSched() {
  collector_.reset();  // programs first, then the map they use
  if (targets_fd_ >= 0) close(targets_fd_);
}

ScopeTimer::ScopeTimer(PerformanceProfiler& profiler, std::unique_ptr<OpenCall> call, int uncaught)
    : profiler_(&profiler), call_(std::move(call)), uncaught_(uncaught) {}

ScopeTimer::ScopeTimer(ScopeTimer&& other) noexcept
    : profiler_(other.profiler_), call_(std::move(other.call_)), uncaught_(other.uncaught_) {}

ScopeTimer::~ScopeTimer() {
  try {
    stop();
  } catch (...) {
    // Recording failed (out of memory): the call is lost, the caller's flow is not.
  }
}

void ScopeTimer::stop() {
  if (!call_) return;
  call_->end = stop_clocks();
  std::unique_ptr<OpenCall> call = std::move(call_);
  profiler_->close_call(*call, std::uncaught_exceptions() > uncaught_, nullptr);
}

std::unique_ptr<OpenCall> PerformanceProfiler::prepare_call(const std::string& name, bool calibrating) {
  if (!calibrating) std::call_once(timer_cost_once_, [this] { measure_timer_cost(); });
  auto call = std::make_unique<OpenCall>();
  call->name = name;
  call->calibrating = calibrating;
  call->tid = current_tid();
  {
    std::lock_guard<std::mutex> lock(functions_mutex_);
    if (!call_sched_tried_) {
      call_sched_tried_ = true;
      call_sched_ = CallSched::try_create();
    }
    if (call_sched_) call->sched_before = call_sched_->thread_now(call->tid).value_or(ResourceUsage{});
  }
  call->rss_before = self_rss_bytes();
  return call;
}

void PerformanceProfiler::close_call(OpenCall& call, bool by_exception, ProfilingMetrics* metrics) {
  FunctionTimer::Call c;
  c.tid = call.tid;
  c.start_ns = call.start.wall_ns;
  c.raw_wall_ns = call.end.wall_ns - call.start.wall_ns;
  c.raw_cpu_ns = call.end.cpu_ns - call.start.cpu_ns;
  c.by_exception = by_exception;
  std::lock_guard<std::mutex> lock(functions_mutex_);
  if (call_sched_ && call.sched_before)
    if (auto after = call_sched_->thread_now(call.tid)) c.off_cpu = off_cpu_between(*call.sched_before, *after);
  c.memory_delta = static_cast<int64_t>(self_rss_bytes()) - static_cast<int64_t>(call.rss_before);
  c.peak_memory = self_peak_rss_bytes();
  if (call.calibrating) {
    calibration_spans_.emplace_back(c.raw_wall_ns, c.raw_cpu_ns);
    return;
  }
  auto& timer = functions_[call.name];
  if (!timer) timer = std::make_unique<FunctionTimer>(call.name);
  timer->add(c, *timer_cost_);
  if (metrics) *metrics = timer->metrics();
}

ScopeTimer PerformanceProfiler::scope_of(const std::string& name, bool calibrating) {
  ScopeTimer timer(*this, prepare_call(name, calibrating), std::uncaught_exceptions());
  timer.call_->start = start_clocks();  // last: what came before is not the call's
  return timer;
}

ScopeTimer PerformanceProfiler::scope(const std::string& name) { return scope_of(name, false); }

void PerformanceProfiler::measure_timer_cost() {
  // Empty calls through the very code a real call goes through; the first ones warm it up.
  constexpr size_t kWarmup = 16, kSamples = 201;
  std::vector<uint64_t> per_call;
  for (size_t i = 0; i < kWarmup + kSamples; i++) {
    const uint64_t before = monotonic_ns();
    scope_of(std::string(), /*calibrating=*/true).stop();
    if (i >= kWarmup) per_call.push_back(monotonic_ns() - before);
  }
  std::vector<uint64_t> wall, cpu;
  {
    std::lock_guard<std::mutex> lock(functions_mutex_);
    for (size_t i = kWarmup; i < calibration_spans_.size(); i++) {
      wall.push_back(calibration_spans_[i].first);
      cpu.push_back(calibration_spans_[i].second);
    }
    calibration_spans_.clear();
    calibration_spans_.shrink_to_fit();
  }
  auto median = [](std::vector<uint64_t>& v) {
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  auto cost = std::make_unique<TimerCost>();
  cost->self_wall_ns = median(wall);
  cost->self_cpu_ns = median(cpu);
  cost->per_call_ns = median(per_call);
  std::lock_guard<std::mutex> lock(functions_mutex_);
  timer_cost_ = std::move(cost);
}

uint64_t PerformanceProfiler::start_function_profiling(const std::string& name) {
  std::unique_ptr<OpenCall> call = prepare_call(name, false);
  OpenCall* open = call.get();
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(functions_mutex_);
    id = next_call_id_++;
    open_calls_.emplace(id, std::move(call));
  }
  // Only the calling thread stops this call, so its clocks are written outside the lock.
  open->start = start_clocks();
  return id;
}

ProfilingMetrics PerformanceProfiler::stop_function_profiling(uint64_t id) {
  const ClockReading end = stop_clocks();
  std::unique_ptr<OpenCall> call;
  {
    std::lock_guard<std::mutex> lock(functions_mutex_);
    auto it = open_calls_.find(id);
    if (it == open_calls_.end())
      throw Error::usage("no function profiling with id " + std::to_string(id),
                         "pass the id start_function_profiling returned, once");
    call = std::move(it->second);
    open_calls_.erase(it);
  }
  call->end = end;
  ProfilingMetrics m;
  close_call(*call, false, &m);
  return m;
}

ProfilingMetrics PerformanceProfiler::metrics(const std::string& name) const {
  std::lock_guard<std::mutex> lock(functions_mutex_);
  auto it = functions_.find(name);
  if (it == functions_.end())
    throw Error::usage("no function named " + name + " was profiled", "name it as profile_function or scope did");
  return it->second->metrics();
}

std::map<std::string, ProfilingMetrics> PerformanceProfiler::profiling_data() const {
  std::lock_guard<std::mutex> lock(functions_mutex_);
  std::map<std::string, ProfilingMetrics> out;
  for (const auto& [name, timer] : functions_) out.emplace(name, timer->metrics());
  return out;
}

void PerformanceProfiler::clear_data() {
  {
    std::lock_guard<std::mutex> lock(functions_mutex_);
    functions_.clear();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.clear();
}

Profile PerformanceProfiler::profiling_report() const {
  Profile p;
  p.tool_version = PERFBPF_VERSION;
  p.session.mode = "pid";
  p.session.pid = getpid();
  p.session.kernel = kernel_release();
  p.session.hostname = host_name();
  p.session.start = fmt::format("{:%Y-%m-%dT%H:%M:%S}+00:00", fmt::gmtime(std::chrono::system_clock::to_time_t(created_)));
  p.session.duration_s = std::chrono::duration<double>(std::chrono::system_clock::now() - created_).count();
  p.session.end_reason = "library";
  {
    std::lock_guard<std::mutex> lock(functions_mutex_);
    for (const auto& [name, timer] : functions_) p.functions.push_back(timer->profile());
  }
  // What timing cost the process, as the CLI says what its probes cost the target.
  for (auto& f : p.functions) {
    f.overhead_pct = p.session.duration_s > 0
                         ? 100.0 * static_cast<double>(f.calls) * f.probe_cost_ns / (p.session.duration_s * 1e9)
                         : 0;
    p.overhead.target_slowdown_pct += f.overhead_pct;
  }
  p.system = system_profile();
  p.overhead.completeness_pct = 100;
  p.analysis = analyze_profile(p, performance_thresholds);
  return p;
}

std::string PerformanceProfiler::generate_profiling_report() {
  create_output_directory(output_dir_, "output_dir");
  // UTC time, pid and a count: reports of one process in one second do not overwrite each other.
  static std::atomic<unsigned> reports{0};
  std::string path = fmt::format("{}/perfbpf-report-{:%Y%m%d-%H%M%S}-{}-{}.json", output_dir_,
                                 fmt::gmtime(std::time(nullptr)), getpid(), ++reports);
  write_json_report(profiling_report(), path, "output_dir");
  return path;
}

}  // namespace perfbpf
