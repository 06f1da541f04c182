#include "cli/options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <functional>
#include <list>
#include <sstream>

#include <fmt/format.h>

#include "analysis/thresholds.h"
#include "cli/gate_options.h"
#include "cli/numeric_options.h"
#include "collect/collector.h"
#include "gate/fail_on.h"

#include "perfbpf/error.h"
#include "report/writers.h"
#include "serve/dashboard_server.h"
#include "session/session_limits.h"

namespace perfbpf::cli {
namespace {

constexpr const char* kDescription =
    "perfbpf: exact per-function latency with CO-RE BPF uprobes.\n\n"
    "  sudo perfbpf --pid PID -f 'handle_*' -f 'libssl:SSL_read' -d 30 -o report.json\n"
    "  sudo perfbpf -f spin_fixed -f 'parse*' -o report.json -- ./myprog --flag\n"
    "  sudo perfbpf --system -d 30 -i 1 -o report.json\n"
    "  sudo perfbpf --cgroup /sys/fs/cgroup/my.slice -d 30\n"
    "  perfbpf report report.json\n\n"
    "-f takes [OBJECT:]PATTERN: PATTERN is a glob over function names (mangled or demangled\n"
    "C++, with or without the parameter list); OBJECT is a path or a library name such as\n"
    "libssl or libc, found in the process's mappings (--pid) or the command's dependencies.\n"
    "Without OBJECT the main executable is searched.";

void add_threshold_options(CLI::App& app, CliOptions& o) {
  app.add_option("--threshold", o.threshold_texts,
                 "KEY=VALUE, repeatable: function_time_warning=500ms, memory_usage_warning=75, cpu_usage_warning=85 "
                 "(% of the machine's CPUs), process_cpu_warning=85 (% of one CPU), function:PATTERN.p99=20ms or "
                 "function:PATTERN.mean=5ms")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--config", o.config_path, "JSON file with {\"thresholds\": {...}}; --threshold overrides it");
}

// --html, --pprof, --folded ...: one option per format of report/writers.h.
void add_report_file_options(CLI::App& app, CliOptions& o) {
  for (const ReportFormat& f : report_formats()) {
    std::string name(f.name);
    app.add_option_function<std::string>(
        std::string(f.option), [&o, name](const std::string& path) { o.report_files[name] = path; }, std::string(f.help));
  }
}

void add_profile_options(CLI::App& app, CliOptions& o, NumericOptions& numbers) {
  add_threshold_options(app, o);
  app.add_option("--alerts", o.alerts_path, "Also write each alert as a JSON line to FILE (for log shippers)");
  app.add_option("--fail-on", o.fail_on, "Exit 1 when the analysis finds a bottleneck (or an alert) of SEVERITY or above");
  numbers.add(app, "-p,--pid", o.session.pid, limits::pid, "Profile the running process PID (all its threads)",
              /*show_default=*/false);
  app.add_flag("--system", o.session.system_wide, "Every process on the machine (resources and stacks; top processes)");
  app.add_option("--cgroup", o.session.cgroup, "Every process in the cgroup directory DIR and its descendants (v1 or v2)");
  numbers.add(app, "-i,--interval", o.session.interval_s, limits::interval_s,
              "Resource time-series interval in seconds; a live line per interval on stderr");
  app.add_option("--collectors", o.collectors_text,
                 "Resource collectors, comma-separated: sched, block, memory, network, all or none")
      ->capture_default_str();
  numbers.add(app, "--top", o.session.top_n, limits::top_n,
              "System and cgroup mode: processes kept in the report (by CPU, disk, network)");
  app.add_option("-f,--function", o.session.functions,
                 "Function(s) to time: [OBJECT:]PATTERN, repeatable")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  numbers.add(app, "-d,--duration", o.session.duration_s, limits::duration_s,
              "Stop after SEC seconds (default: until Ctrl-C or the target exits; in command mode the command "
              "is then sent SIGTERM, and SIGKILL --kill-after seconds later)",
              /*show_default=*/false);
  numbers.add(app, "--kill-after", o.session.kill_after_s, limits::kill_after_s,
              "Command mode: seconds between the SIGTERM that ends a command outliving the session and SIGKILL "
              "(as timeout -k)");
  numbers.add(app, "--max-processes", o.session.max_processes, limits::max_processes,
              "Processes profiled at once (the command and its live descendants, a cgroup's members); past it "
              "a process is counted as lost and the summary warns");
  numbers.add(app, "--max-threads", o.session.max_threads, limits::max_threads,
              "Threads inside a probed function at once (-f); past it calls are counted as lost");
  app.add_option("-o,--output", o.output,
                 "JSON report path, '-' for stdout (a command's own stdout then goes to stderr)")
      ->capture_default_str();
  app.add_option("--summary", o.summary_path, "Write the text summary to FILE instead of stderr");
  app.add_flag("--children", o.session.follow_children,
               "With --pid: also profile processes the target forks (and their exec'd programs)");
  app.add_flag("--no-children", o.session.no_children,
               "Command mode: profile only the command's own process, not its descendants");
  app.add_flag("--no-calibrate", [&o](int64_t) { o.session.calibrate = false; },
               "Report latency as measured, probe cost included (no calibration)");
  app.add_flag("--return-sites", o.session.return_sites,
               "Time every function by probes on its return instructions, never uretprobes (perfbpf does so for "
               "Go and for code a C++ exception can pass through; this is for targets started through a wrapper "
               "it cannot see into). Costlier: docs/probe-cost.md");
  numbers.add(app, "--overhead-budget", o.session.overhead_budget_pct, limits::overhead_budget_pct,
              "Warn when probes slow the target by more than PCT %");
  app.add_flag("--bpf-stats", o.session.bpf_stats,
               "Measure the BPF programs' own run time (kernel BPF stats; adds ~100 ns to every probe hit)");
  numbers.add(app, "--sample-freq", o.session.sample_freq, limits::sample_freq,
              "On-CPU stack samples per second per CPU (cpu-clock); 0 turns sampling off");
  app.add_flag("--decompose", o.session.decompose,
               "Split each probed call's time into on-CPU, run-queue, I/O, lock and sleep, and keep each "
               "function's slowest calls with what they waited on");
  app.add_flag("--off-cpu", o.session.off_cpu,
               "Also record where threads wait off CPU (run queue, I/O, sleep), by stack: --folded-off-cpu, "
               "--flamegraph-off-cpu and --html show it beside the on-CPU view");
  app.add_option("--call-graph", o.session.call_graph,
                 "How user stacks are walked: dwarf (default; copies the top of the stack and unwinds it with "
                 "the binaries' .eh_frame, for code without frame pointers) or fp (frame pointers only, cheaper)")
      ->check(CLI::IsMember({"dwarf", "fp"}));
  numbers.add(app, "--min-block-us", o.session.min_block_us, limits::min_block_us,
              "Off-CPU spells shorter than this are not recorded");
  add_report_file_options(app, o);
  app.add_flag("--redact-args", o.redact_args,
               "Record the command's name but not its arguments (which may hold secrets) in the report and summary");
  app.add_option("--serve", o.serve,
                 "Serve a live dashboard (/), the report so far (/report.json) and Prometheus metrics (/metrics) "
                 "on [HOST:]PORT while the session runs (HOST defaults to 127.0.0.1; PORT 0: any free port)");
  app.add_flag("-q,--quiet", o.quiet, "Do not print the text summary (it goes to stderr, or to --summary FILE)");
  app.add_flag("-v,--verbose", o.verbose, "Show libbpf's debug output and verifier logs");
}

}  // namespace

// "sched,block" / "all" / "none" into collector names; unknown names are usage errors.
std::vector<std::string> parse_collectors(const std::string& text) {
  if (text == "all") return all_collector_names();
  if (text == "none") return {};
  std::vector<std::string> names;
  std::stringstream in(text);
  for (std::string name; std::getline(in, name, ',');) {
    const auto& known = all_collector_names();
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw Error::usage("unknown collector '" + name + "' in --collectors", "choose from sched, block, memory, network, all, none");
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  if (names.empty()) throw Error::usage("--collectors is empty", "give all, none or a list such as sched,memory");
  return names;
}

namespace {

void validate_profile(CliOptions& o, bool kill_after_given) {
  auto& s = o.session;
  s.collectors = parse_collectors(o.collectors_text);
  int targets = (s.pid > 0) + !s.command.empty() + !s.cgroup.empty() + s.system_wide;
  if (targets > 1)
    throw Error::usage("--pid, --cgroup, --system and a command are exclusive", "use one target");
  if (targets == 0)
    throw Error::usage("no target", "give --pid PID, a command after --, --cgroup DIR or --system");
  if (!s.functions.empty() && (s.system_wide || !s.cgroup.empty()))
    throw Error::usage("-f needs a process", "time functions with --pid PID or -- COMMAND");
  if (s.functions.empty() && s.sample_freq == 0 && !s.off_cpu && s.collectors.empty())
    throw Error::usage("nothing to profile", "name functions with -f [OBJECT:]PATTERN, or drop --sample-freq 0 or --collectors none");
  if (std::any_of(s.functions.begin(), s.functions.end(), [](const auto& f) { return f.empty(); }))
    throw Error::usage("empty -f pattern");
  if (s.follow_children && s.pid <= 0)
    throw Error::usage("--children goes with --pid", "command mode follows descendants by default");
  if (s.no_children && s.command.empty()) throw Error::usage("--no-children goes with a command");
  if (s.decompose && s.functions.empty()) throw Error::usage("--decompose needs -f", "it splits the probed functions' calls");
  if (kill_after_given && s.command.empty())
    throw Error::usage("--kill-after goes with a command", "it is how long a command may take to stop");
  // perfbpf's report owns stdout; the command writes beside the summary, as with perf record -o -.
  s.command_stdout_to_stderr = o.output == "-";
  if (!o.summary_path.empty() && o.summary_path == o.output)
    throw Error::usage("--summary and -o name the same file", "give each its own path");
  if (o.output.empty()) throw Error::usage("-o needs a path");
  for (const auto& [name, path] : o.report_files) {
    const ReportFormat& f = report_format(name);
    if (path.empty()) throw Error::usage(std::string(f.option) + " needs a path");
    if (f.needs_stacks && s.sample_freq == 0 && !s.off_cpu)
      throw Error::usage(std::string(f.option) + " needs sampled stacks", "drop --sample-freq 0, or add --off-cpu");
    if (f.needs_off_cpu && !s.off_cpu) throw Error::usage(std::string(f.option) + " needs --off-cpu");
  }
  if (!o.serve.empty()) parse_serve_address(o.serve);
}

}  // namespace

ParseResult parse_command_line(const std::vector<std::string>& args) {
  ParseResult result;
  CliOptions& o = result.options;

  // Everything after "--" is the command, untouched by option parsing.
  auto dashdash = std::find(args.begin(), args.end(), "--");
  std::vector<std::string> own(args.begin(), dashdash);
  if (dashdash != args.end()) {
    o.session.command.assign(dashdash + 1, args.end());
    if (o.session.command.empty()) throw Error::usage("nothing after --", "give the command to run");
  }

  CLI::App app(kDescription, "perfbpf");
  app.set_version_flag("--version", std::string("perfbpf ") + PERFBPF_VERSION);
  NumericOptions numbers;
  add_profile_options(app, o, numbers);
  CLI::App* report = app.add_subcommand("report", "Print the summary of a saved JSON report (no root needed)");
  report->add_option("REPORT", o.report_path, "Report written by perfbpf -o")->required();
  add_report_file_options(*report, o);
  CLI::App* analyze = app.add_subcommand(
      "analyze", "Bottlenecks, trends, health score and recommendations of saved reports (no root needed); several "
                 "reports of one target, oldest first, add per-function trends across runs");
  analyze->add_option("REPORT", o.analyze_paths, "Reports written by perfbpf -o")->required();
  analyze->add_option("--json", o.json_path, "Also write the analysis as JSON to FILE");
  add_threshold_options(*analyze, o);
  analyze->add_option("--fail-on", o.fail_on, "Exit 1 when a finding of SEVERITY or above is raised: critical, high, medium, low");
  const GateSubcommands gate = add_gate_subcommands(app, o, numbers);
  CLI::App* calibrate =
      app.add_subcommand("calibrate", "Measure what a probe hit costs on this machine and refresh the cache (root)");
  CLI::App* validate = app.add_subcommand(
      "validate", "Prove perfbpf's numbers on built-in workloads against in-process, /proc and getrusage truth (root)");
  validate->add_flag("--quick", o.quick, "Fewer calls per check (for CI)");
  validate->add_option("--json", o.json_path, "Also write the results as JSON to FILE");
  CLI::App* agent = app.add_subcommand(
      "agent", "Run as a service: continuous system-wide collection, /metrics, rotated reports and pprof profiles (root)");
  agent->add_option("--config", o.agent_config, "Agent configuration, JSON (docs/fleet.md)")->required();

  std::vector<std::string> reversed(own.rbegin(), own.rend());  // CLI11 consumes from the back
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    result.text = app.help();
    return result;
  } catch (const CLI::CallForAllHelp&) {
    result.text = app.help("", CLI::AppFormatMode::All);
    return result;
  } catch (const CLI::CallForVersion&) {
    result.text = std::string("perfbpf ") + PERFBPF_VERSION + "\n";
    return result;
  } catch (const CLI::ParseError& e) {
    throw Error::usage(e.what(), "see perfbpf --help");
  }

  numbers.check_and_store();
  if (!o.config_path.empty()) o.session.thresholds = load_thresholds_config(o.config_path, o.session.thresholds);
  for (const auto& t : o.threshold_texts) apply_threshold(o.session.thresholds, t);

  CLI::App* chosen = report->parsed()      ? report
                     : calibrate->parsed() ? calibrate
                     : validate->parsed()  ? validate
                     : analyze->parsed()   ? analyze
                     : gate.gate->parsed() ? gate.gate
                     : gate.diff->parsed() ? gate.diff
                     : agent->parsed()     ? agent
                                           : nullptr;
  if (chosen) {
    o.command = chosen == report      ? Command::Report
                : chosen == calibrate ? Command::Calibrate
                : chosen == analyze   ? Command::Analyze
                : chosen == gate.gate ? Command::Gate
                : chosen == gate.diff ? Command::Diff
                : chosen == agent     ? Command::Agent
                                      : Command::Validate;
    if (!o.session.command.empty()) throw Error::usage(chosen->get_name() + " takes no command");
    if (o.command == Command::Gate || o.command == Command::Diff) validate_gate(o, o.command);
  } else {
    validate_profile(o, app.get_option("--kill-after")->count() > 0);
  }
  if (!o.fail_on.empty()) gate::check_severity(o.fail_on, "--fail-on");
  result.run = true;
  return result;
}

}  // namespace perfbpf::cli
