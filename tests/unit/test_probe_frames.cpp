// Samples taken in a probe's trap path are the probe's cost: one [perfbpf probe] frame under
// the code that hit the probe, left out of the hottest functions. The stacks are the shapes
// captured on Linux 6.18 x86-64 (single-stepped, optimized and return probes), symbolized
// through a fixture /proc (kallsyms, maps and a perf map naming the user code).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "aggregate/stack_profile.h"
#include "process.h"
#include "report/text_summary.h"

using namespace perfbpf;

namespace {

constexpr uint32_t kPid = 77;
constexpr uint64_t kMain = 0x10000, kLeaf = 0x10100, kXol = 0x20000, kTrampoline = 0x30000;

// Kernel functions at 0x1000 apart, in this order.
const std::vector<std::string> kKernel = {
    "asm_exc_int3", "asm_exc_debug", "exc_debug_user", "irqentry_exit_to_user_mode", "uprobe_notify_resume",
    "handler_chain", "uprobe_multi_link_handler", "uprobe_prog_run", "bpf_prog_0e4845ffc88971cc_handle_entry",
    "entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_uretprobe", "uprobe_handle_trampoline",
    "__do_sys_uprobe", "handle_syscall_uprobe", "ksys_write", "asm_sysvec_apic_timer_interrupt"};

uint64_t k(const std::string& name) {
  for (size_t i = 0; i < kKernel.size(); i++)
    if (kKernel[i] == name) return 0xffffffff81000000ull + 0x1000 * i + 8;
  FAIL("no kernel symbol " << name);
  return 0;
}

struct Fixture {
  std::string root = test::temp_path("proc");
  Symbolizer symbols{root};
  Fixture() {
    std::filesystem::create_directories(root + "/77/root/tmp");
    std::ofstream kallsyms(root + "/kallsyms");
    for (const auto& name : kKernel) kallsyms << std::hex << k(name) - 8 << " T " << name << "\n";
    std::ofstream(root + "/77/comm") << "app\n";
    std::ofstream(root + "/77/maps") << "00010000-00011000 r-xp 00000000 00:00 0 \n"
                                     << "00020000-00021000 r-xp 00000000 00:00 0          [uprobes]\n"
                                     << "00030000-00031000 r-xp 00000000 00:00 0          [uprobes-trampoline]\n";
    std::ofstream(root + "/77/root/tmp/perf-77.map") << "10000 100 main\n10100 100 leaf\n";
    REQUIRE(symbols.snapshot(kPid));
  }
};

RawStackSample sample(std::vector<uint64_t> user, std::vector<std::string> kernel, uint64_t count) {
  RawStackSample s;
  s.tgid = s.tid = kPid;
  s.user = std::move(user);  // innermost first, as captured
  for (const auto& name : kernel) s.kernel.push_back(k(name));
  s.count = count;
  return s;
}

std::string folded(const StackProfile& p) {
  std::ostringstream out;
  FoldedOptions per_thread;
  per_thread.per_thread = true;
  write_folded(p, out, per_thread);
  return out.str();
}

}  // namespace

