#include "cli/commands.h"

#include <exception>
#include <optional>
#include <ostream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "aggregate/stack_profile.h"
#include "analysis/thresholds.h"
#include "gate/fail_on.h"
#include "perfbpf/dashboard.h"
#include "perfbpf/calibration.h"
#include "perfbpf/error.h"
#include "perfbpf/validation.h"
#include "report/json_report.h"
#include "report/output_file.h"
#include "report/text_summary.h"
#include "report/writers.h"
#include "serve/agent.h"
#include "serve/dashboard_server.h"
#include "session/libbpf_log.h"
#include "session/system_info.h"

namespace perfbpf::cli {
namespace {

// Every output is attempted even when one fails (nothing that can be saved is lost); the
// first failure is what perfbpf reports and exits 1 with.
class FirstFailure {
 public:
  template <typename Write>
  void attempt(Write&& write) {
    try {
      write();
    } catch (const Error&) {
      if (!first_) first_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::exception_ptr first_;
};

// --redact-args: the command's arguments may carry secrets (tokens, passwords); its name stays.
void redact_arguments(Profile& profile) {
  for (size_t i = 1; i < profile.session.command.size(); i++) profile.session.command[i] = "[redacted]";
}

// --fail-on: findings at or above the severity turn a clean exit into 1 (a failing command's own
// status is kept: it says more).
int fail_on_exit(const AnalysisSection& analysis, const std::string& severity, int code, std::ostream& out) {
  if (severity.empty()) return code;
  const std::vector<std::string> findings = gate::findings_at_or_above(analysis, severity);
  if (findings.empty()) return code;
  out << fmt::format("perfbpf: --fail-on {}: {} finding{} at or above it\n", severity, findings.size(),
                     findings.size() == 1 ? "" : "s");
  for (const auto& f : findings) out << "  " << f << "\n";
  return code != 0 ? code : 1;
}

// The files asked for with --html, --pprof, --folded ..., checked writable up front.
std::vector<std::pair<const ReportFormat*, std::string>> requested_files(const CliOptions& options) {
  std::vector<std::pair<const ReportFormat*, std::string>> files;
  for (const ReportFormat& f : report_formats()) {
    auto it = options.report_files.find(std::string(f.name));
    if (it == options.report_files.end()) continue;
    OutputFile::check_writable(it->second, std::string(f.option));
    files.emplace_back(&f, it->second);
  }
  return files;
}

}  // namespace

int run_profile(const CliOptions& options, std::ostream& err) {
  // Fail before attaching anything rather than lose a whole session at the end.
  OutputFile::check_writable(options.output, "-o");
  if (!options.summary_path.empty()) OutputFile::check_writable(options.summary_path, "--summary");
  const auto files = requested_files(options);
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
    if (!a.skipped.empty()) {
      std::string list;
      for (size_t i = 0; i < a.skipped.size() && i < 3; i++)
        list += fmt::format("{}{} ({})", i ? "; " : "", a.skipped[i].name, a.skipped[i].reason);
      if (a.skipped.size() > 3) list += fmt::format("; and {} more, listed in the report", a.skipped.size() - 3);
      err << fmt::format("perfbpf: skipped {} function{} that cannot be probed: {}\n", a.skipped.size(),
                         a.skipped.size() == 1 ? "" : "s", list);
    }
    err.flush();
  };
  // Alerts are shipped as they happen: the file is in place, growing, during the session.
  std::optional<OutputFile> alerts_file;
  if (!options.alerts_path.empty()) alerts_file.emplace(options.alerts_path, "--alerts", OutputFile::Mode::Stream);
  session.on_alert = [&err, &alerts_file](const Alert& a) {
    err << format_alert(a) << "\n";
    err.flush();
    if (alerts_file) alerts_file->write(alert_json_line(a) + "\n");
  };
  if (!options.quiet && !session.collectors.empty())
    session.on_interval = [&err, &options](const SeriesSample& s) {
      err << format_interval_line(s, options.session.collectors) << "\n";
      err.flush();
    };
  // The dashboard listens before anything is attached (a taken port fails the session
  // early) and stops with the session.
  std::unique_ptr<DashboardServer> server;
  if (!options.serve.empty()) {
    auto live = std::make_shared<LiveReport>();
    server = std::make_unique<DashboardServer>(parse_serve_address(options.serve), live);
    session.on_snapshot = [live](const Profile& p) { live->publish(p); };
    err << "perfbpf: dashboard at " << server->url() << ", report so far at " << server->url() << "report.json, metrics at "
        << server->url() << "metrics\n";
    err.flush();
  }
  Profile profile = run_session(session);
  server.reset();
  if (options.redact_args) redact_arguments(profile);

