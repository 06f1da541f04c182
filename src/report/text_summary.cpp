#include "report/text_summary.h"

#include "report/decomposition_text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>

namespace perfbpf {
namespace {

constexpr size_t kNameWidth = 32;

std::string fit(const std::string& name, size_t width) {
  if (name.size() <= width) return name;
  return name.substr(0, width - 3) + "...";
}

std::string target_line(const SessionInfo& s, const SystemProfile& system) {
  if (s.mode == "system") return "system-wide";
  if (s.mode == "cgroup") return "cgroup " + system.cgroup;
  std::string target;
  if (s.mode == "command") {
    for (const auto& a : s.command) target += (target.empty() ? "" : " ") + a;
    target = fmt::format("command '{}' (pid {})", fit(target, 60), s.pid);
  } else {
    target = fmt::format("pid {}", s.pid);
  }
  if (s.follow_children) target += " and its descendants";
  return target;
}

// Calls a row's figures leave out: still running at the end, left by longjmp or an
// exception (counted, not timed), or already running when the probes attached.
std::string untimed_calls(const FunctionProfile& f) {
  std::vector<std::string> parts;
  if (f.in_flight) parts.push_back(fmt::format("{} in flight at end", f.in_flight));
  if (f.unwound) parts.push_back(fmt::format("{} unwound", f.unwound));
  if (f.in_flight_at_attach) parts.push_back(fmt::format("{} in flight at attach", f.in_flight_at_attach));
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

void write_row(std::ostream& out, const std::vector<std::string>& cells, const std::string& note = "") {
  out << fmt::format("{:<32} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}", cells[0], cells[1], cells[2],
                     cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]);
  if (!note.empty()) out << "  (" << note << ")";
  out << "\n";
}

// Where the CPU time went, from the samples: the functions named by nobody.
void write_hottest(const StackProfile& s, std::ostream& out) {
  if (!s.enabled) return;
  // Samples in perfbpf's probes are the probes' cost, not the target's code: left out.
  std::string probes;
  if (s.probe_samples > 0)
    probes = fmt::format("; {} ({:.1f}%) in {}'s probes, left out", s.probe_samples,
                         100.0 * static_cast<double>(s.probe_samples) / static_cast<double>(s.samples),
                         std::any_of(s.frames.begin(), s.frames.end(),
                                     [](const StackFrame& f) { return f.name == kPerfbpfProbeFrame; })
                             ? "perfbpf"
                             : "another tool");
  out << fmt::format("\nhottest functions ({} {} samples at {} Hz, {:.1f}% of frames named{}):\n", s.samples,
                     s.event.empty() ? "cpu-clock" : s.event, s.frequency_hz, s.coverage_pct, probes);
  if (s.samples == s.probe_samples) {
    out << (s.samples == 0 ? "  no samples: the target was hardly on CPU\n" : "  every sample was in a probe\n");
    return;
  }
  if (s.truncated_samples > 0)
    out << fmt::format("  {} samples' user stacks were deeper than the copy unwound: their root reads [truncated]\n",
                       s.truncated_samples);
  if (s.shallow_user_pct > 90 && s.call_graph != "dwarf")
    out << fmt::format(
        "  {:.0f}% of user stacks are 1-2 frames deep: the code likely lacks frame pointers (rebuild with "
        "-fno-omit-frame-pointer, or use --call-graph dwarf); samples inside frameless leaf functions also lose "
        "their caller\n",
        s.shallow_user_pct);
  out << fmt::format("  {:>7} {:>7}  {}\n", "SELF%", "TOTAL%", "FUNCTION");
  for (size_t i = 0; i < s.top.size() && i < 10; i++)
    out << fmt::format("  {:>7.1f} {:>7.1f}  {}{}\n", s.top[i].self_pct, s.top[i].total_pct, fit(s.top[i].name, 70),
                       s.top[i].source.empty() ? "" : "  (" + s.top[i].source + ")");
}

// Where threads waited: off-CPU time by function on the stack, and by reason.
void write_waits(const StackProfile& s, std::ostream& out) {
  if (!s.enabled) return;
  out << fmt::format("\nwhere threads wait ({} off CPU in all):\n", format_duration_ns(static_cast<double>(s.samples)));
  if (s.samples == 0) {
    out << "  no waits recorded\n";
    return;
  }
  // By reason (the leaf frames), then the program's own functions that were on the stack.
  std::map<std::string, uint64_t> reasons;
  std::map<uint32_t, uint64_t> user_total;  // frame index -> ns
  for (const auto& st : s.stacks) {
    if (st.frames.empty()) continue;
    reasons[s.frames[st.frames.back()].name] += st.count;
    std::set<uint32_t> seen;
    for (uint32_t idx : st.frames)
      if (!s.frames[idx].kernel && seen.insert(idx).second) user_total[idx] += st.count;
  }
  std::string why;
  for (const auto& [reason, ns] : reasons)
    why += fmt::format("{}{} {}", why.empty() ? "" : ", ", reason, format_duration_ns(static_cast<double>(ns)));
  out << "  " << why << "\n";
  std::vector<std::pair<uint64_t, uint32_t>> ranked;
  for (const auto& [idx, ns] : user_total) ranked.emplace_back(ns, idx);
  std::sort(ranked.rbegin(), ranked.rend());
  for (size_t i = 0; i < ranked.size() && i < 10; i++)
    out << fmt::format("  {:>10} {:>6.1f}%  {}\n", format_duration_ns(static_cast<double>(ranked[i].first)),
                       100.0 * static_cast<double>(ranked[i].first) / static_cast<double>(s.samples),
                       fit(s.frames[ranked[i].second].name, 70));
}

// How the numbers above were corrected, and what the probes cost the target.
// An IFUNC's row times the implementation the target runs: say which, and who chose it.
void write_implementations(const Profile& p, std::ostream& out) {
  for (const auto& f : p.functions)
    if (!f.implementation.empty())
      out << fmt::format("{}: IFUNC, timed at its implementation {} ({})\n", f.demangled, f.implementation,
                         f.implementation_source == "target" ? "bound by the target"
                                                             : "perfbpf's loader, same file, CPU and tunables");
}

// Functions whose returns are probed on their instructions, and functions a glob matched
// that could not be probed: a line each, naming a few.
void write_method_notes(const Profile& p, std::ostream& out) {
  std::map<std::string, std::vector<std::string>> by_reason;
  for (const auto& f : p.functions)
    if (f.probe_method == "return-sites") by_reason[f.probe_method_reason].push_back(f.demangled);
  for (const auto& [reason, names] : by_reason) {
    std::string list;
    for (size_t i = 0; i < names.size() && i < 3; i++) list += (i ? ", " : "") + fit(names[i], 40);
    if (names.size() > 3) list += fmt::format(" and {} more", names.size() - 3);
    out << fmt::format("return-site probes (not uretprobes) for {}: {}; a tail call ends the timed call at its jump\n",
                       list, reason);
  }
  if (!p.skipped_functions.empty()) {
    std::string list;
    for (size_t i = 0; i < p.skipped_functions.size() && i < 3; i++)
      list += fmt::format("{}{} ({})", i ? "; " : "", fit(p.skipped_functions[i].name, 40), p.skipped_functions[i].reason);
    if (p.skipped_functions.size() > 3) list += fmt::format("; and {} more in the report", p.skipped_functions.size() - 3);
    out << fmt::format("skipped {} function{} that cannot be probed: {}\n", p.skipped_functions.size(),
                       p.skipped_functions.size() == 1 ? "" : "s", list);
  }
}

void write_probe_notes(const Profile& p, std::ostream& out) {
  write_method_notes(p, out);
  if (p.functions.empty()) return;
  std::map<std::string, size_t> by_site;
  for (const auto& f : p.functions) by_site[f.probe_site]++;
  std::string sites;
  for (const auto& [site, n] : by_site) sites += fmt::format("{}{} {}", sites.empty() ? "" : ", ", n, site);
  if (p.calibration.method == "none") {
    out << fmt::format("probes: {}; latencies are raw: probe cost is included (--no-calibrate)\n", sites);
  } else {
    std::string bias;
    for (const auto& c : p.calibration.sites)
      if (by_site.count(c.kind)) bias += fmt::format("{}{} {}", bias.empty() ? "" : ", ", c.kind, format_duration_ns(c.bias_ns));
    out << fmt::format("probes: {}; latencies less probe cost ({}; {} calibration), raw figures in the report\n", sites,
                       bias, p.calibration.from_cache ? "cached" : "fresh");
  }
  const OverheadInfo& o = p.overhead;
  // As a factor once it is large: "~1.1x slower" reads better than "+110%".
  const std::string slowdown =
      o.target_slowdown_pct >= 100
          ? fmt::format("{}{:.3g}x slower", o.slowdown_at_least ? "at least " : "~", 1 + o.target_slowdown_pct / 100)
          : fmt::format("~{:.2f}% slower", o.target_slowdown_pct);
  if (o.target_slowdown_pct <= o.budget_pct) {
    out << fmt::format("probe overhead: the target ran {} (budget {:.0f}%)\n", slowdown, o.budget_pct);
    return;
  }
  std::vector<const FunctionProfile*> costly;
  for (const auto& f : p.functions) costly.push_back(&f);
  std::sort(costly.begin(), costly.end(), [](auto* a, auto* b) { return a->overhead_pct > b->overhead_pct; });
  std::string names;
  for (size_t i = 0; i < costly.size() && i < 3 && costly[i]->overhead_pct > 0; i++)
    names += fmt::format("{}{} ({:.1f}%, {} site)", i ? ", " : "", fit(costly[i]->demangled, 40), costly[i]->overhead_pct,
                         costly[i]->probe_site);
  out << fmt::format(
      "WARNING: the probes made the target run {} ({:.0f}% of its busiest thread's time in probes), over the {:.0f}% "
      "budget: {}. Probe fewer or less frequent functions, sample instead, or rebuild with "
      "-fpatchable-function-entry=5 so probes sit on an optimized NOP\n",
      slowdown, o.probe_share_pct, o.budget_pct, names);
}

// ---- resources: the system section, pidstat/vmstat style

bool ran(const std::vector<std::string>& collectors, const char* name) {
  return std::find(collectors.begin(), collectors.end(), name) != collectors.end();
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// A latency distribution that recorded nothing has an all-zero summary and no buckets.
bool has_data(const LatencyDistribution& d) { return d.summary.max > 0 || !d.histogram.empty(); }

// Narrow forms for table cells and the live line: "45us", "3.1ms", "512.0M".
std::string compact_duration(double ns) {
  static constexpr std::pair<double, const char*> kUnits[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
  for (const auto& [scale, name] : kUnits)
    if (std::fabs(ns) >= scale) return fmt::format("{:.{}f}{}", ns / scale, ns / scale >= 10 ? 0 : 1, name);
  return fmt::format("{:.0f}ns", ns);
}

std::string compact_bytes(double bytes) {
  static constexpr std::pair<double, const char*> kUnits[] = {
      {1024.0 * 1024 * 1024 * 1024, "T"}, {1024.0 * 1024 * 1024, "G"}, {1024.0 * 1024, "M"}, {1024.0, "K"}};
  for (const auto& [scale, name] : kUnits)
    if (std::fabs(bytes) >= scale) return fmt::format("{:.1f}{}", bytes / scale, name);
  return fmt::format("{:.0f}B", bytes);
}

std::string scope_text(const Profile& p) {
  const SystemProfile& s = p.system;
  if (s.scope == "system") return "system-wide";
  if (s.scope == "cgroup") return "cgroup " + (s.cgroup.empty() ? std::string("?") : s.cgroup);
  return fmt::format("pid {}{}", p.session.pid, p.session.follow_children ? " and descendants" : "");
}

void write_sched_line(const SystemProfile& s, std::ostream& out) {
  const ResourceUsage& u = s.totals;
  auto d = [](uint64_t ns) { return format_duration_ns(static_cast<double>(ns)); };
  out << fmt::format("  cpu {:.1f}% ({} on CPU), off CPU: run queue {}, io {}, sleep {}; switches {} vol / {} invol, "
                     "{} migrations",
                     u.cpu_pct, d(u.cpu_time_ns), d(u.off_cpu_ns.runqueue), d(u.off_cpu_ns.io), d(u.off_cpu_ns.sleep),
                     u.ctx_switches.voluntary, u.ctx_switches.involuntary, u.migrations);
  // Around a switch the tracepoints missed, the wait's reason is unknown: shown, not guessed.
  if (u.off_cpu_ns.unknown) out << fmt::format("; off CPU for a reason not seen {}", d(u.off_cpu_ns.unknown));
  if (has_data(s.runqueue_latency_ns))
    out << fmt::format("; run-queue latency p50 {} p99 {}", d(s.runqueue_latency_ns.summary.p50),
                       d(s.runqueue_latency_ns.summary.p99));
  // The machine's figure says whether the target competed for CPUs (100% = all of them busy).
  if (s.machine_cpu_pct > 0)
    out << fmt::format("; machine CPUs {:.1f}% busy (peak {:.1f}%)", s.machine_cpu_pct, s.machine_cpu_pct_peak);
  out << "\n";
}

void write_memory_line(const SystemProfile& s, std::ostream& out) {
  const ResourceUsage& u = s.totals;
  auto b = [](uint64_t n) { return format_bytes(static_cast<double>(n)); };
  // The target's RSS is what its live processes hold (exited ones keep theirs in their rows).
  out << fmt::format("  memory rss peak {}, last {}{}; faults {} minor / {} major", b(u.memory.rss_peak_bytes),
                     b(u.memory.rss_last_bytes),
                     u.memory.rss_last_bytes == 0 && u.memory.rss_peak_bytes > 0 ? " (no process alive at the end)" : "",
                     u.faults.minor, u.faults.major);
  // Pages shared between processes count once in each one's RSS, as in ps: only then can the
  // sum pass what the machine has.
  if (s.memory_total_bytes > 0 && u.memory.rss_peak_bytes > s.memory_total_bytes)
    out << " (RSS counts shared pages once per process: the sum exceeds the machine's memory)";
  // The machine's figure says whether the target ran short of memory or the host did.
  if (s.memory_total_bytes > 0)
    out << fmt::format("; machine memory used {:.1f}% (peak {:.1f}%) of {}", s.memory_used_pct_last,
                       s.memory_used_pct_peak, b(s.memory_total_bytes));
  out << "\n";
}

void write_block_line(const SystemProfile& s, std::ostream& out) {
  const DiskTraffic& t = s.totals.disk;
  auto b = [](uint64_t n) { return format_bytes(static_cast<double>(n)); };
  auto d = [](uint64_t ns) { return format_duration_ns(static_cast<double>(ns)); };
  out << fmt::format("  disk read {} ({} ios) write {} ({} ios)", b(t.read_bytes), t.read_ios, b(t.write_bytes),
                     t.write_ios);
  std::vector<const DiskDevice*> busy;
  for (const auto& disk : s.disks)
    if (has_data(disk.total_ns)) busy.push_back(&disk);
  std::stable_sort(busy.begin(), busy.end(), [](const DiskDevice* x, const DiskDevice* y) {
    return x->traffic.read_ios + x->traffic.write_ios > y->traffic.read_ios + y->traffic.write_ios;
  });
  for (size_t i = 0; i < busy.size() && i < 3; i++)
    out << fmt::format("; {}: total latency p50 {} p99 {}", busy[i]->name, d(busy[i]->total_ns.summary.p50),
                       d(busy[i]->total_ns.summary.p99));
  out << "\n";
}

void write_network_line(const SystemProfile& s, std::ostream& out) {
  const NetTraffic& n = s.totals.net;
  auto b = [](uint64_t v) { return format_bytes(static_cast<double>(v)); };
  out << fmt::format("  net tx {} rx {}, {} retransmits, {} connections", b(n.tx_bytes), b(n.rx_bytes), n.retransmits,
                     n.connections);
  if (has_data(s.connect_latency_ns))
    out << fmt::format("; connect latency p50 {} p99 {}",
                       format_duration_ns(static_cast<double>(s.connect_latency_ns.summary.p50)),
                       format_duration_ns(static_cast<double>(s.connect_latency_ns.summary.p99)));
  std::vector<const NetInterface*> nics;
  for (const auto& i : s.interfaces)
    if (i.rx_bytes + i.tx_bytes > 0) nics.push_back(&i);
  std::stable_sort(nics.begin(), nics.end(), [](const NetInterface* x, const NetInterface* y) {
    return x->rx_bytes + x->tx_bytes > y->rx_bytes + y->tx_bytes;
  });
  for (size_t i = 0; i < nics.size() && i < 3; i++)
    out << fmt::format("; {} rx {} tx {}", nics[i]->name, b(nics[i]->rx_bytes), b(nics[i]->tx_bytes));
  out << "\n";
}

// The processes in scope, when there is more than the one the header already describes.
void write_top_processes(const SystemProfile& s, std::ostream& out) {
  if (s.scope == "pid" && s.processes.size() <= 1) return;
  if (s.processes.empty()) return;
  constexpr size_t kRows = 10;
  bool sched = ran(s.collectors, "sched"), memory = ran(s.collectors, "memory"), block = ran(s.collectors, "block"),
       network = ran(s.collectors, "network");
  std::vector<const ProcessResources*> rows;
  for (const auto& p : s.processes) rows.push_back(&p);
  std::stable_sort(rows.begin(), rows.end(), [](const ProcessResources* a, const ProcessResources* b) {
    return a->usage.cpu_time_ns > b->usage.cpu_time_ns;
  });
  auto pair = [](uint64_t x, uint64_t y) {
    return compact_bytes(static_cast<double>(x)) + "/" + compact_bytes(static_cast<double>(y));
  };
  constexpr const char* kRow = "  {:<8} {:<16} {:>7} {:>8}  {:<15} {}\n";
  out << "top processes by CPU:\n";
  out << fmt::format(kRow, "PID", "COMM", "CPU%", "RSS", "DISK R/W", "NET TX/RX");
  bool any_exited = false;
  for (size_t i = 0; i < rows.size() && i < kRows; i++) {
    const ProcessResources& p = *rows[i];
    const ResourceUsage& u = p.usage;
    any_exited |= p.exited;
    out << fmt::format(kRow, p.pid, fit(p.comm, 15) + (p.exited ? "*" : ""),
                       sched ? fmt::format("{:.1f}", u.cpu_pct) : "-",
                       memory ? compact_bytes(static_cast<double>(u.memory.rss_peak_bytes)) : "-",
                       block ? pair(u.disk.read_bytes, u.disk.write_bytes) : "-",
                       network ? pair(u.net.tx_bytes, u.net.rx_bytes) : "-");
  }
  uint64_t more = s.processes_omitted + (rows.size() > kRows ? rows.size() - kRows : 0);
  if (more) out << fmt::format("  ... and {} more process{}\n", more, more == 1 ? "" : "es");
  if (any_exited) out << "  * exited during the session (RSS is the peak)\n";
  else if (memory) out << "  RSS is the peak during the session\n";
}

void write_resources(const Profile& p, std::ostream& out) {
  const SystemProfile& s = p.system;
  if (!s.enabled) return;
  out << fmt::format("\nresources ({}; {}, {:.1f} s{}):\n", s.collectors.empty() ? "none" : join(s.collectors, ", "),
                     scope_text(p), p.session.duration_s, s.source == "proc" ? ", sampled from /proc" : "");
  if (ran(s.collectors, "sched")) write_sched_line(s, out);
  if (ran(s.collectors, "memory")) write_memory_line(s, out);
  if (ran(s.collectors, "block")) write_block_line(s, out);
  if (ran(s.collectors, "network")) write_network_line(s, out);
  uint64_t lost = 0;
  std::string why;
  for (const auto& [reason, n] : s.lost_by_reason) {
    lost += n;
    if (n) why += fmt::format("{}{} {}", why.empty() ? "" : ", ", n, reason);
  }
  if (lost)
    out << fmt::format("  WARNING: {} resource event{} lost ({}); the figures above undercount\n", lost,
                       lost == 1 ? "" : "s", why);
  write_top_processes(s, out);
}

// An evidence or trend figure in its unit: "97.0%", "3.10 ms", "1.20 MiB/min".
std::string format_value(double v, const std::string& unit) {
  if (unit == "ns") return format_duration_ns(v);
  if (unit == "%") return fmt::format("{:.1f}%", v);
  if (unit == "bytes") return format_bytes(v);
  if (unit.rfind("bytes/", 0) == 0) return format_bytes(v) + unit.substr(5);
  if (unit == "count") return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g} {}", v, unit);
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void write_analysis(const AnalysisSection& a, std::ostream& out) {
  const HealthScore& h = a.health;
  std::string deductions;
  for (const auto& d : h.deductions)
    deductions += fmt::format("{}-{:g} {} {}", deductions.empty() ? "" : ", ", d.points, d.severity, d.bottleneck);
  out << fmt::format("\nhealth: {:g}/100 ({}){}\n", h.score, h.grade,
                     deductions.empty() ? std::string() : "  " + deductions);
  if (a.bottlenecks.empty()) {
    out << "no bottlenecks found\n";
  } else {
    out << "bottlenecks:\n";
    for (const auto& b : a.bottlenecks)
      out << fmt::format("  {:<8} {} ({} {} vs {})\n", upper(b.severity), b.title, b.evidence.metric,
                         format_value(b.evidence.value, b.evidence.unit),
                         format_value(b.evidence.threshold, b.evidence.unit));
  }
  std::vector<const Trend*> significant;
  for (const auto& t : a.trends)
    if (t.direction != "stable") significant.push_back(&t);
  if (!significant.empty()) {
    out << "trends:\n";
    // A session's trends are per second; cross-run ones ("runs:...") per run.
    for (const Trend* t : significant)
      out << fmt::format("  {} {}, {}{} per {} (p {:.2g}, {} samples)\n", t->series, t->direction,
                         t->slope_per_s >= 0 ? "+" : "-", format_value(std::fabs(t->slope_per_s), t->unit),
                         t->series.rfind("runs:", 0) == 0 ? "run" : "s", t->p_value, t->samples);
  }
  if (!a.recommendations.empty()) {
    out << "recommendations:\n";
    for (const auto& r : a.recommendations) out << "  - " << r.text << "\n";
  }
  if (!a.alerts.empty())
    out << fmt::format("alerts: {} raised during the session (first at {:.1f}s: {} of {})\n", a.alerts.size(),
                       a.alerts.front().t, a.alerts.front().metric, a.alerts.front().subject);
}

std::string format_duration_ns(double ns) {
  struct Unit {
    double scale;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
  for (const auto& u : kUnits) {
    if (std::fabs(ns) >= u.scale) {
      double v = ns / u.scale;
      int decimals = v >= 100 ? 0 : v >= 10 ? 1 : 2;
      return fmt::format("{:.{}f} {}", v, decimals, u.name);
    }
  }
  return fmt::format("{:.0f} ns", ns);
}

std::string format_bytes(double bytes) {
  static constexpr std::pair<double, const char*> kUnits[] = {
      {1024.0 * 1024 * 1024 * 1024, "TiB"}, {1024.0 * 1024 * 1024, "GiB"}, {1024.0 * 1024, "MiB"}, {1024.0, "KiB"}};
  for (const auto& [scale, name] : kUnits) {
    if (std::fabs(bytes) >= scale) {
      double v = bytes / scale;
      int decimals = v >= 100 ? 0 : v >= 10 ? 1 : 2;
      return fmt::format("{:.{}f} {}", v, decimals, name);
    }
  }
  return fmt::format("{:.0f} B", bytes);
}

std::string format_interval_line(const SeriesSample& s, const std::vector<std::string>& collectors) {
  // MB/s in decimal megabytes, as iostat -m and sar print them.
  auto mb_per_s = [&](uint64_t bytes) { return s.dt > 0 ? static_cast<double>(bytes) / s.dt / 1e6 : 0.0; };
  auto ns = [](uint64_t v) { return compact_duration(static_cast<double>(v)); };
  bool sched = ran(collectors, "sched");
  std::string line = fmt::format("[{:5.1f}s]", s.t);
  if (sched) line += fmt::format(" cpu {:.1f}%", s.cpu_pct);
  if (ran(collectors, "memory"))
    line += fmt::format(" rss {} flt {}/{}", compact_bytes(static_cast<double>(s.rss_bytes)), s.minor_faults,
                        s.major_faults);
  if (ran(collectors, "block"))
    line += fmt::format(" disk r {:.1f} w {:.1f} MB/s p99 {}", mb_per_s(s.disk_read_bytes), mb_per_s(s.disk_write_bytes),
                        s.disk_ios ? ns(s.disk_p99_ns) : "-");
  if (ran(collectors, "network"))
    line += fmt::format(" net tx {:.1f} rx {:.1f} MB/s", mb_per_s(s.net_tx_bytes), mb_per_s(s.net_rx_bytes));
  if (sched) line += fmt::format(" rq p99 {}", ns(s.runqueue_p99_ns));
  return line;
}

void write_text_summary(const Profile& p, std::ostream& out) {
  const SessionInfo& s = p.session;
  const TargetSetInfo& ts = s.target_set;
  if (ts.lost > 0)
    out << fmt::format("WARNING: {} process{} never profiled: the target set was full ({} at once, "
                       "--max-processes); every figure below misses {}.\n",
                       ts.lost, ts.lost == 1 ? " was" : "es were", ts.max_processes, ts.lost == 1 ? "it" : "them");
  if (p.events.lost > 0) {
    std::string why;
    for (const auto& [reason, n] : p.events.lost_by_reason)
      if (n) why += fmt::format("{}{} {}", why.empty() ? "" : ", ", n, reason);
    out << fmt::format("WARNING: data incomplete: {} event{} lost ({}); figures below undercount.\n",
                       p.events.lost, p.events.lost == 1 ? "" : "s", why);
  }
  out << fmt::format("perfbpf {}: {} for {:.2f} s, ended by {} (kernel {}, host {})\n", p.tool_version,
                     target_line(s, p.system), s.duration_s, s.end_reason.empty() ? "?" : s.end_reason, s.kernel, s.hostname);
  if (s.mode == "command" && s.exit_code >= 0) out << fmt::format("command exit code: {}\n", s.exit_code);
  out << "\n";

  std::vector<const FunctionProfile*> rows;
  for (const auto& f : p.functions) rows.push_back(&f);
  std::stable_sort(rows.begin(), rows.end(), [](const FunctionProfile* a, const FunctionProfile* b) {
    return a->latency.total > b->latency.total;
  });
  bool any_calls = std::any_of(rows.begin(), rows.end(),
                               [](const auto* f) { return f->calls || f->in_flight || f->unwound || f->in_flight_at_attach; });
  if (!rows.empty() && !any_calls) {
    out << "no calls recorded: the probed functions did not run during the session\n";
  }
  if (!rows.empty()) {
    write_row(out, {"FUNCTION", "CALLS", "MEAN", "P50", "P90", "P99", "MAX", "TOTAL", "%SESSION"});
    const double session_ns = s.duration_s * 1e9;
    for (const FunctionProfile* f : rows) {
      const LatencySummary& l = f->latency;
      auto d = [](uint64_t ns) { return format_duration_ns(static_cast<double>(ns)); };
      std::string share =
          session_ns > 0 ? fmt::format("{:.1f}", 100.0 * static_cast<double>(l.total) / session_ns) : "-";
      if (f->calls == 0)
        write_row(out, {fit(f->demangled, kNameWidth), "0", "-", "-", "-", "-", "-", "-", "-"}, untimed_calls(*f));
      else
        write_row(out, {fit(f->demangled, kNameWidth), std::to_string(f->calls), format_duration_ns(l.mean), d(l.p50),
                        d(l.p90), d(l.p99), d(l.max), d(l.total), share},
                  untimed_calls(*f));
    }
    out << "%SESSION: total time in the function / session wall time; nested or concurrent calls add up, "
           "so it can pass 100.\n";
  }
  write_decomposition(p, out);
  write_implementations(p, out);
  write_probe_notes(p, out);
  write_hottest(p.stacks, out);
  write_waits(p.off_cpu, out);
  write_resources(p, out);
  if (p.analysis.enabled) write_analysis(p.analysis, out);
  if (ts.lost > 0)
    out << fmt::format("\nevents: {} received, {} lost (incomplete: {} process{} never profiled)\n", p.events.received,
                       p.events.lost, ts.lost, ts.lost == 1 ? "" : "es");
  else
    out << fmt::format("\nevents: {} received, {} lost ({:.2f}% complete)\n", p.events.received, p.events.lost,
                       p.overhead.completeness_pct);
  const OverheadInfo& o = p.overhead;
  std::string bpf = o.bpf_stats == "none"
                        ? std::string("BPF run time unknown (uncalibrated)")
                        : fmt::format("BPF programs ran {} times, {} in all ({})", o.bpf_run_count,
                                      format_duration_ns(static_cast<double>(o.bpf_run_time_ns)), o.bpf_stats);
  out << fmt::format("perfbpf itself: {:.2f} s CPU, peak RSS {}; {}\n", o.perfbpf_cpu_s,
                     format_bytes(static_cast<double>(o.perfbpf_peak_rss_bytes)), bpf);
}

}  // namespace perfbpf
