// Reading a child process's stdout and stderr together, without deadlocking on either.
#pragma once

#include <string>

namespace perfbpf {

// Reads OUT_FD and ERR_FD until both reach EOF, appending to OUT and ERR; closes both.
void drain_pipes(int out_fd, int err_fd, std::string& out, std::string& err);

}  // namespace perfbpf
