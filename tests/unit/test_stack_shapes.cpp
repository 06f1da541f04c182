// How symbolized stacks are shaped for people: runs of unnamed frames as one [OBJECT+unknown]
// frame, a walk cut short by the stack copy marked [truncated] at its root, identical stacks
// merged, off-CPU reasons as perfbpf's labels (no _[k]). Through a fixture /proc.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "aggregate/stack_profile.h"
#include "process.h"

using namespace perfbpf;

namespace {

constexpr uint32_t kPid = 88;
constexpr uint64_t kMain = 0x10000, kWork = 0x10100, kLib = 0x40000;

struct Fixture {
  std::string root = test::temp_path("proc");
  Symbolizer symbols{root};
  Fixture() {
    std::filesystem::create_directories(root + "/88/root/tmp");
    std::ofstream(root + "/kallsyms") << "ffffffff81000000 T do_syscall_64\n";
    std::ofstream(root + "/88/comm") << "app\n";
    // A stripped library perfbpf cannot read (no such file): its frames have no names.
    std::ofstream(root + "/88/maps") << "00010000-00011000 r-xp 00000000 00:00 0 \n"
                                     << "00040000-00050000 r-xp 00000000 08:01 4242       /usr/lib/libstripped.so.1\n";
    std::ofstream(root + "/88/root/tmp/perf-88.map") << "10000 100 main\n10100 100 work\n";
    REQUIRE(symbols.snapshot(kPid));
  }
};

std::string folded(const StackProfile& p) {
  std::ostringstream out;
  write_folded(p, out);
  return out.str();
}

}  // namespace

TEST_CASE("runs of unnamed frames become one [OBJECT+unknown] frame, a lone one keeps its name", "[stacks]") {
  Fixture f;
  RawStackSample deep{kPid, kPid, {kWork + 4, kLib + 0x10, kLib + 0x220, kLib + 0x3330, kMain + 8}, {}, 5};
  RawStackSample lone{kPid, kPid, {kLib + 0x10, kMain + 8}, {}, 2};
  StackProfile p = build_stack_profile({deep, lone}, f.symbols, 99, false);
  const std::string text = folded(p);
  INFO(text);
  CHECK_THAT(text, Catch::Contains("app;main;[libstripped.so.1+unknown];work 5\n"));
  CHECK_THAT(text, Catch::Contains("app;main;[libstripped.so.1] 2\n"));
}

TEST_CASE("a stack deeper than the copy is marked [truncated] at its root and counted", "[stacks]") {
  Fixture f;
  RawStackSample cut{kPid, kPid, {kWork + 4, kWork + 40}, {}, 3};
  cut.user_truncated = true;
  StackProfile p = build_stack_profile({cut}, f.symbols, 99, false);
  CHECK(p.truncated_samples == 3);
  CHECK(folded(p) == std::string("app;") + kTruncatedFrame + ";work;work 3\n");
}

TEST_CASE("stacks that differ only in addresses merge, and off-CPU reasons carry no kernel tag", "[stacks]") {
  Fixture f;
  // Two addresses inside work, both called from the same place in main.
  RawStackSample a{kPid, kPid, {kWork + 4, kMain + 8}, {0xffffffff81000010ull}, 100};
  RawStackSample b{kPid, kPid, {kWork + 60, kMain + 8}, {0xffffffff81000020ull}, 50};
  a.off_cpu_state = b.off_cpu_state = 0;  // runnable
  StackProfile p = build_stack_profile({a, b}, f.symbols, 0, false);
  REQUIRE(p.stacks.size() == 1);
  CHECK(p.stacks[0].count == 150);
  CHECK(folded(p) == "app;main;work;do_syscall_64_[k];[off-cpu: runnable] 150\n");
}
