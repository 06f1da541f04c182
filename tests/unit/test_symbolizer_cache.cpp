// The symbolizer reads each ELF file once, however many processes map it: system-wide
// sessions see libc through every process's own /proc/PID/root.
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "process.h"
#include "symbols/proc_maps.h"
#include "symbols/symbolizer.h"

using namespace perfbpf;

namespace {

// A fixture /proc without any process: only the kernel's records say what one mapped.
std::string empty_proc() {
  const std::string root = test::temp_path("proc");
  std::filesystem::create_directories(root);
  return root;
}

// The first code mapping the kernel sends for TGID: a workload binary at a fixed address.
CodeMapping first_code_mapping(uint32_t tgid) {
  CodeMapping m;
  m.path = test::workload("resource_target");
  struct stat st {};
  REQUIRE(::stat(m.path.c_str(), &st) == 0);
  m.tgid = tgid;
  m.start = 0x555500000000;
  m.end = m.start + 0x100000;
  m.offset = 0;
  m.dev = st.st_dev;
  m.inode = st.st_ino;
  m.first = true;
  return m;
}

}  // namespace

TEST_CASE("symbolizer: one file mapped by two processes is read once", "[symbols]") {
  test::Spawned a = test::spawn({test::workload("resource_target"), "idle", "3000"});
  test::Spawned b = test::spawn({test::workload("resource_target"), "idle", "3000"});
  test::read_until(a.stdout_fd, "pid=", 2000);  // both past exec and the dynamic loader
  test::read_until(b.stdout_fd, "pid=", 2000);
  Symbolizer symbols;
  std::vector<SymbolizedFrame> frames;
  for (int pid : {a.pid, b.pid}) {
    REQUIRE(symbols.snapshot(static_cast<uint32_t>(pid)));
    for (const MapEntry& m : read_proc_maps("/proc", pid)) {
      if (m.perms.find('x') == std::string::npos || m.path.find("resource_target") == std::string::npos) continue;
      auto f = symbols.user_frames(static_cast<uint32_t>(pid), m.start + 16, true);  // inside the text
      frames.insert(frames.end(), f.begin(), f.end());
      break;
    }
  }
  kill(a.pid, SIGTERM);
  kill(b.pid, SIGTERM);
  test::finish(a);
  test::finish(b);
  REQUIRE(frames.size() >= 2);
  CHECK(frames.front().name == frames.back().name);
  CHECK(symbols.files_loaded() == 1);
}

TEST_CASE("symbolizer: kallsyms text symbols by address, modules and unsorted lines too", "[symbols]") {
  const std::string root = test::temp_path("proc");
  std::filesystem::create_directories(root);
  // As /proc/kallsyms writes it: data symbols ignored, module symbols after a tab, not sorted.
  std::ofstream(root + "/kallsyms") << "ffffffff81000100 T do_syscall_64\n"
                                    << "ffffffff81000000 t entry_SYSCALL_64\n"
                                    << "ffffffff82000000 D jiffies\n"
                                    << "ffffffffc0001000 t nf_hook\t[nf_tables]\n"
                                    << "ffffffff81000200 W weak_one\n";
  Symbolizer symbols(root);
  CHECK(symbols.kernel_frame(0xffffffff81000010).name == "entry_SYSCALL_64");
  CHECK(symbols.kernel_frame(0xffffffff81000150).name == "do_syscall_64");
  CHECK(symbols.kernel_frame(0xffffffff81000300).name == "weak_one");
  CHECK(symbols.kernel_frame(0xffffffffc0001008).name == "nf_hook");
  CHECK(symbols.kernel_frame(0xffffffff82000008).name == "weak_one");  // data is not code: the text before
  const SymbolizedFrame& below = symbols.kernel_frame(0xffffffff80000000);
  CHECK_FALSE(below.resolved);
  CHECK(below.kernel);
}

