// Software perf events, one per online CPU, each running a BPF program when it fires: the
// cpu-clock sampler and the page-fault counters. Closing detaches everything.
#pragma once

#include <linux/perf_event.h>

#include <string>
#include <vector>

struct bpf_program;
struct bpf_link;

namespace perfbpf {

std::vector<int> online_cpus();  // from /sys/devices/system/cpu/online

class PerCpuEvents {
 public:
  PerCpuEvents() = default;
  ~PerCpuEvents() { close(); }
  PerCpuEvents(const PerCpuEvents&) = delete;
  PerCpuEvents& operator=(const PerCpuEvents&) = delete;

  // Opens ATTR on every online CPU for every process and attaches PROG to each. Throws Error
  // naming WHAT; on failure nothing opened by this call stays open.
  void open(bpf_program* prog, perf_event_attr attr, const std::string& what);
  void close();

 private:
  std::vector<bpf_link*> links_;  // each owns its event fd (libbpf closes it on destroy)
};

}  // namespace perfbpf
