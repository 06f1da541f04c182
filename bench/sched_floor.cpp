// Holds bench/sched_floor.bpf.c's empty sched_switch program attached until stdin closes:
// the floor bench/decompose_bench.py measures --decompose's scheduler program against.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "sched_floor.skel.h"

int main() {
  sched_floor_bpf* skel = sched_floor_bpf__open_and_load();
  if (!skel) {
    std::perror("sched_floor: cannot load the BPF program");
    return 1;
  }
  if (sched_floor_bpf__attach(skel) != 0) {
    std::perror("sched_floor: cannot attach the BPF program");
    sched_floor_bpf__destroy(skel);
    return 1;
  }
  std::printf("attached prog_id=%u\n", [&] {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.floor_switch), &info, &len);
    return info.id;
  }());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  sched_floor_bpf__destroy(skel);
  return 0;
}