TEST_CASE("symbolizer: kernel frames named in one streamed pass agree with the whole table", "[symbols]") {
  const std::string root = test::temp_path("proc");
  std::filesystem::create_directories(root);
  // Unsorted, with modules, data symbols, equal addresses, and more lines than one read chunk.
  {
    std::ofstream f(root + "/kallsyms");
    f << "ffffffff81000100 T do_syscall_64\n"
      << "ffffffff81000000 t entry_SYSCALL_64\n"
      << "ffffffff82000000 D jiffies\n"
      << "ffffffffc0001000 t nf_hook\t[nf_tables]\n"
      << "ffffffff81000200 W weak_one\n"
      << "ffffffff81000200 T same_address_later\n";
    for (int i = 0; i < 20000; i++) f << std::hex << 0xffffffff90000000ull + 0x10 * i << " t filler_" << std::dec << i << "\n";
  }
  const std::vector<uint64_t> asked = {0xffffffff81000010, 0xffffffff81000150, 0xffffffff81000300, 0xffffffffc0001008,
                                       0xffffffff82000008, 0xffffffff80000000, 0xffffffff90000015, 0xffffffff9004e1ff,
                                       0xffffffff81000010};
  Symbolizer streamed(root), whole(root);
  streamed.name_kernel_frames(asked);
  for (uint64_t a : asked) {
    const SymbolizedFrame& s = streamed.kernel_frame(a);
    const SymbolizedFrame& w = whole.kernel_frame(a);
    CAPTURE(a);
    CHECK(s.name == w.name);
    CHECK(s.resolved == w.resolved);
    CHECK(s.kernel);
  }
  CHECK(streamed.kernel_frame(0xffffffff90000015).name == "filler_1");
  CHECK(streamed.kernel_frame(0xffffffff81000300).name == "same_address_later");
  CHECK(streamed.kernel_frame(0xffffffff9004e1ff).name == "filler_19999");
}

TEST_CASE("symbolizer: code mappings the kernel sent name a process gone from /proc", "[symbols]") {
  // A fixture /proc without the process: only the kernel's records say what it mapped.
  Symbolizer symbols(empty_proc());
  const CodeMapping m = first_code_mapping(4321);
  struct stat st {};
  REQUIRE(::stat(m.path.c_str(), &st) == 0);
  symbols.add_code_mapping(m);
  REQUIRE(symbols.has_snapshot(4321));
  const std::vector<MapEntry>* maps = symbols.mappings(4321);
  REQUIRE(maps);
  REQUIRE(maps->size() == 1);
  CHECK(!symbols.object_file(4321, maps->front()).empty());  // held: /proc/self/fd/N
  // The same path, but the kernel says another file: never read as this one.
  CodeMapping other = m;
  other.tgid = 4322;
  other.inode = st.st_ino + 1;
  symbols.add_code_mapping(other);
  const MapEntry& o = symbols.mappings(4322)->front();
  CHECK(symbols.object_file(4322, o).empty());
  // A new set replaces the code mappings before it.
  CodeMapping moved = m;
  moved.start += 0x200000;
  moved.end += 0x200000;
  symbols.add_code_mapping(moved);
  REQUIRE(symbols.mappings(4321)->size() == 1);
  CHECK(symbols.mappings(4321)->front().start == moved.start);
}

TEST_CASE("symbolizer: a forked child keeps the mappings of its fork, whichever of the two maps anew", "[symbols]") {
  // Children share their parent's mappings until one side changes them: what each then has
  // must be what it would have had with a copy at the fork.
  Symbolizer symbols(empty_proc());
  const CodeMapping m = first_code_mapping(5000);
  symbols.add_code_mapping(m);
  symbols.inherit(5001, 5000);
  symbols.inherit(5002, 5001);  // a grandchild, forked before its parent was ever looked at
  // The parent maps another library: the children do not see it.
  CodeMapping lib = m;
  lib.start += 0x200000;
  lib.end += 0x200000;
  lib.first = false;
  symbols.add_code_mapping(lib);
  REQUIRE(symbols.mappings(5000)->size() == 2);
  REQUIRE(symbols.mappings(5001)->size() == 1);
  REQUIRE(symbols.mappings(5002)->size() == 1);
  // The child execs: its parent and its own child keep theirs.
  CodeMapping exec = m;
  exec.tgid = 5001;
  exec.start += 0x400000;
  exec.end += 0x400000;
  exec.new_image = true;
  symbols.add_code_mapping(exec);
  REQUIRE(symbols.mappings(5001)->size() == 1);
  CHECK(symbols.mappings(5001)->front().start == exec.start);
  CHECK(symbols.mappings(5002)->front().start == m.start);
  CHECK(symbols.mappings(5000)->size() == 2);
  // Each names through the file held for it.
  CHECK(!symbols.object_file(5002, symbols.mappings(5002)->front()).empty());
  CHECK(symbols.maps_generation(5001) != symbols.maps_generation(5002));
}

TEST_CASE("symbolizer: vDSO frames are named from the kernel's image", "[symbols]") {
  // perfbpf's own vDSO is every 64-bit process's: its clock_gettime must be named.
  Symbolizer symbols;
  const uint32_t self = static_cast<uint32_t>(getpid());
  REQUIRE(symbols.snapshot(self));
  const MapEntry* vdso = nullptr;
  for (const MapEntry& m : *symbols.mappings(self))
    if (m.path == "[vdso]") vdso = &m;
  REQUIRE(vdso);
  bool named = false;
  for (uint64_t a = vdso->start; a < vdso->end && !named; a += 4)
    named = symbols.user_frame(self, a).name.find("clock_gettime") != std::string::npos;
  CHECK(named);
}