TEST_CASE("stacks through a probe's trap path end in one [perfbpf probe] frame under the caller", "[stacks]") {
  Fixture f;
  std::vector<RawStackSample> samples = {
      // Single-stepped site: the step out of line traps back (asm_exc_debug) with the thread in
      // the [uprobes] slot; the sampling timer lands as interrupts come back on.
      sample({kXol, kMain + 8}, {"irqentry_exit_to_user_mode", "exc_debug_user", "asm_exc_debug"}, 60),
      // Preempted on the way back from the single-step trap, the instruction pointer already
      // back in the program.
      sample({kLeaf, kMain + 8}, {"irqentry_exit_to_user_mode", "exc_debug_user", "asm_exc_debug"}, 2),
      // The int3 itself, and the handler with the BPF program behind it.
      sample({kLeaf, kMain + 8}, {"irqentry_exit_to_user_mode", "asm_exc_int3"}, 10),
      sample({kLeaf, kMain + 8},
             {"bpf_prog_0e4845ffc88971cc_handle_entry", "uprobe_prog_run", "uprobe_multi_link_handler",
              "handler_chain", "uprobe_notify_resume", "irqentry_exit_to_user_mode", "asm_exc_int3"},
             5),
      // A return probe's trampoline (uretprobe syscall), and an optimized site's (uprobe syscall).
      sample({kMain + 8}, {"uprobe_handle_trampoline", "__x64_sys_uretprobe", "do_syscall_64",
                           "entry_SYSCALL_64_after_hwframe"}, 7),
      sample({kTrampoline, kMain + 8}, {"do_syscall_64", "entry_SYSCALL_64_after_hwframe"}, 4),
      sample({kLeaf, kMain + 8}, {"handle_syscall_uprobe", "__do_sys_uprobe", "do_syscall_64",
                                  "entry_SYSCALL_64_after_hwframe"}, 4),
      // The program's own work: in leaf, in a write, and interrupted by the timer in main.
      sample({kLeaf, kMain + 8}, {}, 6),
      sample({kMain + 8}, {"ksys_write", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"}, 3),
      sample({kMain + 8}, {"asm_sysvec_apic_timer_interrupt"}, 1),
  };
  StackProfile p = build_stack_profile(samples, f.symbols, 999, /*own_probes=*/true);
  CHECK(p.samples == 102);
  CHECK(p.probe_samples == 92);
  const std::string text = folded(p);
  INFO(text);
  // Identical stacks merge: main's [uprobes] slot (60), its return trampoline (7) and optimized
  // site's (4); leaf's traps (10, 2), handler (5) and optimized entry (4).
  CHECK_THAT(text, Catch::Contains("app;tid-77;main;[perfbpf probe]_[k] 71\n"));
  CHECK_THAT(text, Catch::Contains("app;tid-77;main;leaf;[perfbpf probe]_[k] 21\n"));
  CHECK_THAT(text, Catch::Contains("app;tid-77;main;leaf 6\n"));
  CHECK_THAT(text, Catch::Contains("app;tid-77;main;entry_SYSCALL_64_after_hwframe_[k];do_syscall_64_[k];ksys_write_[k] 3\n"));
  for (const char* trap : {"irqentry_exit_to_user_mode", "asm_exc_debug", "uprobe", "bpf_prog_", "[uprobes"})
    CHECK_FALSE(Catch::Contains(std::string(";") + trap).match(text));

  // The hottest functions are the program's: shares of its own 10 samples.
  REQUIRE_FALSE(p.top.empty());
  for (const auto& t : p.top) {
    INFO(t.name);
    CHECK(t.name != kPerfbpfProbeFrame);
    CHECK(t.name.find("irqentry") == std::string::npos);
  }
  CHECK(p.top[0].name == "leaf");
  CHECK(p.top[0].self_pct == Approx(60));
  CHECK(p.top[0].total_pct == Approx(60));
}

TEST_CASE("without perfbpf's own probes the trap path is another tool's uprobe", "[stacks]") {
  Fixture f;
  StackProfile p = build_stack_profile(
      {sample({kLeaf, kMain + 8}, {"irqentry_exit_to_user_mode", "asm_exc_int3"}, 3), sample({kLeaf, kMain + 8}, {}, 1)},
      f.symbols, 99, /*own_probes=*/false);
  CHECK(p.probe_samples == 3);
  CHECK_THAT(folded(p), Catch::Contains("app;tid-77;main;leaf;[uprobe]_[k] 3\n"));
  REQUIRE(p.top.size() == 2);  // leaf and main, 100 % of the program's one sample each
  CHECK(p.top[0].self_pct == Approx(100));
}

TEST_CASE("the summary says how many samples were in perfbpf's probes and leaves them out", "[stacks][summary]") {
  Fixture f;
  Profile p;
  p.session.mode = "pid";
  p.session.pid = kPid;
  p.stacks = build_stack_profile({sample({kXol, kMain + 8}, {"irqentry_exit_to_user_mode", "exc_debug_user", "asm_exc_debug"}, 30),
                                  sample({kLeaf, kMain + 8}, {}, 10)},
                                 f.symbols, 999, /*own_probes=*/true);
  std::ostringstream out;
  write_text_summary(p, out);
  INFO(out.str());
  CHECK_THAT(out.str(), Catch::Contains("30 (75.0%) in perfbpf's probes, left out):"));
  CHECK_THAT(out.str(), Catch::Contains("100.0   100.0  leaf"));
  CHECK_FALSE(Catch::Contains("irqentry").match(out.str()));
}
