// What sampling shows of perfbpf's own probes: on a single-stepped probe the trap path (int3,
// the single-step trap, the handlers, the BPF programs) is the probe's cost, labelled as such,
// and the target's hottest functions are its own code. The share of samples in the probes is
// checked against what the probes cost the workload's own thread CPU clock: the workload runs
// its probed calls and an unprobed twin of them in alternating rounds, so the two are measured
// in the same window of the same (possibly busy) machine.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "aggregate/stack_profile.h"
#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using perfbpf::test::workload;

namespace {

// own_work ~5 us, then probed(): a single-stepped probe pair costs a few times that here.
const std::vector<std::string> kWorkload = {"50000", "18000"};

double field(const std::string& out, const std::string& name) {
  auto at = out.find(" " + name + "=");
  if (at == std::string::npos) FAIL("the workload printed no " << name << ": " << out);
  return std::stod(out.substr(at + name.size() + 2));
}

bool starts_with_any(const std::string& name, std::initializer_list<const char*> prefixes) {
  for (const char* prefix : prefixes)
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

// A frame of the probes' trap path. A BPF program under an interrupt taken in the target's own
// code (a block completion's tracepoint in softirq, another tool's program) or under a
// tracepoint the target's own syscall passed (the sampler's exec program, run by execve) is not
// one.
bool trap_path_frame(const StackFrame& f, bool under_other_event) {
  if (starts_with_any(f.name, {"asm_exc_int3", "asm_exc_debug", "exc_debug_user", "uprobe_", "handle_swbp",
                               "handle_syscall_uprobe", "__x64_sys_uretprobe", "__do_sys_uprobe", "arch_uprobe",
                               "arch_uretprobe", "[uprobes"}))
    return true;
  return !under_other_event && starts_with_any(f.name, {"bpf_prog_"});
}

}  // namespace

TEST_CASE("a single-stepped probe's cost is labelled [perfbpf probe], not the target's hottest function",
          "[bpf][sampling]") {
  std::string out = test::temp_path("probed.txt");
  SessionOptions o;
  o.handle_signals = false;
  o.collectors = {};
  o.sample_freq = 999;
  o.functions = {"probed"};
  o.command = {workload("probe_target"), kWorkload[0], kWorkload[1], out};
  Profile p = run_session(o);
  REQUIRE(p.session.exit_code == 0);
  REQUIRE(p.functions.size() == 1);
  REQUIRE(p.functions[0].probe_site == "single-stepped");
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const double probed_ns = field(text, "probed_ns"), twin_ns = field(text, "twin_ns");
  const double loop_ns = probed_ns + twin_ns;
  const double diff_noise_ns = field(text, "diff_sd_ns") * std::sqrt(field(text, "rounds"));

  const StackProfile& s = p.stacks;
  REQUIRE(s.samples > 0);
  std::ostringstream folded;
  write_folded(s, folded);
  INFO("folded stacks:\n" << folded.str());

  // No frame of the trap path is left: each such stack ends in the one label.
  uint64_t in_probes = 0;
  for (const auto& st : s.stacks) {
    REQUIRE_FALSE(st.frames.empty());
    const StackFrame& leaf = s.frames[st.frames.back()];
    if (leaf.name == "[perfbpf probe]") in_probes += st.count;
    bool under_other_event = false;
    for (uint32_t idx : st.frames) {
      const StackFrame& f = s.frames[idx];
      under_other_event = under_other_event ||
                          starts_with_any(f.name, {"asm_common_interrupt", "asm_sysvec_", "__traceiter_", "bpf_trace_run"});
      INFO("frame " << f.name);
      CHECK_FALSE(trap_path_frame(f, under_other_event));
    }
  }
  CHECK_THAT(folded.str(), Catch::Contains(";[perfbpf probe]_[k] "));

  // The hottest function is the target's own work; no trap frame is among them.
  REQUIRE_FALSE(s.top.empty());
  CHECK(s.top[0].name == "own_work");
  for (const auto& t : s.top) {
    INFO(t.name << " " << t.self_pct << "%");
    CHECK(t.name != "[perfbpf probe]");
    if (t.name == "irqentry_exit_to_user_mode") CHECK(t.self_pct < 5);  // an ordinary interrupt return
  }

  // The share of samples in the probes is what the probes added to the workload's own CPU
  // clock: (probed rounds - twin rounds) / all rounds. Allowed: 4 binomial standard errors of
  // the sampled share, 4 standard errors of the rounds' difference (measured by the workload),
  // and the samples outside the timed loop (exec, loader, exit), which count as the program's.
  const double n = static_cast<double>(s.samples);
  const double sampled = static_cast<double>(in_probes) / n;
  const double truth = (probed_ns - twin_ns) / loop_ns;
  const double outside_loop = std::max(0.0, n / s.frequency_hz - loop_ns / 1e9) / (n / s.frequency_hz);
  const double tolerance = 4 * std::sqrt(sampled * (1 - sampled) / n) + 4 * diff_noise_ns / loop_ns + outside_loop;
  INFO("samples " << n << ", in probes " << in_probes << " (" << 100 * sampled << "%); thread CPU of the probed rounds "
                  << probed_ns << " ns, of the twin rounds " << twin_ns << " ns (difference noise " << diff_noise_ns
                  << " ns): the probes' share " << 100 * truth << "%, tolerance " << 100 * tolerance << " points");
  CHECK(std::abs(sampled - truth) <= tolerance);
}
