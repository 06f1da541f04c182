// PerformanceProfiler's function timing and its report.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fmt/chrono.h>
#include <fmt/format.h>

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

void FunctionTimer::add(uint32_t tid, uint64_t wall_ns, uint64_t cpu_ns, int64_t memory_delta, uint64_t peak_memory,
                        const std::optional<OffCpuTime>& off_cpu) {
  durations_.record(wall_ns);
  cpu_ns_ += cpu_ns;
  memory_delta_ = memory_delta;
  peak_memory_ = peak_memory;
  if (off_cpu) {
    off_cpu_measured_ = true;
    off_cpu_.runqueue += off_cpu->runqueue;
    off_cpu_.io += off_cpu->io;
    off_cpu_.sleep += off_cpu->sleep;
  }
  ThreadCalls& t = threads_[tid];
  t.tid = tid;
  t.tgid = static_cast<uint32_t>(getpid());
  t.calls++;
  t.total_ns += wall_ns;
}

ProfilingMetrics FunctionTimer::metrics() const {
  ProfilingMetrics m;
  m.function_name = name_;
  m.call_count = durations_.count();
  m.total_time = static_cast<double>(durations_.sum()) / 1e9;
  m.avg_time = durations_.mean() / 1e9;
  m.min_time = static_cast<double>(durations_.min()) / 1e9;
  m.max_time = static_cast<double>(durations_.max()) / 1e9;
  const double sd = durations_.stddev() / 1e9;
  m.time_variance = sd * sd;
  m.p50_time = static_cast<double>(durations_.quantile(0.5)) / 1e9;
  m.p99_time = static_cast<double>(durations_.quantile(0.99)) / 1e9;
  m.cpu_time = static_cast<double>(cpu_ns_) / 1e9;
  m.cpu_percent = m.total_time > 0 ? 100 * m.cpu_time / m.total_time : 0;
  m.memory_delta = memory_delta_;
  m.peak_memory = peak_memory_;
  m.off_cpu_measured = off_cpu_measured_;
  m.off_cpu_ns = off_cpu_;
  return m;
}

FunctionProfile FunctionTimer::profile() const {
  FunctionProfile f;
  f.name = f.demangled = name_;
  f.object = "[in-process]";  // timed by the library in the process itself, no probe
  f.probe_site = "in-process";
  f.probe_method = "in-process";
  f.calls = durations_.count();
  f.latency = f.latency_raw = summarize(durations_);
  f.histogram = durations_.buckets();
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

uint64_t PerformanceProfiler::start_function_profiling(const std::string& name) {
  auto call = std::make_unique<OpenCall>();
  call->name = name;
  call->tid = current_tid();
  std::lock_guard<std::mutex> lock(functions_mutex_);
  if (!call_sched_tried_) {
    call_sched_tried_ = true;
    call_sched_ = CallSched::try_create();
  }
  if (call_sched_) call->sched_before = call_sched_->thread_now(call->tid).value_or(ResourceUsage{});
  call->rss_before = self_rss_bytes();
  const uint64_t id = next_call_id_++;
  // The CPU window sits inside the wall window (wall clock read first here, last in stop),
  // so a call's CPU share cannot pass 100 % by the order of the reads.
  call->start_ns = monotonic_ns();
  call->cpu_start_ns = thread_cpu_ns();
  open_calls_.emplace(id, std::move(call));
  return id;
}

ProfilingMetrics PerformanceProfiler::stop_function_profiling(uint64_t id) {
  const uint64_t cpu_end_ns = thread_cpu_ns(), end_ns = monotonic_ns();
  std::lock_guard<std::mutex> lock(functions_mutex_);
  auto it = open_calls_.find(id);
  if (it == open_calls_.end())
    throw Error::usage("no function profiling with id " + std::to_string(id), "pass the id start_function_profiling returned, once");
  std::unique_ptr<OpenCall> call = std::move(it->second);
  open_calls_.erase(it);
  std::optional<OffCpuTime> off_cpu;
  if (call_sched_ && call->sched_before)
    if (auto after = call_sched_->thread_now(call->tid)) off_cpu = off_cpu_between(*call->sched_before, *after);
  const uint64_t rss_after = self_rss_bytes();
  auto& timer = functions_[call->name];
  if (!timer) timer = std::make_unique<FunctionTimer>(call->name);
  timer->add(call->tid, end_ns - call->start_ns, cpu_end_ns - call->cpu_start_ns,
             static_cast<int64_t>(rss_after) - static_cast<int64_t>(call->rss_before), self_peak_rss_bytes(),
             off_cpu);
  return timer->metrics();
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
