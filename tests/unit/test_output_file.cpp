// report/output_file: how every output is written, checked without privilege. (What it
// refuses to root — links planted by other users, sudo users' files — is in
// tests/bpf/test_output_safety.cpp, which runs the real perfbpf as root against other users.)
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "perfbpf/dashboard.h"
#include "perfbpf/error.h"
#include "process.h"
#include "report/output_file.h"

using namespace perfbpf;
namespace fs = std::filesystem;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::string(e.what()) + " (" + e.hint() + ")";
  }
  return "no error";
}

// Sets the umask for one scope.
class Umask {
 public:
  explicit Umask(mode_t m) : old_(umask(m)) {}
  ~Umask() { umask(old_); }

 private:
  mode_t old_;
};

}  // namespace

TEST_CASE("an output appears whole, by rename, with no temporary left", "[output]") {
  const std::string path = test::temp_path("r.json");
  const std::string dir = fs::path(path).parent_path();
  write_output_file(path, "-o", "first\n");
  CHECK(test::file_text(path) == "first\n");
  {
    OutputFile out(path, "-o");
    out.write("second ");
    CHECK(test::file_text(path) == "first\n");  // untouched until commit
    out.write("version\n");
    out.commit();
  }
  CHECK(test::file_text(path) == "second version\n");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  {
    OutputFile abandoned(path, "-o");
    abandoned.write("never committed");
  }  // an exception on the way would do this: the old content stays, the temporary goes
  CHECK(test::file_text(path) == "second version\n");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}

TEST_CASE("outputs are 0644 less the umask, never world-writable, and a replaced file keeps its mode", "[output]") {
  const std::string dir = fs::path(test::temp_path("x")).parent_path();
  {
    Umask none(0);
    write_output_file(dir + "/new.json", "-o", "{}");
    CHECK(mode_of(dir + "/new.json") == 0644);
  }
  {
    Umask strict(077);
    write_output_file(dir + "/private.json", "-o", "{}");
    CHECK(mode_of(dir + "/private.json") == 0600);
  }
  std::ofstream(dir + "/kept.json") << "old";
  chmod((dir + "/kept.json").c_str(), 0600);
  write_output_file(dir + "/kept.json", "-o", "new");
  CHECK(mode_of(dir + "/kept.json") == 0600);
  std::ofstream(dir + "/open.json") << "old";
  chmod((dir + "/open.json").c_str(), 0666);
  write_output_file(dir + "/open.json", "-o", "new");
  CHECK(mode_of(dir + "/open.json") == 0664);
}

TEST_CASE("a full device fails with one line naming the path and the option", "[output]") {
  std::string e = error_of([] { write_output_file("/dev/full", "--folded", "stacks\n"); });
  CHECK(e == "cannot write '/dev/full': No space left on device (--folded: the file system is full; free space or "
             "choose another path)");
  // The library's writers go through the same code.
  PerformanceAnalysisDashboard dashboard;
  dashboard.load_profile(Profile{});
  CHECK_THAT(error_of([&] { dashboard.export_analysis_report("/dev/full"); }),
             Catch::StartsWith("cannot write '/dev/full': No space left on device (export_analysis_report:"));
}

TEST_CASE("a failed write leaves the previous file whole (ulimit -f, as a full disk would)", "[output]") {
  const std::string path = test::temp_path("big.folded");
  std::ofstream(path) << "previous\n";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // RLIMIT_FSIZE makes write() fail with EFBIG (and raise SIGXFSZ, which must not kill us).
    rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::string e = error_of([&] { write_output_file(path, "--folded", std::string(100000, 'x')); });
    _exit(e.find("cannot write '" + path + "': File too large (--folded: the file size limit") == 0 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));  // not killed by SIGXFSZ
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(test::file_text(path) == "previous\n");
  CHECK(std::distance(fs::directory_iterator(fs::path(path).parent_path()), fs::directory_iterator()) == 1);
}

