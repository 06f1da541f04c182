// The debug cache (symbols/debug_cache.h): inflated twins of debug files with compressed DWARF
// give the same sources and inlined frames as the compressed file itself; a stale, corrupt or
// planted entry is never trusted; the directory stays within its bound.
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "symbols/debug_cache.h"
#include "symbols/dwarf_sources.h"

namespace fs = std::filesystem;
using namespace perfbpf;

namespace {

const std::string kWorkloads = PERFBPF_WORKLOADS;

// [start, end) of function NAME from the file's own .symtab, read here with libelf.
std::pair<uint64_t, uint64_t> symbol_range(const std::string& path, const std::string& name) {
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  std::pair<uint64_t, uint64_t> range{0, 0};
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
      GElf_Sym s;
      const char* n = gelf_getsym(d, static_cast<int>(i), &s) ? elf_strptr(elf, sh.sh_link, s.st_name) : nullptr;
      if (n && name == n && GELF_ST_TYPE(s.st_info) == STT_FUNC) range = {s.st_value, s.st_value + s.st_size};
    }
  }
  elf_end(elf);
  close(fd);
  REQUIRE(range.second > range.first);
  return range;
}

// The line of the source that defines hash_loop, found in the source by the test.
int hash_loop_line() {
  std::ifstream in(std::string(PERFBPF_SOURCE_DIR) + "/tests/workloads/inlined_target.c");
  std::string line;
  for (int n = 1; std::getline(in, line); n++)
    if (line.find("unsigned hash_loop(") != std::string::npos) return n;
  FAIL("hash_loop not found in inlined_target.c");
  return 0;
}

// Everything DwarfSources says of every byte of hash_loop.
struct Seen {
  std::set<std::string> sources;
  std::set<std::string> inlined;  // "name@source"
  bool operator==(const Seen&) const = default;
};

Seen read_all(DwarfSources& dwarf, const std::string& path) {
  auto [start, end] = symbol_range(path, "hash_loop");
  Seen seen;
  for (uint64_t a = start; a < end; a++) {
    const DwarfSources::Lookup found = dwarf.lookup(path, a);
    seen.sources.insert(found.source);
    for (const auto& inl : found.inlined) seen.inlined.insert(inl.name + "@" + inl.source);
  }
  return seen;
}

DebugCacheSettings cache_in(const fs::path& dir, uint64_t max_bytes = 1ull << 30) {
  DebugCacheSettings s;
  s.dir = dir.string();
  s.max_bytes = max_bytes;
  return s;
}

// A scratch directory of the test's own and, inside it, PATH: where the cache goes (a private
// path may not sit directly in /tmp, which others may write).
struct TempDir {
  fs::path top, path;
  explicit TempDir(const std::string& tag)
      : top(fs::temp_directory_path() / ("perfbpf-" + tag + "-" + std::to_string(getpid()))), path(top / "debug") {
    fs::remove_all(top);
    fs::create_directory(top);
    fs::permissions(top, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
  }
  ~TempDir() { fs::remove_all(top); }
};

std::string build_id_of(const std::string& path) {
  // The twin's name is the build-id: find it by making one in a scratch directory.
  TempDir scratch("debug-id");
  InflatedDebugFile f = open_inflated_debug_file(path, cache_in(scratch.path));
  REQUIRE(f.outcome == DebugCacheOutcome::Made);
  return fs::directory_iterator(scratch.path)->path().stem().string();
}

}  // namespace

TEST_CASE("debug cache: inflated twins give the same sources and inlined frames", "[symbols][debug-cache]") {
  const int line = hash_loop_line();
  for (const char* name : {"inlined_gz", "inlined_zdebug"}) {
    INFO(name);
    const std::string path = kWorkloads + "/" + name;
    TempDir dir("debug-cache");
    DebugCacheSettings off;
    off.enabled = false;
    DwarfSources plain(off);
    const Seen truth = read_all(plain, path);
    CHECK(plain.cache_outcome(path) == DebugCacheOutcome::Unavailable);
    // The truth itself, against the source: the function's own line and both inlined callees.
    bool own_line = false;
    for (const auto& s : truth.sources) own_line |= s.ends_with("inlined_target.c:" + std::to_string(line));
    CHECK(own_line);
    bool step = false, mix = false;
    for (const auto& s : truth.inlined) {
      step |= s.starts_with("step_inlined@");
      mix |= s.starts_with("mix_inlined@");
    }
    CHECK(step);
    CHECK(mix);

    DwarfSources first(cache_in(dir.path));
    CHECK(read_all(first, path) == truth);
    CHECK(first.cache_outcome(path) == DebugCacheOutcome::Made);
    DwarfSources second(cache_in(dir.path));
    CHECK(read_all(second, path) == truth);
    CHECK(second.cache_outcome(path) == DebugCacheOutcome::Hit);
    // What is cached has nothing left to inflate.
    for (const auto& entry : fs::directory_iterator(dir.path)) {
      InflatedDebugFile again = open_inflated_debug_file(entry.path().string(), cache_in(dir.path));
      CHECK(again.outcome == DebugCacheOutcome::NotCompressed);
    }
  }
}

