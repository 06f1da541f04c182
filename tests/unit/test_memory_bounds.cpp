// Memory that perfbpf's long sessions and the agent hold: bounded by construction, checked
// against the process's own accounting (/proc/self/status VmHWM, glibc's mallinfo2, open fds).
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.h"
#include "symbols/elf_symbols.h"
#include "symbols/stack_unwinder.h"
#include "symbols/symbolizer.h"

using namespace perfbpf;
namespace fs = std::filesystem;

namespace {

uint64_t status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  return 0;
}

bool reset_peak_rss() {
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && write(fd, "5", 1) == 1;
  if (fd >= 0) close(fd);
  return ok;
}

size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) n++;
  return n;
}

// This thread's registers and the top of its stack, as the BPF program copies them for a
// sample (bpf/profile.h), with backtrace()'s return addresses from the same frame as the truth.
struct OwnStack {
  UserRegs regs{};
  std::vector<uint8_t> stack;
  uint64_t start = 0;
  std::vector<uint64_t> truth;  // return addresses above this frame, innermost first
};

__attribute__((noinline)) void capture(OwnStack& s) {
  ucontext_t uc;
  getcontext(&uc);
  const greg_t* g = uc.uc_mcontext.gregs;
  // x86-64 DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip.
  const int order[UserRegs::kCount] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
                                       REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
  for (int i = 0; i < UserRegs::kCount; i++) s.regs.r[i] = static_cast<uint64_t>(g[order[i]]);
  void* frames[16];
  int n = backtrace(frames, 16);
  for (int i = 1; i < n; i++) s.truth.push_back(reinterpret_cast<uint64_t>(frames[i]));
  // Up to 32 KiB of the stack from sp up, within its mapping: the callers' frames.
  s.start = s.regs.r[7];
  uint64_t top = s.start;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uint64_t lo = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    uint64_t hi = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
    if (lo <= s.start && s.start < hi) top = hi;
  }
  s.stack.resize(std::min<uint64_t>(32768, top - s.start));
  std::memcpy(s.stack.data(), reinterpret_cast<const void*>(s.start), s.stack.size());
}

StackCopy copy_for(const OwnStack& s, pid_t as) {
  StackCopy c;
  c.tgid = c.tid = static_cast<uint32_t>(as);
  c.regs = &s.regs;
  c.stack = s.stack.data();
  c.size = s.stack.size();
  c.start = s.start;
  c.cut = true;
  return c;
}

