// Function timing without libbpf parsing the kernel's whole BTF (bpf_load/core_btf.h): the load
// reads /sys/kernel/btf/vmlinux only to build the projection once per kernel, the projection gives
// every field the same offset, size and bitfield shift as the kernel's BTF, the cache trusts only
// its own files, and a uprobe session tells its entries from its returns without the kfunc.
// Truths: libbpf's own messages (it says when it loads the kernel's BTF), the kernel's BTF read
// directly, the file system's owners and modes, and the calls this process makes itself.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <linux/types.h>

#include "block_io.skel.h"
#include "bpf_load/core_btf.h"
#include "collect/bpf_skeleton.h"
#include "funclat.h"
#include "funclat.skel.h"
#include "mem_stats.skel.h"
#include "net_stats.skel.h"
#include "sched_stats.skel.h"
#include "collect/cpu_sampler.h"
#include "session/funclat_session.h"
#include "session/target_set.h"
#include "session/self_probe.h"

extern "C" uint64_t perfbpf_calib_optimized(uint64_t);

using namespace perfbpf;
namespace fs = std::filesystem;

// Recursion the compiler keeps as recursion (the asm makes the call no tail call).
extern "C" __attribute__((noinline)) uint64_t core_btf_test_recurse(uint64_t n) {
  if (n == 0) return 1;
  uint64_t r = core_btf_test_recurse(n - 1);
  asm volatile("" : "+r"(r));
  return r + 1;
}

