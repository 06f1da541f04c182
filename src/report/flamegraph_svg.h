// A self-contained SVG flame graph of sampled stacks, written by perfbpf itself: no Perl, no
// network. Hover for a frame's samples and share, click to zoom into it, "Search" to
// highlight frames matching a regular expression with their total share.
#pragma once

#include <ostream>
#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

void write_flamegraph_svg(const StackProfile& stacks, const std::string& title, std::ostream& out);

}  // namespace perfbpf
