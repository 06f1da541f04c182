// What to do about each bottleneck: one recommendation per finding, naming its subject and the
// measured figures, so a reader can act on it without reading the rule. Generic advice without
// a number is never written: every text is built from the bottleneck's evidence.
#include <fmt/format.h>

#include "analysis/analyze.h"
#include "analysis/bottleneck_rules.h"
#include "report/text_summary.h"

namespace perfbpf {
namespace {

// "server (pid 4242)", "the target" when no process is named.
std::string who(const Bottleneck& b) {
  if (!b.affects.function.empty()) return b.affects.function;
  if (b.affects.pid) return fmt::format("{} (pid {})", b.affects.comm.empty() ? "?" : b.affects.comm, b.affects.pid);
  if (!b.affects.device.empty()) return b.affects.device;
  return "the target";
}

std::string process_of(const Bottleneck& b) {
  if (b.affects.pid) return fmt::format("{} (pid {})", b.affects.comm.empty() ? "?" : b.affects.comm, b.affects.pid);
  return "the target";
}

std::string text_for(const Bottleneck& b) {
  const Evidence& e = b.evidence;
  const std::string rule = rule_of(b.id);
  auto ns = [](double v) { return format_duration_ns(v); };
  if (rule == "slow-function")
    return fmt::format(
        "{}: {} latency is {} against a threshold of {} ({:.1f}% of all probed calls). Check whether the time is "
        "spent on CPU (the hottest functions under it: optimise or cache that work) or waiting (rerun with "
        "--off-cpu to see I/O or lock waits inside it)",
        who(b), e.metric == "latency.mean" ? "mean" : "p99", ns(e.value), ns(e.threshold), 100 * e.data_share);
  if (rule == "cpu-saturation")
    return fmt::format(
        "the machine's CPUs were {:.1f}% busy (threshold {:.0f}%): work queued for them ({}). Reduce the work of the "
        "processes that took the CPU (their hottest functions first), move some of it to other machines or add CPUs; "
        "meanwhile keep a latency-sensitive process responsive with priority (nice, a larger cgroup cpu.weight) or "
        "CPUs of its own (a cpuset)",
        e.value, e.threshold, e.detail);
  if (rule == "cpu-contention") {
    const bool kernel = e.detail.find(kKernelThreadsWaited) != std::string::npos;
    return fmt::format(
        "{} waited for a CPU {:.1f}% of the time runnable (threshold {:.0f}%) behind other work ({}). Its own "
        "threads did not want more CPUs than there are, so fewer threads would not help: give it priority (nice, a "
        "larger cgroup cpu.weight) or CPUs of its own (a cpuset), check for a cgroup cpu.max quota or a CPU affinity "
        "that narrows it, or move the competing work away{}",
        b.affects.pid ? process_of(b) : std::string("the processes named"), e.value, e.threshold, e.detail,
        kernel ? "; the kernel threads among them only reflect the contention: nothing to tune in them" : "");
  }
  if (rule == "cpu-bound") {
    const std::string where = !b.affects.function.empty()
                                  ? b.affects.function + " (the hottest function in its sampled stacks)"
                                  : "its hottest functions (sample its stacks with --sample-freq)";
    if (e.detail.find(kKernelThread) != std::string::npos)
      return fmt::format(
          "{} is a kernel thread busy {:.1f}% of one CPU (threshold {:.0f}%): kernel work done for processes. Look at "
          "what drives it rather than at the thread: kswapd reclaims memory (memory pressure), kworker runs I/O "
          "completions and deferred work, ksoftirqd network and timer softirqs",
          process_of(b), e.value, e.threshold);
    if (e.detail.find(kSingleThreaded) != std::string::npos)
      return fmt::format(
          "{} runs on one thread at {:.1f}% of one CPU (threshold {:.0f}%): one CPU is its ceiling. To go faster, "
          "optimise {}, or split its work across threads or processes",
          process_of(b), e.value, e.threshold, where);
    return fmt::format(
        "{} uses {:.1f}% CPU (threshold {:.0f}% of one CPU): it is CPU-bound. Optimise {} first; more threads help "
        "only while the machine has CPUs free",
        process_of(b), e.value, e.threshold, where);
  }
  if (rule == "runqueue-wait")
    return fmt::format(
        "{} waits for a CPU {:.1f}% of the time it is runnable (threshold {:.0f}%): its own threads want more CPUs "
        "than the machine has ({}). Size its thread pools to fewer runnable threads than CPUs, or give it more CPUs",
        process_of(b), e.value, e.threshold, e.detail);
  if (rule == "io-wait")
    return fmt::format(
        "{} waits on I/O {:.1f}% of its thread time (threshold {:.0f}%): batch small reads and writes, avoid an "
        "fsync per write, and move I/O off the request path (async I/O such as io_uring, or a writer thread); rerun "
        "with --off-cpu to see which functions the waits are in",
        process_of(b), e.value, e.threshold);
  if (rule == "disk-latency") {
    const bool queued = e.detail.find(kDiskQueued) != std::string::npos;
    return fmt::format("{}: I/O requests take {} at p99 (threshold {}; {}). {}", who(b), ns(e.value), ns(e.threshold),
                       e.detail,
                       queued ? "Issue fewer, larger and more sequential requests, or spread them over more devices"
                              : "Move the hot data to faster storage, or keep it cached in memory so fewer requests "
                                "reach the device");
  }
  if (rule == "io-bound-function") {
    std::string text = fmt::format(
        "{} spends {:.1f}% of its time waiting on I/O (threshold {:.0f}%): batch its writes and make fewer fsync "
        "calls, cache or read ahead what it reads again, or make the I/O asynchronous (io_uring, a writer thread) "
        "so its callers do not wait",
        who(b), e.value, e.threshold);
    if (e.metric != "off_cpu.io_share")
      text += fmt::format("; this is a correlation with {}'s I/O wait: rerun with --off-cpu to confirm the waits are "
                          "inside {}",
                          process_of(b), who(b));
    return text;
  }
  if (rule == "sleep-bound-function")
    return fmt::format(
        "{} is blocked {:.1f}% of its time in sleeps, locks or polls (threshold {:.0f}%): look for lock contention "
        "(shorter critical sections, finer locks), sleeps or timeouts on its path; the off-CPU stacks through {} name "
        "the blocking call",
        who(b), e.value, e.threshold, who(b));
  if (rule == "lock-bound-p99")
    return fmt::format(
        "{} spends {:.0f}% of its slowest calls blocked on a lock (threshold {:.0f}%): shorten what the holder does "
        "under the lock, split the lock, or keep slow work (I/O, refreshes) outside it ({})",
        who(b), e.value, e.threshold, e.detail);
  if (rule == "memory-pressure")
    return fmt::format(
        "the machine had {:.1f}% of its memory in use at the peak (threshold {:.0f}%): reduce the target's footprint "
        "or its caches, lower other workloads on the host, or give it more memory before it swaps or is OOM-killed "
        "({})",
        e.value, e.threshold, e.detail);
  if (rule == "major-faults")
    return fmt::format(
        "{} took {:.0f} major page faults (threshold {:.0f}): pages it needed were read back from disk. Keep its "
        "working set in memory (more memory, a smaller footprint) or prefetch the files it maps "
        "(madvise(MADV_WILLNEED), readahead)",
        process_of(b), e.value, e.threshold);
  if (rule == "rss-growth") {
    const bool file = e.detail.find(kGrowthFile) != std::string::npos;
    std::string where =
        file ? "the growth is in file-backed pages: look for files mapped and never unmapped, or mapped files that "
               "keep growing"
             : "the growth is anonymous memory: take two heap profiles some minutes apart (heaptrack, jemalloc or "
               "tcmalloc heap profiling, valgrind massif) and compare the allocation sites, and look for caches and "
               "queues without a bound";
    std::string doubling = e.threshold > 0 ? fmt::format(" (at that rate it doubles within the hour)") : "";
    return fmt::format("RSS of {} grows {}/min{}, a possible leak ({}); {}", process_of(b), format_bytes(e.value),
                       doubling, e.detail, where);
  }
  if (rule == "tcp-retransmits") {
    std::string amount = e.unit == "%" ? fmt::format("{:.1f} segments per 100 sends (threshold {:.0f})", e.value, e.threshold)
                                       : fmt::format("{:.0f} segments", e.value);
    return fmt::format(
        "{} retransmitted {}: each retransmit costs the request at least one timeout (200 ms minimum RTO). Check the "
        "path for loss (ss -ti, interface errors and drops), congestion, or a peer that cannot keep up",
        process_of(b), amount);
  }
  if (rule == "lost-events") {
    const std::string subject = b.id.substr(b.id.find(':') + 1);
    const std::string kind = subject == "events"  ? "function events"
                             : subject == "stacks" ? "stack samples"
                             : subject == "system" ? "resource events"
                             : subject == "processes" ? "processes"
                                                   : "off-CPU events";
    std::string amount = e.unit == "%" ? fmt::format("{:.2f}% of the {}", e.value, kind) : fmt::format("{:.0f} {}", e.value, kind);
    std::string what = subject == "system"
                           ? "narrow the scope (--pid or --cgroup) or keep fewer processes (--top)"
                       : subject == "events"
                           ? "probe fewer or less frequently called functions (narrower -f patterns), or sample "
                             "stacks instead of timing every call (--sample-freq without -f)"
                       : subject == "stacks" ? "lower --sample-freq"
                       : subject == "processes" ? "raise --max-processes above the processes alive at once"
                                             : "raise --min-block-us so fewer short waits are recorded";
    return fmt::format("{} were lost ({}): the figures built from them undercount. To lose none, {}", amount, e.detail,
                       what);
  }
  if (rule == "probe-overhead")
    return fmt::format(
        "the probes slowed the target ~{:.1f}% (budget {:.0f}%; {}): probe fewer or less frequent functions, sample "
        "instead (--sample-freq), or rebuild with -fpatchable-function-entry=5 so the probes sit on an optimized NOP",
        e.value, e.threshold, e.detail);
  if (rule == "uncalibrated")
    return fmt::format(
        "the latencies of {:.0f} functions include the probes' own cost: drop --no-calibrate so perfbpf measures "
        "and subtracts it, which matters most for functions that take a few microseconds",
        e.value);
  return fmt::format("{}: {} is {} {} against a threshold of {} ({})", b.title, e.metric, e.value, e.unit, e.threshold,
                     e.detail);
}

}  // namespace

std::vector<Recommendation> recommend(std::vector<Bottleneck>& bottlenecks) {
  std::vector<Recommendation> out;
  for (auto& b : bottlenecks) {
    Recommendation r;
    r.id = "rec:" + b.id;
    r.text = text_for(b);
    r.because = {b.id};
    b.recommendations = {r.id};
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace perfbpf
