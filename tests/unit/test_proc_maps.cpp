// /proc/PID/maps through an injected proc root (tests/data/proc).
#include <catch2/catch.hpp>

#include "perfbpf/error.h"
#include "symbols/proc_maps.h"

using namespace perfbpf;

TEST_CASE("maps lines: ranges, offsets, anonymous and odd paths", "[proc_maps]") {
  auto maps = read_proc_maps(PERFBPF_TEST_DATA "/proc", 4242);
  REQUIRE(maps.size() == 14);
  CHECK(maps[1].start == 0x55d0c3a01000);
  CHECK(maps[1].end == 0x55d0c3a05000);
  CHECK(maps[1].perms == "r-xp");
  CHECK(maps[1].offset == 0x1000);
  CHECK(maps[1].inode == 1311005);
  CHECK(maps[1].path == "/opt/app/bin/server");
  CHECK(maps[2].path == "[heap]");
  CHECK(maps[3].path.empty());
  CHECK(maps[3].inode == 0);
  // The kernel pads anonymous lines with a space; a line without it is read the same.
  CHECK(maps[4].start == 0x7f1e2a100000);
  CHECK(maps[4].perms == "---p");
  CHECK(maps[4].path.empty());
  CHECK(maps[6].offset == 0x28000);
  CHECK(maps[9].path == "/tmp/plugin dir/libplugin.so (deleted)");
  CHECK(maps[9].inode == 3000001);
  CHECK(maps[10].path == "/srv/my libs/libspace.so");
  CHECK(maps[13].path == "[vdso]");

  auto objects = mapped_objects(maps);
  CHECK(objects == std::vector<std::string>{"/opt/app/bin/server", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                            "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
                                            "/usr/lib/x86_64-linux-gnu/libssl.so.3", "/srv/my libs/libspace.so"});
}

TEST_CASE("a pid that does not exist", "[proc_maps]") {
  try {
    read_proc_maps(PERFBPF_TEST_DATA "/proc", 99999);
    FAIL("read maps of a process that does not exist");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "no process with pid 99999");
    CHECK_THAT(e.hint(), Catch::Contains("check the pid"));
    CHECK(e.kind() == ErrorKind::Runtime);
  }
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
  CHECK(library_name_matches("/usr/lib/libfoo.so.1.2", "libfoo.so"));
  CHECK_FALSE(library_name_matches("/usr/lib/libfoo.so.1.2", "libfoo.s"));
  CHECK_FALSE(library_name_matches("/usr/lib/libfoo.so.bak", "libfoo.so"));
  CHECK_FALSE(library_name_matches("/opt/libc/libz.so.1", "libc"));  // the basename, not a directory
  CHECK(library_name_matches("libssl.so.3", "libssl"));
}