// Forked children: the same mappings as this process, so this thread's stack unwinds in each
// one's Dwfl as in its own.
struct Children {
  std::vector<pid_t> pids;
  explicit Children(int n) {
    for (int i = 0; i < n; i++) {
      pid_t pid = fork();
      if (pid == 0) {
        pause();
        _exit(0);
      }
      REQUIRE(pid > 0);
      pids.push_back(pid);
    }
  }
  ~Children() {
    for (pid_t pid : pids) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace

TEST_CASE("a big executable's symbols are read without reading the whole file", "[symbols][memory]") {
  // The truth: the workload itself, and a copy grown by 96 MiB (sparse: a hole reads as zeros);
  // before, elf_rawfile() for its PT_INTERP read all of it into memory.
  const std::string original = test::workload("serve_target");
  const fs::path dir = fs::temp_directory_path() / ("perfbpf-memory-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path big = dir / "serve_target";
  fs::copy_file(original, big, fs::copy_options::overwrite_existing);
  const uint64_t grown = fs::file_size(big) + (96u << 20);
  REQUIRE(truncate(big.c_str(), static_cast<off_t>(grown)) == 0);

  const ElfSymbols small = ElfSymbols::load(original);
  REQUIRE(reset_peak_rss());
  const uint64_t before_kib = status_kib("VmRSS");
  const ElfSymbols loaded = ElfSymbols::load(big.string());
  const uint64_t peak_growth_kib = status_kib("VmHWM") - before_kib;
  fs::remove_all(dir);
  INFO("peak RSS grew " << peak_growth_kib << " KiB reading the symbols of a " << (grown >> 10) << " KiB file");
  CHECK(peak_growth_kib < 16 * 1024);
  CHECK(loaded.interpreter() == small.interpreter());
  CHECK(loaded.interpreter().find("ld-linux") != std::string::npos);
  CHECK(loaded.functions().size() == small.functions().size());
}

TEST_CASE("the unwinder keeps at most its limits of processes and files, and frees all with itself",
          "[unwind][memory]") {
  OwnStack own;
  capture(own);
  REQUIRE(own.truth.size() >= 3);
  Children children(6);

  // One round first: what libelf and libdw allocate once per process life is not the cache's.
  {
    Symbolizer symbols;
    StackUnwinder unwinder(symbols);
    unwinder.unwind(copy_for(own, children.pids[0]));
  }
  malloc_trim(0);
  const size_t heap_before = heap_in_use();
  const size_t fds_before = open_fds();

  size_t modules_one = 0;
  {
    Symbolizer symbols;
    UnwinderLimits limits;
    limits.max_processes = 3;
    StackUnwinder unwinder(symbols, 127, limits);
    for (size_t i = 0; i < children.pids.size(); i++) {
      UnwoundStack u = unwinder.unwind(copy_for(own, children.pids[i]));
      // The walk agrees with backtrace() above this frame (the truth from the same stack).
      REQUIRE(u.frames.size() > own.truth.size() / 2);
      for (size_t k = 1; k < own.truth.size() && k < u.frames.size(); k++) CHECK(u.frames[k] == own.truth[k - 1]);
      const StackUnwinder::Stats st = unwinder.stats();
      CHECK(st.processes_cached <= limits.max_processes);
      if (i == 0) modules_one = st.modules_open;
    }
    const StackUnwinder::Stats st = unwinder.stats();
    CHECK(st.processes_cached == limits.max_processes);
    CHECK(st.evicted == children.pids.size() - limits.max_processes);
    CHECK(st.debug_files == 0);  // Debian's debug files carry no .debug_frame: none is loaded
    REQUIRE(modules_one > 0);
  }
  {
    // Files: a bound of two processes' modules keeps two, whatever the process count allows.
    Symbolizer symbols;
    UnwinderLimits limits;
    limits.max_modules = 2 * modules_one;
    StackUnwinder unwinder(symbols, 127, limits);
    for (pid_t pid : children.pids) {
      unwinder.unwind(copy_for(own, pid));
      CHECK(unwinder.stats().modules_open <= limits.max_modules);
    }
    CHECK(unwinder.stats().processes_cached == 2);
    CHECK(open_fds() > fds_before);  // libdwfl holds the modules' files while they are cached
  }
  // Gone with the unwinder: its Dwfls, their files and what libdw allocated for them.
  malloc_trim(0);
  CHECK(open_fds() == fds_before);
  const size_t heap_after = heap_in_use();
  INFO("heap in use " << heap_before << " bytes before, " << heap_after << " after");
  CHECK(heap_after <= heap_before + 64 * 1024);
}

TEST_CASE("processes that map the same binaries share one mapping of each in the unwinder", "[unwind][memory]") {
  // A fork-heavy machine has hundreds of processes mapping the same few files: one mapping of
  // each file per process's Dwfl made perfbpf's RSS count the same CFI pages again per process
  // (23.5 of 43 MiB of a --system session beside stress-ng --fork).
  OwnStack own;
  capture(own);
  Children children(6);
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  auto mappings_of_exe = [&exe] {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    size_t n = 0;
    while (std::getline(maps, line))
      if (line.size() >= exe.size() && line.compare(line.size() - exe.size(), exe.size(), exe) == 0) n++;
    return n;
  };
  {
    // One round first: the host's own ELF, which libdwfl takes the architecture from, stays
    // mapped for the process's life.
    Symbolizer symbols;
    StackUnwinder unwinder(symbols);
    unwinder.unwind(copy_for(own, children.pids[0]));
  }
  const size_t before = mappings_of_exe();
  {
    Symbolizer symbols;
    StackUnwinder unwinder(symbols);
    for (pid_t pid : children.pids) {
      UnwoundStack u = unwinder.unwind(copy_for(own, pid));
      // Each child's walk is still right (the truth from the same stack, as above).
      REQUIRE(u.frames.size() > own.truth.size() / 2);
      for (size_t k = 1; k < own.truth.size() && k < u.frames.size(); k++) CHECK(u.frames[k] == own.truth[k - 1]);
    }
    CHECK(unwinder.stats().processes_cached == children.pids.size());
    CHECK(mappings_of_exe() == before + 1);  // was before + 6: one per process
  }
  CHECK(mappings_of_exe() == before);  // unmapped with the unwinder
}

TEST_CASE("a walk that reaches the top of the address space stops there and reads no wild memory", "[unwind]") {
  // A broken walk's CFA can be anything: with sp a few bytes under 2^64, a frame's return
  // address lies where "addr + 8" wraps to a small number. It must read as outside the copy
  // (before, the bounds check wrapped too and the read went wild: the agent died of SIGSEGV).
  OwnStack own;
  capture(own);
  Symbolizer symbols;
  StackUnwinder unwinder(symbols);
  OwnStack wild = own;
  wild.start = uint64_t{1} << 40;  // every address near 2^64 is above the copy, and the copy far from there
  size_t walks = 0;
  for (uint64_t below = 1; below <= 4096; below++) {
    wild.regs.r[7] = ~uint64_t{0} - below + 1;
    StackCopy c = copy_for(wild, getpid());
    UnwoundStack u = unwinder.unwind(c);
    CHECK(!u.frames.empty());
    CHECK(u.frames.size() <= 2);  // the sampled pc, and a frame whose return address could not be read
    walks++;
  }
  CHECK(walks == 4096);
}