TEST_CASE("debug cache: a stale, foreign or corrupt entry is ignored and made again", "[symbols][debug-cache]") {
  const std::string gz = kWorkloads + "/inlined_gz", zdebug = kWorkloads + "/inlined_zdebug";
  DebugCacheSettings off;
  off.enabled = false;
  DwarfSources plain(off);
  const Seen truth = read_all(plain, gz);
  const std::string id = build_id_of(gz);
  TempDir dir("debug-stale");
  fs::create_directories(dir.path);
  const fs::path entry = dir.path / (id + ".debug");

  SECTION("another file's twin under this build-id") {
    TempDir other("debug-other");
    REQUIRE(open_inflated_debug_file(zdebug, cache_in(other.path)).outcome == DebugCacheOutcome::Made);
    fs::copy_file(fs::directory_iterator(other.path)->path(), entry);
  }
  SECTION("a twin cut short") {
    REQUIRE(open_inflated_debug_file(gz, cache_in(dir.path)).outcome == DebugCacheOutcome::Made);
    fs::resize_file(entry, fs::file_size(entry) / 2);
  }
  SECTION("not ELF at all") {
    std::ofstream(entry) << "not an ELF file";
  }
  SECTION("the original, still compressed") {
    fs::copy_file(gz, entry);
  }
  SECTION("writable by others") {
    REQUIRE(open_inflated_debug_file(gz, cache_in(dir.path)).outcome == DebugCacheOutcome::Made);
    chmod(entry.c_str(), 0666);
  }
  DwarfSources cached(cache_in(dir.path));
  CHECK(read_all(cached, gz) == truth);
  CHECK(cached.cache_outcome(gz) == DebugCacheOutcome::Made);
  struct stat st {};
  REQUIRE(lstat(entry.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 022) == 0);
}

TEST_CASE("debug cache: a planted link is neither followed nor written through", "[symbols][debug-cache]") {
  const std::string gz = kWorkloads + "/inlined_gz";
  const std::string id = build_id_of(gz);
  TempDir dir("debug-link");
  TempDir elsewhere("debug-victim");
  fs::create_directories(dir.path);
  fs::create_directories(elsewhere.path);

  SECTION("the entry is a link to a twin elsewhere: not read, replaced by a file of our own") {
    REQUIRE(open_inflated_debug_file(gz, cache_in(elsewhere.path)).outcome == DebugCacheOutcome::Made);
    const fs::path twin = elsewhere.path / (id + ".debug");
    const auto before = fs::last_write_time(twin);
    fs::create_symlink(twin, dir.path / (id + ".debug"));
    CHECK(open_inflated_debug_file(gz, cache_in(dir.path)).outcome == DebugCacheOutcome::Made);
    CHECK(fs::is_regular_file(fs::symlink_status(dir.path / (id + ".debug"))));
    CHECK(fs::last_write_time(twin) == before);  // the link's target was left alone
  }
  SECTION("the entry is a link to a victim file: the victim is unchanged") {
    const fs::path victim = elsewhere.path / "victim";
    std::ofstream(victim) << "precious";
    fs::create_symlink(victim, dir.path / (id + ".debug"));
    CHECK(open_inflated_debug_file(gz, cache_in(dir.path)).outcome == DebugCacheOutcome::Made);
    std::ifstream in(victim);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "precious");
  }
  SECTION("the cache directory is another user's link: no cache, nothing written there") {
    if (geteuid() != 0) return;  // only root can plant a link owned by someone else
    const fs::path link = dir.top / "linked";
    fs::create_symlink(elsewhere.path, link);
    REQUIRE(lchown(link.c_str(), 65534, 65534) == 0);
    InflatedDebugFile f = open_inflated_debug_file(gz, cache_in(link));
    CHECK(f.outcome == DebugCacheOutcome::Unavailable);
    CHECK(fs::is_empty(elsewhere.path));
    // and the DWARF is still read, from the original
    DebugCacheSettings s = cache_in(link);
    DwarfSources dwarf(s);
    CHECK(!read_all(dwarf, gz).inlined.empty());
  }
}

TEST_CASE("debug cache: the directory stays within its bound, least recently used out first", "[symbols][debug-cache]") {
  const std::string gz = kWorkloads + "/inlined_gz", zdebug = kWorkloads + "/inlined_zdebug";
  TempDir dir("debug-bound");
  REQUIRE(open_inflated_debug_file(gz, cache_in(dir.path)).outcome == DebugCacheOutcome::Made);
  const uint64_t one = fs::file_size(fs::directory_iterator(dir.path)->path());
  // Room for one twin (both are about the same size): making the second evicts the first.
  REQUIRE(open_inflated_debug_file(zdebug, cache_in(dir.path, one + one / 2)).outcome == DebugCacheOutcome::Made);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    files++;
    CHECK(e.path().stem().string() == build_id_of(zdebug));
  }
  CHECK(files == 1);
  // A temporary a killed session left behind goes once it is old; one being written stays.
  const fs::path stale_temp = dir.path / ".stale.debug.AbCdEf12", fresh_temp = dir.path / ".fresh.debug.AbCdEf12";
  std::ofstream(stale_temp) << "left behind";
  std::ofstream(fresh_temp) << "being written";
  fs::last_write_time(stale_temp, fs::file_time_type::clock::now() - std::chrono::hours(1));
  fs::remove(dir.path / (build_id_of(zdebug) + ".debug"));
  REQUIRE(open_inflated_debug_file(zdebug, cache_in(dir.path, one + one / 2)).outcome == DebugCacheOutcome::Made);
  CHECK(!fs::exists(stale_temp));
  CHECK(fs::exists(fresh_temp));
  // A twin larger than the whole bound is not cached; the original is read.
  TempDir tiny("debug-tiny");
  CHECK(open_inflated_debug_file(gz, cache_in(tiny.path, 16)).outcome == DebugCacheOutcome::Unavailable);
  CHECK((!fs::exists(tiny.path) || fs::is_empty(tiny.path)));
  // Off: nothing read or written.
  DebugCacheSettings off = cache_in(tiny.path);
  off.enabled = false;
  CHECK(open_inflated_debug_file(gz, off).outcome == DebugCacheOutcome::Unavailable);
}
