// Folded stacks: what flamegraph.pl, inferno and speedscope read. Parsed back, they must give
// the same totals the profile holds.
#include <catch2/catch.hpp>

#include <map>
#include <sstream>

#include "aggregate/stack_profile.h"

using namespace perfbpf;

TEST_CASE("folded stacks parse back to the same totals", "[folded]") {
  StackProfile p;
  p.enabled = true;
  p.frames = {{"main", "/bin/app", false}, {"parse(char const*)", "/bin/app", false}, {"do_syscall_64", "[kernel]", true}};
  p.stacks = {{10, 11, {0, 1}, 7}, {10, 12, {0, 1, 2}, 5}, {10, 11, {0}, 3}};
  p.processes = {{10, "app"}};
  p.samples = 15;
  std::ostringstream out;
  write_folded(p, out);

  std::map<std::string, uint64_t> per_leaf;
  uint64_t total = 0;
  std::istringstream in(out.str());
  std::string line;
  size_t lines = 0;
  while (std::getline(in, line)) {
    lines++;
    size_t space = line.rfind(' ');  // names may contain spaces; the count follows the last one
    REQUIRE(space != std::string::npos);
    uint64_t count = std::stoull(line.substr(space + 1));
    std::string stack = line.substr(0, space);
    CHECK(stack.rfind("app;tid-", 0) == 0);
    per_leaf[stack.substr(stack.rfind(';') + 1)] += count;
    total += count;
  }
  CHECK(lines == 3);
  CHECK(total == p.samples);
  CHECK(per_leaf["parse(char const*)"] == 7);
  CHECK(per_leaf["do_syscall_64_[k]"] == 5);
  CHECK(per_leaf["main"] == 3);
  CHECK_THAT(out.str(), Catch::Contains("app;tid-12;main;parse(char const*);do_syscall_64_[k] 5\n"));
}
