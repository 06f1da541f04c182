#include "report/decomposition_text.h"

#include <fmt/format.h>

#include "report/text_summary.h"

namespace perfbpf {
namespace {

constexpr size_t kUserFramesShown = 3;

std::string shares(const CallDecomposition& d) {
  const double total = static_cast<double>(d.on_cpu.total + d.runqueue.total + d.io.total + d.lock.total + d.sleep.total);
  auto pct = [total](const SplitPart& p) { return total > 0 ? fmt::format("{:.0f} %", 100.0 * static_cast<double>(p.total) / total) : std::string("-"); };
  return fmt::format("{:>7} {:>7} {:>7} {:>7} {:>7}", pct(d.on_cpu), pct(d.runqueue), pct(d.io), pct(d.lock), pct(d.sleep));
}

const char* kind_words(const std::string& kind) {
  if (kind == "lock") return "blocked on a lock";
  if (kind == "io") return "blocked in I/O";
  return "asleep";
}

// Scheduler frames say that it waited, not on what.
bool scheduler_frame(const std::string& name) { return name.find("schedule") != std::string::npos; }

// STACK's user frames from where the thread entered the library it blocked or woke in (libc's
// pthread_mutex_lock, not the internals under it), then its callers: kUserFramesShown of them.
std::string user_path(const std::vector<SlowCall::Frame>& stack) {
  std::vector<const SlowCall::Frame*> user;
  for (const auto& f : stack)
    if (f.object != "[kernel]") user.push_back(&f);
  size_t start = 0;
  for (size_t i = 1; i < user.size(); i++)
    if (user[i]->object != user[0]->object) {
      start = i - 1;
      break;
    }
  std::string out;
  for (size_t i = start; i < user.size() && i < start + kUserFramesShown; i++) out += (i > start ? " <- " : "") + user[i]->name;
  return out;
}

}  // namespace

std::string describe_wait(const SlowCall& c) {
  std::string out = fmt::format("{} {}", format_duration_ns(static_cast<double>(c.wait_ns)), kind_words(c.wait_kind));
  std::string kernel, user = user_path(c.wait_stack);
  for (const auto& f : c.wait_stack)
    if (f.object == "[kernel]" && kernel.empty() && !scheduler_frame(f.name)) kernel = f.name;
  if (!kernel.empty()) out += " in " + kernel;
  if (!user.empty()) out += " under " + user;
  if (c.holder_tid) {
    out += fmt::format(" (lock held by tid {}", c.holder_tid);
    std::string holder = user_path(c.holder_stack);
    if (holder.empty()) holder = c.holder_function;
    if (!holder.empty()) out += " in " + holder;
    if (c.holder_source == "mutex-owner") out += ", from the mutex's owner field";
    out += ")";
  }
  return out;
}

void write_decomposition(const Profile& p, std::ostream& out) {
  bool header = false;
  auto counters = [&p, &out] {
    const auto& c = p.events.split_by_reason;
    auto n = [&c](const char* k) { auto it = c.find(k); return it == c.end() ? uint64_t{0} : it->second; };
    if (c.empty()) return;
    out << fmt::format("  split: {} calls not split (no per-thread record), {} waits closed late from the kernel's stamps "
                       "(switch-in unseen), {} wait stacks not kept{}\n",
                       n("split_no_storage"), n("split_switch_in_unseen"), n("wait_stack_lost"),
                       n("stack_copy_lost") ? fmt::format(", {} stack tops not copied (frame pointers only)", n("stack_copy_lost")) : "");
  };
  for (const FunctionProfile& f : p.functions) {
    const CallDecomposition& d = f.decomposition;
    if (!d.calls) continue;
    if (!header) {
      out << fmt::format("\n{:<32} {:>9} {:>9} {:>9} | {:>7} {:>7} {:>7} {:>7} {:>7}  (share of time)\n", "WHERE THE TIME WENT",
                         "CALLS", "P50", "P99", "ON-CPU", "RUNQ", "IO", "LOCK", "SLEEP");
      header = true;
    }
    std::string name = f.demangled.size() > 32 ? f.demangled.substr(0, 29) + "..." : f.demangled;
    out << fmt::format("{:<32} {:>9} {:>9} {:>9} | {}  p99 calls ({})\n", name, d.calls,
                       format_duration_ns(static_cast<double>(f.latency.p50)),
                       format_duration_ns(static_cast<double>(f.latency.p99)), shares(f.decomposition_p99),
                       f.decomposition_p99.calls);
    out << fmt::format("{:<32} {:>9} {:>9} {:>9} | {}  all calls\n", "", "", "", "", shares(d));
    if (d.incomplete)
      out << fmt::format("  {} call{} saw a context switch or wakeup go unseen: some of {} off-CPU time may be in ON-CPU\n",
                         d.incomplete, d.incomplete == 1 ? "" : "s", d.incomplete == 1 ? "its" : "their");
    for (size_t i = 0; i < f.slowest_calls.size(); i++) {
      const SlowCall& c = f.slowest_calls[i];
      out << fmt::format("  {} #{} {} at {:.1f} s, tid {}: {}\n", i == 0 ? "slowest calls:" : "              ", i + 1,
                         format_duration_ns(static_cast<double>(c.duration_ns)), c.t_s, c.tid,
                         c.wait_kind.empty() ? std::string("never blocked") : describe_wait(c));
    }
  }
  if (header) counters();
}

}  // namespace perfbpf
