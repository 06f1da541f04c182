#include "report/text_summary.h"

#include <algorithm>
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

std::string target_line(const SessionInfo& s) {
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

void write_row(std::ostream& out, const std::vector<std::string>& cells, uint64_t in_flight = 0) {
  out << fmt::format("{:<32} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}", cells[0], cells[1], cells[2],
                     cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]);
  if (in_flight) out << fmt::format("  ({} in flight at end)", in_flight);
  out << "\n";
}

// Where the CPU time went, from the samples: the functions named by nobody.
void write_hottest(const StackProfile& s, std::ostream& out) {
  if (!s.enabled) return;
  out << fmt::format("\nhottest functions ({} samples at {} Hz, {:.1f}% of frames named):\n", s.samples, s.frequency_hz,
                     s.coverage_pct);
  if (s.samples == 0) {
    out << "  no samples: the target was hardly on CPU\n";
    return;
  }
  if (s.shallow_user_pct > 90)
    out << fmt::format(
        "  {:.0f}% of user stacks are 1-2 frames deep: the code likely lacks frame pointers (rebuild with "
        "-fno-omit-frame-pointer); samples inside frameless leaf functions also lose their caller\n",
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
void write_probe_notes(const Profile& p, std::ostream& out) {
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
  if (o.target_slowdown_pct <= o.budget_pct) {
    out << fmt::format("probe overhead: ~{:.2f}% of the session's time (budget {:.0f}%)\n", o.target_slowdown_pct,
                       o.budget_pct);
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
      "WARNING: probes cost the target ~{:.1f}% of the session's time, over the {:.0f}% budget: {}. Probe fewer or "
      "less frequent functions, sample instead, or rebuild with -fpatchable-function-entry=5 so probes sit on an "
      "optimized NOP\n",
      o.target_slowdown_pct, o.budget_pct, names);
}

}  // namespace

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

void write_text_summary(const Profile& p, std::ostream& out) {
  const SessionInfo& s = p.session;
  if (p.events.lost > 0) {
    std::string why;
    for (const auto& [reason, n] : p.events.lost_by_reason)
      if (n) why += fmt::format("{}{} {}", why.empty() ? "" : ", ", n, reason);
    out << fmt::format("WARNING: data incomplete: {} event{} lost ({}); figures below undercount.\n",
                       p.events.lost, p.events.lost == 1 ? "" : "s", why);
  }
  out << fmt::format("perfbpf {}: {} for {:.2f} s, ended by {} (kernel {}, host {})\n", p.tool_version,
                     target_line(s), s.duration_s, s.end_reason.empty() ? "?" : s.end_reason, s.kernel, s.hostname);
  if (s.mode == "command" && s.exit_code >= 0) out << fmt::format("command exit code: {}\n", s.exit_code);
  out << "\n";

  std::vector<const FunctionProfile*> rows;
  for (const auto& f : p.functions) rows.push_back(&f);
  std::stable_sort(rows.begin(), rows.end(), [](const FunctionProfile* a, const FunctionProfile* b) {
    return a->latency.total > b->latency.total;
  });
  bool any_calls = std::any_of(rows.begin(), rows.end(), [](const auto* f) { return f->calls || f->in_flight; });
  if (rows.empty() || !any_calls) {
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
        write_row(out, {fit(f->demangled, kNameWidth), "0", "-", "-", "-", "-", "-", "-", "-"}, f->in_flight);
      else
        write_row(out, {fit(f->demangled, kNameWidth), std::to_string(f->calls), format_duration_ns(l.mean), d(l.p50),
                        d(l.p90), d(l.p99), d(l.max), d(l.total), share},
                  f->in_flight);
    }
    out << "%SESSION: total time in the function / session wall time; nested or concurrent calls add up, "
           "so it can pass 100.\n";
  }
  write_probe_notes(p, out);
  write_hottest(p.stacks, out);
  write_waits(p.off_cpu, out);
  out << fmt::format("\nevents: {} received, {} lost ({:.2f}% complete)\n", p.events.received, p.events.lost,
                     p.overhead.completeness_pct);
  const OverheadInfo& o = p.overhead;
  std::string bpf = o.bpf_stats == "none"
                        ? std::string("BPF run time unknown (uncalibrated)")
                        : fmt::format("BPF programs ran {} times, {} in all ({})", o.bpf_run_count,
                                      format_duration_ns(static_cast<double>(o.bpf_run_time_ns)), o.bpf_stats);
  out << fmt::format("perfbpf itself: {:.2f} s CPU, peak RSS {:.1f} MiB; {}\n", o.perfbpf_cpu_s,
                     static_cast<double>(o.perfbpf_peak_rss_bytes) / (1 << 20), bpf);
}

}  // namespace perfbpf
