// The agent's own memory: how its allocator is set up for a long life of sessions that come
// and go on threads, what is handed back when a period ends, and what it holds then (logged
// each period; bench/agent_memory.py reads the log).
#pragma once

#include <cstdint>
#include <string>

namespace perfbpf {

struct AgentMemory {
  // /proc/self/status, KiB: resident now, of it anonymous and file-backed (the binary's and
  // libraries' pages, BPF maps mapped by a live session), and the period's peak.
  uint64_t rss_kib = 0, anon_kib = 0, file_kib = 0, peak_kib = 0;
  // glibc's mallinfo2, KiB: in use (small blocks in arenas + blocks mapped on their own) and
  // free inside the arenas (what fragmentation keeps).
  uint64_t heap_in_use_kib = 0, heap_free_kib = 0;
};

// Once, before any thread starts (mallopt is process-wide).
void configure_agent_allocator();

// When a period's sessions are gone: hands the freed memory back to the kernel, reads what is
// left, and restarts the peak (VmHWM) so the next reading is the next period's.
AgentMemory end_period_memory();

std::string describe(const AgentMemory& m);  // "rss 22.1 MiB (anon ..., file ...), ..."

}  // namespace perfbpf
