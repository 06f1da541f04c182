// IFUNC symbols resolve to the implementation the target runs, checked against the target's
// own view of its function pointers (ifunc_target prints them); and scripts as commands.
// No privilege needed: the targets are this process and its children.
#include <dlfcn.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "perfbpf/error.h"
#include "process.h"
#include "symbols/target_resolver.h"

using namespace perfbpf;

namespace {

std::string fixture(const std::string& name) { return test::workload("symbols/" + name); }

// A child stopped at "ready" with its IFUNCs bound; it exits when the guard goes.
struct WaitingTarget {
  test::Spawned p;
  std::map<std::string, uint64_t> at;
  explicit WaitingTarget(std::vector<std::string> prefix) {
    prefix.insert(prefix.end(), {fixture("ifunc_target"), "wait", "1"});
    p = test::spawn(prefix);
    std::string out = test::read_until(p.stdout_fd, "ready", 10000);
    REQUIRE(out.find("ready") != std::string::npos);
    at = test::code_addresses(out);
  }
  ~WaitingTarget() { test::finish(p); }  // closing stdin ends its wait
};

ProbeTarget resolve_one(const std::string& spec, const ResolveContext& ctx) {
  std::vector<ProbeTarget> t = resolve_targets({parse_function_spec(spec)}, ctx);
  REQUIRE(t.size() == 1);
  return t[0];
}

std::string libc_path() {
  Dl_info info{};
  REQUIRE(dladdr(reinterpret_cast<void*>(&std::strlen), &info));
  return info.dli_fname;
}

}  // namespace

TEST_CASE("IFUNC: the implementation a running target bound, read from its memory", "[resolver][ifunc]") {
  WaitingTarget target({});
  ResolveContext ctx;
  ctx.pid = target.p.pid;
  ctx.executable = "/proc/" + std::to_string(ctx.pid) + "/exe";
  for (const char* name : {"strlen", "strcmp"}) {
    INFO(name);
    ProbeTarget t = resolve_one(std::string("libc:") + name, ctx);
    CHECK(t.function.name == name);
    CHECK(t.implementation_source == "target");
    CHECK(t.function.address == target.at.at(name));
    CHECK(t.implementation != name);
    CHECK_FALSE(t.implementation.empty());
    CHECK_FALSE(t.function.ifunc);
  }
  // memcpy has two versions; the default one is what programs linked today call.
  ProbeTarget memcpy_t = resolve_one("libc:memcpy@@GLIBC_2.14", ctx);
  CHECK(memcpy_t.function.address == target.at.at("memcpy"));
  CHECK(memcpy_t.function.version == "GLIBC_2.14");
  // The test library's own IFUNC, picked by its own resolver.
  ProbeTarget own = resolve_one("libifunc_lib:ifunc_scale", ctx);
  CHECK(own.function.address == target.at.at("ifunc_scale"));
  CHECK((own.implementation == "scale_avx2" || own.implementation == "scale_generic"));
  CHECK(own.function.size > 0);
}

TEST_CASE("IFUNC: a target whose tunables pick another implementation than perfbpf's", "[resolver][ifunc]") {
  // Masking AVX-512 and AVX2 in the target alone: its strlen is not the one this process runs.
  WaitingTarget target({"/usr/bin/env", "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX2"});
  Dl_info ours{};
  REQUIRE(dladdr(reinterpret_cast<void*>(&std::strlen), &ours));
  const uint64_t our_strlen = reinterpret_cast<uint64_t>(&std::strlen) - reinterpret_cast<uint64_t>(ours.dli_fbase);
  ResolveContext ctx;
  ctx.pid = target.p.pid;
  ctx.executable = "/proc/" + std::to_string(ctx.pid) + "/exe";
  ProbeTarget t = resolve_one("libc:strlen", ctx);
  CHECK(t.implementation_source == "target");
  CHECK(t.function.address == target.at.at("strlen"));
  INFO("this CPU leaves glibc one strlen whatever the tunables: the check below is then vacuous");
  CHECK((our_strlen != target.at.at("strlen") || std::getenv("GLIBC_TUNABLES") != nullptr));

  // strstr is an IFUNC nothing in the target has bound (libc has no IRELATIVE slot for it, the
  // target does not import it): perfbpf's own choice would be a guess, so it refuses and says why.
  try {
    resolve_targets({parse_function_spec("libc:strstr")}, ctx);
    FAIL("an unbound IFUNC was resolved under other tunables");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("strstr") && Catch::Contains("IFUNC") && Catch::Contains("GLIBC_TUNABLES"));
  }
}

