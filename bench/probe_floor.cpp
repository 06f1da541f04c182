// Holds one of bench/probe_floor.bpf.c's programs on a function as a uprobe session until SIGINT
// or SIGTERM, for bench/probe_floor.py: probe_floor PROGRAM FILE OFFSET PID.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "probe_floor.skel.h"
#include "session/uprobe_multi.h"

int main(int argc, char** argv) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  if (argc != 5) {
    std::fprintf(stderr, "usage: probe_floor noop|clocks|stamp FILE OFFSET PID\n");
    return 2;
  }
  probe_floor_bpf* skel = probe_floor_bpf__open();
  if (!skel) return 1;
  bpf_program* chosen = nullptr;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    const bool it = std::string(bpf_program__name(prog)) == std::string("floor_") + argv[1];
    bpf_program__set_autoload(prog, it);
    if (it) chosen = prog;
  }
  if (!chosen) return 2;
  bpf_program__set_expected_attach_type(chosen, static_cast<bpf_attach_type>(perfbpf::kBpfTraceUprobeSession));
  if (probe_floor_bpf__load(skel) != 0) {
    std::perror("probe_floor: cannot load");
    return 1;
  }
  const int link = perfbpf::create_uprobe_multi_link(bpf_program__fd(chosen), argv[2], {std::strtoull(argv[3], nullptr, 0)},
                                                     {1}, std::atoi(argv[4]), perfbpf::UprobeLinkKind::Session);
  if (link < 0) {
    std::fprintf(stderr, "probe_floor: cannot attach: %s\n", std::strerror(-link));
    return 1;
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  bpf_obj_get_info_by_fd(bpf_program__fd(chosen), &info, &len);
  std::printf("attached prog_id=%u\n", info.id);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  close(link);
  probe_floor_bpf__destroy(skel);
  return 0;
}
