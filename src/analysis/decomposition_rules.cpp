#include "analysis/decomposition_rules.h"

#include <fmt/format.h>

#include "report/decomposition_text.h"

namespace perfbpf {

void decomposition_rules(const Profile& p, std::vector<Bottleneck>& out) {
  uint64_t all_calls = 0;
  for (const auto& f : p.functions) all_calls += f.calls;
  for (const FunctionProfile& f : p.functions) {
    const CallDecomposition& band = f.decomposition_p99;
    const double total = static_cast<double>(band.on_cpu.total + band.runqueue.total + band.io.total +
                                             band.lock.total + band.sleep.total);
    if (!band.calls || total <= 0) continue;
    const double share = static_cast<double>(band.lock.total) / total;
    if (share <= kLockBoundShare) continue;
    const std::string& name = f.demangled.empty() ? f.name : f.demangled;
    // The slowest call that waited on a lock tells where it is taken and who held it.
    std::string where = "no wait stack was kept";
    for (const SlowCall& c : f.slowest_calls)
      if (c.wait_kind == "lock") {
        where = "slowest such call: " + describe_wait(c);
        break;
      }
    Bottleneck b;
    b.id = "lock-bound-p99:" + name;
    b.category = "latency";
    b.severity = "high";
    b.title = fmt::format("{}'s slowest calls are lock-bound: {:.0f}% of its p99 calls' time is blocked on a lock",
                          name, 100 * share);
    b.evidence = {"decomposition.p99.lock_share",
                  100 * share,
                  100 * kLockBoundShare,
                  "%",
                  all_calls ? static_cast<double>(band.calls) / static_cast<double>(all_calls) : 0,
                  fmt::format("{} p99 calls of {} split by --decompose; {}", band.calls, f.decomposition.calls, where)};
    b.affects.function = name;
    b.affects.pid = static_cast<uint32_t>(p.session.pid);
    out.push_back(std::move(b));
  }
}

}  // namespace perfbpf