TEST_CASE("a stream is in place from the start, and its write errors come at commit", "[output]") {
  const std::string path = test::temp_path("alerts.jsonl");
  OutputFile alerts(path, "--alerts", OutputFile::Mode::Stream);
  CHECK(fs::exists(path));
  alerts.write("{\"a\":1}\n");
  CHECK(test::file_text(path) == "{\"a\":1}\n");  // a log shipper sees it now
  alerts.write("{\"a\":2}\n");
  alerts.commit();
  CHECK(test::file_text(path) == "{\"a\":1}\n{\"a\":2}\n");

  OutputFile full("/dev/full", "--alerts", OutputFile::Mode::Stream);
  CHECK_NOTHROW(full.write("{}\n"));  // a session is not cut short
  CHECK(full.failure() == "No space left on device");
  CHECK_THAT(error_of([&] { full.commit(); }), Catch::StartsWith("cannot write '/dev/full': No space left on device (--alerts:"));
}

TEST_CASE("devices and FIFOs are written in place, and a FIFO nobody reads is an error, not a hang", "[output]") {
  write_output_file("/dev/null", "-o", "discarded");
  struct stat st {};
  REQUIRE(stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));

  const std::string fifo = test::temp_path("fifo");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto start = std::chrono::steady_clock::now();
  CHECK(error_of([&] { write_output_file(fifo, "--folded", "x"); }) ==
        "cannot write '" + fifo + "': no process is reading the FIFO (--folded: start the reader first)");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  CHECK_NOTHROW(OutputFile::check_writable(fifo, "--folded"));  // checked by type: no reader sees an early EOF

  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(reader >= 0);
  write_output_file(fifo, "--folded", "through the pipe");
  char buf[64] = {};
  CHECK(read(reader, buf, sizeof buf) == 16);
  CHECK(std::string(buf) == "through the pipe");
  close(reader);
}

TEST_CASE("a link the user owns is followed: its target is replaced, the link stays", "[output]") {
  const std::string dir = fs::path(test::temp_path("x")).parent_path();
  fs::create_directory(dir + "/runs");
  std::ofstream(dir + "/runs/run1.json") << "old";
  fs::create_symlink("runs/run1.json", dir + "/latest.json");
  write_output_file(dir + "/latest.json", "-o", "new");
  CHECK(fs::is_symlink(dir + "/latest.json"));
  CHECK(test::file_text(dir + "/runs/run1.json") == "new");
  // Links in the directories on the way too.
  fs::create_directory_symlink("runs", dir + "/by-date");
  write_output_file(dir + "/by-date/run2.json", "-o", "two");
  CHECK(test::file_text(dir + "/runs/run2.json") == "two");
}

TEST_CASE("paths that name no file fail with what is wrong", "[output]") {
  const std::string dir = fs::path(test::temp_path("x")).parent_path();
  CHECK(error_of([&] { write_output_file(dir, "-o", ""); }) ==
        "cannot write '" + dir + "': Is a directory (-o: give a file name, not a directory)");
  CHECK(error_of([&] { write_output_file(dir + "/", "--json", ""); }) ==
        "cannot write '" + dir + "/': Is a directory (--json: give a file name, not a directory)");
  CHECK(error_of([&] { write_output_file(dir + "/missing/r.json", "--flamegraph", ""); }) ==
        "cannot write '" + dir + "/missing/r.json': No such file or directory (--flamegraph: the directory does not exist)");
  fs::create_symlink(dir + "/loop", dir + "/loop");
  CHECK_THAT(error_of([&] { write_output_file(dir + "/loop", "-o", ""); }), Catch::Contains("Too many levels of symbolic links"));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // just the loop
}

TEST_CASE("the library makes its output directory the same way", "[output]") {
  const std::string dir = fs::path(test::temp_path("x")).parent_path();
  create_output_directory(dir + "/a/b/c", "output_dir");
  CHECK(fs::is_directory(dir + "/a/b/c"));
  std::ofstream(dir + "/file") << "";
  CHECK_THAT(error_of([&] { create_output_directory(dir + "/file/sub", "output_dir"); }),
             Catch::Contains("Not a directory (output_dir:"));
}
