// Prometheus text exposition (format 0.0.4) of a report: what `/metrics` serves during a live
// session or agent run and what --metrics-file writes for node_exporter's textfile collector.
//
// Names follow Prometheus conventions (checked by `promtool check metrics` in the tests): base
// units (seconds, bytes, ratios), `_total` on counters, `_seconds`/`_bytes` suffixes. Counters
// are totals since the session started (a new session is a counter reset, which rate() and
// increase() handle). Latencies are classic histograms (`_bucket{le}`, `_sum`, `_count`) with the
// fixed bounds of prometheus_latency_bounds(), cumulative, derived from the report's
// log-linear buckets: a bucket counts under a bound when its inclusive upper end is at or below
// it, so a count is exact except for values within one log-linear bucket (< 0.4 %) of a bound.
//
// Families (labels):
//   perfbpf_function_calls_total, _in_flight, _latency_seconds  {function, object, pid}
//   perfbpf_process_cpu_seconds_total, _runqueue_wait_seconds_total, _io_wait_seconds_total,
//     _sleep_seconds_total, _context_switches_total{kind}, _resident_memory_bytes,
//     _resident_memory_peak_bytes, _page_faults_total{kind}, _disk_read_bytes_total,
//     _disk_written_bytes_total, _network_transmit_bytes_total, _network_receive_bytes_total,
//     _tcp_retransmits_total                                     {pid, comm}
//   perfbpf_runqueue_latency_seconds (histogram), perfbpf_machine_memory_used_ratio
//   perfbpf_disk_read_bytes_total, _written_bytes_total, _reads_completed_total,
//     _writes_completed_total, _request_latency_seconds{stage}  {device}
//   perfbpf_cpu_samples_total, perfbpf_off_cpu_seconds_total{reason}
//   perfbpf_events_received_total, perfbpf_events_lost_total{source, reason}
//   perfbpf_self_cpu_seconds_total, perfbpf_self_peak_resident_memory_bytes,
//     perfbpf_bpf_run_time_seconds_total, perfbpf_probe_overhead_ratio,
//     perfbpf_data_completeness_ratio
//   perfbpf_session_info{mode, hostname, kernel, version}, perfbpf_session_start_time_seconds,
//     perfbpf_session_duration_seconds, perfbpf_health_score, perfbpf_bottlenecks{severity},
//     perfbpf_alerts_total
#pragma once

#include <string>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

// MAIN gives every family; OTHERS (the agent's per-process sessions) add their functions'
// rows only, each labelled with its own session's pid.
std::string prometheus_exposition(const Profile& main, const std::vector<const Profile*>& others = {});

// Upper bounds, in seconds, of the latency histograms' buckets: 1, 2.5 and 5 per decade from
// 100 ns to 100 s (+Inf is added).
const std::vector<double>& prometheus_latency_bounds();

// Cumulative counts of BUCKETS (log-linear, non-cumulative) at each of BOUNDS_NS.
std::vector<uint64_t> cumulative_counts(const std::vector<HistogramBucket>& buckets,
                                        const std::vector<uint64_t>& bounds_ns);

}  // namespace perfbpf
