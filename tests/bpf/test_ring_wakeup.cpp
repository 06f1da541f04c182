// The funclat ring's wake-up rule, driven from inside this process: a function of ours is probed
// and called in a hot loop while a reader thread lags (busy elsewhere between reads) or sleeps on
// the ring. Truths: the programs' own count of forced wake-ups (a BPF-side counter), the kernel's
// irq_work interrupt count (/proc/interrupts IWI: a forced wake-up is one), every call counted
// either received or lost for want of room, and the reader's own wake-ups. And the sampler's
// ring: a fork's record waits for the reader's next drain instead of waking it.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <linux/types.h>

#include "collect/cpu_sampler.h"
#include "process.h"
#include "funclat.h"
#include "session/funclat_session.h"
#include "session/self_probe.h"

extern "C" uint64_t perfbpf_calib_optimized(uint64_t);

using namespace perfbpf;

namespace {

volatile uint64_t g_sink;

constexpr uint64_t kRecordBytes = sizeof(funclat_event) + 8;  // the ring's header: 8 bytes

// Interrupts of the kernel's irq_work, all CPUs (the IWI row).
uint64_t irq_work_interrupts() {
  std::ifstream in("/proc/interrupts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string name;
    row >> name;
    if (name != "IWI:") continue;
    uint64_t total = 0, n = 0;
    while (row >> n) total += n;
    return total;
  }
  return 0;
}

unsigned cpus() { return static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN))); }

struct Probed {
  std::atomic<uint64_t> received{0};
  FuncLatSession bpf;
  explicit Probed(const PlannedProbe& target)
      : bpf(settings(target), [this](const CallRecord&) { received.fetch_add(1, std::memory_order_relaxed); }) {
    bpf.add_target_tgid(static_cast<uint32_t>(getpid()));
    bpf.attach({target}, getpid());
  }
  static FuncLatSettings settings(const PlannedProbe& target) {
    FuncLatSettings s;
    s.max_threads = 64;
    s.needs = funclat_needs({target});
    return s;
  }
  uint64_t ring_full() const { return bpf.losses()[FUNCLAT_LOSS_RINGBUF_FULL]; }
  // The most forced wake-ups BYTES of records may cost: one per mark crossed, and one per CPU
  // submitting at once when the crossing is seen by more than one.
  uint64_t wakeup_bound(uint64_t bytes) const {
    return (bytes + bpf.wakeup_bytes() - 1) / bpf.wakeup_bytes() + cpus();
  }
};

PlannedProbe own_target() {
  return plan_own_function(reinterpret_cast<uintptr_t>(&perfbpf_calib_optimized), "perfbpf_calib_optimized", 16,
                           ProbeMethod::Uretprobe);
}

void call_n(uint64_t n) {
  for (uint64_t i = 0; i < n; i++) g_sink = g_sink + perfbpf_calib_optimized(i);
}

void pin_to(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % cpus(), &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

}  // namespace

