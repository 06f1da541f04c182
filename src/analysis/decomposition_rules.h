// Findings from --decompose: a function whose slowest calls (the p99 band) spend most of their
// time blocked on a lock, naming where the lock is taken and who held it.
#pragma once

#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

inline constexpr double kLockBoundShare = 0.5;  // lock time / the p99 calls' time

void decomposition_rules(const Profile& p, std::vector<Bottleneck>& out);

}  // namespace perfbpf
