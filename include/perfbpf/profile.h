// The content of a report as plain data: what a live session produces and what a saved JSON
// report loads back into. Analysis and writers read only this; nothing here knows about BPF.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "perfbpf/histogram.h"

namespace perfbpf {

inline constexpr const char* kReportSchema = "perfbpf.report/1";

struct LatencySummary {
  uint64_t min = 0, max = 0;
  double mean = 0, stddev = 0;
  uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0;
  uint64_t total = 0;  // sum of all call durations
};

struct ThreadCalls {
  uint32_t tid = 0;
  uint32_t tgid = 0;
  uint64_t calls = 0;
  uint64_t total_ns = 0;
};

// One monitoring interval of a function: calls that returned in it and their latency.
struct FunctionInterval {
  double t = 0;  // seconds from the session start to the end of the interval
  uint64_t calls = 0;
  uint64_t p50 = 0, p99 = 0, max = 0;  // ns, probe cost subtracted
};

// --decompose: one part of the calls' time, per call, ns.
struct SplitPart {
  double mean = 0;
  uint64_t p50 = 0, p99 = 0, total = 0;
};

// Where calls' time went, from the scheduler while they were open (bpf/funclat_split.bpf.h):
// on CPU, runnable waiting for a CPU (the kernel's run_delay), blocked on I/O (uninterruptible
// or in_iowait), on a lock (futex) or other sleep. Per call the parts sum to its duration
// (probe cost subtracted, and taken from on_cpu).
struct CallDecomposition {
  uint64_t calls = 0;       // calls split; 0: not decomposed
  uint64_t incomplete = 0;  // of those, calls during which a switch or wakeup went unseen
  SplitPart on_cpu, runqueue, io, lock, sleep;
};

// One of a function's slowest calls: where its time went and what it waited on longest.
struct SlowCall {
  uint64_t start_ns = 0;  // CLOCK_MONOTONIC
  double t_s = 0;         // seconds from the session start
  uint32_t tgid = 0, tid = 0;
  uint64_t duration_ns = 0;  // probe cost subtracted
  uint64_t on_cpu = 0, runqueue = 0, io = 0, lock = 0, sleep = 0;
  bool incomplete = false;   // a switch or wakeup went unseen during it
  std::string wait_kind;     // of its longest blocked wait: "io", "lock", "sleep"; "" when it never blocked
  uint64_t wait_ns = 0;
  struct Frame {
    std::string name;    // function, or [unknown] / [object+0xoffset]
    std::string object;  // ELF file, "[kernel]" for kernel frames
  };
  std::vector<Frame> wait_stack;  // where that wait began, innermost first (kernel, then user)
  uint32_t holder_tid = 0;   // a lock wait: the thread that held the lock, 0 when unknown
  // How the holder is known: "futex-waker" (the thread whose futex wake on the waited word ended
  // the wait: its unlock, seen in the act), "pi-futex" (the futex word, kernel-kept) or
  // "mutex-owner" (a glibc mutex's owner field: right for mutexes, not for other futexes).
  std::string holder_source;
  std::string holder_function;  // the holder's innermost open probed call then, "" when none
  // futex-waker: the holder's user stack as it unlocked, innermost first (the libc unlock, then
  // its callers); empty when not known.
  std::vector<Frame> holder_stack;
};

struct FunctionProfile {
  std::string name;       // symbol as in the ELF file (mangled for C++)
  std::string demangled;  // demangled, equal to name for C symbols
  std::string object;     // path of the ELF file probed
  std::string version;    // symbol version ("GLIBC_2.2.5", "V1"); "" when unversioned
  // An IFUNC (strlen): the implementation the target runs and the probe is on
  // ("__strlen_evex", or its address when unnamed), and who chose it: "target" (read from the
  // target's relocated slots) or "perfbpf" (the same file resolved by perfbpf's own loader on
  // the same CPU with the same GLIBC_TUNABLES). Both "" for other functions.
  std::string implementation;
  std::string implementation_source;
  uint64_t address = 0;   // symbol value (st_value) in that file; an IFUNC's implementation's
  uint64_t file_offset = 0;  // where the probe sits in the file
  uint64_t calls = 0;        // completed calls
  uint64_t in_flight = 0;    // entered but not returned when the session ended
  uint64_t unwound = 0;      // left by longjmp or an exception: counted here, not timed
  uint64_t in_flight_at_attach = 0;  // returned, but entered before the probes were in: not timed
  LatencySummary latency;    // ns, probe cost subtracted (equal to latency_raw when uncalibrated)
  LatencySummary latency_raw;  // ns, as the probes measured it
  std::vector<HistogramBucket> histogram;  // of the corrected latency
  // The probe: where it sits and what each hit costs (see symbols/probe_site.h).
  std::string probe_site = "single-stepped";  // optimized, emulated, single-stepped
  uint64_t probe_offset = 0;  // bytes past the symbol (4 after endbr64, past Go's stack check)
  // How the return is seen: "uretprobe" (the kernel swaps the return address) or
  // "return-sites" (probes on every ret and tail-call jump; Go, C++ exceptions); and why.
  std::string probe_method = "uretprobe";
  std::string probe_method_reason;
  uint64_t return_sites = 0;  // return-sites: instructions probed as exits
  double bias_ns = 0;         // probe time inside each measured interval, subtracted
  double probe_cost_ns = 0;   // what one probed call costs the target in all
  double overhead_pct = 0;    // calls * probe_cost_ns / session wall time
  std::vector<ThreadCalls> threads;  // by total_ns descending
  std::vector<FunctionInterval> series;  // per monitoring interval, when resources were collected
  CallDecomposition decomposition;      // --decompose: every split call
  CallDecomposition decomposition_p99;  // the slowest 1 % of them (at most 1024 calls)
  std::vector<SlowCall> slowest_calls;  // --decompose: the slowest calls, slowest first
};

// A function a -f glob matched that could not be probed, and why (the kernel refuses its
// first instruction, its returns cannot be found where they must be probed, ...).
struct SkippedFunction {
  std::string name;    // demangled
  std::string object;  // ELF file
  std::string reason;
  std::string spec;    // the -f that matched it
};

struct EventStats {
  uint64_t received = 0;
  uint64_t lost = 0;  // sum of lost_by_reason
  std::map<std::string, uint64_t> lost_by_reason;
  // --decompose's own counters, not lost calls (empty without it): split_no_storage (calls
  // not split), split_switch_in_unseen (waits closed late, from the kernel's stamps: the call is
  // marked incomplete), wait_stack_lost (a wait's stack not kept).
  std::map<std::string, uint64_t> split_by_reason;
};

// The processes a session profiled (pid, command and cgroup mode): the set every probe
// family filters on. A process that found it full was never profiled.
struct TargetSetInfo {
  bool enabled = false;        // false in system mode (every process) and in older reports
  uint32_t max_processes = 0;  // capacity: processes profiled at once (--max-processes)
  uint64_t admitted = 0;       // processes that joined over the session
  uint64_t lost = 0;           // processes that could not join: sum of lost_by_reason
  std::map<std::string, uint64_t> lost_by_reason;  // "target_set_full"
};

struct SessionInfo {
  std::string mode;                  // "pid", "command" or "system"
  int64_t pid = 0;                   // target pid (pid mode) or the command's pid
  std::vector<std::string> command;  // command mode: argv
  bool follow_children = false;
  std::string start;                 // RFC 3339 wall clock
  uint64_t start_monotonic_ns = 0;   // CLOCK_MONOTONIC at start, same clock as BPF timestamps
  double duration_s = 0;
  std::string kernel;                // uname release
  std::string hostname;
  std::string end_reason;            // "duration", "signal", "target-exited"
  int64_t exit_code = -1;            // command mode: the command's exit status, else -1
  TargetSetInfo target_set;
};

// Where the CPU time went: sampled stacks (cpu-clock at frequency_hz), symbolized after the
// session. Frames are stored once; each stack lists frame indexes from the root to the leaf.
struct StackFrame {
  std::string name;    // function, or [unknown] / [object+0xoffset] when no symbol was found
  std::string object;  // ELF file, "[kernel]" for kernel frames
  bool kernel = false;
  std::string source;  // "file.c:42" where the function is defined, "" without debug info
};

// The one frame that stands for a probe's trap path (the int3 or single-step trap, the uprobe
// syscalls, the handlers and BPF programs behind them): time the probe cost the thread, not
// time in the program's own code. kOtherUprobeFrame when perfbpf attached no probe itself.
inline constexpr const char* kPerfbpfProbeFrame = "[perfbpf probe]";
inline constexpr const char* kOtherUprobeFrame = "[uprobe]";

struct StackCount {
  uint32_t tgid = 0, tid = 0;
  std::vector<uint32_t> frames;  // root first
  uint64_t count = 0;            // samples
};

struct FunctionShare {
  std::string name;
  std::string source;  // as StackFrame::source
  uint64_t self = 0;   // samples with it as the leaf
  uint64_t total = 0;  // samples with it anywhere on the stack
  double self_pct = 0, total_pct = 0;
};

struct StackProfile {
  bool enabled = false;
  std::string unit = "samples";  // what counts count: "samples" (on-CPU) or "ns" (off-CPU)
  unsigned frequency_hz = 0;     // on-CPU sampling rate; 0 for off-CPU
  std::string event;             // what drove sampling: "cycles" (hardware) or "cpu-clock"; "" off-CPU
  // How user stacks were walked: "dwarf" (CFI, from a copy of the stack) or "fp" (frame pointers).
  std::string call_graph;
  uint64_t samples = 0;
  // Of samples, those whose user stack was deeper than the copy unwound: their root frame is
  // "[truncated]" (kTruncatedFrame) instead of the thread's start.
  uint64_t truncated_samples = 0;
  uint64_t probe_samples = 0;  // of samples, those in a probe's trap path (kPerfbpfProbeFrame)
  uint64_t lost = 0;
  std::map<std::string, uint64_t> lost_by_reason;
  double coverage_pct = 0;  // sampled frames that have a name, weighted by samples
  double shallow_user_pct = 0;  // samples whose user stack has 1-2 frames: no frame pointers?
  std::vector<StackFrame> frames;
  std::vector<StackCount> stacks;
  std::map<uint32_t, std::string> processes;  // tgid -> comm
  // By self samples, at most 20; shares of the samples outside probes, which are left out.
  std::vector<FunctionShare> top;
  // ELF file of user frames -> its GNU build-id (hex), read when the stacks were symbolized:
  // what pprof mappings and profile stores (Parca, Pyroscope) identify binaries by.
  std::map<std::string, std::string> build_ids;
};

// Probe cost per site kind, measured by probing known functions in perfbpf's own process.
struct SiteCalibration {
  std::string kind;                // optimized, emulated, single-stepped
  double bias_ns = 0;              // median time the probes add inside a measured interval
  double bias_spread_ns = 0;       // per-call variation of that (1.4826 * MAD)
  double bias_uncertainty_ns = 0;  // standard error of the median
  double cost_ns = 0;              // per-call slowdown seen by the caller (entry + return probe)
  uint64_t samples = 0;
  std::string method = "uretprobe";  // how the return was probed: uretprobe, return-sites
};

struct CalibrationInfo {
  std::string method = "none";  // "self-probe" when measured, "none" when disabled
  std::string cpu_model;
  std::string measured_at;      // RFC 3339
  bool from_cache = false;
  std::vector<SiteCalibration> sites;
  double bpf_ns_per_run = 0;    // mean run time of perfbpf's probe programs (kernel BPF stats)
  const SiteCalibration* find(const std::string& kind, const std::string& method = "uretprobe") const {
    for (const auto& s : sites)
      if (s.kind == kind && s.method == method) return &s;
    return nullptr;
  }
};

// What profiling cost: the target (estimated from calibration) and perfbpf itself (measured).
struct OverheadInfo {
  // How much slower the target ran, per call from the calibrated cost: (time with probes /
  // time without - 1) x 100 for its most slowed thread, over that thread's span of probed calls
  // (src/session/overhead_estimate.h). At least that much when slowdown_at_least.
  double target_slowdown_pct = 0;
  double budget_pct = 5;           // --overhead-budget
  double perfbpf_cpu_s = 0;        // user + system CPU of perfbpf (getrusage)
  uint64_t perfbpf_peak_rss_bytes = 0;
  // "measured": kernel BPF stats over the session (--bpf-stats); "estimated": run count from
  // the events, run time from calibration's measured time per run; "none": uncalibrated.
  std::string bpf_stats = "none";
  uint64_t bpf_run_time_ns = 0;
  uint64_t bpf_run_count = 0;
  double completeness_pct = 100;   // received / (received + lost)
  bool slowdown_at_least = false;  // the probes took nearly all of the thread's time: a lower bound
  double probe_share_pct = 0;      // of that thread's active time, spent in probes
};

// ---- System resources (src/collect/*_collector): CPU and scheduler, block I/O, memory,
// network. Counters are totals over the session; cpu_pct is 100 per fully busy CPU.

struct OffCpuTime {
  uint64_t runqueue = 0;  // ns runnable but waiting for a CPU (after a wakeup or a preemption)
  uint64_t io = 0;        // ns in uninterruptible sleep (D): I/O wait
  uint64_t sleep = 0;     // ns in interruptible sleep (S): sleeps, locks, polls
  uint64_t unknown = 0;   // ns off CPU around a switch the tracepoints missed: why is not known
};

struct ContextSwitches {
  uint64_t voluntary = 0;    // the thread blocked
  uint64_t involuntary = 0;  // the thread was preempted while runnable
};

// A process's resident memory; for the target's totals, summed over the processes alive at one
// read (an exited process holds nothing, though its row keeps its figures).
struct MemoryUsage {
  uint64_t rss_peak_bytes = 0;  // highest resident set seen during the session
  uint64_t rss_last_bytes = 0;  // at the end (a process that exited: at exit)
  uint64_t anon_bytes = 0, file_bytes = 0, shmem_bytes = 0;  // rss_last split by kind
};

struct FaultCounts {
  uint64_t minor = 0;
  uint64_t major = 0;  // needed a read from disk
};

struct DiskTraffic {
  uint64_t read_bytes = 0, write_bytes = 0;
  uint64_t read_ios = 0, write_ios = 0;  // completed requests
};

struct NetTraffic {
  uint64_t tx_bytes = 0, rx_bytes = 0;  // payload through inet (TCP/UDP) sockets
  uint64_t tx_calls = 0, rx_calls = 0;  // send/recv calls that moved bytes
  uint64_t retransmits = 0;             // TCP segments retransmitted
  uint64_t connections = 0;             // TCP connections this process opened (connect)
};

// The same keys for the whole target, a process and a thread.
struct ResourceUsage {
  uint64_t cpu_time_ns = 0;
  double cpu_pct = 0;  // cpu_time_ns / session wall time; 100 = one CPU busy throughout
  OffCpuTime off_cpu_ns;
  ContextSwitches ctx_switches;
  uint64_t migrations = 0;  // moves between CPUs
  MemoryUsage memory;
  FaultCounts faults;
  DiskTraffic disk;
  NetTraffic net;
};

struct ThreadResources {
  uint32_t tid = 0;
  std::string comm;
  ResourceUsage usage;  // sched fields only (cpu, off-CPU, switches, migrations)
};

struct ProcessResources {
  uint32_t pid = 0;   // tgid
  uint32_t ppid = 0;
  std::string comm;   // recorded at exit for processes that ended during the session
  bool exited = false;
  ResourceUsage usage;
  std::vector<ThreadResources> threads;  // by cpu_time_ns descending
};

// A latency distribution: summary plus the log-linear buckets it was computed from.
struct LatencyDistribution {
  LatencySummary summary;  // ns
  std::vector<HistogramBucket> histogram;
};

struct DiskDevice {
  std::string name;  // "vda", as in /proc/diskstats
  uint32_t major = 0, minor = 0;
  DiskTraffic traffic;
  LatencyDistribution queue_ns;    // insert -> issue to the driver
  LatencyDistribution service_ns;  // issue -> complete
  LatencyDistribution total_ns;    // insert (or issue when never queued) -> complete
};

struct NetInterface {  // /proc/net/dev deltas, system mode
  std::string name;
  uint64_t rx_bytes = 0, tx_bytes = 0, rx_packets = 0, tx_packets = 0;
};

// One interval of the time series; counters are what happened within the interval.
struct SeriesSample {
  double t = 0;   // seconds from the session start to the end of the interval
  double dt = 0;  // interval length, seconds (longer after old samples were merged)
  double cpu_pct = 0;             // capped at 100 x cpus
  uint64_t cpu_clamped_ns = 0;    // CPU time above cpus x dt cut from cpu_pct (counters lag up to a tick)
  uint64_t rss_bytes = 0;  // at the end of the interval, summed over the target's live processes
  uint64_t minor_faults = 0, major_faults = 0;
  uint64_t disk_read_bytes = 0, disk_write_bytes = 0, disk_ios = 0;
  uint64_t disk_p99_ns = 0;  // total latency of requests completed in the interval
  uint64_t net_tx_bytes = 0, net_rx_bytes = 0;
  uint64_t runqueue_p99_ns = 0;
  double memory_used_pct = 0;  // machine-wide, /proc/meminfo
  // The machine's CPUs busy within the interval, /proc/stat (all but idle and iowait, of every
  // CPU; perfbpf and every other process included): 100 = all CPUs busy throughout.
  double machine_cpu_pct = 0;
};

struct SystemProfile {
  bool enabled = false;
  std::string source = "bpf";   // "bpf": the collectors; "proc": /proc sampling (unprivileged)
  std::string scope = "pid";    // "pid", "cgroup" or "system"
  std::string cgroup;           // --cgroup path
  std::vector<std::string> collectors;  // sched, block, memory, network
  double interval_s = 1.0;
  unsigned cpus = 0;
  uint64_t memory_total_bytes = 0;
  double memory_used_pct_peak = 0, memory_used_pct_last = 0;  // machine-wide
  // The machine's CPU utilisation (/proc/stat, 100 = all CPUs busy) over the session, and in
  // its busiest interval; whatever the scope, this is the whole machine.
  double machine_cpu_pct = 0, machine_cpu_pct_peak = 0;
  ResourceUsage totals;                 // the whole target (every process in scope)
  LatencyDistribution runqueue_latency_ns;
  LatencyDistribution connect_latency_ns;
  std::vector<ProcessResources> processes;  // by cpu_time_ns; system mode keeps the top N
  uint64_t processes_omitted = 0;           // beyond the top N
  std::vector<DiskDevice> disks;
  std::vector<NetInterface> interfaces;
  std::vector<SeriesSample> series;
  uint64_t series_merges = 0;  // times the series was halved to stay bounded (pairs merged)
  std::map<std::string, uint64_t> lost_by_reason;  // map full and the like, per collector
};

// ---- Analysis (src/analysis/): what is slow and why, with the evidence.

// The original design's thresholds; per-function ones are set with --threshold or a config.
struct FunctionThreshold {
  std::string pattern;       // glob over demangled names
  std::string stat = "p99";  // "p99" or "mean"
  double value_ns = 0;
};

struct PerformanceThresholds {
  double function_time_warning = 0.5;  // seconds: a function whose p99 (or mean) exceeds it
  double memory_usage_warning = 75.0;  // % of machine memory in use
  double cpu_usage_warning = 85.0;     // % of the machine's CPU capacity in use (100 = all CPUs)
  double process_cpu_warning = 85.0;   // % of one CPU, per process: it is CPU-bound
  std::vector<FunctionThreshold> functions;
};

struct Evidence {
  std::string metric;      // e.g. "latency.p99", "off_cpu.io_share", "system.memory_used_pct"
  double value = 0;
  double threshold = 0;
  std::string unit;        // ns, %, bytes/min, count
  double data_share = 1;   // how much of the data the claim rests on, 0..1 (calls, time, samples)
  std::string detail;      // how it was measured, in words
};

struct Affects {  // what the bottleneck is in; empty / 0 where it does not apply
  std::string function;
  uint32_t pid = 0;
  std::string comm;
  std::string device;
};

struct Bottleneck {
  std::string id;        // stable per rule and subject, e.g. "io-bound:write_records"
  std::string category;  // cpu, latency, io, memory, scheduling, network, data-quality
  std::string severity;  // critical, high, medium, low
  std::string title;     // a sentence a person understands
  Evidence evidence;
  Affects affects;
  std::vector<std::string> recommendations;  // Recommendation ids
};

struct Trend {
  std::string series;     // e.g. "system.cpu_pct", "system.rss_bytes", "function:parse.p99"
  std::string unit;       // of the series' values
  double slope_per_s = 0; // Theil-Sen, unit per second (per run for cross-run trends)
  double p_value = 1;     // Mann-Kendall, two-sided
  std::string direction;  // increasing, decreasing, stable
  size_t samples = 0;
};

struct Recommendation {
  std::string id;
  std::string text;                  // names the function / process / device and the evidence
  std::vector<std::string> because;  // Bottleneck ids
};

struct Deduction {
  std::string bottleneck;  // id
  std::string severity;
  double points = 0;
};

struct HealthScore {
  double score = 100;   // 0-100
  std::string grade = "A";
  std::vector<Deduction> deductions;
};

// A threshold crossed during a live session (printed once when it starts to hold).
struct Alert {
  double t = 0;  // seconds from the session start
  std::string metric;
  std::string subject;  // function, pid/comm or "machine"
  double value = 0, threshold = 0;
  std::string unit;
};

struct AnalysisSection {
  bool enabled = false;
  PerformanceThresholds thresholds;  // what the rules compared against
  HealthScore health;
  std::vector<Bottleneck> bottlenecks;  // by severity, then evidence value
  std::vector<Trend> trends;
  std::vector<Recommendation> recommendations;
  std::vector<Alert> alerts;
};

struct Profile {
  std::string schema = kReportSchema;
  std::string tool_version;
  SessionInfo session;
  std::vector<FunctionProfile> functions;
  std::vector<SkippedFunction> skipped_functions;  // matched by a glob, not probed
  EventStats events;
  CalibrationInfo calibration;
  OverheadInfo overhead;
  StackProfile stacks;
  StackProfile off_cpu;  // off-CPU time by stack; the leaf frame says why ([off-cpu: io] ...)
  SystemProfile system;  // resource collectors; enabled = false when none ran
  AnalysisSection analysis;  // rules, trends, health; enabled = false when not analysed
};

// Stats of a histogram in the report's shape.
LatencySummary summarize(const LatencyHistogram& h);

}  // namespace perfbpf