TEST_CASE("a lagging reader: calls past the ring's wake-up mark do not each force a wake-up", "[bpf]") {
  const PlannedProbe target = own_target();
  Probed p(target);
  call_n(100);  // the kernel optimizes the NOP site after its first hits
  // The reader is busy for 20 ms after each read: the ring passes its mark in ~1 ms of calls.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    pollfd fd{p.bpf.epoll_fd(), POLLIN, 0};
    while (!stop.load()) {
      poll(&fd, 1, 100);
      p.bpf.consume();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  constexpr uint64_t kCalls = 200'000;
  const uint64_t forced0 = p.bpf.forced_wakeups(), iwi0 = irq_work_interrupts();
  const auto t0 = std::chrono::steady_clock::now();
  call_n(kCalls);
  const auto t1 = std::chrono::steady_clock::now();
  const uint64_t forced = p.bpf.forced_wakeups() - forced0, iwi = irq_work_interrupts() - iwi0;
  stop = true;
  reader.join();
  p.bpf.detach_and_drain();

  const uint64_t calls = kCalls + 100;
  const double ns_per_call = std::chrono::duration<double, std::nano>(t1 - t0).count() / kCalls;
  const uint64_t bytes = p.received.load() * kRecordBytes;
  std::fprintf(stderr,
               "ring wake-up, lagging reader: %llu calls, %.0f ns each, %llu records received, %llu lost (ring "
               "full), %llu forced wake-ups (bound %llu), %llu irq_work interrupts\n",
               (unsigned long long)kCalls, ns_per_call, (unsigned long long)p.received.load(),
               (unsigned long long)p.ring_full(), (unsigned long long)forced,
               (unsigned long long)p.wakeup_bound(bytes), (unsigned long long)iwi);
  // Every call is either received or counted lost for want of room.
  CHECK(p.received.load() + p.ring_full() == calls);
  CHECK(forced <= p.wakeup_bound(bytes));
}

TEST_CASE("no lost wake-up: a reader asleep on the ring is woken by two marks queued from all CPUs at once",
          "[bpf]") {
  const PlannedProbe target = own_target();
  Probed p(target);
  call_n(100);
  while (p.bpf.consume() > 0) {
  }
  // The reader sleeps on the ring with a 30 s timeout, reads everything, sleeps again.
  const int stop_fd = eventfd(0, EFD_CLOEXEC);
  REQUIRE(stop_fd >= 0);
  std::atomic<uint64_t> timeouts{0};
  std::thread reader([&] {
    pollfd fds[2] = {{p.bpf.epoll_fd(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    for (;;) {
      int n = poll(fds, 2, 30'000);
      if (n == 0) timeouts++;
      if (fds[1].revents) return;
      p.bpf.consume();
    }
  });
  const unsigned producers = std::max(2u, cpus());
  const uint64_t mark = p.bpf.wakeup_bytes();
  // Two marks' worth per round: whatever interleaving of the submitters, one record must wake.
  const uint64_t per_round = 2 * mark / kRecordBytes + 1;
  constexpr int kRounds = 30;
  uint64_t issued = 100;
  const uint64_t forced0 = p.bpf.forced_wakeups();
  for (int round = 0; round < kRounds; round++) {
    std::atomic<uint64_t> budget{0};
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < producers; c++)
      threads.emplace_back([&, c] {
        pin_to(c);
        while (budget.fetch_add(1) < per_round) g_sink = g_sink + perfbpf_calib_optimized(c);
      });
    for (auto& t : threads) t.join();
    issued += per_round;
    // Queued now at most two marks; left there only if no submitter forced a wake-up. Waited
    // for as an event: 10 s is far beyond a wake-up's latency, far below the reader's timeout.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((issued - p.received.load() - p.ring_full()) * kRecordBytes >= mark + producers * kRecordBytes &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    INFO("round " << round << ": " << issued - p.received.load() << " records still queued");
    REQUIRE((issued - p.received.load() - p.ring_full()) * kRecordBytes < mark + producers * kRecordBytes);
  }
  const uint64_t forced = p.bpf.forced_wakeups() - forced0;
  uint64_t one = 1;
  REQUIRE(write(stop_fd, &one, sizeof(one)) == sizeof(one));
  reader.join();
  close(stop_fd);
  p.bpf.detach_and_drain();
  CHECK(timeouts.load() == 0);
  CHECK(p.received.load() + p.ring_full() == issued);
  CHECK(p.ring_full() == 0);  // two marks of eight never fill the ring
  CHECK(forced <= p.wakeup_bound(issued * kRecordBytes));
}

TEST_CASE("sampler ring: a fork's record wakes no reader, the next drain takes it", "[bpf]") {
  // A fork-heavy machine woke an --off-cpu --system session per fork for records only copied
  // into the symbolizer's books. Truth: the forks a shell makes when told (subshells: forks
  // without exec), and the reader thread's epoll_wait, which returns early only if woken.
  // (The sampler never follows its own process: the forker is a child.)
  test::Spawned shell = test::spawn({"/bin/sh", "-c",
                                     "read a; ( : ); read b; i=0; while [ $i -lt 20 ]; do ( : ); i=$((i+1)); done; read c"});
  const uint32_t forker = static_cast<uint32_t>(shell.pid);
  SamplerSettings settings;
  settings.frequency_hz = 0;
  settings.filter_tgid = true;
  std::atomic<uint64_t> forks_seen{0};
  settings.fork = [&](uint32_t, uint32_t parent) { forks_seen += parent == forker; };
  settings.code_mapping = [](const CodeMapping&) {};
  CpuSampler sampler(settings);
  sampler.add_target_tgid(forker);
  sampler.start();
  auto tell = [&](const char* line) { REQUIRE(write(shell.stdin_fd, line, 2) == 2); };
  // The first fork also sends the shell's code mappings (never sent before), whose wake-up is
  // meant to come: drained before the reader sleeps.
  tell("1\n");
  REQUIRE(test::eventually([&] {
    sampler.consume();
    return forks_seen.load() == 1;
  }));

  constexpr int kForks = 20, kWaitMs = 1500;
  std::atomic<int> woken{-1};
  const auto asleep = std::chrono::steady_clock::now();
  std::thread reader([&] {
    epoll_event ev{};
    woken = epoll_wait(sampler.epoll_fd(), &ev, 1, kWaitMs);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // asleep on the ring by then
  tell("2\n");
  // Every fork made while the reader sleeps: their records are queued (the ring's data, read
  // without consuming it, is what epoll reports once the wait is over).
  reader.join();
  const auto slept = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asleep);
  INFO("the reader slept " << slept.count() << " ms");
  CHECK(woken.load() == 0);  // timed out: no record woke it
  REQUIRE(test::eventually([&] {
    sampler.consume();
    return forks_seen.load() == 1 + kForks;  // every fork's record, at the next drain
  }));
  tell("3\n");
  CHECK(test::finish(shell).exit_code == 0);
}
