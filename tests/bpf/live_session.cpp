#include "live_session.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

namespace perfbpf::test {

Profile run_while(SessionOptions o, const std::function<void()>& drive) {
  const int stop = eventfd(0, EFD_CLOEXEC);
  REQUIRE(stop >= 0);
  o.handle_signals = false;
  o.duration_s = 600;  // ended through stop_fd
  o.stop_fd = stop;
  std::thread driver([&] {
    drive();
    std::this_thread::sleep_for(std::chrono::duration<double>(2.2 * o.interval_s));
    const uint64_t one = 1;
    if (write(stop, &one, sizeof(one)) != sizeof(one)) std::abort();  // no Catch assertion off its thread
  });
  Profile p;
  std::string failed;
  try {
    p = run_session(o);
  } catch (const std::exception& e) {
    failed = e.what();
  }
  driver.join();
  close(stop);
  REQUIRE(failed == "");
  return p;
}

std::vector<std::map<std::string, std::string>> key_values(const std::string& text) {
  std::vector<std::map<std::string, std::string>> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::map<std::string, std::string> kv;
    std::istringstream words(line);
    for (std::string w; words >> w;)
      if (auto eq = w.find('='); eq != std::string::npos) kv[w.substr(0, eq)] = w.substr(eq + 1);
    if (!kv.empty()) lines.push_back(std::move(kv));
  }
  return lines;
}

void send(const Spawned& p, const std::string& line) {
  REQUIRE(write(p.stdin_fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
}

const ProcessResources* row_of(const Profile& p, uint32_t pid) {
  for (const auto& proc : p.system.processes)
    if (proc.pid == pid) return &proc;
  return nullptr;
}

}  // namespace perfbpf::test
