// Every file format a report is written in besides the JSON report itself (-o), behind one
// interface: a format renders a Profile (plain data, live or loaded from a saved report) into
// the bytes of one file. None touches BPF or a session, so `perfbpf report R.json --html F`
// renders each of them from a saved report, without root, exactly as the session would have.
// Files are written through report/output_file (write_output_file), never opened directly.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

struct ReportFormat {
  std::string_view name;    // "html": what code and tests call it
  std::string_view option;  // "--html": the command-line option that asks for it (and names it in errors)
  std::string_view help;
  bool needs_stacks;        // pointless without sampled stacks (on-CPU or off-CPU)
  std::string (*render)(const Profile&);
  bool needs_off_cpu;       // pointless without --off-cpu (the off-CPU view)
};

// html, metrics-file, pprof, speedscope, folded, folded-per-thread, folded-off-cpu, flamegraph,
// flamegraph-off-cpu.
const std::vector<ReportFormat>& report_formats();
const ReportFormat& report_format(std::string_view name);  // throws std::out_of_range

// The stacks --folded and --flamegraph show: on-CPU samples when the session sampled, else the
// off-CPU time (--off-cpu with --sample-freq 0). --folded-off-cpu and --flamegraph-off-cpu show
// the off-CPU view of the same run.
const StackProfile& stacks_to_draw(const Profile& profile);

// Writes each (format, path) in turn; every one is attempted even when another fails, then the
// first failure is thrown (Error naming the path and option).
void write_report_files(const Profile& profile, const std::vector<std::pair<const ReportFormat*, std::string>>& files);

}  // namespace perfbpf
