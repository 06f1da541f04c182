// A self-contained SVG flame graph of sampled stacks (on-CPU samples or off-CPU ns), laid out
// by perfbpf itself: no Perl, no network. Frames are drawn in the file, so it shows without
// script too; report/assets/flamegraph.js adds hover details, click to zoom, a regular
// expression search with the exact matched share, and reset. The HTML report embeds the same
// element and script.
#pragma once

#include <ostream>
#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

// The <svg> element alone, for embedding in an HTML page that loads flamegraph.js itself.
// Frames narrower than a tenth of a pixel at full width are left out (their share still
// counts in their parents).
std::string flamegraph_svg_element(const StackProfile& stacks, const std::string& title);

// A standalone .svg file: XML prolog, the element, and the script that makes it interactive.
std::string flamegraph_svg_file(const StackProfile& stacks, const std::string& title);
void write_flamegraph_svg(const StackProfile& stacks, const std::string& title, std::ostream& out);

// "CPU: ./server (1234 samples at 99 Hz)", "Off-CPU: pid 42 (1.20 s waiting)": what the graph
// shows of which target.
std::string flamegraph_title(const Profile& profile, bool off_cpu);

}  // namespace perfbpf
