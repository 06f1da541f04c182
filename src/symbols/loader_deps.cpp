#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <sstream>
#include <string>

#include "perfbpf/error.h"
#include "symbols/target_resolver.h"
#include "util/subprocess.h"

namespace perfbpf {
namespace {

struct Output {
  int status = -1;
  std::string out, err;
};

// Runs ARGV (no shell) and collects both outputs.
Output run_capture(const std::vector<std::string>& argv) {
  PipedProcess p = spawn_piped(argv);
  close(p.stdin_fd);
  Output result;
  drain_pipes(p.stdout_fd, p.stderr_fd, result.out, result.err);
  result.status = wait_exit_code(p.pid);
  return result;
}

// The loader's complaint as one line: "x: error while loading shared libraries: libfoo.so: ...".
std::string one_line(std::string err, int status) {
  for (char& c : err)
    if (c == '\n') c = ' ';
  while (!err.empty() && err.back() == ' ') err.pop_back();
  return err.empty() ? "its loader exited with status " + std::to_string(status) : err;
}

}  // namespace

std::vector<std::string> loader_dependencies(const std::string& executable) {
  ElfSymbols elf = ElfSymbols::load(executable);
  if (elf.interpreter().empty()) return {};  // static: nothing is loaded
  if (access(elf.interpreter().c_str(), X_OK) != 0)
    throw Error(executable + " needs the loader " + elf.interpreter() + ", which is not here",
                "is it built for another architecture or distribution?", ENOENT);
  // The loader itself answers, so LD_LIBRARY_PATH, RUNPATH, hwcaps and ld.so.cache all count
  // exactly as they will when the command runs. Unlike ldd's trace mode, --list stops at a
  // missing library, and its message names it: the command would not start either.
  Output r = run_capture({elf.interpreter(), "--list", executable});
  if (r.status != 0)
    throw Error("cannot list the libraries of " + executable + ": " + one_line(r.err, r.status),
                "check LD_LIBRARY_PATH and that every library it links is installed", ENOEXEC);
  std::vector<std::string> libs;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    // "\tlibfoo.so.1 => /path/libfoo.so.1 (0x...)", "\t/lib64/ld-linux-x86-64.so.2 (0x...)",
    // "\tlibbar.so => not found", "\tlinux-vdso.so.1 (0x...)"
    std::string path;
    size_t arrow = line.find("=> ");
    if (arrow != std::string::npos) {
      path = line.substr(arrow + 3);
    } else {
      size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos) continue;
      path = line.substr(start);
    }
    path = path.substr(0, path.find(" ("));
    // A relative RUNPATH ("-Wl,-rpath,.") gives "./libx.so": relative to the working
    // directory, which the command inherits from perfbpf.
    if (path.rfind("./", 0) == 0 || path.rfind("../", 0) == 0)
      path = (std::filesystem::current_path() / path).lexically_normal().string();
    if (!path.empty() && path[0] == '/') libs.push_back(path);
  }
  return libs;
}

}  // namespace perfbpf
