// libbpf's messages routed through perfbpf: warnings always (prefixed), debug with -v.
#pragma once

namespace perfbpf {

void route_libbpf_logging(bool verbose);

}  // namespace perfbpf
