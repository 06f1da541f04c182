// Kernel addresses named by the kernel's own lookup (collect/kernel_symbol_names, a BPF
// program printing %ps) against /proc/kallsyms, read here by the test itself: the same names.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "collect/kernel_symbol_names.h"

using namespace perfbpf;

TEST_CASE("kernel symbol names: the kernel's lookup agrees with /proc/kallsyms", "[bpf][symbols]") {
  // Text symbols of the core kernel and of modules, by address; an address with two names
  // (aliases) is left out, either name would be right.
  std::map<uint64_t, std::vector<std::string>> by_address;
  std::ifstream in("/proc/kallsyms");
  REQUIRE(in.good());
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string address, type, name;
    f >> address >> type >> name;
    if (type != "t" && type != "T") continue;
    by_address[std::stoull(address, nullptr, 16)].push_back(name);
  }
  REQUIRE(by_address.size() > 10000);
  REQUIRE(by_address.begin()->first != 0);  // addresses shown: root, kptr_restrict not hiding them
  std::vector<uint64_t> asked;
  std::map<uint64_t, std::string> truth;
  size_t i = 0;
  for (auto it = by_address.begin(); it != by_address.end(); ++it, ++i) {
    auto next = std::next(it);
    // Every 50th function, one byte in: inside it whatever its size (the next one is further).
    if (i % 50 || it->second.size() != 1 || next == by_address.end() || next->first <= it->first + 1) continue;
    asked.push_back(it->first + 1);
    truth[it->first + 1] = it->second.front();
  }
  REQUIRE(asked.size() > 1500);  // more than one batch of the program (KSYM_BATCH 1024)
  auto names = kernel_symbol_names(asked);
  REQUIRE(names.has_value());
  size_t same = 0;
  for (uint64_t a : asked) {
    auto it = names->find(a);
    if (it != names->end() && it->second == truth[a]) same++;
    else UNSCOPED_INFO(std::hex << a << std::dec << ": kallsyms " << truth[a] << ", lookup "
                                << (it == names->end() ? std::string("none") : it->second));
  }
  // Exact: the kernel's table is the file's source. (A symbol the lookup skips, e.g. a
  // zero-sized one, would show above.)
  CHECK(same == asked.size());
  CHECK(kernel_symbol_names({})->empty());
}
