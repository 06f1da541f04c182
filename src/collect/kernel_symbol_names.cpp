#include "collect/kernel_symbol_names.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "ksym_names.h"
#include "ksym_names.skel.h"

namespace perfbpf {

std::optional<std::unordered_map<uint64_t, std::string>> kernel_symbol_names(const std::vector<uint64_t>& addresses) {
  std::unordered_map<uint64_t, std::string> names;
  if (addresses.empty()) return names;
  struct SkelDeleter {
    void operator()(ksym_names_bpf* s) const { ksym_names_bpf__destroy(s); }
  };
  std::unique_ptr<ksym_names_bpf, SkelDeleter> skel(ksym_names_bpf__open_and_load());
  if (!skel) return std::nullopt;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t bytes = (KSYM_BATCH * sizeof(ksym_entry) + page - 1) / page * page;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(skel->maps.ksyms), 0);
  if (mem == MAP_FAILED) return std::nullopt;
  auto* entries = static_cast<ksym_entry*>(mem);
  bool ok = true;
  for (size_t done = 0; ok && done < addresses.size(); done += KSYM_BATCH) {
    const size_t n = std::min<size_t>(KSYM_BATCH, addresses.size() - done);
    for (size_t i = 0; i < n; i++) {
      entries[i].addr = addresses[done + i];
      entries[i].name[0] = '\0';
    }
    ksym_query query{static_cast<__u32>(n), 0};
    LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = &query, .ctx_size_in = sizeof(query));
    if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.name_ksyms), &run) != 0) {
      ok = false;
      break;
    }
    for (size_t i = 0; i < n; i++) {
      const char* s = entries[i].name;
      const size_t len = strnlen(s, KSYM_NAME_BYTES);
      // "0x..." is the kernel's answer for an address no symbol holds; " [module]" follows a
      // module's (or BPF program's) symbol.
      if (len == 0 || std::strncmp(s, "0x", 2) == 0) continue;
      names[addresses[done + i]].assign(s, strcspn(s, " "));
    }
  }
  munmap(mem, bytes);
  if (!ok) return std::nullopt;
  return names;
}

}  // namespace perfbpf
