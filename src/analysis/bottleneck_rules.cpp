// The bottleneck rules: each compares one measured figure with a threshold and, when crossed,
// says what is slow, how sure the claim is (data_share) and what it rests on (detail). The
// thresholds not in PerformanceThresholds are constants here, listed with docs/analysis.md.
#include "analysis/bottleneck_rules.h"

#include "analysis/decomposition_rules.h"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <optional>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "analysis/analyze.h"
#include "analysis/trends.h"
#include "report/text_summary.h"

namespace perfbpf {
namespace {

bool is_probe_frame(const StackFrame& f) { return f.name == kPerfbpfProbeFrame || f.name == kOtherUprobeFrame; }

// The leaf function with the most on-CPU samples in process TGID, and its share of them;
// samples in a probe's trap path are the probe's, not the process's code, and left out.
std::optional<std::pair<std::string, double>> hottest_sampled_function(const StackProfile& stacks, uint32_t tgid) {
  if (!stacks.enabled) return std::nullopt;
  std::map<std::string, uint64_t> self;
  uint64_t total = 0;
  for (const auto& s : stacks.stacks) {
    if (s.tgid != tgid || s.frames.empty()) continue;
    const StackFrame& leaf = stacks.frames.at(s.frames.back());
    if (is_probe_frame(leaf)) continue;
    total += s.count;
    if (!leaf.kernel) self[leaf.name] += s.count;  // kernel leaves: syscalls, not the code to optimise
  }
  auto best = std::max_element(self.begin(), self.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  if (best == self.end() || total == 0) return std::nullopt;
  return std::make_pair(best->first, 100.0 * static_cast<double>(best->second) / static_cast<double>(total));
}

// The leaf frame the off-CPU profile ends each stack with (aggregate/stack_profile.cpp names
// it "[off-cpu: " + offcpu_state_name() + "]").
constexpr const char* kLeafIo = "[off-cpu: io]";
constexpr const char* kLeafSleep = "[off-cpu: sleep]";
constexpr const char* kLeafRunnable = "[off-cpu: runnable]";

constexpr double kMachineCpuCritical = 0.95;  // of all CPUs busy
constexpr size_t kNamedProcesses = 4;         // a machine finding names this many, then counts
constexpr double kTakerShare = 0.05;          // of the processes' CPU time, to be named as taking it
constexpr double kWorkingThreadShare = 0.1;   // of its process's CPU time, for a thread to count as working
constexpr double kRunqueueMedium = 0.2, kRunqueueHigh = 0.5;  // runqueue / (cpu + runqueue)
constexpr double kIoMedium = 0.3, kIoHigh = 0.6;              // io / (cpu + runqueue + io + sleep)
constexpr double kDiskMediumNs = 50e6, kDiskHighNs = 500e6;   // device total latency p99
constexpr double kFunctionWaitShare = 0.5;    // off-CPU ns inside a function / its latency total
constexpr double kCorrelatedSessionShare = 0.5;  // function latency total / session wall time
constexpr uint64_t kMajorFaults = 100;           // per process
constexpr double kMemoryCritical = 95;           // % of machine memory in use
constexpr size_t kLeakMinSamples = 8;
constexpr double kLeakAlpha = 0.01;
// A significant but tiny slope (a few pages over the session) is allocator noise, not a leak.
constexpr double kLeakMinGrowth = 0.01;           // of the first sample's RSS over the series
constexpr double kRetransmitMedium = 1, kRetransmitHigh = 5;  // % of send calls
constexpr double kLostHigh = 1;                                // % of events
// A share of a few milliseconds of thread time says nothing: a process that barely ran.
constexpr uint64_t kMinThreadTimeNs = 10'000'000;

double d(uint64_t v) { return static_cast<double>(v); }
double pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0; }

const std::string& display_name(const FunctionProfile& f) { return f.demangled.empty() ? f.name : f.demangled; }

std::string subject_of(const ProcessResources& p) {
  if (p.pid == 0) return p.comm;  // system-wide totals without a process table: "target"
  return fmt::format("{}[{}]", p.comm.empty() ? std::string("?") : p.comm, p.pid);
}

// The processes the per-process rules look at. A session that recorded only totals (no
// per-process table) is treated as one process: the target.
std::vector<ProcessResources> processes_of(const Profile& p) {
  if (!p.system.processes.empty()) return p.system.processes;
  ProcessResources target;
  target.pid = static_cast<uint32_t>(std::max<int64_t>(p.session.pid, 0));
  if (!p.session.command.empty()) target.comm = p.session.command[0].substr(p.session.command[0].rfind('/') + 1);
  else target.comm = "target";
  target.usage = p.system.totals;
  return {target};
}

std::string comm_of(const Profile& p, uint32_t tgid) {
  for (const auto& proc : p.system.processes)
    if (proc.pid == tgid) return proc.comm;
  auto it = p.stacks.processes.find(tgid);
  if (it != p.stacks.processes.end()) return it->second;
  it = p.off_cpu.processes.find(tgid);
  return it != p.off_cpu.processes.end() ? it->second : std::string();
}

Affects function_affects(const Profile& p, const FunctionProfile& f) {
  Affects a;
  a.function = display_name(f);
  if (!f.threads.empty()) {
    a.pid = f.threads.front().tgid;
    a.comm = comm_of(p, a.pid);
  }
  return a;
}

Affects process_affects(const ProcessResources& proc) {
  Affects a;
  a.pid = proc.pid;
  a.comm = proc.comm;
  return a;
}

std::string ns_text(double ns) { return format_duration_ns(ns); }

// ---- 1. latency: a function over function_time_warning or its own --threshold

void latency_rules(const Profile& p, const PerformanceThresholds& th, std::vector<Bottleneck>& out) {
  uint64_t all_calls = 0;
  for (const auto& f : p.functions) all_calls += f.calls;
  struct Limit {
    std::string stat;  // "mean" or "p99"
    double ns;
    std::string source;
  };
  for (const auto& f : p.functions) {
    if (f.calls == 0) continue;
    const std::string& name = display_name(f);
    // A per-function threshold replaces the global one for the functions it matches: the user
    // said what this function may take.
    std::vector<Limit> limits;
    for (const auto& ft : th.functions)
      if (fnmatch(ft.pattern.c_str(), name.c_str(), 0) == 0 || fnmatch(ft.pattern.c_str(), f.name.c_str(), 0) == 0)
        limits.push_back({ft.stat, ft.value_ns, "function:" + ft.pattern + "." + ft.stat});
    if (limits.empty()) {
      const double global_ns = th.function_time_warning * 1e9;
      limits = {{"mean", global_ns, "function_time_warning"}, {"p99", global_ns, "function_time_warning"}};
    }
    // A mean over the limit means most calls are (critical); a p99 over it, the slowest 1% (high).
    const Limit* hit = nullptr;
    double value = 0;
    for (const char* stat : {"mean", "p99"}) {
      double v = std::string(stat) == "mean" ? f.latency.mean : d(f.latency.p99);
      for (const auto& l : limits)
        if (l.stat == stat && v > l.ns && !hit) {
          hit = &l;
          value = v;
        }
    }
    if (!hit) continue;
    Bottleneck b;
    b.id = "slow-function:" + name;
    b.category = "latency";
    b.severity = hit->stat == "mean" ? "critical" : "high";
    b.title = fmt::format("{} is slow: {} latency {} is over the {} threshold", name, hit->stat, ns_text(value),
                          ns_text(hit->ns));
    b.evidence = {"latency." + hit->stat,
                  value,
                  hit->ns,
                  "ns",
                  all_calls ? d(f.calls) / d(all_calls) : 0,
                  fmt::format("{} of {} calls ({}), against {}", hit->stat, f.calls,
                              f.probe_site == "in-process"     ? "timed in process"
                              : p.calibration.method == "none" ? "raw, probe cost included"
                                                               : "probe cost subtracted",
                              hit->source)};
    b.affects = function_affects(p, f);
    out.push_back(std::move(b));
  }
}

// ---- 2. CPU: the machine's utilisation, processes that are CPU-bound, run-queue waits

// kthreadd (pid 2) and its children: their CPU is kernel work done for others, and they wait
// for a CPU like anything else on a busy machine. Nothing in them is there to tune.
bool kernel_thread(const ProcessResources& p) { return p.pid == 2 || p.ppid == 2; }

// The machine's CPU utilisation over the session, 100 = all CPUs busy: /proc/stat when the
// report has it; otherwise the target's own share of the CPUs (the machine in system scope, a
// lower bound elsewhere).
double machine_utilisation(const SystemProfile& s) {
  if (s.machine_cpu_pct > 0) return s.machine_cpu_pct;
  return s.cpus ? s.totals.cpu_pct / s.cpus : 0;
}

struct CpuView {
  double session_ns = 0;
  unsigned cpus = 0;
  double share_of_machine(uint64_t cpu_ns) const {
    return session_ns > 0 && cpus ? 100.0 * d(cpu_ns) / (session_ns * cpus) : 0;
  }
  // Threads wanting a CPU, on average: on CPU or runnable time over the session.
  double demand(const ResourceUsage& u) const {
    return session_ns > 0 ? d(u.cpu_time_ns + u.off_cpu_ns.runqueue) / session_ns : 0;
  }
};

// Threads that did a share of the process's CPU work worth naming: a program that works on one
// thread (its main thread waiting on it, say) is single-threaded for what it can do with CPUs.
size_t working_threads(const ProcessResources& p) {
  return static_cast<size_t>(std::count_if(p.threads.begin(), p.threads.end(), [&](const ThreadResources& t) {
    return d(t.usage.cpu_time_ns) >= kWorkingThreadShare * d(p.usage.cpu_time_ns);
  }));
}

double runqueue_share(const ResourceUsage& u) {
  const uint64_t sched = u.cpu_time_ns + u.off_cpu_ns.runqueue;
  return sched >= kMinThreadTimeNs ? d(u.off_cpu_ns.runqueue) / d(sched) : 0;
}

// "a[1] 2.41 s on CPU (60.2% of the machine), b[2] ...": the processes that took the CPU.
std::string takers_text(const Profile& p, const std::vector<ProcessResources>& procs, const CpuView& v) {
  std::vector<const ProcessResources*> by_cpu;
  uint64_t all = 0;
  for (const auto& proc : procs) {
    by_cpu.push_back(&proc);
    all += proc.usage.cpu_time_ns;
  }
  std::sort(by_cpu.begin(), by_cpu.end(), [](auto* a, auto* b) { return a->usage.cpu_time_ns > b->usage.cpu_time_ns; });
  std::string text;
  size_t named = 0;
  for (const auto* proc : by_cpu) {
    // A few percent of what the processes used is not what filled the CPUs.
    if (named == kNamedProcesses || d(proc->usage.cpu_time_ns) < kTakerShare * d(all)) break;
    text += fmt::format("{}{} {} on CPU ({:.1f}% of the machine", text.empty() ? "" : ", ", subject_of(*proc),
                        ns_text(d(proc->usage.cpu_time_ns)), v.share_of_machine(proc->usage.cpu_time_ns));
    if (auto hot = hottest_sampled_function(p.stacks, proc->pid)) text += ", most in " + hot->first;
    text += ")";
    named++;
  }
  return text.empty() ? "no process of the target" : text;
}

// "dd[7] waited 1.20 s (62.0% of its runnable time), ...; and 3 more (2 kernel threads)".
std::string waiters_text(const std::vector<const ProcessResources*>& waiters) {
  std::string text;
  size_t kernel = 0;
  for (size_t i = 0; i < waiters.size(); i++) {
    const ResourceUsage& u = waiters[i]->usage;
    kernel += kernel_thread(*waiters[i]);
    if (i < kNamedProcesses)
      text += fmt::format("{}{} waited {} ({:.1f}% of its runnable time)", i ? ", " : "", subject_of(*waiters[i]),
                          ns_text(d(u.off_cpu_ns.runqueue)), 100 * runqueue_share(u));
  }
  if (waiters.size() > kNamedProcesses) text += fmt::format(", and {} more", waiters.size() - kNamedProcesses);
  if (kernel) text += fmt::format("; {} {}", kernel, kKernelThreadsWaited);
  return text;
}

void cpu_rules(const Profile& p, const PerformanceThresholds& th, std::vector<Bottleneck>& out) {
  if (!p.system.enabled) return;
  const SystemProfile& s = p.system;
  const std::vector<ProcessResources> procs = processes_of(p);
  const CpuView view{p.session.duration_s * 1e9, s.cpus};
  const double busy = machine_utilisation(s);

  // Run-queue waits: a process whose own threads wanted more CPUs than the machine has waits
  // for itself (its own story); any other waits behind other work, and those are told once,
  // for the machine, not once per process.
  std::vector<const ProcessResources*> waiters;
  uint64_t all_sched = s.totals.cpu_time_ns + s.totals.off_cpu_ns.runqueue, waiters_sched = 0, waiters_rq = 0;
  for (const auto& proc : procs) {
    const ResourceUsage& u = proc.usage;
    const double share = runqueue_share(u);
    if (share <= kRunqueueMedium) continue;
    // Compared as the finding shows it (two decimals): a demand of 2.004 on 2 CPUs is the
    // counters' tick lag, and a finding reading "wanted 2.00 CPUs, the machine has 2" would
    // contradict its own title.
    const double demand = std::round(view.demand(u) * 100) / 100;
    if (s.cpus && demand <= s.cpus) {
      waiters.push_back(&proc);
      waiters_sched += u.cpu_time_ns + u.off_cpu_ns.runqueue;
      waiters_rq += u.off_cpu_ns.runqueue;
      continue;
    }
    const bool high = share > kRunqueueHigh;
    const std::string subject = subject_of(proc);
    Bottleneck b;
    b.id = "runqueue-wait:" + subject;
    b.category = "scheduling";
    b.severity = high ? "high" : "medium";
    b.title = fmt::format("{} waits for a CPU {:.1f}% of the time it is runnable: its threads want more CPUs than "
                          "there are",
                          subject, 100 * share);
    std::string rq_latency;
    if (s.runqueue_latency_ns.summary.max > 0)
      rq_latency = fmt::format("; run-queue latency p99 {}", ns_text(d(s.runqueue_latency_ns.summary.p99)));
    b.evidence = {"off_cpu.runqueue_share",
                  100 * share,
                  100 * (high ? kRunqueueHigh : kRunqueueMedium),
                  "%",
                  all_sched ? std::min(1.0, d(u.cpu_time_ns + u.off_cpu_ns.runqueue) / d(all_sched)) : 1,
                  fmt::format("runqueue {} / (on CPU {} + runqueue); its threads wanted {:.2f} CPUs on average, the "
                              "machine has {}{}",
                              ns_text(d(u.off_cpu_ns.runqueue)), ns_text(d(u.cpu_time_ns)), demand, s.cpus, rq_latency)};
    b.affects = process_affects(proc);
    out.push_back(std::move(b));
  }
  std::sort(waiters.begin(), waiters.end(), [](auto* a, auto* b) {
    return a->usage.off_cpu_ns.runqueue > b->usage.off_cpu_ns.runqueue;
  });

  // The machine: busier than cpu_usage_warning (a share of all its CPUs, as the original design
  // meant it). Who took the CPU and who waited for it are named here, once. Watching a process
  // or a cgroup, a machine kept busy by others is the target's story only when the target
  // waited for it or took most of it itself.
  const std::string machine_detail =
      fmt::format("{}: {:.1f}% of {} CPUs busy over {:.1f} s{}",
                  s.machine_cpu_pct > 0 ? "/proc/stat" : "the target's processes", busy, s.cpus, p.session.duration_s,
                  s.machine_cpu_pct_peak > 0 ? fmt::format(" (busiest interval {:.1f}%)", s.machine_cpu_pct_peak) : "");
  const std::string took = (s.scope == "system" ? "the CPU went to " : "the target's processes took ") +
                           takers_text(p, procs, view);
  const double target_share = view.share_of_machine(s.totals.cpu_time_ns);
  const bool saturated = busy > th.cpu_usage_warning &&
                         (s.scope == "system" || !waiters.empty() || target_share > th.cpu_usage_warning);
  if (saturated) {
    const bool critical = busy >= 100 * kMachineCpuCritical;
    // Seen from a process or a cgroup that others crowded out, the harm is its waits.
    const bool crowded_out = s.scope != "system" && target_share <= th.cpu_usage_warning;
    Bottleneck b;
    b.id = "cpu-saturation:machine";
    b.category = "cpu";
    b.severity = !crowded_out ? (critical ? "critical" : "high")
                 : d(waiters_rq) > kRunqueueHigh * d(waiters_sched) ? "high"
                                                                    : "medium";
    b.title = fmt::format("the machine's {} CPUs were {:.1f}% busy{}", s.cpus, busy,
                          waiters.empty()        ? ""
                          : waiters.size() == 1 ? fmt::format("; {} waited for a CPU", subject_of(*waiters[0]))
                                                 : fmt::format("; {} processes waited for a CPU", waiters.size()));
    b.evidence = {"system.machine_cpu_pct", busy, critical ? 100 * kMachineCpuCritical : th.cpu_usage_warning, "%", 1,
                  machine_detail + "; " + took + (waiters.empty() ? "" : "; waiting for a CPU: " + waiters_text(waiters))};
    out.push_back(std::move(b));
  } else if (!waiters.empty()) {
    // Not busy on average, yet processes waited: bursts, a cgroup quota, or CPU affinity.
    const double share = d(waiters_rq) / d(waiters_sched);
    const bool high = share > kRunqueueHigh;
    Bottleneck b;
    b.id = "cpu-contention:machine";
    b.category = "scheduling";
    b.severity = high ? "high" : "medium";
    b.title = waiters.size() == 1
                  ? fmt::format("{} waited for a CPU {:.1f}% of the time it was runnable, behind other work",
                                subject_of(*waiters[0]), 100 * share)
                  : fmt::format("{} processes waited for a CPU {:.1f}% of the time they were runnable, behind other work",
                                waiters.size(), 100 * share);
    b.evidence = {"off_cpu.runqueue_share", 100 * share, 100 * (high ? kRunqueueHigh : kRunqueueMedium), "%",
                  all_sched ? std::min(1.0, d(waiters_sched) / d(all_sched)) : 1,
                  "waiting for a CPU: " + waiters_text(waiters) + "; no one of them wanted more CPUs than there are; " +
                      machine_detail + "; " + took};
    if (waiters.size() == 1) b.affects = process_affects(*waiters[0]);
    out.push_back(std::move(b));
  }

  // A process keeping CPUs busy is where the time goes; on a saturated machine the finding
  // above names it already.
  if (saturated) return;
  for (const auto& proc : procs) {
    const ResourceUsage& u = proc.usage;
    if (u.cpu_pct <= th.process_cpu_warning) continue;
    const std::string subject = subject_of(proc);
    const size_t working = working_threads(proc);
    const char* kind = kernel_thread(proc) ? kKernelThread : working == 1 ? kSingleThreaded : "";
    const std::string threads = *kind                  ? std::string(kind)
                                : proc.threads.empty() ? std::string("its threads unknown (it exited)")
                                                       : fmt::format("{} threads working", working);
    Bottleneck b;
    b.id = "cpu-bound:" + subject;
    b.category = "cpu";
    b.severity = "medium";
    b.title = kind == kKernelThread     ? fmt::format("kernel thread {} is busy {:.1f}% of one CPU", subject, u.cpu_pct)
              : kind == kSingleThreaded ? fmt::format("{} is CPU-bound on its one thread: {:.1f}% of one CPU", subject,
                                                      u.cpu_pct)
                                        : fmt::format("{} is CPU-bound: {:.1f}% CPU (100% = one CPU)", subject, u.cpu_pct);
    b.evidence = {"process.cpu_pct", u.cpu_pct, th.process_cpu_warning, "%", 1,
                  fmt::format("{} on CPU over {:.1f} s of session ({:.1f}% of the machine's {} CPUs); {}",
                              ns_text(d(u.cpu_time_ns)), p.session.duration_s, view.share_of_machine(u.cpu_time_ns),
                              s.cpus, threads)};
    b.affects = process_affects(proc);
    // Where the CPU goes, when stacks were sampled: the function to optimise first.
    if (auto hot = hottest_sampled_function(p.stacks, proc.pid)) {
      b.affects.function = hot->first;
      b.evidence.detail += fmt::format("; hottest sampled function {} ({:.1f}% of its samples)", hot->first, hot->second);
    }
    out.push_back(std::move(b));
  }
}

// ---- 3. I/O: processes waiting on I/O, slow devices, and the function the waits are in

void io_rules(const Profile& p, std::vector<Bottleneck>& out) {
  if (!p.system.enabled) return;
  for (const auto& proc : processes_of(p)) {
    const ResourceUsage& u = proc.usage;
    const uint64_t all = u.cpu_time_ns + u.off_cpu_ns.runqueue + u.off_cpu_ns.io + u.off_cpu_ns.sleep;
    if (all < kMinThreadTimeNs) continue;
    const double share = d(u.off_cpu_ns.io) / d(all);
    if (share <= kIoMedium) continue;
    bool high = share > kIoHigh;
    const std::string subject = subject_of(proc);
    Bottleneck b;
    b.id = "io-wait:" + subject;
    b.category = "io";
    b.severity = high ? "high" : "medium";
    b.title = fmt::format("{} spends {:.1f}% of its thread time waiting on I/O", subject, 100 * share);
    b.evidence = {"off_cpu.io_share", 100 * share, 100 * (high ? kIoHigh : kIoMedium), "%", 1,
                  fmt::format("io wait {} / (on CPU {} + runqueue {} + io {} + sleep {}); disk read {} write {}",
                              ns_text(d(u.off_cpu_ns.io)), ns_text(d(u.cpu_time_ns)), ns_text(d(u.off_cpu_ns.runqueue)),
                              ns_text(d(u.off_cpu_ns.io)), ns_text(d(u.off_cpu_ns.sleep)),
                              format_bytes(d(u.disk.read_bytes)), format_bytes(d(u.disk.write_bytes)))};
    b.affects = process_affects(proc);
    out.push_back(std::move(b));
  }
  uint64_t all_ios = 0;
  for (const auto& disk : p.system.disks) all_ios += disk.traffic.read_ios + disk.traffic.write_ios;
  for (const auto& disk : p.system.disks) {
    const double p99 = d(disk.total_ns.summary.p99);
    if (p99 <= kDiskMediumNs) continue;
    bool high = p99 > kDiskHighNs;
    const uint64_t ios = disk.traffic.read_ios + disk.traffic.write_ios;
    Bottleneck b;
    b.id = "disk-latency:" + disk.name;
    b.category = "io";
    b.severity = high ? "high" : "medium";
    b.title = fmt::format("{} is slow: I/O request latency p99 {}", disk.name, ns_text(p99));
    b.evidence = {"disk.total_latency.p99", p99, high ? kDiskHighNs : kDiskMediumNs, "ns",
                  all_ios ? d(ios) / d(all_ios) : 1,
                  fmt::format("{} requests; in the queue p99 {}, at the device p99 {}: {}", ios,
                              ns_text(d(disk.queue_ns.summary.p99)), ns_text(d(disk.service_ns.summary.p99)),
                              disk.queue_ns.summary.p99 > disk.service_ns.summary.p99 ? kDiskQueued : kDiskDevice)};
    b.affects.device = disk.name;
    out.push_back(std::move(b));
  }
}

struct Waits {
  uint64_t io = 0, sleep = 0, runnable = 0;
};

// Off-CPU ns of the stacks that pass through F, by why the thread was off CPU.
Waits waits_inside(const StackProfile& oc, const FunctionProfile& f) {
  std::set<uint32_t> mine;
  for (uint32_t i = 0; i < oc.frames.size(); i++)
    if (oc.frames[i].name == display_name(f) || oc.frames[i].name == f.name) mine.insert(i);
  Waits w;
  if (mine.empty()) return w;
  for (const auto& st : oc.stacks) {
    if (st.frames.empty()) continue;
    if (std::none_of(st.frames.begin(), st.frames.end(), [&](uint32_t i) { return mine.count(i) > 0; })) continue;
    const std::string& leaf = oc.frames[st.frames.back()].name;
    if (leaf == kLeafIo) w.io += st.count;
    else if (leaf == kLeafSleep) w.sleep += st.count;
    else if (leaf == kLeafRunnable) w.runnable += st.count;
  }
  return w;
}

void function_wait_rules(const Profile& p, std::vector<Bottleneck>& out) {
  const StackProfile& oc = p.off_cpu;
  if (oc.enabled) {
    for (const auto& f : p.functions) {
      if (f.calls == 0 || f.latency.total == 0) continue;
      const Waits w = waits_inside(oc, f);
      // Its waits for a CPU (runnable) are the machine's contention, a finding of its own: the
      // shares below are of the function's time without them, so a busy machine does not hide
      // what the function itself waits on.
      const double total = d(f.latency.total) - std::min(d(w.runnable), 0.99 * d(f.latency.total));
      const double covered = std::min(1.0, d(w.io + w.sleep + w.runnable) / d(f.latency.total));
      const std::string& name = display_name(f);
      const std::string detail = fmt::format(
          "off-CPU stacks through {}: io {}, sleep {}, runnable {} of its {} total latency ({} calls)", name,
          ns_text(d(w.io)), ns_text(d(w.sleep)), ns_text(d(w.runnable)), ns_text(d(f.latency.total)), f.calls);
      if (d(w.io) > kFunctionWaitShare * total) {
        Bottleneck b;
        b.id = "io-bound-function:" + name;
        b.category = "io";
        b.severity = "high";
        b.title = fmt::format("{} is I/O-bound: {:.1f}% of its time (waits for a CPU aside) is I/O wait", name,
                              pct(d(w.io), total));
        b.evidence = {"off_cpu.io_share", pct(d(w.io), total), 100 * kFunctionWaitShare, "%", covered, detail};
        b.affects = function_affects(p, f);
        out.push_back(std::move(b));
      }
      if (d(w.sleep) > kFunctionWaitShare * total) {
        Bottleneck b;
        b.id = "sleep-bound-function:" + name;
        b.category = "latency";
        b.severity = "medium";
        b.title = fmt::format(
            "{} is sleep/lock-bound: {:.1f}% of its time (waits for a CPU aside) is spent blocked (sleeps, locks, polls)",
            name, pct(d(w.sleep), total));
        b.evidence = {"off_cpu.sleep_share", pct(d(w.sleep), total), 100 * kFunctionWaitShare, "%", covered, detail};
        b.affects = function_affects(p, f);
        out.push_back(std::move(b));
      }
    }
    return;
  }
  // Without off-CPU stacks the waits cannot be placed inside a function; a function that fills
  // the session in a process that mostly waits on I/O is the likely place, and said to be a guess.
  if (!p.system.enabled || p.session.duration_s <= 0) return;
  const std::vector<ProcessResources> processes = processes_of(p);
  for (const auto& f : p.functions) {
    if (f.calls == 0) continue;
    const double session_share = d(f.latency.total) / (p.session.duration_s * 1e9);
    if (session_share <= kCorrelatedSessionShare) continue;
    const ProcessResources* proc = processes.size() == 1 ? &processes.front() : nullptr;
    if (!f.threads.empty())
      for (const auto& candidate : processes)
        if (candidate.pid == f.threads.front().tgid) proc = &candidate;
    if (!proc) continue;
    const ResourceUsage& u = proc->usage;
    const uint64_t all = u.cpu_time_ns + u.off_cpu_ns.runqueue + u.off_cpu_ns.io + u.off_cpu_ns.sleep;
    if (all < kMinThreadTimeNs) continue;
    const double io_share = d(u.off_cpu_ns.io) / d(all);
    if (io_share <= kIoMedium) continue;
    const std::string& name = display_name(f);
    Bottleneck b;
    b.id = "io-bound-function:" + name;
    b.category = "io";
    b.severity = "medium";
    b.title = fmt::format("{} is likely I/O-bound: it takes {:.1f}% of the session and {} waits on I/O {:.1f}% of "
                          "its thread time",
                          name, 100 * session_share, subject_of(*proc), 100 * io_share);
    b.evidence = {"process.off_cpu.io_share", 100 * io_share, 100 * kIoMedium, "%",
                  std::min(1.0, session_share) * io_share,
                  fmt::format("attributed by correlation, not by stacks: {} takes {:.1f}% of the session and its "
                              "process waits on I/O {:.1f}% of its thread time; --off-cpu would show where the waits are",
                              name, 100 * session_share, 100 * io_share)};
    b.affects = function_affects(p, f);
    b.affects.pid = proc->pid;
    b.affects.comm = proc->comm;
    out.push_back(std::move(b));
  }
}

// ---- 4. memory: machine-wide pressure, major faults, RSS that keeps growing

void memory_rules(const Profile& p, const PerformanceThresholds& th, std::vector<Bottleneck>& out) {
  if (!p.system.enabled) return;
  const SystemProfile& s = p.system;
  if (s.memory_used_pct_peak > th.memory_usage_warning) {
    bool critical = s.memory_used_pct_peak > kMemoryCritical;
    Bottleneck b;
    b.id = "memory-pressure:machine";
    b.category = "memory";
    b.severity = critical ? "critical" : "high";
    b.title = fmt::format("the machine ran short of memory: {:.1f}% in use at the peak", s.memory_used_pct_peak);
    b.evidence = {"system.memory_used_pct_peak", s.memory_used_pct_peak,
                  critical ? kMemoryCritical : th.memory_usage_warning, "%", 1,
                  fmt::format("/proc/meminfo, machine-wide: peak {:.1f}%, last {:.1f}% of {}; the target's RSS peak {}",
                              s.memory_used_pct_peak, s.memory_used_pct_last, format_bytes(d(s.memory_total_bytes)),
                              format_bytes(d(s.totals.memory.rss_peak_bytes)))};
    out.push_back(std::move(b));
  }
  const std::vector<ProcessResources> processes = processes_of(p);
  for (const auto& proc : processes) {
    if (proc.usage.faults.major <= kMajorFaults) continue;
    Bottleneck b;
    b.id = "major-faults:" + subject_of(proc);
    b.category = "memory";
    b.severity = "medium";
    b.title = fmt::format("{} took {} major page faults (each a read from disk)", subject_of(proc), proc.usage.faults.major);
    b.evidence = {"process.faults.major", d(proc.usage.faults.major), d(kMajorFaults), "count", 1,
                  fmt::format("{} major and {} minor faults; RSS peak {}", proc.usage.faults.major,
                              proc.usage.faults.minor, format_bytes(d(proc.usage.memory.rss_peak_bytes)))};
    b.affects = process_affects(proc);
    out.push_back(std::move(b));
  }
  // RSS growth: a significant monotonic trend over enough intervals, and enough of it to matter.
  // The series is what the live processes hold at each read (exited ones hold nothing), so
  // processes coming and going are no growth; reads after every process exited (a command that
  // ended) hold nothing and say nothing of a leak.
  size_t n = s.series.size();
  while (n > 0 && s.series[n - 1].rss_bytes == 0) n--;
  if (n < kLeakMinSamples) return;
  std::vector<double> t, y;
  for (size_t i = 0; i < n; i++) {
    t.push_back(s.series[i].t);
    y.push_back(d(s.series[i].rss_bytes));
  }
  const TrendTest trend = trend_test(t, y, kLeakAlpha);
  if (trend.direction != "increasing" || !(trend.p_value < kLeakAlpha) || trend.slope <= 0) return;
  const double span_s = t.back() - t.front();
  if (trend.slope * span_s < kLeakMinGrowth * y.front()) return;
  const uint64_t last = s.series[n - 1].rss_bytes;
  const double per_min = trend.slope * 60;
  const double doubling_per_min = d(last) / 60;  // what doubles RSS within an hour
  const bool high = last > 0 && per_min >= doubling_per_min;
  // The split at the end: of the live processes, or of the one process as it exited.
  const MemoryUsage& m =
      s.totals.memory.rss_last_bytes == 0 && processes.size() == 1 ? processes.front().usage.memory : s.totals.memory;
  std::string subject = processes.size() == 1 ? subject_of(processes.front()) : std::string("target");
  Bottleneck b;
  b.id = "rss-growth:" + subject;
  b.category = "memory";
  b.severity = high ? "high" : "medium";
  b.title = fmt::format("possible memory leak: RSS of {} grows {}/min", subject, format_bytes(per_min));
  b.evidence = {"system.rss_bytes.slope",
                per_min,
                high ? doubling_per_min : 0,
                "bytes/min",
                p.session.duration_s > 0 ? std::min(1.0, span_s / p.session.duration_s) : 1,
                fmt::format("Theil-Sen slope over {} intervals ({:.0f}-{:.0f} s) of the live processes' RSS, "
                            "Mann-Kendall p = {:.2g}; RSS {} -> {}; at the end anon {}, file {}, shmem {}: {}",
                            n, t.front(), t.back(), trend.p_value, format_bytes(y.front()),
                            format_bytes(d(last)), format_bytes(d(m.anon_bytes)), format_bytes(d(m.file_bytes)),
                            format_bytes(d(m.shmem_bytes)), m.file_bytes > m.anon_bytes ? kGrowthFile : kGrowthAnon)};
  if (processes.size() == 1) b.affects = process_affects(processes.front());
  out.push_back(std::move(b));
}

// ---- 5. network: TCP retransmits

void network_rules(const Profile& p, std::vector<Bottleneck>& out) {
  if (!p.system.enabled) return;
  for (const auto& proc : processes_of(p)) {
    const NetTraffic& n = proc.usage.net;
    if (n.retransmits == 0) continue;
    const std::string subject = subject_of(proc);
    Bottleneck b;
    b.id = "tcp-retransmits:" + subject;
    b.category = "network";
    b.affects = process_affects(proc);
    const std::string detail = fmt::format("{} TCP segments retransmitted, {} send calls moving {}", n.retransmits,
                                           n.tx_calls, format_bytes(d(n.tx_bytes)));
    if (n.tx_calls == 0) {
      b.severity = "medium";
      b.title = fmt::format("{} had {} TCP retransmits", subject, n.retransmits);
      b.evidence = {"process.net.retransmits", d(n.retransmits), 0, "count", 1, detail};
    } else {
      const double rate = pct(d(n.retransmits), d(n.tx_calls));
      if (rate <= kRetransmitMedium) continue;
      bool high = rate > kRetransmitHigh;
      b.severity = high ? "high" : "medium";
      b.title = fmt::format("{} retransmits TCP segments: {:.1f} per 100 sends", subject, rate);
      b.evidence = {"process.net.retransmit_pct", rate, high ? kRetransmitHigh : kRetransmitMedium, "%", 1, detail};
    }
    out.push_back(std::move(b));
  }
}

// ---- 6. data quality: what makes the figures above less than complete

std::string reasons_text(const std::map<std::string, uint64_t>& by_reason) {
  std::string text;
  for (const auto& [reason, n] : by_reason)
    if (n) text += fmt::format("{}{} {}", text.empty() ? "" : ", ", n, reason);
  return text.empty() ? "no reason recorded" : text;
}

void data_quality_rules(const Profile& p, std::vector<Bottleneck>& out) {
  auto lost = [&](const std::string& subject, const std::string& what, uint64_t n, double of,
                  const std::map<std::string, uint64_t>& by_reason) {
    Bottleneck b;
    b.id = "lost-events:" + subject;
    b.category = "data-quality";
    if (of > 0) {
      const double share = pct(d(n), of);
      b.severity = share > kLostHigh ? "high" : "low";
      b.title = fmt::format("{} {} lost ({:.2f}%): the figures undercount", n, what, share);
      b.evidence = {subject + ".lost_pct", share, share > kLostHigh ? kLostHigh : 0, "%", 1 - share / 100,
                    "lost: " + reasons_text(by_reason)};
    } else {
      b.severity = "low";
      b.title = fmt::format("{} {} lost: the figures undercount", n, what);
      b.evidence = {subject + ".lost", d(n), 0, "count", 1, "lost: " + reasons_text(by_reason)};
    }
    out.push_back(std::move(b));
  };
  if (p.events.lost > 0)
    lost("events", "function events", p.events.lost, d(p.events.received + p.events.lost), p.events.lost_by_reason);
  if (p.stacks.enabled && p.stacks.lost > 0)
    lost("stacks", "stack samples", p.stacks.lost, d(p.stacks.samples + p.stacks.lost), p.stacks.lost_by_reason);
  // Off-CPU counts are ns, the losses are events: no share can be formed.
  if (p.off_cpu.enabled && p.off_cpu.lost > 0)
    lost("off_cpu", "off-CPU events", p.off_cpu.lost, 0, p.off_cpu.lost_by_reason);
  uint64_t system_lost = 0;
  for (const auto& [reason, n] : p.system.lost_by_reason) system_lost += n;
  if (p.system.enabled && system_lost > 0)
    lost("system", "resource events", system_lost, 0, p.system.lost_by_reason);
  // A process that found the target set full was never profiled at all.
  const TargetSetInfo& ts = p.session.target_set;
  if (ts.lost > 0) lost("processes", "processes", ts.lost, d(ts.admitted + ts.lost), ts.lost_by_reason);

  const OverheadInfo& o = p.overhead;
  if (o.target_slowdown_pct > o.budget_pct) {
    const FunctionProfile* costliest = nullptr;
    for (const auto& f : p.functions)
      if (!costliest || f.overhead_pct > costliest->overhead_pct) costliest = &f;
    Bottleneck b;
    b.id = "probe-overhead:target";
    b.category = "data-quality";
    b.severity = "medium";
    b.title = fmt::format("the probes slowed the target {}{:.1f}%, over the {:.0f}% budget",
                          o.slowdown_at_least ? "at least " : "~", o.target_slowdown_pct, o.budget_pct);
    b.evidence = {"overhead.target_slowdown_pct", o.target_slowdown_pct, o.budget_pct, "%", 1,
                  costliest ? fmt::format("costliest probe: {} ({:.1f}%, {} calls, {} site)", display_name(*costliest),
                                          costliest->overhead_pct, costliest->calls, costliest->probe_site)
                            : std::string("no function probes")};
    // What the sampler saw of it: on-CPU samples taken in the probes' trap path.
    if (p.stacks.enabled && p.stacks.probe_samples > 0)
      b.evidence.detail += fmt::format("; {:.1f}% of the on-CPU samples were in perfbpf's probes",
                                       pct(d(p.stacks.probe_samples), d(p.stacks.samples)));
    if (costliest) b.affects.function = display_name(*costliest);
    out.push_back(std::move(b));
  }
  // Functions the library timed in process have no probe whose cost could be subtracted.
  const size_t probed = static_cast<size_t>(std::count_if(p.functions.begin(), p.functions.end(),
                                                          [](const FunctionProfile& f) { return f.probe_site != "in-process"; }));
  if (p.calibration.method == "none" && probed > 0) {
    Bottleneck b;
    b.id = "uncalibrated:probes";
    b.category = "data-quality";
    b.severity = "low";
    b.title = fmt::format("latencies of {} function{} include the probe cost (no calibration)", probed,
                          probed == 1 ? "" : "s");
    b.evidence = {"calibration.functions_uncorrected", d(probed), 0, "count", 1,
                  "calibration method none: each call's latency includes its probes' cost (about 1.3 us on an "
                  "optimized site, about 20 us single-stepped)"};
    out.push_back(std::move(b));
  }
}

}  // namespace

int severity_rank(const std::string& severity) {
  if (severity == "critical") return 0;
  if (severity == "high") return 1;
  if (severity == "medium") return 2;
  if (severity == "low") return 3;
  return 4;
}

std::string rule_of(const std::string& id) { return id.substr(0, id.find(':')); }

std::vector<Bottleneck> identify_bottlenecks(const Profile& profile, const PerformanceThresholds& thresholds) {
  std::vector<Bottleneck> out;
  latency_rules(profile, thresholds, out);
  cpu_rules(profile, thresholds, out);
  io_rules(profile, out);
  function_wait_rules(profile, out);
  decomposition_rules(profile, out);
  memory_rules(profile, thresholds, out);
  network_rules(profile, out);
  data_quality_rules(profile, out);
  std::stable_sort(out.begin(), out.end(), [](const Bottleneck& a, const Bottleneck& b) {
    int ra = severity_rank(a.severity), rb = severity_rank(b.severity);
    if (ra != rb) return ra < rb;
    if (a.evidence.value != b.evidence.value) return a.evidence.value > b.evidence.value;
    return a.id < b.id;
  });
  return out;
}

}  // namespace perfbpf
