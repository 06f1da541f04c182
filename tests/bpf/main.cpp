// [bpf] tests load real programs: without CAP_BPF + CAP_PERFMON they cannot run, so the
// executable exits 77, which ctest reports as skipped (and .ci/run fails on as root).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstring>
#include <iostream>

#include "session/privileges.h"

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; i++)
    if (std::strncmp(argv[i], "--list", 6) == 0) listing = true;
  if (!listing && !perfbpf::has_bpf_privileges()) {
    std::cout << "SKIPPED [bpf]: needs CAP_BPF + CAP_PERFMON (run as root)\n";
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
