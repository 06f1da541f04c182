// Resolving a path that perfbpf (often root) is about to write or trust, where another user may
// have planted a symbolic link, a FIFO or a directory of their own. The path is walked one
// component at a time with O_PATH|O_NOFOLLOW descriptors, so the kernel never follows a link we
// did not check, and each link is judged before it is followed.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "util/unique_fd.h"

namespace perfbpf {

// Why a path cannot be used: an errno and, when it adds something strerror cannot say, a reason
// ("'/tmp/r.json' is a symbolic link owned by uid 65534 in the sticky directory '/tmp'").
class PathRefused : public std::runtime_error {
 public:
  PathRefused(int err, const std::string& reason) : std::runtime_error(reason), err_(err) {}
  int err() const { return err_; }

 private:
  int err_;
};

// PATH's last component and the directory that holds it (an O_PATH descriptor: later opens,
// creations and renames are relative to it, so a directory swapped after the walk is not used).
struct ResolvedPath {
  UniqueFd dir;
  std::string dir_shown;  // the directory as a path, for messages
  std::string name;       // never a symbolic link, but see proc_link
  bool exists = false;
  struct stat st {};      // NAME itself (not followed), when it exists
  bool proc_link = false; // a /proc "magic" link (/proc/self/fd/1): only the kernel can follow it
};

// For outputs: a link is followed only where the kernel's fs.protected_symlinks=1 would follow
// it for FOLLOWER, whatever the sysctl says: anywhere but in a sticky world-writable directory
// (/tmp), and there only when FOLLOWER or the directory's owner owns the link. Throws PathRefused.
ResolvedPath resolve_output_path(const std::string& path, uid_t follower);

// Makes directory PATH and its missing parents (0755 less the umask), links judged as above.
// Throws PathRefused.
void make_output_directories(const std::string& path, uid_t follower);

// For files perfbpf trusts (the calibration cache): every directory on the way and every link
// is owned by root or by the effective user; no directory may be writable by others unless it
// is sticky (/tmp), and the last directory not at all. CREATE makes missing directories (0755).
// Throws PathRefused saying which component failed and why.
ResolvedPath resolve_private_path(const std::string& path, bool create);

// Directory PATH for files perfbpf trusts (the debug cache), made with its missing parents by
// resolve_private_path's rules, and itself root's or the effective user's and writable by no one
// else. Returns an O_PATH descriptor of it. Throws PathRefused.
UniqueFd open_private_directory(const std::string& path);

// Opens PATH read-only when it is a regular file, and only then: O_NONBLOCK, so a FIFO someone
// put where a debug file or JIT map is expected cannot block perfbpf in open(), then fstat
// refuses FIFOs, devices and directories. Returns -1 with errno set (EINVAL: not a regular file).
int open_regular_file(const std::string& path);

// A whole regular file that someone else may control (a JIT's /tmp/perf-PID.map, the calibration
// cache), read without following a last-component link, blocking on a FIFO or reading a device
// forever: NAME relative to DIR (AT_FDCWD for a path). Throws PathRefused when it is not a
// regular file or is larger than MAX_BYTES; the caller judges the owner from ST.
struct RegularFile {
  std::string text;
  struct stat st {};
};
RegularFile read_regular_file(int dir, const std::string& name, size_t max_bytes);

// True when a file of this owner and mode can be trusted as the effective user's own: owned by
// it (or root) and writable by no one else.
bool owned_privately(const struct stat& st);

}  // namespace perfbpf