namespace {

volatile uint64_t g_sink;

// Counts libbpf's "loading kernel BTF" messages while it lives (then restores the printer).
std::atomic<int> g_kernel_btf_loads{0};
int count_kernel_btf(enum libbpf_print_level, const char* format, va_list args) {
  char line[512];
  vsnprintf(line, sizeof(line), format, args);
  if (std::strstr(line, "loading kernel BTF")) g_kernel_btf_loads++;
  return 0;
}
struct KernelBtfLoads {
  libbpf_print_fn_t old;
  KernelBtfLoads() : old(libbpf_set_print(count_kernel_btf)) { g_kernel_btf_loads = 0; }
  ~KernelBtfLoads() { libbpf_set_print(old); }
  int count() const { return g_kernel_btf_loads.load(); }
};

FuncLatSettings own_settings(const PlannedProbe& target) {
  FuncLatSettings s;
  s.max_threads = 64;
  s.needs = funclat_needs({target});
  return s;
}

PlannedProbe calib_target() {
  return plan_own_function(reinterpret_cast<uintptr_t>(&perfbpf_calib_optimized), "perfbpf_calib_optimized", 16,
                           ProbeMethod::Uretprobe);
}

struct BtfFree {
  void operator()(struct btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<struct btf, BtfFree>;

// Bit offset and bitfield size of PATH ("se.sum_exec_runtime") in struct ROOT of B, through
// anonymous members as CO-RE does; {-1, 0} when absent.
std::pair<long, unsigned> field(const struct btf* b, const char* root, const std::string& path) {
  int id = btf__find_by_name_kind(b, root, BTF_KIND_STRUCT);
  if (id < 0) return {-1, 0};
  long offset = 0;
  unsigned bits = 0;
  size_t at = 0;
  while (at <= path.size()) {
    const size_t dot = path.find('.', at);
    const std::string name = path.substr(at, dot == std::string::npos ? std::string::npos : dot - at);
    // Breadth through anonymous members: (type id, offset so far).
    std::vector<std::pair<int, long>> scopes{{id, offset}};
    bool found = false;
    for (size_t i = 0; i < scopes.size() && !found; i++) {
      const btf_type* t = btf__type_by_id(b, btf__resolve_type(b, scopes[i].first));
      if (!btf_is_composite(t)) continue;
      for (uint16_t m = 0; m < btf_vlen(t) && !found; m++) {
        const btf_member* mem = btf_members(t) + m;
        const char* n = btf__name_by_offset(b, mem->name_off);
        const long off = scopes[i].second + btf_member_bit_offset(t, m);
        if (!n || !*n) {
          scopes.push_back({static_cast<int>(mem->type), off});
        } else if (name == n) {
          found = true;
          id = static_cast<int>(mem->type);
          offset = off;
          bits = btf_member_bitfield_size(t, m);
        }
      }
    }
    if (!found) return {-1, 0};
    if (dot == std::string::npos) break;
    at = dot + 1;
  }
  return {offset, bits};
}

std::string temp_dir() {
  char tmpl[] = "/tmp/perfbpf-core-btf-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  return tmpl;
}

std::vector<fs::path> cache_entries(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".btf") out.push_back(e.path());
  return out;
}

}  // namespace

TEST_CASE("function timing loads without libbpf parsing the kernel's BTF, and --decompose still loads", "[bpf]") {
  const PlannedProbe target = calib_target();
  { FuncLatSession warm(own_settings(target), [](const CallRecord&) {}); }  // the projection cached
  uint64_t records = 0;
  {
    KernelBtfLoads loads;
    FuncLatSession bpf(own_settings(target), [&](const CallRecord&) { records++; });
    CHECK(loads.count() == 0);
    CHECK(bpf.core_btf_source() == CoreBtfSource::Cache);
    bpf.add_target_tgid(static_cast<uint32_t>(getpid()));
    bpf.attach({target}, getpid());
    for (uint64_t i = 0; i < 1000; i++) g_sink = g_sink + perfbpf_calib_optimized(i);
    bpf.detach_and_drain();
    CHECK(bpf.losses()[FUNCLAT_LOSS_MISSING_ENTRY] == 0);
  }
  CHECK(records == 1000);
  {
    // The detector itself: libbpf's own way says it loads the kernel's BTF.
    KernelBtfLoads loads;
    FuncLatSettings s = own_settings(target);
    s.core_btf = false;
    FuncLatSession bpf(s, [](const CallRecord&) {});
    CHECK(loads.count() >= 1);
    CHECK(bpf.core_btf_source() == CoreBtfSource::None);
  }
  {
    FuncLatSettings s = own_settings(target);
    s.decompose = true;
    FuncLatSession bpf(s, [](const CallRecord&) {});
    CHECK(bpf.decompose());
    CHECK(bpf.program_ids().size() >= 3);  // the session, the exit, and the two scheduler programs
  }
}

namespace {
// Each loaded program of OBJECT in perfbpf's sections (bpf/kernel_calls.h) is a tracing program
// attached at the id the kernel's whole BTF gives its target; returns how many were checked.
int check_attach_ids(const bpf_object* object) {
  static const BtfPtr kernel(btf__load_vmlinux_btf());
  REQUIRE(kernel);
  int checked = 0;
  bpf_program* prog = nullptr;
  while ((prog = bpf_object__next_program(object, prog))) {
    const std::string section = bpf_program__section_name(prog);
    std::string target;
    uint32_t kind = BTF_KIND_FUNC;
    if (section.rfind("perfbpf.tp_btf/", 0) == 0) {
      target = "btf_trace_" + section.substr(section.find('/') + 1);
      kind = BTF_KIND_TYPEDEF;
    } else if (section.rfind("perfbpf.iter/", 0) == 0) {
      target = "bpf_iter_" + section.substr(section.find('/') + 1);
    }
    if (target.empty() || bpf_program__fd(prog) < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    REQUIRE(bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0);
    INFO(bpf_program__name(prog) << " " << target);
    CHECK(info.type == BPF_PROG_TYPE_TRACING);
    CHECK(static_cast<int>(info.attach_btf_id) == btf__find_by_name_kind(kernel.get(), target.c_str(), kind));
    checked++;
  }
  return checked;
}

// One collector object loaded and attached as a --system session does, with its projection and
// ids cached (the first load built them): libbpf never reads the kernel's BTF, and the kernel took
// every relocated program at the right attach point.
template <typename Skeleton>
CoreBtfSource collector_core_source(const char* what) {
  CollectorSettings system;
  system.filter_tgid = false;
  { Skeleton warm(what, system); warm.load(); }  // the projection built and cached
  Skeleton skel(what, system);
  KernelBtfLoads loads;
  skel.load();
  CHECK(loads.count() == 0);
  skel.attach();
  CHECK(check_attach_ids(skel->obj) >= 1);
  return skel.core_btf_source();
}
}  // namespace

TEST_CASE("the system-wide collectors load without reading the kernel's BTF, attached where it says", "[bpf]") {
  // libbpf 1.1 parsed the kernel's BTF for each object's tp_btf attach ids (and kfuncs): ~11 MiB
  // of peak memory and 10-15 ms of CPU each, five times in a --system session.
  CHECK(collector_core_source<PERFBPF_BPF_SKELETON(sched_stats)>("sched") == CoreBtfSource::Cache);
  CHECK(collector_core_source<PERFBPF_BPF_SKELETON(mem_stats)>("memory") == CoreBtfSource::Cache);
  CHECK(collector_core_source<PERFBPF_BPF_SKELETON(block_io)>("block") == CoreBtfSource::Cache);
  CHECK(collector_core_source<PERFBPF_BPF_SKELETON(net_stats)>("network") == CoreBtfSource::Cache);
}

TEST_CASE("the sampler, the target set and --decompose load without reading the kernel's BTF once cached", "[bpf]") {
  SamplerSettings sampling;  // the sample program calls kfuncs, the off-CPU ones are tp_btf and iter
  sampling.off_cpu = true;
  { CpuSampler warm(sampling); }
  {
    KernelBtfLoads loads;
    CpuSampler sampler(sampling);
    CHECK(loads.count() == 0);
  }
  TargetSetSettings followed;
  followed.follow_children = true;
  { TargetSet warm(followed); }
  {
    KernelBtfLoads loads;
    TargetSet targets(followed);
    CHECK(loads.count() == 0);
  }
  FuncLatSettings decompose = own_settings(calib_target());
  decompose.decompose = true;
  { FuncLatSession warm(decompose, [](const CallRecord&) {}); }
  KernelBtfLoads loads;
  FuncLatSession bpf(decompose, [](const CallRecord&) {});
  CHECK(bpf.decompose());
  CHECK(loads.count() == 0);
}

TEST_CASE("kernel ids survive the cache's text form, and malformed text is refused") {
  const KernelIds ids = {{"btf_trace_sched_switch", BTF_KIND_TYPEDEF, 1234}, {"bpf_task_release", BTF_KIND_FUNC, 0}};
  KernelIds back;
  REQUIRE(parse_kernel_ids(serialize_kernel_ids(ids), back));
  CHECK(back == ids);
  CHECK(parse_kernel_ids("", back));
  CHECK(back.empty());
  for (const char* bad : {"12 3 name", "x 3 name\n", "12 -3 name\n", "12 3\n", "12 3 \n", "12  3 name\n"}) {
    INFO(bad);
    CHECK_FALSE(parse_kernel_ids(bad, back));
  }
}

TEST_CASE("the projected BTF gives every field the kernel's offset, size and bitfield", "[bpf]") {
  BtfPtr kernel(btf__load_vmlinux_btf());
  REQUIRE(kernel);
  size_t size = 0;
  const void* elf = funclat_bpf__elf_bytes(&size);
  bpf_object* obj = bpf_object__open_mem(elf, size, nullptr);
  REQUIRE(obj);
  const std::string raw = project_kernel_btf(kernel.get(), bpf_object__btf(obj));
  bpf_object__close(obj);
  REQUIRE(!raw.empty());
  BtfPtr projected(btf__new(raw.data(), static_cast<uint32_t>(raw.size())));
  REQUIRE(projected);
  CHECK(raw.size() < 256u << 10);  // tens of KiB, against the kernel's megabytes
  const std::vector<std::pair<const char*, std::string>> fields = {
      {"task_struct", "pid"},
      {"task_struct", "tgid"},
      {"task_struct", "bpf_storage"},
      {"task_struct", "se.sum_exec_runtime"},
      {"task_struct", "sched_info.run_delay"},
      {"task_struct", "in_iowait"},  // a bitfield
      {"task_struct", "signal"},
      {"task_struct", "mm"},
      {"signal_struct", "live.counter"},
      {"mm_struct", "uprobes_state.xol_area"},
      {"pt_regs", "sp"},
      {"pt_regs", "ip"},
      {"pt_regs", "r14"},
  };
  for (const auto& [root, path] : fields) {
    INFO(root << "." << path);
    const auto want = field(kernel.get(), root, path);
    REQUIRE(want.first >= 0);
    CHECK(field(projected.get(), root, path) == want);
  }
  // A field the kernel does not have is not invented (bpf_core_field_exists stays false).
  CHECK(field(projected.get(), "task_struct", "state").first == -1);
}

TEST_CASE("the BTF cache uses only its own intact files: links, foreign, writable and corrupt ones are rebuilt", "[bpf]") {
  const std::string top = temp_dir(), dir = top + "/btf";  // made by the cache, as in use
  size_t size = 0;
  const void* elf = funclat_bpf__elf_bytes(&size);
  {
    CoreBtf first = CoreBtf::for_object(elf, size, dir);
    REQUIRE(first.path());
    CHECK(first.source() == CoreBtfSource::Built);
  }
  REQUIRE(cache_entries(dir).size() == 1);
  const fs::path entry = cache_entries(dir)[0];
  CHECK(CoreBtf::for_object(elf, size, dir).source() == CoreBtfSource::Cache);
  std::string good;
  {
    std::ifstream in(entry, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto plant = [&](const std::string& bytes) {
    fs::remove(entry);
    std::ofstream(entry, std::ios::binary) << bytes;
  };
  auto is_ours = [&] {
    struct stat st {};
    REQUIRE(lstat(entry.c_str(), &st) == 0);
    return S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & (S_IWGRP | S_IWOTH));
  };

  SECTION("a planted link is replaced, never followed") {
    const std::string elsewhere = dir + "/elsewhere";
    std::ofstream(elsewhere, std::ios::binary) << good;
    fs::remove(entry);
    fs::create_symlink(elsewhere, entry);
    CoreBtf b = CoreBtf::for_object(elf, size, dir);
    CHECK(b.source() == CoreBtfSource::Built);
    CHECK(is_ours());
    CHECK(fs::file_size(elsewhere) == good.size());
  }
  SECTION("another user's file is not trusted") {
    plant(good);
    REQUIRE(chown(entry.c_str(), 65534, 65534) == 0);
    CHECK(CoreBtf::for_object(elf, size, dir).source() == CoreBtfSource::Built);
    CHECK(is_ours());
  }
  SECTION("a file others may write is not trusted") {
    plant(good);
    REQUIRE(chmod(entry.c_str(), 0666) == 0);
    CHECK(CoreBtf::for_object(elf, size, dir).source() == CoreBtfSource::Built);
    CHECK(is_ours());
  }
  SECTION("a corrupt or truncated file is rebuilt") {
    std::string bad = good;
    bad[bad.size() / 2] ^= 0x5a;
    plant(bad);
    CHECK(CoreBtf::for_object(elf, size, dir).source() == CoreBtfSource::Built);
    plant(good.substr(0, good.size() - 7));
    CHECK(CoreBtf::for_object(elf, size, dir).source() == CoreBtfSource::Built);
    CHECK(CoreBtf::for_object(elf, size, dir).source() == CoreBtfSource::Cache);
  }
  SECTION("another object's or kernel's projection is not taken for this one") {
    std::string other = good;
    other[8] ^= 1;  // the kernel key
    plant(other);
    CHECK(CoreBtf::for_object(elf, size, dir).source() == CoreBtfSource::Built);
  }
  fs::remove_all(top);
}

TEST_CASE("a uprobe session tells entries from returns without the kfunc: recursion pairs exactly", "[bpf]") {
  const PlannedProbe target = plan_own_function(reinterpret_cast<uintptr_t>(&core_btf_test_recurse),
                                                "core_btf_test_recurse", 64, ProbeMethod::Uretprobe);
  std::map<uint32_t, uint64_t> by_depth;
  std::vector<CallRecord> calls;
  FuncLatSession bpf(own_settings(target), [&](const CallRecord& r) {
    by_depth[r.depth]++;
    calls.push_back(r);
  });
  bpf.add_target_tgid(static_cast<uint32_t>(getpid()));
  bpf.attach({target}, getpid());
  constexpr uint64_t kOuter = 200, kDepth = 10;  // each outer call makes kDepth + 1 probed calls
  for (uint64_t i = 0; i < kOuter; i++) g_sink = g_sink + core_btf_test_recurse(kDepth);
  bpf.detach_and_drain();
  const std::vector<uint64_t> lost = bpf.losses();
  CHECK(lost[FUNCLAT_LOSS_MISSING_ENTRY] == 0);
  CHECK(lost[FUNCLAT_LOSS_UNWOUND] == 0);
  CHECK(bpf.in_flight_at_attach(1)[0] == 0);
  CHECK(calls.size() == kOuter * (kDepth + 1));
  REQUIRE(by_depth.size() == kDepth + 1);
  for (const auto& [depth, n] : by_depth) {
    INFO("depth " << depth);
    CHECK(n == kOuter);
  }
  // Nested calls end inside their callers: each call at depth d holds the kDepth - d below it.
  for (const CallRecord& r : calls) CHECK(r.nested_calls == kDepth - r.depth);
}
