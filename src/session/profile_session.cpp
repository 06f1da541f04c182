#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "aggregate/aggregator.h"
#include "aggregate/stack_profile.h"
#include "symbols/stack_unwinder.h"
#include "collect/cpu_sampler.h"
#include "collect/funclat_decoder.h"
#include "collect/kernel_symbol_names.h"
#include "collect/procfs.h"
#include "perfbpf/calibration.h"
#include "perfbpf/error.h"
#include "perfbpf/session.h"
#include "session/command_launcher.h"
#include "session/funclat_session.h"
#include "session/slow_calls.h"
#include "session/privileges.h"
#include "analysis/analyze.h"
#include "analysis/thresholds.h"
#include "collect/perf_events.h"
#include "session/resource_monitor.h"
#include "session/session_limits.h"
#include "session/session_loop.h"
#include "session/overhead_estimate.h"
#include "session/probe_plan.h"
#include "session/system_info.h"
#include "session/target_set.h"
#include "symbols/object_kind.h"
#include "symbols/probe_site.h"
#include "symbols/proc_maps.h"
#include "symbols/symbolizer.h"
#include "symbols/target_resolver.h"

namespace perfbpf {
namespace {

enum class Scope { Pid, Command, Cgroup, System };

Scope scope_of(const SessionOptions& o) {
  int given = (o.pid > 0) + !o.command.empty() + !o.cgroup.empty() + o.system_wide;
  if (given != 1) throw Error::usage("give exactly one target: --pid PID, -- COMMAND [ARGS], --cgroup DIR or --system");
  return o.pid > 0 ? Scope::Pid : !o.command.empty() ? Scope::Command : !o.cgroup.empty() ? Scope::Cgroup : Scope::System;
}

const char* scope_name(Scope s) {
  switch (s) {
    case Scope::Pid: return "pid";
    case Scope::Command: return "command";
    case Scope::Cgroup: return "cgroup";
    default: return "system";
  }
}

std::vector<FunctionSpec> parse_specs(const std::vector<std::string>& texts, bool other_work) {
  if (texts.empty() && !other_work)
    throw Error::usage("nothing to profile", "name functions with -f [OBJECT:]PATTERN, sample with --sample-freq or collect with --collectors");
  std::vector<FunctionSpec> specs;
  for (const auto& t : texts) specs.push_back(parse_function_spec(t));
  return specs;
}

int open_pidfd(int pid) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    int e = errno;
    if (e == ESRCH) throw Error("no process with pid " + std::to_string(pid), "check the pid", e);
    throw Error(errno_message("pidfd_open", e), "perfbpf needs Linux 5.3 or later", e);
  }
  return fd;
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

// Why the target can throw C++ exceptions ("" if it cannot): from the probed files, the
// executable, and the libraries it has mapped (--pid) or will load (command mode).
std::string exceptions_reason(const std::vector<ProbeTarget>& targets, const ResolveContext& ctx) {
  std::vector<std::string> objects;
  for (const auto& t : targets)
    if (std::find(objects.begin(), objects.end(), t.attach_path) == objects.end()) objects.push_back(t.attach_path);
  objects.push_back(ctx.executable);
  const size_t to_read = objects.size();
  if (ctx.pid > 0)
    for (const auto& path : mapped_objects(read_proc_maps(ctx.proc_root, ctx.pid))) objects.push_back(path);
  objects.insert(objects.end(), ctx.libraries.begin(), ctx.libraries.end());
  return cxx_exceptions_reason(objects, to_read);
}

// The report's view of each planned probe: where it sits, how returns are seen, its cost.
std::vector<FunctionProfile> describe_probes(const std::vector<PlannedProbe>& probes, const CalibrationInfo& calibration) {
  std::vector<FunctionProfile> functions(probes.size());
  for (size_t i = 0; i < probes.size(); i++) {
    const PlannedProbe& p = probes[i];
    FunctionProfile& f = functions[i];
    f.name = p.target.function.name;
    f.demangled = p.target.function.demangled;
    f.object = p.target.object;
    f.version = p.target.function.version;
    f.implementation = p.target.implementation;
    f.implementation_source = p.target.implementation_source;
    f.address = p.target.function.address;
    f.file_offset = p.entry_offset;
    f.probe_site = probe_site_name(p.site.kind);
    f.probe_offset = p.site.offset_in_function;
    f.probe_method = probe_method_name(p.method);
    f.probe_method_reason = p.method_reason;
    f.return_sites = p.exits.size();
    if (const SiteCalibration* c = calibration.find(f.probe_site, f.probe_method)) {
      f.bias_ns = c->bias_ns;
      f.probe_cost_ns = c->cost_ns;
    }
  }
  return functions;
}

// THREAD_CPU: each thread's CPU time during the session (its life's, less what it had used when
// the session began).
void account_overhead(Profile& profile, double budget_pct, const FuncLatSession* bpf, const Aggregator& aggregator,
                      const std::map<uint32_t, uint64_t>& thread_cpu) {
  OverheadInfo& o = profile.overhead;
  o.budget_pct = budget_pct;
  const double session_ns = profile.session.duration_s * 1e9;
  for (auto& f : profile.functions)
    f.overhead_pct = session_ns > 0 ? 100.0 * static_cast<double>(f.calls + f.in_flight) * f.probe_cost_ns / session_ns : 0;
  std::vector<ThreadSpan> spans = aggregator.thread_spans();
  for (auto& s : spans)
    if (auto it = thread_cpu.find(s.tid); it != thread_cpu.end()) s.cpu_ns = it->second;
  SlowdownEstimate slowdown = estimate_slowdown(profile.functions, spans, session_ns);
  o.target_slowdown_pct = slowdown.slowdown_pct;
  o.slowdown_at_least = slowdown.at_least;
  o.probe_share_pct = slowdown.probe_share_pct;
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  o.perfbpf_cpu_s = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                    static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  o.perfbpf_peak_rss_bytes = static_cast<uint64_t>(self.ru_maxrss) * 1024;
  if (bpf && bpf->bpf_stats_enabled()) {
    o.bpf_stats = "measured";
    std::tie(o.bpf_run_time_ns, o.bpf_run_count) = bpf->run_stats();
  } else if (profile.calibration.bpf_ns_per_run > 0) {
    // Timing every run costs ~100 ns a hit, so by default the count comes from the events
    // (an entry and a return run per call; one run per lost or unfinished one) and the time
    // per run from calibration, where it was measured.
    o.bpf_stats = "estimated";
    o.bpf_run_count = 2 * profile.events.received + profile.events.lost;
    for (const auto& f : profile.functions) o.bpf_run_count += f.in_flight;
    o.bpf_run_time_ns = static_cast<uint64_t>(static_cast<double>(o.bpf_run_count) * profile.calibration.bpf_ns_per_run);
  }
  const uint64_t seen = profile.events.received + profile.events.lost;
  o.completeness_pct = seen ? 100.0 * static_cast<double>(profile.events.received) / static_cast<double>(seen) : 100;
}

// A command that outlived the session (duration, signal) is ended as timeout(1) ends one, so
// perfbpf can exit with its status: a signal, then SIGKILL after KILL_AFTER_S, to it and its
// live descendants (MEMBERS: the target set). A terminal's Ctrl-C reached them already (same
// process group); a signal sent to perfbpf alone is passed on; the duration sends SIGTERM.
// Until perfbpf took a signal, Ctrl-C during the grace period ends it at once.
int64_t end_command(LaunchedCommand& command, const LoopResult& end, double kill_after_s, SignalCatcher* signals,
                    const std::function<std::vector<uint32_t>()>& members) {
  if (end.reason == EndReason::TargetExited) return command.wait_exit_code();
  int sig = SIGTERM;
  if (end.reason == EndReason::Signal) sig = end.signal.signo == SIGINT && end.signal.from_kernel ? 0 : end.signal.signo;
  const bool catching = signals && end.reason != EndReason::Signal;
  CommandStop stop = command.stop(sig, kill_after_s, catching ? signals->fd() : -1, members);
  if (stop.interrupted) signals->take();  // from here a further Ctrl-C kills perfbpf
  return stop.exit_code;
}

TargetSetInfo target_set_info(const TargetSetStats& stats) {
  TargetSetInfo info;
  info.enabled = true;
  info.max_processes = stats.max_processes;
  info.admitted = stats.admitted;
  info.lost_by_reason = stats.lost_by_reason;
  for (const auto& [reason, n] : stats.lost_by_reason) info.lost += n;
  return info;
}

// The sampled stacks so far: at the end of the session, and in each live snapshot.
void fill_stacks(Profile& profile, const CpuSampler& sampler, Symbolizer& symbols, const SessionOptions& options,
                 bool probed) {
  for (auto& [tgid, comm] : sampler.process_names()) symbols.set_fallback_comm(tgid, std::move(comm));
  if (options.sample_freq > 0) {
    profile.stacks = build_stack_profile(sampler.collect(), symbols, options.sample_freq, probed);
    profile.stacks.event = sampler.event();
    profile.stacks.call_graph = options.call_graph;
  }
  if (options.off_cpu) {
    profile.off_cpu = build_stack_profile(sampler.collect_off_cpu(), symbols, 0, probed);
    profile.off_cpu.unit = "ns";
    if (uint64_t open = sampler.waits_not_closed())
      profile.off_cpu.lost += profile.off_cpu.lost_by_reason["waits_not_closed"] = open;
  }
  std::vector<uint64_t> lost = sampler.losses();
  for (unsigned r = 0; r < lost.size(); r++) {
    const LossScope scope = loss_scope(r);
    const char* name = profile_loss_name(r);
    if (scope.samples) {
      profile.stacks.lost_by_reason[name] = lost[r];
      if (scope.drops) profile.stacks.lost += lost[r];
    }
    if (scope.off_cpu && options.off_cpu) {
      profile.off_cpu.lost_by_reason[name] = lost[r];
      if (scope.drops) profile.off_cpu.lost += lost[r];
    }
  }
}

// The functions' calls and latency so far, and what was lost on the way. REFUSED, by probe id:
// functions the kernel refused, left out of the list once their counts are in. FUNCLAT: null
// when no function is probed.
void fill_functions(Profile& profile, const Aggregator& aggregator, const FuncLatSession* funclat,
                    const std::vector<bool>& refused, Symbolizer* slow_call_symbols = nullptr) {
  aggregator.fill(profile.functions);
  if (!funclat) return;
  const FuncLatSession& bpf = *funclat;
  if (slow_call_symbols)
    fill_slow_calls(profile.functions, aggregator, bpf, *slow_call_symbols, profile.session.start_monotonic_ns);
  const size_t probes = refused.size();
  std::vector<uint64_t> open = bpf.in_flight(probes), unwound = bpf.unwound(probes),
                        orphans = bpf.in_flight_at_attach(probes);
  for (size_t i = 0; i < probes && i < profile.functions.size(); i++) {
    profile.functions[i].in_flight = open[i];
    profile.functions[i].unwound = unwound[i];
    profile.functions[i].in_flight_at_attach = orphans[i];
  }
  for (size_t i = std::min(probes, profile.functions.size()); i-- > 0;)
    if (refused[i]) profile.functions.erase(profile.functions.begin() + static_cast<long>(i));
  profile.events.received = bpf.records();
  profile.events.lost_by_reason = funclat_losses_by_name(bpf.losses());
  if (bpf.decompose()) profile.events.split_by_reason = funclat_split_losses_by_name(bpf.losses());
  if (bpf.malformed_records()) profile.events.lost_by_reason["malformed_record"] = bpf.malformed_records();
  if (aggregator.unknown_probe()) profile.events.lost_by_reason["unknown_probe"] = aggregator.unknown_probe();
  profile.events.lost = 0;
  for (const auto& [reason, n] : profile.events.lost_by_reason) {
    // Depth overflow is a call perfbpf saw but could not time: a loss like the others.
    profile.events.lost += n;
  }
}

}  // namespace

