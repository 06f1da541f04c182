// libcapstone is mapped only while a Disassembler scope lives (the probe plan holds one), as
// /proc/self/maps shows: a session that does not plan probes never maps its ~4.7 MiB.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "symbols/disassembler.h"
#include "symbols/function_code.h"

using namespace perfbpf;

namespace {

bool capstone_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("libcapstone") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("libcapstone is mapped only while a Disassembler scope lives, nested scopes sharing one load") {
  REQUIRE_FALSE(capstone_mapped());
  {
    Disassembler outer;
    REQUIRE(outer);
    CHECK(capstone_mapped());
    {
      Disassembler inner;
      CHECK(inner.handle() == outer.handle());
    }
    CHECK(capstone_mapped());  // the inner scope's end leaves the outer's load
    const std::vector<uint8_t> ret = {0xc3};
    CHECK(analyze_function(ret.data(), ret.size(), 0x1000, {}).exits.size() == 1);
  }
  CHECK_FALSE(capstone_mapped());
  // Without a scope of the caller's, a call loads and unloads it for itself.
  const std::vector<uint8_t> lock_add = {0xf0, 0x48, 0x01, 0x07};  // lock add %rax,(%rdi)
  CHECK(uprobe_refusal(lock_add.data(), lock_add.size()).find("LOCK") != std::string::npos);
  CHECK_FALSE(capstone_mapped());
}
