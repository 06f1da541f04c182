// How the sched collector reads one thread's record (bpf/sched_stats.h) at a moment: pure, so
// unit tests can feed it made-up records.
#pragma once

#include <linux/types.h>

#include <cstdint>

#include "sched_stats.h"

namespace perfbpf {

// T's totals as of NOW. On-CPU and run-queue time are the kernel's counters as the last sync
// left them (run_delay with the wait in progress), never an open interval: the tracepoints can
// miss a switch, so a thread "on CPU" by its books may long have left it. A thread asleep by
// its books gets the wait it is in so far, so a long sleep shows in the interval it happens in
// rather than when it ends: the time since it began that the counters do not claim (after a
// wakeup they claim the wait for a CPU), so books that missed a switch-in cannot turn CPU time
// into sleep.
sched_totals totals_at(const sched_thread& t, uint64_t now);

}  // namespace perfbpf
