// From `-f [OBJECT:]PATTERN` to probe targets, without a live process: the proc root and the
// dependency list are inputs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "perfbpf/error.h"
#include "process.h"
#include "symbols/target_resolver.h"

using namespace perfbpf;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return test::workload("symbols/" + name); }

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// Sets or clears an environment variable for one scope (the loader query inherits it).
class EnvGuard {
 public:
  EnvGuard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) setenv(name, value, 1 /* overwrite */);
    else unsetenv(name);
  }
  ~EnvGuard() {
    if (had_) setenv(name_, old_.c_str(), 1 /* overwrite */);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

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

TEST_CASE("the loader's dependency list: LD_LIBRARY_PATH, missing libraries, static executables", "[resolver]") {
  std::string exe = fixture("sym_norpath");  // links libsym_lib.so with no RUNPATH
  std::string dir = fs::path(fixture("libsym_lib.so")).parent_path().string();
  {
    EnvGuard env("LD_LIBRARY_PATH", nullptr);
    try {
      loader_dependencies(exe);
      FAIL("listed a command whose library the loader cannot find");
    } catch (const Error& e) {
      // The loader's own words, on one line, naming the library it could not find.
      CHECK_THAT(e.what(), Catch::Contains("cannot list the libraries of " + exe) && Catch::Contains("libsym_lib.so"));
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
  }
  {
    EnvGuard env("LD_LIBRARY_PATH", dir.c_str());
    std::vector<std::string> libs = loader_dependencies(exe);
    INFO(Catch::Detail::stringify(libs));
    CHECK(contains(libs, dir + "/libsym_lib.so"));
    CHECK(contains(libs, ElfSymbols::load(exe).interpreter()));  // the "\t/lib64/ld-linux... (0x...)" line
    for (const auto& lib : libs) CHECK(lib[0] == '/');           // no linux-vdso.so.1, no addresses
  }
  CHECK(loader_dependencies(fixture("sym_static")).empty());

  ResolveContext ctx;
  ctx.executable = fixture("sym_static");
  CHECK(function_names(resolve_targets({parse_function_spec("alpha")}, ctx)) == std::vector<std::string>{"alpha"});
  try {
    resolve_targets({parse_function_spec("libsym_lib:sym_lib_add")}, ctx);
    FAIL("resolved a library a static executable cannot load");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("'libsym_lib' is not a dependency"));
    CHECK_THAT(e.hint(), Catch::Contains("links no shared library"));
  }
}

TEST_CASE("one probe per function in a file, however its path is spelled", "[resolver]") {
  ResolveContext ctx;
  ctx.executable = fixture("sym_pie");
  ctx.libraries = loader_dependencies(ctx.executable);
  fs::path link = fs::path(test::temp_path("alias.so"));
  fs::create_symlink(fs::canonical(fixture("libsym_lib.so")), link);
  std::string dotted = fs::path(fixture("libsym_lib.so")).parent_path().string() + "/./libsym_lib.so";

  auto targets = resolve_targets({parse_function_spec("libsym_lib:sym_lib_add"),
                                  parse_function_spec(link.string() + ":sym_lib_add"),
                                  parse_function_spec(dotted + ":sym_lib_*")},
                                 ctx);
  CHECK(function_names(targets) == std::vector<std::string>{"sym_lib_add", "sym_lib_hidden", "sym_lib_mul"});
  // The first spec that named a function is the one reported.
  for (const auto& t : targets)
    if (t.function.name == "sym_lib_add") CHECK(t.spec == "libsym_lib:sym_lib_add");
}

TEST_CASE("pid mode: a path that exists only in the process's mount namespace", "[resolver]") {
  // The target sees /opt/perfbpf-test/libsym_lib.so; we reach it through /proc/PID/root.
  fs::path proc = fs::path(test::temp_path("proc"));
  fs::path root = proc / "778" / "root";
  fs::create_directories(root / "opt" / "perfbpf-test");
  fs::copy_file(fixture("libsym_lib.so"), root / "opt" / "perfbpf-test" / "libsym_lib.so");
  std::ofstream(proc / "778" / "maps") << "7f0000000000-7f0000001000 r-xp 00001000 fe:01 43 "
                                       << "/opt/perfbpf-test/libsym_lib.so\n";
  REQUIRE_FALSE(fs::exists("/opt/perfbpf-test/libsym_lib.so"));

  ResolveContext ctx;
  ctx.proc_root = proc.string();
  ctx.pid = 778;
  ctx.executable = fixture("sym_pie");
  uint64_t expected = 0;
  ElfSymbols lib = ElfSymbols::load(fixture("libsym_lib.so"));
  for (const auto& f : lib.functions())
    if (f.name == "sym_lib_add") expected = f.file_offset;
  REQUIRE(expected != 0);
  for (const char* spec : {"/opt/perfbpf-test/libsym_lib.so:sym_lib_add", "libsym_lib:sym_lib_add"}) {
    INFO(spec);
    auto targets = resolve_targets({parse_function_spec(spec)}, ctx);
    REQUIRE(targets.size() == 1);
    CHECK(targets[0].object == "/opt/perfbpf-test/libsym_lib.so");
    CHECK(targets[0].attach_path == root.string() + "/opt/perfbpf-test/libsym_lib.so");
    CHECK(targets[0].function.file_offset == expected);
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

  try {
    resolve_targets({parse_function_spec("libssl:SSL_read")}, ctx);
    FAIL("resolved a library the process has not mapped");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("no library 'libssl' mapped"));
    CHECK_THAT(e.hint(), Catch::Contains("mapped: libsym_lib.so") && Catch::Contains("dlopen") &&
                             Catch::Contains("give a path"));
  }
  REQUIRE_THROWS_WITH(resolve_targets({parse_function_spec("libsym_lib:sym_lib_add")}, ResolveContext{proc.string(), 779, ctx.executable, {}}),
                      Catch::Contains("no process with pid 779"));
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
    try {
      resolve_targets({parse_function_spec("alpha")}, ctx);
      FAIL("resolved in a stripped binary");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("stripped") && Catch::Contains("no .symtab") &&
                               Catch::Contains("only 0 exported functions in .dynsym"));
      CHECK_THAT(e.hint(), Catch::Contains("debug symbols"));
    }
  }
  SECTION("a stripped binary's exported functions still resolve") {
    ctx.executable = fixture("sym_exported_stripped");
    CHECK(function_names(resolve_targets({parse_function_spec("alpha")}, ctx)) == std::vector<std::string>{"alpha"});
    try {
      resolve_targets({parse_function_spec("alpah")}, ctx);
      FAIL("resolved a typo");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("no .symtab"));
      CHECK_THAT(e.hint(), Catch::Contains("closest exported: alpha"));
    }
  }
  SECTION("no symbol table at all") {
    ctx.executable = fixture("sym_static_stripped");
    CHECK_THROWS_WITH(resolve_targets({parse_function_spec("alpha")}, ctx),
                      Catch::Contains("has no symbol tables") && Catch::Contains(".symtab and .dynsym"));
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
