// Resource snapshots (cumulative, src/collect/collector.h) into what the report shows: one
// series sample per interval from two snapshots, a series kept bounded, and the final
// SystemProfile. Pure functions: tests feed them made-up snapshots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "collect/collector.h"
#include "perfbpf/profile.h"

namespace perfbpf {

// What happened between BEFORE and AFTER, ending T_S seconds into the session. CPU time is
// capped at what AFTER.cpus CPUs could run in the interval (cpu_clamped_ns says how much was cut).
SeriesSample interval_sample(const ResourceSnapshot& before, const ResourceSnapshot& after, double t_s);

// Appends S; past MAX_SAMPLES, adjacent pairs are merged (counters summed, rates averaged
// over the longer interval, p99s the larger of the two), halving the series: memory stays
// bounded by MAX_SAMPLES for any session length while the whole session stays covered.
void append_bounded(std::vector<SeriesSample>& series, const SeriesSample& s, size_t max_samples, uint64_t& merges);

// U's counters (CPU, off-CPU, switches, migrations, faults, disk, network) added to TO's;
// memory, a level rather than a count, is left alone.
void add_usage(ResourceUsage& to, const ResourceUsage& u);

// Sums every process of SNAPSHOT into one usage; resident memory only over the processes live
// at that read. The memory peak is the largest of the series' summed live RSS and of any one
// process's own peak: both are resident sums that really occurred (never a sum of peaks
// reached at different times). CPU time is capped at what SNAPSHOT.cpus CPUs could run in
// WINDOW_NS (the session's window): the counters' lag cannot take it past capacity.
ResourceUsage total_usage(const ResourceSnapshot& snapshot, const std::vector<SeriesSample>& series, uint64_t window_ns);

// Processes by CPU time; with TOP_N > 0 only the union of the top N by CPU, by disk bytes and
// by network bytes is kept, the rest counted in OMITTED.
std::vector<ProcessResources> rank_processes(const ResourceSnapshot& snapshot, double duration_s, size_t top_n,
                                             uint64_t& omitted);

LatencyDistribution distribution(const LatencyHistogram& h);

}  // namespace perfbpf