Profile run_session(const SessionOptions& options) {
  const Scope scope = scope_of(options);
  validate_session_options(options);  // before anything starts: nothing to undo
  const bool sampling = options.sample_freq > 0 || options.off_cpu;
  const bool monitoring = !options.collectors.empty();
  std::vector<FunctionSpec> specs = parse_specs(options.functions, sampling || monitoring);
  if (!specs.empty() && (scope == Scope::System || scope == Scope::Cgroup))
    throw Error::usage("-f needs a process: --pid PID or -- COMMAND", "--system and --cgroup collect resources and stacks");
  check_bpf_privileges();
  check_kernel_btf();
  // From here a Ctrl-C is held for the loop, so it ends the session instead of killing it.
  std::unique_ptr<SignalCatcher> signals;
  if (options.handle_signals) signals = std::make_unique<SignalCatcher>();

  // A command is forked first but held before exec, so its pid is known when attaching and
  // no instruction of it runs unprobed.
  std::optional<LaunchedCommand> command;
  ResolveContext ctx;
  int pidfd = -1;
  if (scope == Scope::Command) {
    command.emplace(options.command, options.command_stdout_to_stderr);
    ctx.executable = command->executable();
    if (!specs.empty()) ctx.libraries = loader_dependencies(ctx.executable);
  } else if (scope == Scope::Pid) {
    pidfd = open_pidfd(options.pid);
    ctx.pid = options.pid;
    ctx.executable = "/proc/" + std::to_string(options.pid) + "/exe";
  }
  // A cgroup's members join the target set as they are found; those already in it are not
  // written again each tick.
  std::set<uint32_t> cgroup_members;
  if (scope == Scope::Cgroup) {
    std::vector<uint32_t> first = cgroup_pids(options.cgroup);  // fails early on a bad path
    cgroup_members.insert(first.begin(), first.end());
  }
  FdCloser pidfd_closer{pidfd};
  const int target_pid = command ? command->pid() : options.pid;
  std::vector<ProbeTarget> targets;
  std::vector<std::string> notes;
  if (!specs.empty()) targets = resolve_targets(specs, ctx, &notes);
  for (const auto& t : targets)
    if (!t.implementation.empty())
      notes.push_back(t.function.demangled + " is an IFUNC: probing " + t.implementation + ", the implementation " +
                      (t.implementation_source == "target" ? "the target bound it to"
                                                           : "perfbpf's loader picks from the same file, CPU and tunables"));
  if (scope == Scope::Pid) {
    // Reports name the executable as the process sees it, not through /proc/PID/exe.
    std::error_code ec;
    auto real = std::filesystem::read_symlink(ctx.executable, ec);
    for (auto& t : targets)
      if (!ec && t.object == ctx.executable) t.object = real.string();
  }

  Profile profile;
  ProbePlan plan;
  if (!targets.empty()) plan = plan_probes(targets, exceptions_reason(targets, ctx), options.return_sites);
  profile.skipped_functions = plan.skipped;
  if (options.calibrate && !plan.probes.empty()) profile.calibration = load_or_calibrate();
  profile.functions = describe_probes(plan.probes, profile.calibration);
  std::vector<uint64_t> bias, cost;
  for (const auto& f : profile.functions) {
    bias.push_back(static_cast<uint64_t>(std::llround(f.bias_ns)));
    cost.push_back(static_cast<uint64_t>(std::llround(f.probe_cost_ns)));
  }

  // The target set every program filters by: the command joins at its exec (nothing perfbpf's
  // forked child runs before counts), a pid or a cgroup's members as they are found, and
  // descendants by fork when following.
  const bool follow = scope == Scope::Command ? !options.no_children
                      : scope == Scope::Pid   ? options.follow_children
                                              : scope == Scope::Cgroup;
  const bool filter = scope != Scope::System;
  // A running process that is not followed is the set's only member from now to the end:
  // the map alone, no program to keep it (loading them parsed the kernel's BTF once more,
  // ~10 ms and ~11 MiB of peak RSS, and traced every exec and fork on the machine). The
  // collectors' process names come from the programs, so they keep them.
  const bool tracked = follow || command || monitoring;
  std::optional<TargetSet> target_set;
  if (filter) target_set.emplace(TargetSetSettings{follow, tracked, options.max_processes});
  const int targets_fd = target_set ? target_set->fd() : -1;
  auto members = [&target_set] { return target_set->tgids(); };
  if (command) target_set->admit_at_exec(static_cast<uint32_t>(command->pid()));
  else if (target_pid > 0) target_set->add(static_cast<uint32_t>(target_pid));
  for (uint32_t pid : cgroup_members) target_set->add(pid);
  Aggregator aggregator(plan.probes.size(), bias);
  AlertTracker alerts(options.thresholds);
  FuncLatSettings settings;
  // Per-pid probes fire only in the target, but in the command from fork on: the set keeps
  // them to its exec. Following descendants needs probes in every process, filtered by the set.
  settings.filter_tgid = follow || scope == Scope::Command;
  settings.shared_targets_fd = targets_fd;
  settings.max_threads = options.max_threads;
  settings.bpf_stats = options.bpf_stats;
  settings.decompose = options.decompose;
  settings.needs = funclat_needs(plan.probes);
  Symbolizer symbols;
  symbols.set_kernel_namer(kernel_symbol_names);  // the kernel's lookup, not all of /proc/kallsyms
  // The function-timing programs are loaded only when there are functions to time: verifying
  // them costs ~0.1 s of CPU, and their exit tracepoint runs at every thread exit.
  std::optional<FuncLatSession> funclat;
  if (!plan.probes.empty()) {
    funclat.emplace(settings, [&aggregator, &options, &symbols](const CallRecord& r) {
      // A split call's wait stacks are named after the session: read the process's mappings
      // while it runs (its libraries are mapped by its first probed call).
      if (r.has_split && !symbols.has_snapshot(r.tgid)) symbols.snapshot(r.tgid);
      aggregator.add(r);
      if (options.on_call && r.probe_id < aggregator.probe_count())
        options.on_call({r.probe_id, r.tgid, r.tid, r.start_ns, r.duration_ns, aggregator.corrected_ns(r)});
    });
    funclat->set_probe_costs(cost);
  }
  const FuncLatSession* bpf = funclat ? &*funclat : nullptr;
  StackUnwinder unwinder(symbols);
  std::optional<CpuSampler> sampler;
  if (sampling) {
    SamplerSettings s;
    s.frequency_hz = options.sample_freq;
    s.filter_tgid = filter;
    s.shared_targets_fd = targets_fd;
    s.fixed_targets = filter && !follow && !command;
    s.off_cpu = options.off_cpu;
    s.min_block_ns = static_cast<uint64_t>(options.min_block_us * 1000);
    if (options.call_graph == "dwarf" && options.sample_freq > 0)
      s.unwind = [&unwinder](const StackCopy& copy) { return unwinder.unwind(copy); };
    s.code_mapping = [&symbols](const CodeMapping& m) { symbols.add_code_mapping(m); };
    s.fork = [&symbols](uint32_t child, uint32_t parent) { symbols.inherit(child, parent); };
    sampler.emplace(s);
    sampler->start();
  }
  std::optional<ResourceMonitor> monitor;
  if (monitoring) {
    MonitorSettings m;
    m.collectors = options.collectors;
    m.scope = scope == Scope::Command ? "pid" : scope_name(scope);  // a command is a process too
    m.cgroup = options.cgroup;
    m.interval_s = options.interval_s;
    m.top_n = options.top_n;
    if (filter) {
      m.members = members;
      m.exec_name = [&target_set](uint32_t tgid) { return target_set->name(tgid); };
    }
    // Each interval also closes the functions' per-interval latency (after the loop drained
    // the ring buffer of the calls that returned in it).
    m.on_interval = [&aggregator, &options, &alerts, &profile](const SeriesSample& s) {
      aggregator.close_interval(s.t);
      if (options.on_interval) options.on_interval(s);
      IntervalView view;
      view.t = s.t;
      view.machine_cpu_pct = s.machine_cpu_pct;
      view.memory_used_pct = s.memory_used_pct;
      std::vector<FunctionInterval> last = aggregator.last_intervals();
      for (size_t i = 0; i < last.size() && i < profile.functions.size(); i++)
        view.functions.emplace_back(profile.functions[i].demangled, last[i]);
      for (const Alert& a : alerts.check(view))
        if (options.on_alert) options.on_alert(a);
    };
    CollectorSettings c;
    c.filter_tgid = filter;
    c.targets_fd = targets_fd;
    monitor.emplace(m, c);
  }
  // Per-pid probes cost nothing to other processes; following descendants needs probes in
  // every process, filtered in BPF by the target set. Functions the kernel refused although
  // they looked probeable are skipped like those planned out.
  std::vector<bool> refused(plan.probes.size(), false);
  if (!plan.probes.empty()) {
    std::vector<SkippedFunction> late;
    for (const auto& r : funclat->attach(plan.probes, follow ? -1 : target_pid)) {
      const ProbeTarget& t = plan.probes[r.probe_id].target;
      refused[r.probe_id] = true;
      // 524 is the kernel's ENOTSUPP, which strerror does not know.
      late.push_back({t.function.demangled, t.object,
                      r.error == 524 ? std::string("the kernel refused its probes (ENOTSUPP: an instruction uprobes cannot handle)")
                                     : errno_message("the kernel refused its probes", r.error),
                      t.spec});
    }
    reject_unprobeable(late, targets);
    profile.skipped_functions.insert(profile.skipped_functions.end(), late.begin(), late.end());
  }

  // What the target's threads had used of the CPU when the session began: the overhead
  // estimate counts only their CPU time since (a command's threads all start later).
  std::map<uint32_t, uint64_t> cpu_at_start;
  if (scope == Scope::Pid && !plan.probes.empty()) {
    ProcFs proc;
    for (uint32_t tid : proc.threads(static_cast<uint32_t>(target_pid)))
      if (auto s = proc.thread_schedstat(static_cast<uint32_t>(target_pid), tid)) cpu_at_start[tid] = s->exec_ns;
  }
  // Each thread's CPU time during the session so far, for the probes' cost against it.
  auto session_thread_cpu = [bpf, &cpu_at_start] {
    std::map<uint32_t, uint64_t> thread_cpu;
    if (bpf) thread_cpu = bpf->thread_cpu_ns();
    for (auto& [tid, ns] : thread_cpu) {
      auto before = cpu_at_start.find(tid);
      ns = before == cpu_at_start.end() ? ns : ns > before->second ? ns - before->second : 0;
    }
    return thread_cpu;
  };

  profile.tool_version = PERFBPF_VERSION;
  profile.session.mode = scope_name(scope);
  profile.session.pid = target_pid;
  profile.session.command = options.command;
  profile.session.follow_children = follow;
  profile.session.kernel = kernel_release();
  profile.session.hostname = host_name();

  // The collectors count from here to the loop's end, about the span the report's duration
  // gives; before on_attached, which promises everything is in place.
  if (monitor) monitor->start();
  if (options.on_attached) {
    AttachedProbes info;
    info.pid = target_pid;
    info.scope = scope_name(scope);
    info.functions = plan.probes.size() - static_cast<size_t>(std::count(refused.begin(), refused.end(), true));
    info.skipped = profile.skipped_functions;
    info.collectors = options.collectors;
    info.follow_children = follow;
    if (bpf) {
      info.program_ids = bpf->program_ids();
      info.link_ids = bpf->link_ids();
    }
    info.notes = notes;
    if (target_set) {
      for (uint32_t id : target_set->program_ids()) info.program_ids.push_back(id);
      for (uint32_t id : target_set->link_ids()) info.link_ids.push_back(id);
    }
    for (size_t i = 0; i < profile.functions.size(); i++)
      if (!refused[i]) info.names.push_back(profile.functions[i].demangled);
    options.on_attached(info);
  }

  profile.session.start = rfc3339_now();
  profile.session.start_monotonic_ns = monotonic_ns();
  if (sampler) sampler->open_window(profile.session.start_monotonic_ns);  // off-CPU waits: the session's window
  if (command) {
    command->release();
    // Exec has happened; its tracepoint, which admits the command, runs a moment after.
    target_set->wait_exec(1000);
  }
  // Mappings are read while the processes live: exec has happened once release() returns.
  // System-wide, only processes not seen yet are read during the session.
  uint64_t last_snapshot_ns = 0;
  auto snapshot_targets = [&](bool all) {
    if (!sampler) return;
    last_snapshot_ns = monotonic_ns();
    for (uint32_t tgid : filter ? members() : sampler->sampled_tgids())
      if (filter || all || !symbols.has_snapshot(tgid)) symbols.snapshot(tgid);
  };
  snapshot_targets(true);

  // The report so far for a live view: each interval (when the resource monitor closes one,
  // else on a timer of the same period) and once now.
  uint64_t next_live_ns = 0;
  auto publish_live = [&] {
    next_live_ns = monotonic_ns() + static_cast<uint64_t>(options.interval_s * 1e9);
    Profile live = profile;
    live.session.duration_s = static_cast<double>(monotonic_ns() - profile.session.start_monotonic_ns) / 1e9;
    live.session.end_reason = "running";
    if (monitor) live.system = monitor->result();
    if (target_set) live.session.target_set = target_set_info(target_set->stats());
    if (sampler) fill_stacks(live, *sampler, symbols, options, !targets.empty());
    fill_functions(live, aggregator, bpf, refused);
    account_overhead(live, options.overhead_budget_pct, bpf, aggregator, session_thread_cpu());
    live.analysis.alerts = alerts.all();
    live.analysis = analyze_profile(live, options.thresholds);
    options.on_snapshot(live);
  };
  if (options.on_snapshot) publish_live();

  LoopConfig loop;
  if (bpf) loop.ringbuf_epoll_fd = bpf->epoll_fd();
  if (sampler) loop.samples_epoll_fd = sampler->epoll_fd();
  loop.consume = [&] {
    // Libraries load later. Unwinding reads a process's mappings at its first sample and when a
    // sample lands outside them, so a slower sweep is enough then; off-CPU stacks, unwound by
    // nobody, still need the quick one.
    const bool unwinding = options.call_graph == "dwarf" && options.sample_freq > 0;
    const uint64_t sweep_ns = unwinding && !options.off_cpu ? 1'000'000'000u : filter ? 100'000'000u : 250'000'000u;
    if (sampler && monotonic_ns() - last_snapshot_ns > sweep_ns) snapshot_targets(false);
    if (scope == Scope::Cgroup)
      for (uint32_t pid : cgroup_pids(options.cgroup))
        if (cgroup_members.insert(pid).second) target_set->add(pid);
    int consumed = (funclat ? funclat->consume() : 0) + (sampler ? sampler->consume() : 0);
    const bool closed = monitor && monitor->poll().has_value();
    if (options.on_snapshot && (monitor ? closed : monotonic_ns() >= next_live_ns)) publish_live();
    return consumed;
  };
  loop.target_pidfd = command ? command->pidfd() : pidfd;
  loop.duration_s = options.duration_s;
  loop.signals = signals.get();
  if (monitor) loop.next_due_ns = [&monitor] { return monitor->next_due_ns(); };
  loop.stop_fd = options.stop_fd;
  LoopResult end = run_event_loop(loop);
  const uint64_t end_ns = monotonic_ns();
  if (sampler) sampler->close_window(end_ns);
  if (monitor) {
    if (funclat) funclat->consume();  // the last interval's calls
    monitor->stop();
    profile.system = monitor->result();
  }
  if (funclat) funclat->detach_and_drain();
  if (target_set) profile.session.target_set = target_set_info(target_set->stats());
  if (sampler) {
    sampler->stop();
    sampler->consume();  // the stacks queued before it stopped
    unwinder.release();  // every sample is unwound: its memory before naming's
    snapshot_targets(true);  // still alive in pid mode or after a duration limit
  }
  if (command) profile.session.exit_code = end_command(*command, end, options.kill_after_s, signals.get(), members);
  if (sampler) {
    fill_stacks(profile, *sampler, symbols, options, !targets.empty());
  }
  profile.session.duration_s = static_cast<double>(end_ns - profile.session.start_monotonic_ns) / 1e9;
  profile.session.end_reason = end_reason_name(end.reason);

  fill_functions(profile, aggregator, bpf, refused, &symbols);
  const std::map<uint32_t, uint64_t> thread_cpu = session_thread_cpu();

  account_overhead(profile, options.overhead_budget_pct, bpf, aggregator, thread_cpu);
  profile.analysis.alerts = alerts.all();
  profile.analysis = analyze_profile(profile, options.thresholds);

  return profile;
}

}  // namespace perfbpf
