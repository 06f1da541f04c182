// How much a probe hit costs on this machine, per probe-site kind: measured by probing
// functions of known body in perfbpf's own process (about 50 ms), cached per kernel, CPU
// model and perfbpf version. Needs the same privileges as a session.
#pragma once

#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

// Measures now.
CalibrationInfo calibrate_probes();

// The cached calibration when it matches this kernel, CPU and version; otherwise measures
// and caches. REFRESH forces a new measurement.
CalibrationInfo load_or_calibrate(bool refresh = false);

// Where the cache lives: /var/cache/perfbpf when root, else $XDG_CACHE_HOME or ~/.cache.
std::string calibration_cache_path();

}  // namespace perfbpf
