// How the sched collector reads a thread's record (collect/sched_books.h) and how resource
// snapshots become intervals and totals (aggregate/system_aggregate.h): the machine's capacity
// is never exceeded, and no open interval is ever charged as CPU time.
#include <catch2/catch.hpp>

#include "aggregate/system_aggregate.h"
#include "collect/sched_books.h"

using namespace perfbpf;

namespace {

constexpr uint64_t kMs = 1'000'000;

// A thread whose books say STATE since SINCE, its counters' bases and marks at 1 s and 2 s.
sched_thread record(uint32_t state, uint64_t since) {
  sched_thread t{};
  t.tgid = 7;
  t.state = state;
  t.since_ns = since;
  t.exec_base_ns = 1000 * kMs;
  t.delay_base_ns = 2000 * kMs;
  t.exec_mark_ns = t.exec_base_ns;
  t.delay_mark_ns = t.delay_base_ns;
  return t;
}

ResourceSnapshot snapshot(uint64_t at_ns, unsigned cpus, uint64_t cpu_ns) {
  ResourceSnapshot s;
  s.at_ns = at_ns;
  s.cpus = cpus;
  s.processes[1].pid = 1;
  s.processes[1].usage.cpu_time_ns = cpu_ns;
  return s;
}

}  // namespace

TEST_CASE("sched books: a thread on CPU by its books is charged its counters, never its open interval", "[sched]") {
  // Seen switching in 10 s ago, its switch-out never seen: the kernel says it ran 3 ms.
  sched_thread t = record(SCHED_ON_CPU, 1 * kMs);
  t.totals.on_cpu_ns = 3 * kMs;
  sched_totals now = totals_at(t, 10'000 * kMs);
  CHECK(now.on_cpu_ns == 3 * kMs);
  CHECK(now.sleep_ns == 0);
  CHECK(now.runqueue_ns == 0);
  // Runnable by its books: the wait is in the run-queue total the sync left (run_delay and
  // the wait in progress), not added again.
  t.state = SCHED_RUNNABLE;
  t.totals.runqueue_ns = 5 * kMs;
  CHECK(totals_at(t, 10'000 * kMs).runqueue_ns == 5 * kMs);
}

TEST_CASE("sched books: a sleep in progress shows as it happens, less what the counters claim", "[sched]") {
  sched_thread t = record(SCHED_SLEEP, 100 * kMs);
  t.totals.sleep_ns = 40 * kMs;
  CHECK(totals_at(t, 400 * kMs).sleep_ns == 340 * kMs);
  t.state = SCHED_IO;
  CHECK(totals_at(t, 400 * kMs).io_ns == 300 * kMs);
  // Woken at 350 ms and waiting for a CPU since: the sync put that wait in the run-queue total,
  // so the sleep ends at the wakeup.
  t.state = SCHED_SLEEP;
  t.totals.runqueue_ns = 50 * kMs;
  CHECK(totals_at(t, 400 * kMs).sleep_ns == 40 * kMs + 250 * kMs);
  // A switch-in the books missed: the kernel says it ran all along, so no sleep is invented.
  t.totals.runqueue_ns = 0;
  t.totals.on_cpu_ns = 300 * kMs;
  CHECK(totals_at(t, 400 * kMs).sleep_ns == 40 * kMs);
}

TEST_CASE("capacity: an interval never reads more CPU than the machine's CPUs could run, and the cut is counted", "[sched]") {
  // 2 CPUs for 1 s, 2.006 s of CPU: counters of running threads lag up to a tick.
  SeriesSample s = interval_sample(snapshot(1000 * kMs, 2, 0), snapshot(2000 * kMs, 2, 2006 * kMs), 1.0);
  CHECK(s.cpu_pct == Approx(200.0));
  CHECK(s.cpu_clamped_ns == 6 * kMs);
  SeriesSample under = interval_sample(snapshot(1000 * kMs, 2, 0), snapshot(2000 * kMs, 2, 1500 * kMs), 1.0);
  CHECK(under.cpu_pct == Approx(150.0));
  CHECK(under.cpu_clamped_ns == 0);
  // Merged samples keep what was cut.
  std::vector<SeriesSample> series{s, under, s};
  uint64_t merges = 0;
  append_bounded(series, under, 2, merges);
  CHECK(series.front().cpu_clamped_ns == 6 * kMs);
  CHECK(series.back().cpu_clamped_ns == 6 * kMs);
  // Without a CPU count (no sched collector) nothing is cut.
  CHECK(interval_sample(snapshot(0, 0, 0), snapshot(1000 * kMs, 0, 3000 * kMs), 1.0).cpu_pct == Approx(300.0));
  // The session's total: at most CPUs x its window.
  CHECK(total_usage(snapshot(2000 * kMs, 2, 4010 * kMs), {}, 2000 * kMs).cpu_time_ns == 4000 * kMs);
  CHECK(total_usage(snapshot(2000 * kMs, 2, 3000 * kMs), {}, 2000 * kMs).cpu_time_ns == 3000 * kMs);
}
