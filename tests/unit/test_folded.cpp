// Folded stacks: what flamegraph.pl, inferno and speedscope read. Parsed back, they must give
// the same totals the profile holds.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "aggregate/stack_profile.h"
#include "report/flamegraph_svg.h"

using namespace perfbpf;

TEST_CASE("folded stacks parse back to the same totals", "[folded]") {
  StackProfile p;
  p.enabled = true;
  p.frames = {{"main", "/bin/app", false, "app.c:1"},
              {"parse(char const*)", "/bin/app", false, "app.c:9"},
              {"do_syscall_64", "[kernel]", true, ""}};
  p.stacks = {{10, 11, {0, 1}, 7}, {10, 12, {0, 1, 2}, 5}, {10, 11, {0}, 3}};
  p.processes = {{10, "app"}};
  p.samples = 15;
  std::ostringstream out;
  FoldedOptions per_thread;
  per_thread.per_thread = true;
  write_folded(p, out, per_thread);

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

TEST_CASE("folded stacks merge threads unless asked per thread, and can carry their kind", "[folded]") {
  StackProfile p;
  p.enabled = true;
  p.frames = {{"main", "/bin/app", false, ""}, {"work", "/bin/app", false, ""}, {"[off-cpu: runnable]", "[off-cpu]", false, ""}};
  // Two threads of one process and a second process of the same name, all in main;work.
  p.stacks = {{10, 11, {0, 1}, 7}, {10, 12, {0, 1}, 5}, {20, 20, {0, 1}, 3}, {10, 11, {0, 1, 2}, 2}};
  p.processes = {{10, "app"}, {20, "app"}};
  std::ostringstream merged;
  write_folded(p, merged);
  CHECK(merged.str() == "app;main;work 15\napp;main;work;[off-cpu: runnable] 2\n");
  std::ostringstream kind;
  FoldedOptions o;
  o.prefix = "off-cpu;";
  write_folded(p, kind, o);
  CHECK(kind.str() == "off-cpu;app;main;work 15\noff-cpu;app;main;work;[off-cpu: runnable] 2\n");
  std::ostringstream threads;
  o = {};
  o.per_thread = true;
  write_folded(p, threads, o);
  CHECK(threads.str() == "app;tid-11;main;work 7\napp;tid-12;main;work 5\napp;tid-20;main;work 3\n"
                         "app;tid-11;main;work;[off-cpu: runnable] 2\n");
}

TEST_CASE("SVG flame graphs are written for XML validation", "[flamegraph]") {
  // tests/check_svg.py parses these with an XML parser; here, what a person would look for.
  StackProfile p;
  p.enabled = true;
  p.frames = {{"main", "/bin/app", false, ""}, {"std::vector<int>::push_back(int&&)", "/bin/app", false, ""},
              {"a & b \"quoted\"", "/bin/app", false, ""}, {"do_syscall_64", "[kernel]", true, ""}};
  p.stacks = {{10, 11, {0, 1}, 70}, {10, 11, {0, 2, 3}, 30}};
  p.processes = {{10, "app"}};
  p.samples = 100;
  std::ostringstream out;
  write_flamegraph_svg(p, "CPU: <app> & more", out);
  const std::string svg = out.str();
  CHECK_THAT(svg, Catch::StartsWith("<?xml"));
  CHECK_THAT(svg, Catch::Contains("std::vector&lt;int&gt;::push_back(int&amp;&amp;) (70 samples, 70.00%)"));
  CHECK_THAT(svg, Catch::Contains("do_syscall_64 [k] (30 samples, 30.00%)"));
  CHECK_THAT(svg, Catch::Contains("all (100 samples, 100.00%)"));
  CHECK_THAT(svg, Catch::Contains("function search(term)"));
  CHECK_FALSE(Catch::Contains("http://", Catch::CaseSensitive::Yes).match(svg.substr(svg.find("<script"))));

  std::filesystem::path dir = std::filesystem::path(PERFBPF_WORKLOADS) / ".." / "svg";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "unit.svg") << svg;
  StackProfile empty;
  empty.enabled = true;
  std::ostringstream none;
  write_flamegraph_svg(empty, "nothing", none);
  std::ofstream(dir / "empty.svg") << none.str();
}
