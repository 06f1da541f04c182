// From `-f [OBJECT:]PATTERN` to probe targets, without a live process: the proc root and the
// dependency list are inputs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "perfbpf/error.h"
#include "process.h"
#include "symbols/target_resolver.h"

using namespace perfbpf;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return test::workload("symbols/" + name); }

std::vector<std::string> function_names(const std::vector<ProbeTarget>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) out.push_back(t.function.name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("spec parsing keeps C++ scopes out of the object", "[resolver]") {
  auto check = [](const std::string& text, const std::string& object, const std::string& pattern) {
    FunctionSpec s = parse_function_spec(text);
    INFO(text);
    CHECK(s.object == object);
    CHECK(s.pattern == pattern);
    CHECK(s.text == text);
  };
  check("handle_*", "", "handle_*");
  check("libssl:SSL_read", "libssl", "SSL_read");
  check("ns::f", "", "ns::f");
  check("ns::Klass::*", "", "ns::Klass::*");
  check("/lib/x.so:ns::f", "/lib/x.so", "ns::f");
  check("a:b::c", "a", "b::c");
  for (const char* bad : {":f", "libc:", ""}) {
    INFO(bad);
    try {
      parse_function_spec(bad);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
    }
  }
}

TEST_CASE("command mode: the executable and its loader-resolved dependencies", "[resolver]") {
  ResolveContext ctx;
  ctx.executable = fixture("sym_pie");
  ctx.libraries = loader_dependencies(ctx.executable);
  bool has_lib = std::any_of(ctx.libraries.begin(), ctx.libraries.end(),
                             [](const std::string& p) { return p.find("libsym_lib.so") != std::string::npos; });
  CHECK(has_lib);
  bool has_libc = std::any_of(ctx.libraries.begin(), ctx.libraries.end(),
                              [](const std::string& p) { return p.find("libc.so.6") != std::string::npos; });
  CHECK(has_libc);

  auto targets = resolve_targets({parse_function_spec("beta_*"), parse_function_spec("libsym_lib:sym_lib_*"),
                                  parse_function_spec("beta_one")},
                                 ctx);
  // beta_one named twice is probed once.
  CHECK(function_names(targets) ==
        std::vector<std::string>{"beta_one", "beta_two", "sym_lib_add", "sym_lib_hidden", "sym_lib_mul"});
  for (const auto& t : targets) {
    if (t.function.name.rfind("sym_lib", 0) == 0) {
      CHECK(t.object.find("libsym_lib.so") != std::string::npos);
    } else {
      CHECK(t.object == ctx.executable);
      CHECK(t.attach_path == ctx.executable);
    }
  }
}

TEST_CASE("pid mode: libraries found through the process's maps and root", "[resolver]") {
  // A fake proc root: pid 777 maps the fixture library; its root is the real "/".
  fs::path proc = fs::path(test::temp_path("proc"));
  fs::create_directories(proc / "777");
  fs::create_directory_symlink("/", proc / "777" / "root");
  std::string lib = fs::canonical(fixture("libsym_lib.so")).string();
  std::ofstream(proc / "777" / "maps") << "7f0000000000-7f0000001000 r-xp 00001000 fe:01 42 " << lib << "\n";

  ResolveContext ctx;
  ctx.proc_root = proc.string();
  ctx.pid = 777;
  ctx.executable = fixture("sym_pie");
  auto targets = resolve_targets({parse_function_spec("libsym_lib:sym_lib_add")}, ctx);
  REQUIRE(targets.size() == 1);
  CHECK(targets[0].object == lib);
  CHECK(targets[0].attach_path == (proc / "777" / "root").string() + lib);

  REQUIRE_THROWS_WITH(resolve_targets({parse_function_spec("libssl:SSL_read")}, ctx),
                      Catch::Contains("no library 'libssl' mapped"));
}

TEST_CASE("errors that say what to do", "[resolver]") {
  ResolveContext ctx;
  ctx.executable = fixture("sym_pie");
  ctx.libraries = loader_dependencies(ctx.executable);

  SECTION("nothing matched: the closest names") {
    try {
      resolve_targets({parse_function_spec("alpah")}, ctx);
      FAIL("resolved");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("no function matching 'alpah'"));
      CHECK_THAT(e.hint(), Catch::Contains("alpha"));
    }
  }
  SECTION("stripped: which table is missing") {
    ctx.executable = fixture("sym_stripped");
    REQUIRE_THROWS_WITH(resolve_targets({parse_function_spec("alpha")}, ctx),
                        Catch::Contains("stripped") && Catch::Contains(".symtab"));
  }
  SECTION("a stripped binary's exported functions still resolve") {
    ctx.executable = fixture("sym_exported_stripped");
    CHECK(function_names(resolve_targets({parse_function_spec("alpha")}, ctx)) == std::vector<std::string>{"alpha"});
  }
  SECTION("a library that is not a dependency") {
    REQUIRE_THROWS_WITH(resolve_targets({parse_function_spec("libssl:SSL_read")}, ctx),
                        Catch::Contains("'libssl' is not a dependency"));
  }
  SECTION("not an ELF file") {
    REQUIRE_THROWS_WITH(resolve_targets({parse_function_spec(std::string(PERFBPF_TEST_DATA) + "/not-an-elf.txt:f")}, ctx),
                        Catch::Contains("not an ELF file"));
  }
}
