// Holds bench/sched_floor.bpf.c's empty sched_switch and sched_waking programs attached until
// stdin closes: the floor bench/decompose_bench.py measures --decompose's scheduler programs
// against.
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
  auto id = [](bpf_program* prog) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
    return info.id;
  };
  std::printf("attached prog_id=%u prog_id=%u\n", id(skel->progs.floor_switch), id(skel->progs.floor_waking));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  sched_floor_bpf__destroy(skel);
  return 0;
}
