// Files the HTML report and the SVG flame graph carry inside them, embedded at build time
// (cmake/EmbedFile.cmake) so a report opens offline, from file://, years later.
#pragma once

#include <string_view>

namespace perfbpf::assets {

// Chart.js, read from Debian's libjs-chart.js package at build time (MIT licence; its
// banner stays in it).
std::string_view chart_js();
std::string_view flamegraph_js();  // report/assets/flamegraph.js
std::string_view report_js();      // report/assets/report.js: renders a report's JSON
std::string_view report_css();     // report/assets/report.css

}  // namespace perfbpf::assets
