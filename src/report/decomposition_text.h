// --decompose in the text summary: per function, the share of its time on CPU, waiting for a
// CPU, in I/O, on a lock and asleep (p99 calls and all calls), and its slowest calls told in
// one line each: what they waited on longest, where, and who held the lock.
#pragma once

#include <ostream>
#include <string>

#include "perfbpf/profile.h"

namespace perfbpf {

void write_decomposition(const Profile& profile, std::ostream& out);

// "43.8 ms blocked on a lock in futex_wait under __lll_lock_wait <- cache_get (lock held by
// tid 4249 in cache_refresh)": one slow call's longest wait.
std::string describe_wait(const SlowCall& call);

}  // namespace perfbpf
