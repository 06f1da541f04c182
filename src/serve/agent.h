// `perfbpf agent --config FILE`: perfbpf as a service (dist/perfbpf-agent.service). A loop of
// ordinary sessions over the same pieces as the CLI:
//   - each period (period_s), one system-wide session (resource collectors, low-rate stack
//     sampling) whose report and pprof profile land in output_dir when the period ends;
//   - for each process named in the config's probes, found in /proc as it starts, a pid
//     session timing its functions until it exits or the period ends (its report lands too);
//   - the live dashboard and /metrics (serve/dashboard_server.h) across periods, fed by every
//     session's snapshot each interval; counters restart with each period (a counter reset,
//     which rate() and increase() handle);
//   - output_dir's perfbpf-* files are kept under max_output_mb, oldest removed first;
//   - SIGHUP ends the period early (its files are written), rereads the config and starts a
//     new one (a bad config is reported and the old one kept); SIGTERM or SIGINT ends the
//     period, writes it and exits 0.
// Memory stays bounded: each period's sessions, symbol caches and reports are dropped when it
// ends (bench/agent_memory.py measures it).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace perfbpf {

int run_agent(const std::string& config_path, std::ostream& log);

// Removes the oldest files named perfbpf-* in DIR until their total size is at most
// MAX_BYTES (never those in KEEP). Returns the names removed.
std::vector<std::string> rotate_outputs(const std::string& dir, uint64_t max_bytes,
                                        const std::vector<std::string>& keep = {});

}  // namespace perfbpf
