// Checks that run before anything is loaded, so the kernel's bare errno never reaches a user.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>

#include "perfbpf/error.h"
#include "session/privileges.h"

using namespace perfbpf;

TEST_CASE("a kernel without BTF is named as such", "[preflight]") {
  try {
    check_kernel_btf("/nonexistent/btf/vmlinux");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("kernel BTF not found at /nonexistent/btf/vmlinux"));
    CHECK_THAT(e.hint(), Catch::Contains("CONFIG_DEBUG_INFO_BTF"));
    CHECK(e.exit_code() == 1);
  }
}

TEST_CASE("the sudo user is recognised only as root with SUDO_UID/SUDO_GID", "[preflight]") {
  setenv("SUDO_UID", "1234", 1);
  setenv("SUDO_GID", "5678", 1);
  setenv("SUDO_USER", "alice", 1);
  InvokingUser u = invoking_user();
  CHECK(u.present == (geteuid() == 0));
  if (u.present) {
    CHECK(u.uid == 1234);
    CHECK(u.gid == 5678);
    CHECK(u.name == "alice");
  }
  setenv("SUDO_UID", "12x", 1);
  CHECK_FALSE(invoking_user().present);
  unsetenv("SUDO_UID");
  unsetenv("SUDO_GID");
  unsetenv("SUDO_USER");
  CHECK_FALSE(invoking_user().present);
}
