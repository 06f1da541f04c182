// Driving a session while a workload steps through its phases, and reading what the workload
// printed: shared by the tests of collectors against short-lived processes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "perfbpf/session.h"
#include "process.h"

namespace perfbpf::test {

// A session that reads while DRIVE runs on a thread of its own (the workload's steps), and
// ends two reads after DRIVE returns: its report. Fails the test if the session threw.
Profile run_while(SessionOptions o, const std::function<void()>& drive);

// "key=value" pairs of each line of TEXT (lines without any are left out).
std::vector<std::map<std::string, std::string>> key_values(const std::string& text);

// Writes LINE to P's stdin.
void send(const Spawned& p, const std::string& line);

// PID's row in P's processes, or nullptr.
const ProcessResources* row_of(const Profile& p, uint32_t pid);

}  // namespace perfbpf::test
