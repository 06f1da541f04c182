#include "collect/perf_events.h"

#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "perfbpf/error.h"

namespace perfbpf {

std::vector<int> online_cpus() {
  std::vector<int> cpus;
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string range;  // "0-3,5"
  while (std::getline(in, range, ',')) {
    int lo = 0, hi = 0;
    if (std::sscanf(range.c_str(), "%d-%d", &lo, &hi) == 2) {
      for (int c = lo; c <= hi; c++) cpus.push_back(c);
    } else if (std::sscanf(range.c_str(), "%d", &lo) == 1) {
      cpus.push_back(lo);
    }
  }
  return cpus;
}

void PerCpuEvents::open(bpf_program* prog, perf_event_attr attr, const std::string& what) {
  attr.size = sizeof(attr);
  size_t first = links_.size();
  auto undo = [&] {
    while (links_.size() > first) {
      bpf_link__destroy(links_.back());
      links_.pop_back();
    }
  };
  for (int cpu : online_cpus()) {
    int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1 /* every pid */, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // went offline meanwhile
      int e = errno;
      undo();
      throw Error(errno_message("cannot open a " + what + " event on CPU " + std::to_string(cpu), e),
                  e == EACCES ? "needs CAP_PERFMON" : "", e);
    }
    bpf_link* link = bpf_program__attach_perf_event(prog, fd);
    if (!link) {
      int e = errno;
      ::close(fd);
      undo();
      throw Error(errno_message("cannot attach to the " + what + " event on CPU " + std::to_string(cpu), e), "", e);
    }
    // The link owns the event fd from here: bpf_link__destroy closes it.
    links_.push_back(link);
  }
}

void PerCpuEvents::close() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
}

}  // namespace perfbpf
