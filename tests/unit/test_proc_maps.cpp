// /proc/PID/maps through an injected proc root (tests/data/proc).
#include <catch2/catch.hpp>

#include "perfbpf/error.h"
#include "symbols/proc_maps.h"

using namespace perfbpf;

TEST_CASE("maps lines: ranges, offsets, anonymous and odd paths", "[proc_maps]") {
  auto maps = read_proc_maps(PERFBPF_TEST_DATA "/proc", 4242);
  REQUIRE(maps.size() == 13);
  CHECK(maps[1].start == 0x55d0c3a01000);
  CHECK(maps[1].end == 0x55d0c3a05000);
  CHECK(maps[1].perms == "r-xp");
  CHECK(maps[1].offset == 0x1000);
  CHECK(maps[1].inode == 1311005);
  CHECK(maps[1].path == "/opt/app/bin/server");
  CHECK(maps[2].path == "[heap]");
  CHECK(maps[3].path.empty());
  CHECK(maps[3].inode == 0);
  CHECK(maps[9].path == "/srv/my libs/libspace.so");

  auto objects = mapped_objects(maps);
  CHECK(objects == std::vector<std::string>{"/opt/app/bin/server", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                            "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
                                            "/usr/lib/x86_64-linux-gnu/libssl.so.3", "/srv/my libs/libspace.so"});
}

TEST_CASE("a pid that does not exist", "[proc_maps]") {
  REQUIRE_THROWS_WITH(read_proc_maps(PERFBPF_TEST_DATA "/proc", 99999), Catch::Contains("no process with pid 99999"));
}

TEST_CASE("library names as users type them", "[proc_maps]") {
  CHECK(library_name_matches("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc"));
  CHECK(library_name_matches("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc.so.6"));
  CHECK(library_name_matches("/lib/libc-2.31.so", "libc"));
  CHECK_FALSE(library_name_matches("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", "libc"));
  CHECK(library_name_matches("/usr/lib/x86_64-linux-gnu/libssl.so.3", "libssl"));
  CHECK(library_name_matches("/usr/lib/x86_64-linux-gnu/libssl.so.3", "libssl.so"));
  CHECK_FALSE(library_name_matches("/usr/lib/x86_64-linux-gnu/libssl3.so", "libssl"));
  CHECK_FALSE(library_name_matches("/usr/lib/libfoo.so.1", "libfoo.so.1.2"));
  CHECK_FALSE(library_name_matches("/usr/lib/libfoo.so", ""));
}
