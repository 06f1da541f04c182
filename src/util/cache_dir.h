// Where perfbpf keeps what it may reuse between sessions (the calibration, inflated debug files):
// /var/cache/perfbpf as root (under sudo too: root's own, never the invoking user's), else
// $XDG_CACHE_HOME/perfbpf or ~/.cache/perfbpf. Callers resolve it with resolve_private_path.
#pragma once

#include <string>

namespace perfbpf {

std::string perfbpf_cache_directory();

}  // namespace perfbpf
