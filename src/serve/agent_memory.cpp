#include "serve/agent_memory.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace perfbpf {

void configure_agent_allocator() {
  // Two malloc arenas rather than glibc's eight per CPU: sessions run on threads that come and
  // go each period, and freed memory scattered over many arenas never shrinks as a whole.
  mallopt(M_ARENA_MAX, 2);
  // A fixed mmap threshold (glibc's default, 128 KiB) turns off its dynamic raising: after the
  // first period freed its big blocks glibc would carve later periods' (BTF, report text,
  // stack tables) out of the arenas, which then grew and fragmented, RSS stepping up ~15 MiB
  // and staying. Mapped, they go back whole when freed.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

AgentMemory end_period_memory() {
  // Every session of the period is gone: what the arenas keep free goes back to the kernel
  // (malloc_trim also returns whole free pages inside them, not just their tops).
  malloc_trim(0);
  AgentMemory m;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (!(fields >> key >> kib)) continue;
    if (key == "VmRSS:") m.rss_kib = kib;
    else if (key == "RssAnon:") m.anon_kib = kib;
    else if (key == "RssFile:") m.file_kib = kib;
    else if (key == "VmHWM:") m.peak_kib = kib;
  }
  const struct mallinfo2 mi = mallinfo2();
  m.heap_in_use_kib = (mi.uordblks + mi.hblkhd) / 1024;
  m.heap_free_kib = mi.fordblks / 1024;
  // "5" resets the peak resident set size (Linux 4.0): the next period's peak is its own.
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, "5", 1) != 1) {
      // Then VmHWM stays the agent's lifetime peak; the log says "peak" either way.
    }
    close(fd);
  }
  return m;
}

std::string describe(const AgentMemory& m) {
  auto mib = [](uint64_t kib) { return static_cast<double>(kib) / 1024; };
  return fmt::format("rss {:.1f} MiB (anon {:.1f}, file {:.1f}), peak during the period {:.1f} MiB, heap in use {:.1f} MiB, "
                     "free in the heap {:.1f} MiB",
                     mib(m.rss_kib), mib(m.anon_kib), mib(m.file_kib), mib(m.peak_kib), mib(m.heap_in_use_kib),
                     mib(m.heap_free_kib));
}

}  // namespace perfbpf
