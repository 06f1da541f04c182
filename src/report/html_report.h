// The HTML report: one self-contained file (no network, opens from file://) with the session
// header, the analysis linked to the charts its findings rest on, a sortable per-function
// table with each function's latency histogram on a log axis and its p50/p90/p99/p99.9 marked,
// time series (CPU, RSS, disk, network, run-queue and disk latency, per-function p99) with
// alerts marked, on-CPU and off-CPU flame graphs (zoom, search with the matched share, reset),
// the processes and disks, and every loss and overhead figure.
//
// The page carries the whole JSON report (report/json_report.h) and renders it with
// report/assets/report.js; charts are Chart.js from Debian's libjs-chart.js, embedded at build
// time. The live dashboard (serve/) is this same page with LIVE set: it then polls
// report.json and flamegraph/{cpu,off-cpu}.svg relative to its own URL each interval.
#pragma once

#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

std::string html_report(const Profile& profile, bool live = false);

}  // namespace perfbpf
