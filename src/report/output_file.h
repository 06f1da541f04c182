// The one way perfbpf creates an output file (JSON report, folded stacks, flame graph, alerts,
// analyze/validate --json, the library's reports, the calibration cache). perfbpf usually runs
// as root on machines other users share, so:
//   - the path is resolved without ever letting the kernel follow a symbolic link another user
//     planted (fs.protected_symlinks' rule, applied whatever the sysctl says; util/safe_path.h);
//   - a regular file is written to a fresh temporary in the same directory (a random name,
//     O_CREAT|O_EXCL|O_NOFOLLOW) and renamed over PATH only when every byte is written and
//     synced, so a failure leaves PATH as it was and nothing is written through a planted name;
//   - devices, FIFOs and our own descriptors (/dev/null, /dev/stdout, "-", a FIFO someone reads)
//     are written in place; a block device never is;
//   - under sudo, every step runs with the invoking user's file-system identity (ActingAs): the
//     output goes only where that user could write it, and belongs to them;
//   - new files are 0644 less the umask; a replaced file keeps its permissions, never
//     world-writable;
//   - every write, sync, close and rename is checked: a failure throws Error
//     "cannot write 'PATH': reason" with a hint naming OPTION (the flag or API that gave PATH).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "util/safe_path.h"

namespace perfbpf {

class OutputFile {
 public:
  enum class Mode {
    Replace,  // PATH changes only at commit(): reports, folded stacks, SVG
    Stream,   // PATH exists (empty) from the start and grows with each write: alerts as they happen
  };

  // Opens PATH ("-" is standard output). OPTION names it in errors: "-o", "--folded", ...
  // Throws Error when PATH cannot be written.
  OutputFile(const std::string& path, std::string option, Mode mode = Mode::Replace);
  // NAME in the directory TARGET.dir already resolved and checked by the caller (the calibration
  // cache: resolve_private_path), written with perfbpf's own identity.
  OutputFile(ResolvedPath target, std::string shown_path, std::string option);
  OutputFile(OutputFile&&) noexcept;
  OutputFile& operator=(OutputFile&&) noexcept;
  // Without a successful commit() the temporary is removed and PATH is as it was.
  ~OutputFile();

  // Thread-safe. Replace mode throws Error on failure. Stream mode keeps the first failure,
  // writes nothing more and lets commit() throw it: a full disk does not cut a session short.
  void write(std::string_view data);
  // Syncs and closes (and renames into place); throws Error.
  void commit();
  // Stream mode: the failure commit() will report, empty while writes succeed.
  std::string failure() const;

  const std::string& path() const;

  // Checks, before a session starts, that PATH could be written at its end: resolves it as
  // above and creates and removes a temporary (opens a device; a FIFO only by its type, so no
  // reader sees an early end of file). Throws Error. "-" always passes.
  static void check_writable(const std::string& path, const std::string& option);

  struct State;  // opaque: output_file.cpp

 private:
  std::unique_ptr<State> state_;
};

// Makes directory PATH and its missing parents for outputs, with the same rules (links judged,
// the invoking user's identity under sudo). Throws Error.
void create_output_directory(const std::string& path, const std::string& option);

// Opens, writes CONTENTS, commits: the whole-file case. Throws Error.
void write_output_file(const std::string& path, const std::string& option, std::string_view contents);

}  // namespace perfbpf
