#include "report/writers.h"

#include <exception>
#include <sstream>
#include <stdexcept>

#include "aggregate/stack_profile.h"
#include "perfbpf/error.h"
#include "report/flamegraph_svg.h"
#include "report/html_report.h"
#include "report/output_file.h"
#include "report/pprof.h"
#include "report/prometheus.h"
#include "report/speedscope.h"

namespace perfbpf {
namespace {

std::string folded_text(const StackProfile& stacks, bool per_thread) {
  std::ostringstream out;
  FoldedOptions options;
  options.per_thread = per_thread;
  write_folded(stacks, out, options);
  return out.str();
}

std::string render_folded(const Profile& p) { return folded_text(stacks_to_draw(p), false); }
std::string render_folded_per_thread(const Profile& p) { return folded_text(stacks_to_draw(p), true); }
std::string render_folded_off_cpu(const Profile& p) { return folded_text(p.off_cpu, false); }

std::string render_flamegraph(const Profile& p) {
  return flamegraph_svg_file(stacks_to_draw(p), flamegraph_title(p, &stacks_to_draw(p) == &p.off_cpu));
}
std::string render_flamegraph_off_cpu(const Profile& p) {
  return flamegraph_svg_file(p.off_cpu, flamegraph_title(p, true));
}

std::string render_html(const Profile& p) { return html_report(p); }
std::string render_metrics(const Profile& p) { return prometheus_exposition(p); }

}  // namespace

const StackProfile& stacks_to_draw(const Profile& profile) {
  return profile.stacks.enabled || !profile.off_cpu.enabled ? profile.stacks : profile.off_cpu;
}

const std::vector<ReportFormat>& report_formats() {
  static const std::vector<ReportFormat> formats = {
      {"html", "--html", "Write a self-contained interactive HTML report (charts, tables, flame graphs; opens offline)",
       false, render_html, false},
      {"metrics-file", "--metrics-file",
       "Write the metrics in Prometheus text format (node_exporter textfile collector)", false, render_metrics, false},
      {"pprof", "--pprof", "Write the sampled stacks as a gzipped pprof profile (go tool pprof, Parca, Pyroscope)", true,
       pprof_profile, false},
      {"speedscope", "--speedscope", "Write the sampled stacks as speedscope JSON", true, speedscope_json, false},
      {"folded", "--folded",
       "Write the on-CPU stacks as folded stacks (flamegraph.pl, inferno), identical stacks of a process's threads merged",
       true, render_folded, false},
      {"folded-per-thread", "--folded-per-thread", "Write the folded stacks with a tid-N frame under each process", true,
       render_folded_per_thread, false},
      {"folded-off-cpu", "--folded-off-cpu", "Write the off-CPU time (--off-cpu) as folded stacks, in ns", true,
       render_folded_off_cpu, true},
      {"flamegraph", "--flamegraph", "Write the on-CPU stacks as a self-contained SVG flame graph", true,
       render_flamegraph, false},
      {"flamegraph-off-cpu", "--flamegraph-off-cpu", "Write the off-CPU time (--off-cpu) as an SVG flame graph", true,
       render_flamegraph_off_cpu, true},
  };
  return formats;
}

const ReportFormat& report_format(std::string_view name) {
  for (const auto& f : report_formats())
    if (f.name == name) return f;
  throw std::out_of_range("no report format " + std::string(name));
}

void write_report_files(const Profile& profile, const std::vector<std::pair<const ReportFormat*, std::string>>& files) {
  std::exception_ptr first;
  for (const auto& [format, path] : files) {
    try {
      write_output_file(path, std::string(format->option), format->render(profile));
    } catch (const Error&) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace perfbpf
