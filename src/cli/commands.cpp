#include "cli/commands.h"

#include <unistd.h>

#include <fstream>
#include <ostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "aggregate/stack_profile.h"
#include "analysis/thresholds.h"
#include "perfbpf/dashboard.h"
#include "perfbpf/calibration.h"
#include "perfbpf/error.h"
#include "perfbpf/validation.h"
#include "report/flamegraph_svg.h"
#include "report/json_report.h"
#include "report/text_summary.h"
#include "session/libbpf_log.h"
#include "session/privileges.h"
#include "session/system_info.h"

namespace perfbpf::cli {
namespace {

// Under sudo the report belongs to the user who asked for it, not to root.
void give_to_invoking_user(const std::string& path) {
  InvokingUser user = invoking_user();
  if (user.present && path != "-" && chown(path.c_str(), user.uid, user.gid) != 0) {
    // Keeping root ownership is harmless; the report itself was written.
  }
}

}  // namespace

int run_profile(const CliOptions& options, std::ostream& err) {
  // Fail before attaching anything rather than lose a whole session at the end.
  check_output_writable(options.output);
  for (const auto& [path, option] : {std::pair{&options.folded_path, "--folded"}, {&options.flamegraph_path, "--flamegraph"},
                                      {&options.summary_path, "--summary"}})
    if (!path->empty()) check_output_writable(*path, option);
  route_libbpf_logging(options.verbose);

  SessionOptions session = options.session;
  session.on_attached = [&err, &options](const AttachedProbes& a) {
    for (const std::string& note : a.notes) err << "perfbpf: " << note << "\n";
    std::string what;
    if (a.functions) what = fmt::format("timing {} function{}", a.functions, a.functions == 1 ? "" : "s");
    if (!a.collectors.empty())
      what += fmt::format("{}collecting {}", what.empty() ? "" : ", ", fmt::join(a.collectors, ", "));
    if (options.session.sample_freq > 0) what += fmt::format("{}sampling stacks", what.empty() ? "" : ", ");
    std::string where = a.scope == "system"   ? std::string("system-wide")
                        : a.scope == "cgroup" ? "in cgroup " + options.session.cgroup
                                              : fmt::format("in pid {}{}", a.pid, a.follow_children ? " and its descendants" : "");
    err << fmt::format("perfbpf: {} {}. Ctrl-C to stop.\n", what, where);
    err.flush();
  };
  std::ofstream alerts_file;
  if (!options.alerts_path.empty()) {
    check_output_writable(options.alerts_path, "--alerts");
    alerts_file.open(options.alerts_path);
    give_to_invoking_user(options.alerts_path);
  }
  session.on_alert = [&err, &alerts_file](const Alert& a) {
    err << format_alert(a) << "\n";
    err.flush();
    if (alerts_file.is_open()) alerts_file << alert_json_line(a) << std::endl;  // shipped as it happens
  };
  if (!options.quiet && !session.collectors.empty())
    session.on_interval = [&err, &options](const SeriesSample& s) {
      err << format_interval_line(s, options.session.collectors) << "\n";
      err.flush();
    };
  Profile profile = run_session(session);

  // Like perf stat and time, the summary goes to stderr: stdout belongs to the command (and to
  // the report with -o -), so perfbpf -- ./prog > out.json leaves out.json as ./prog wrote it.
  if (!options.quiet && options.summary_path.empty()) {
    write_text_summary(profile, err);
    err.flush();
  }
  if (!options.summary_path.empty()) {
    std::ofstream summary(options.summary_path);
    write_text_summary(profile, summary);
    summary.close();
    if (!summary) throw Error("cannot write " + options.summary_path, "choose a writable path with --summary");
    give_to_invoking_user(options.summary_path);
  }
  write_json_report(profile, options.output);
  if (!options.folded_path.empty()) {
    std::ofstream folded(options.folded_path);
    write_folded(profile.off_cpu.enabled ? profile.off_cpu : profile.stacks, folded);
    if (!folded) throw Error("cannot write " + options.folded_path, "choose a writable path with --folded");
    give_to_invoking_user(options.folded_path);
  }
  if (!options.flamegraph_path.empty()) {
    std::ofstream svg(options.flamegraph_path);
    std::string target = profile.session.mode == "command" && !profile.session.command.empty()
                             ? profile.session.command[0]
                             : profile.session.mode == "system" ? std::string("system-wide")
                             : profile.session.mode == "cgroup" ? "cgroup " + options.session.cgroup
                                                                : "pid " + std::to_string(profile.session.pid);
    if (profile.off_cpu.enabled)
      write_flamegraph_svg(profile.off_cpu,
                           fmt::format("Off-CPU: {} ({} waiting, in ns)", target,
                                       format_duration_ns(static_cast<double>(profile.off_cpu.samples))),
                           svg);
    else
      write_flamegraph_svg(profile.stacks, fmt::format("CPU: {} ({} samples at {} Hz)", target,
                                                       profile.stacks.samples, profile.stacks.frequency_hz),
                           svg);
    if (!svg) throw Error("cannot write " + options.flamegraph_path, "choose a writable path with --flamegraph");
    give_to_invoking_user(options.flamegraph_path);
  }
  if (options.output != "-") {
    give_to_invoking_user(options.output);
    err << "perfbpf: report written to " << options.output << "\n";
  }
  if (profile.session.mode == "command") return static_cast<int>(profile.session.exit_code);
  return 0;
}

int run_calibrate(std::ostream& out) {
  route_libbpf_logging(false);
  CalibrationInfo c = load_or_calibrate(/*refresh=*/true);
  out << fmt::format("probe cost on {} (kernel {}), measured {}:\n", c.cpu_model, kernel_release(), c.measured_at);
  out << fmt::format("  {:<15} {:>10} {:>10} {:>12} {:>10} {:>8}\n", "SITE", "BIAS", "SPREAD", "UNCERTAINTY", "COST",
                     "SAMPLES");
  for (const auto& s : c.sites)
    out << fmt::format("  {:<15} {:>10} {:>10} {:>12} {:>10} {:>8}\n", s.kind, format_duration_ns(s.bias_ns),
                       format_duration_ns(s.bias_spread_ns), format_duration_ns(s.bias_uncertainty_ns),
                       format_duration_ns(s.cost_ns), s.samples);
  out << fmt::format("perfbpf's probe programs run {} each (kernel BPF stats)\n", format_duration_ns(c.bpf_ns_per_run))
      << "bias: probe time inside each measured call, subtracted; cost: what one probed call costs the target\n"
      << "cached in " << calibration_cache_path() << "\n";
  return 0;
}

int run_validate(const CliOptions& options, std::ostream& out) {
  if (!options.json_path.empty()) check_output_writable(options.json_path, "--json");
  route_libbpf_logging(options.verbose);
  ProfilingValidationSystem validator(options.quick);
  ValidationReport r = validator.run_comprehensive_validation();
  auto value = [](double v, const std::string& unit) {
    return unit == "ns" ? format_duration_ns(v) : unit == "s" ? fmt::format("{:.3f} s", v) : fmt::format("{:.4g} {}", v, unit);
  };
  for (const auto& c : r.checks) {
    const char* verdict = c.skipped ? "SKIP" : c.passed ? "PASS" : "FAIL";
    if (c.skipped) {
      out << fmt::format("{}  {:<10} {} ({})\n", verdict, c.category, c.name, c.detail);
      continue;
    }
    out << fmt::format("{}  {:<10} {}: {} vs {} (tolerance {}; {})\n", verdict, c.category, c.name,
                       value(c.measured, c.unit), value(c.expected, c.unit), value(c.tolerance, c.unit), c.detail);
  }
  out << fmt::format("\n{} passed, {} failed, {} skipped of {} checks: success rate {:.1f}%, verdict {}\n", r.passed,
                     r.failed, r.skipped, r.checks.size(), 100 * r.success_rate, r.all_passed() ? "PASS" : "FAIL");
  if (!options.json_path.empty()) {
    std::ofstream json(options.json_path);
    json << to_json(r).dump(2) << "\n";
    if (!json) throw Error("cannot write " + options.json_path, "choose a writable path");
  }
  return r.all_passed() ? 0 : 1;
}

int run_analyze(const CliOptions& options, std::ostream& out) {
  PerformanceAnalysisDashboard dashboard(options.session.thresholds);
  for (const auto& path : options.analyze_paths) dashboard.load_profiler_data(path);
  // Without thresholds of its own, analyze judges by those the session recorded.
  if (options.threshold_texts.empty() && options.config_path.empty()) {
    if (dashboard.latest().analysis.enabled) dashboard.thresholds = dashboard.latest().analysis.thresholds;
  }
  if (!options.json_path.empty()) check_output_writable(options.json_path, "--json");
  const AnalysisSection a = dashboard.analysis();
  out << fmt::format("perfbpf analyze: {} report{}, latest {}\n", dashboard.reports(),
                     dashboard.reports() == 1 ? "" : "s", options.analyze_paths.back());
  write_analysis(a, out);
  if (!options.json_path.empty()) dashboard.export_analysis_report(options.json_path);
  return 0;
}

int run_report(const CliOptions& options, std::ostream& out) {
  write_text_summary(read_json_report(options.report_path), out);
  return 0;
}

}  // namespace perfbpf::cli