  // Like perf stat and time, the summary goes to stderr: stdout belongs to the command (and to
  // the report with -o -), so perfbpf -- ./prog > out.json leaves out.json as ./prog wrote it.
  if (!options.quiet && options.summary_path.empty()) {
    write_text_summary(profile, err);
    err.flush();
  }
  FirstFailure failure;
  if (!options.summary_path.empty())
    failure.attempt([&] {
      std::ostringstream summary;
      write_text_summary(profile, summary);
      write_output_file(options.summary_path, "--summary", summary.str());
    });
  failure.attempt([&] {
    write_json_report(profile, options.output, "-o");
    if (options.output != "-") err << "perfbpf: report written to " << options.output << "\n";
  });
  failure.attempt([&] { write_report_files(profile, files); });
  if (alerts_file) failure.attempt([&] { alerts_file->commit(); });
  failure.rethrow();
  const int code = profile.session.mode == "command" ? static_cast<int>(profile.session.exit_code) : 0;
  return fail_on_exit(profile.analysis, options.fail_on, code, err);
}

int run_calibrate(std::ostream& out) {
  route_libbpf_logging(false);
  CalibrationInfo c = load_or_calibrate(/*refresh=*/true);
  out << fmt::format("probe cost on {} (kernel {}), measured {}:\n", c.cpu_model, kernel_release(), c.measured_at);
  out << fmt::format("  {:<15} {:<13} {:>10} {:>10} {:>12} {:>10} {:>8}\n", "SITE", "RETURN", "BIAS", "SPREAD",
                     "UNCERTAINTY", "COST", "SAMPLES");
  for (const auto& s : c.sites)
    out << fmt::format("  {:<15} {:<13} {:>10} {:>10} {:>12} {:>10} {:>8}\n", s.kind, s.method,
                       format_duration_ns(s.bias_ns),
                       format_duration_ns(s.bias_spread_ns), format_duration_ns(s.bias_uncertainty_ns),
                       format_duration_ns(s.cost_ns), s.samples);
  if (c.bpf_ns_per_run > 0)
    out << fmt::format("perfbpf's probe programs run {} each (kernel BPF stats)\n", format_duration_ns(c.bpf_ns_per_run));
  else  // 0 is not a measurement: BPF_ENABLE_STATS needs CAP_SYS_ADMIN, which setcap'ed perfbpf lacks
    out << "perfbpf's probe programs' own run time: not measured (kernel BPF stats need CAP_SYS_ADMIN; COST includes it)\n";
  out << "bias: probe time inside each measured call, subtracted; cost: what one probed call costs the target;\n"
      << "return: how the return is probed (uretprobe, or return-sites for Go and C++ exceptions)\n"
      << "cached in " << calibration_cache_path() << "\n";
  return 0;
}

int run_validate(const CliOptions& options, std::ostream& out) {
  if (!options.json_path.empty()) OutputFile::check_writable(options.json_path, "--json");
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
  for (const auto& t : r.probe_time)
    out << fmt::format(
        "\nprobe time inside a call, {} site: {} warm (calibrated, subtracted); {} more on cold caches "
        "(median of {} calls after writing {} MiB, spread {}), left in such calls",
        t.site, format_duration_ns(t.calibrated_bias_ns), format_duration_ns(t.cold_excess_ns), t.cold_calls,
        t.evicted_bytes >> 20, format_duration_ns(t.cold_spread_ns));
  out << fmt::format("\n{} passed, {} failed, {} skipped of {} checks: success rate {:.1f}%, verdict {}\n", r.passed,
                     r.failed, r.skipped, r.checks.size(), 100 * r.success_rate, r.all_passed() ? "PASS" : "FAIL");
  if (!options.json_path.empty()) write_output_file(options.json_path, "--json", to_json(r).dump(2) + "\n");
  return r.all_passed() ? 0 : 1;
}

int run_analyze(const CliOptions& options, std::ostream& out) {
  PerformanceAnalysisDashboard dashboard(options.session.thresholds);
  for (const auto& path : options.analyze_paths) dashboard.load_profiler_data(path);
  // Without thresholds of its own, analyze judges by those the session recorded.
  if (options.threshold_texts.empty() && options.config_path.empty()) {
    if (dashboard.latest().analysis.enabled) dashboard.thresholds = dashboard.latest().analysis.thresholds;
  }
  if (!options.json_path.empty()) OutputFile::check_writable(options.json_path, "--json");
  const AnalysisSection a = dashboard.analysis();
  out << fmt::format("perfbpf analyze: {} report{}, latest {}\n", dashboard.reports(),
                     dashboard.reports() == 1 ? "" : "s", options.analyze_paths.back());
  write_analysis(a, out);
  if (!options.json_path.empty()) dashboard.export_analysis_report(options.json_path, "--json");
  return fail_on_exit(a, options.fail_on, 0, out);
}

int run_report(const CliOptions& options, std::ostream& out) {
  const auto files = requested_files(options);
  Profile profile = read_json_report(options.report_path);
  if (files.empty()) {
    write_text_summary(profile, out);
    return 0;
  }
  write_report_files(profile, files);
  for (const auto& [format, path] : files) out << "perfbpf: " << format->name << " written to " << path << "\n";
  return 0;
}

int run_agent_command(const CliOptions& options, std::ostream& err) {
  route_libbpf_logging(options.verbose);
  return run_agent(options.agent_config, err);
}

}  // namespace perfbpf::cli
