#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
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

// NAME as execvp finds it on PATH (env's way of finding a script's interpreter).
std::string on_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

}  // namespace

std::string script_interpreter(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  // The kernel reads at most the first 256 bytes (BINPRM_BUF_SIZE) of a "#!" line.
  if (!in || in.get() != '#' || in.get() != '!' || !std::getline(in, line)) return {};
  std::istringstream words(line.substr(0, 254));
  std::string interpreter, word;
  words >> interpreter;
  // "#!/usr/bin/env [-S] [VAR=value...] prog": the process ends up running prog.
  if (interpreter.size() >= 4 && interpreter.compare(interpreter.size() - 4, 4, "/env") == 0) {
    while (words >> word)
      if (word[0] != '-' && word.find('=') == std::string::npos) return on_path(word);
  }
  return interpreter;
}

std::vector<std::string> loader_dependencies(const std::string& executable) {
  // The kernel follows a few levels of interpreters (scripts run by scripts).
  std::string program = executable;
  for (int level = 0; level < 4; level++) {
    std::string interpreter = script_interpreter(program);
    if (interpreter.empty()) break;
    program = interpreter;
  }
  ElfSymbols elf = ElfSymbols::load(program);
  if (elf.interpreter().empty()) return {};  // static: nothing is loaded
  if (access(elf.interpreter().c_str(), X_OK) != 0)
    throw Error(program + " needs the loader " + elf.interpreter() + ", which is not here",
                "is it built for another architecture or distribution?", ENOENT);
  // The loader itself answers, so LD_LIBRARY_PATH, RUNPATH, hwcaps and ld.so.cache all count
  // exactly as they will when the command runs. Unlike ldd's trace mode, --list stops at a
  // missing library, and its message names it: the command would not start either.
  Output r = run_capture({elf.interpreter(), "--list", program});
  if (r.status != 0)
    throw Error("cannot list the libraries of " + program + ": " + one_line(r.err, r.status),
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
