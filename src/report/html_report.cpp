#include "report/html_report.h"

#include <fmt/format.h>

#include "report/assets.h"
#include "report/flamegraph_svg.h"
#include "report/gzip.h"
#include "report/json_report.h"

namespace perfbpf {
namespace {

// Data blocks are gzipped and base64-encoded (the browser inflates them with
// DecompressionStream): the whole report of a 10-minute session of 20 functions stays far
// under 2 MB, and base64 cannot end its <script> element early.
std::string data_block(const std::string& id, std::string_view data) {
  return fmt::format("<script type=\"application/gzip+base64\" id=\"{}\">{}</script>\n", id, base64(gzip(data)));
}

// An inline script's text must not contain "</script" (the parser would end it there).
std::string script(std::string_view code) {
  std::string text(code);
  for (size_t at = 0; (at = text.find("</script", at)) != std::string::npos; at += 2) text.replace(at, 2, "<\\/");
  return "<script>\n" + text + "\n</script>\n";
}

}  // namespace

std::string html_report(const Profile& p, bool live) {
  std::string out;
  out.reserve(1 << 20);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<link rel=\"icon\" href=\"data:,\">\n<title>perfbpf report</title>\n<style>\n";
  out += assets::report_css();
  out += "</style>\n</head>\n";
  out += fmt::format("<body data-live=\"{}\">\n", live ? 1 : 0);
  out += R"HTML(<header id="header"><h1>perfbpf report</h1></header>
<noscript><p>This report draws its tables, charts and flame graphs with JavaScript: allow it for this file.</p></noscript>
<nav><a href="#analysis">Analysis</a><a href="#functions">Functions</a><a href="#decomposition" id="nav-decomposition" hidden>Where the time went</a><a href="#series">Time series</a><a href="#flamegraphs">Flame graphs</a><a href="#processes">Processes</a><a href="#quality">Losses and overhead</a></nav>
<main>
<section id="analysis"><h2>Analysis</h2><div id="analysis-body"></div></section>
<section id="functions"><h2>Functions</h2><p class="muted">Latency is corrected for the probes' own cost; click a column to sort, a row for its histogram.</p>
<div id="functions-table"></div>
<p class="muted" id="functions-legend"><strong>total</strong>: time inside the function, every call on every thread summed
(two threads in it at once count twice). <strong>% of thread time</strong>: that total over the session's wall time times
the number of threads that called it, the average share of its callers' time (as perf's and pprof's percentages
are shares of all threads' time). <strong>busiest thread</strong>: the largest share of the session's wall time one thread
spent in it. A recursive function's nested calls are each timed, so its shares can pass 100 %.</p>
<div class="chart-box" id="histogram-box"><h3 id="histogram-title"></h3><canvas id="chart-histogram"></canvas></div></section>
<section id="decomposition" hidden><h2>Where the time went</h2><p class="muted">Each call's time split in the kernel
(--decompose): <strong>on-CPU</strong>, waiting for a CPU (<strong>run queue</strong>), blocked on <strong>I/O</strong>,
on a <strong>lock</strong> (futex), or any other <strong>sleep</strong>; shares of the time of all split calls and of the
calls at or above the p99 latency, with the mean per call. Below, the slowest calls and the stack where each waited longest.</p>
<div id="decomposition-table"></div><div id="decomposition-calls"></div></section>
<section id="series"><h2>Time series</h2><p id="series-empty" class="muted">No time series: resource collectors were off (--collectors none).</p>
<div class="charts">
<div class="chart-box"><h3>CPU</h3><canvas id="chart-cpu"></canvas></div>
<div class="chart-box"><h3>Resident memory (RSS)</h3><canvas id="chart-rss"></canvas></div>
<div class="chart-box"><h3>Disk throughput</h3><canvas id="chart-disk"></canvas></div>
<div class="chart-box"><h3>Network throughput</h3><canvas id="chart-net"></canvas></div>
<div class="chart-box"><h3>Run-queue and disk latency, p99 per interval</h3><canvas id="chart-latency"></canvas></div>
<div class="chart-box"><h3>Function latency, p99 per interval</h3><canvas id="chart-function-p99"></canvas></div>
</div></section>
<section id="flamegraphs"><h2>Flame graphs</h2><p class="muted">Click a frame to zoom, Search for a regular expression (the matched share counts nested frames once), Reset zoom to go back.</p>
<div class="flamegraph" id="flamegraph-cpu"><p class="muted">No on-CPU samples (sampling was off: --sample-freq 0).</p></div>
<div class="flamegraph" id="flamegraph-off-cpu"><p class="muted">No off-CPU time recorded (--off-cpu records it).</p></div></section>
<section id="processes"><h2>Processes</h2><div id="processes-body"></div></section>
<section id="quality"><h2>Losses and overhead</h2><div id="quality-body"></div></section>
</main>
)HTML";
  out += data_block("perfbpf-report", to_json(p).dump());
  if (p.stacks.enabled && !p.stacks.stacks.empty())
    out += data_block("flamegraph-cpu-svg", flamegraph_svg_element(p.stacks, flamegraph_title(p, false)));
  if (p.off_cpu.enabled && !p.off_cpu.stacks.empty())
    out += data_block("flamegraph-off-cpu-svg", flamegraph_svg_element(p.off_cpu, flamegraph_title(p, true)));
  out += script(assets::chart_js());
  out += script(assets::flamegraph_js());
  out += script(assets::report_js());
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace perfbpf
