// The BPF objects perfbpf embeds (bpftool skeletons) carry BTF and .BTF.ext, what libbpf and
// the verifier read (types, CO-RE relocations, line info for the verifier log), and no DWARF:
// clang's -g DWARF made the funclat object 4.4x larger, and opening the skeleton touched
// (kept resident) ~0.8 MiB of perfbpf's file for sections nothing reads.
#include <gelf.h>
#include <libelf.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "block_io.skel.h"
#include "funclat.skel.h"
#include "funclat_sched.skel.h"
#include "ksym_names.skel.h"
#include "mem_stats.skel.h"
#include "net_stats.skel.h"
#include "profile.skel.h"
#include "sched_stats.skel.h"
#include "target_set.skel.h"

namespace {

std::vector<std::string> section_names(const void* bytes, size_t size) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_memory(static_cast<char*>(const_cast<void*>(bytes)), size);
  REQUIRE(elf);
  size_t strndx = 0;
  REQUIRE(elf_getshdrstrndx(elf, &strndx) == 0);
  std::vector<std::string> names;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    if (const char* name = elf_strptr(elf, strndx, sh.sh_name)) names.emplace_back(name);
  }
  elf_end(elf);
  return names;
}

}  // namespace

TEST_CASE("embedded BPF objects keep BTF and line info, and no DWARF", "[bpf_objects]") {
  struct Object {
    const char* name;
    const void* (*bytes)(size_t*);
  };
  for (const Object& o : {Object{"funclat", funclat_bpf__elf_bytes}, Object{"funclat_sched", funclat_sched_bpf__elf_bytes},
                          Object{"profile", profile_bpf__elf_bytes},
                          Object{"target_set", target_set_bpf__elf_bytes}, Object{"ksym_names", ksym_names_bpf__elf_bytes},
                          Object{"sched_stats", sched_stats_bpf__elf_bytes}, Object{"block_io", block_io_bpf__elf_bytes},
                          Object{"mem_stats", mem_stats_bpf__elf_bytes}, Object{"net_stats", net_stats_bpf__elf_bytes}}) {
    INFO(o.name);
    size_t size = 0;
    const void* bytes = o.bytes(&size);
    std::vector<std::string> names = section_names(bytes, size);
    CHECK(std::find(names.begin(), names.end(), ".BTF") != names.end());
    CHECK(std::find(names.begin(), names.end(), ".BTF.ext") != names.end());
    for (const std::string& n : names) {
      INFO(n);
      CHECK(n.rfind(".debug", 0) != 0);
      CHECK(n.rfind(".rel.debug", 0) != 0);
    }
  }
}