TEST_CASE("IFUNC: before the command runs, perfbpf's own loader for the same file", "[resolver][ifunc]") {
  ResolveContext ctx;
  ctx.executable = fixture("ifunc_target");
  ctx.libraries = loader_dependencies(ctx.executable);
  ProbeTarget t = resolve_one("libc:strlen", ctx);
  CHECK(t.implementation_source == "perfbpf");
  test::Finished run = test::run({fixture("ifunc_target"), "calls", "1"});
  REQUIRE(run.exit_code == 0);
  CHECK(t.function.address == test::code_addresses(run.out).at("strlen"));
  CHECK(std::filesystem::equivalent(t.object, libc_path()));

  SECTION("a library perfbpf does not load: refused, with the way out") {
    try {
      resolve_targets({parse_function_spec("libifunc_lib:ifunc_scale")}, ctx);
      FAIL("resolved an IFUNC no one has run");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("ifunc_scale") && Catch::Contains("IFUNC") &&
                               Catch::Contains("does not load"));
      CHECK_THAT(e.hint(), Catch::Contains("--pid") && Catch::Contains("implementation"));
    }
    // Through a glob that matches nothing else the same; with others, it is left out with a note.
    CHECK_THROWS_WITH(resolve_targets({parse_function_spec("libifunc_lib:ifunc_*")}, ctx), Catch::Contains("IFUNC"));
  }
  SECTION("two names bound to one implementation: one row, and a note says so") {
    std::vector<std::string> notes;
    std::vector<ProbeTarget> both =
        resolve_targets({parse_function_spec("libc:memcpy@@GLIBC_2.14"), parse_function_spec("libc:memmove")}, ctx, &notes);
    if (both.size() == 1) {  // x86-64 glibc: memcpy and memmove share their implementations
      REQUIRE(notes.size() == 1);
      CHECK_THAT(notes[0], Catch::Contains("memmove runs the same code as memcpy"));
    }
  }
}

TEST_CASE("a script as the command: its interpreter's libraries, an explicit ELF accepted", "[resolver]") {
  const std::string dir = std::filesystem::path(test::temp_path("x")).parent_path();
  const std::string script = dir + "/run.sh";
  std::ofstream(script) << "#!/bin/sh -e\nexec \"$@\"\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  CHECK(script_interpreter(script) == "/bin/sh");
  CHECK(script_interpreter(fixture("sym_pie")).empty());
  std::ofstream(dir + "/env.py") << "#!/usr/bin/env -S sh -x\n";
  CHECK(std::filesystem::path(script_interpreter(dir + "/env.py")).filename() == "sh");

  ResolveContext ctx;
  ctx.executable = script;
  ctx.libraries = loader_dependencies(script);
  CHECK(ctx.libraries == loader_dependencies("/bin/sh"));
  // OBJECT names the ELF: accepted whatever the command is.
  ProbeTarget t = resolve_one(fixture("sym_pie") + ":alpha", ctx);
  CHECK(t.function.name == "alpha");
  // A library of the interpreter's.
  CHECK(resolve_targets({parse_function_spec("libc:getenv")}, ctx).size() == 1);
  // No OBJECT: the script itself has no functions; the error says what it is and what to name.
  try {
    resolve_targets({parse_function_spec("alpha")}, ctx);
    FAIL("resolved a function in a script");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("is a script") && Catch::Contains("/bin/sh"));
    CHECK_THAT(e.hint(), Catch::Contains("-f /bin/sh:FUNC"));
  }
}
