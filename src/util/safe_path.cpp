#include "util/safe_path.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>

#include <fmt/format.h>

namespace perfbpf {
namespace {

// What the walk may trust: outputs follow the kernel's protected_symlinks rule for one user;
// private files trust nothing but root and the effective user.
struct Policy {
  uid_t follower = 0;
  bool private_dirs = false;
  bool create = false;       // make missing directories on the way
  bool create_last = false;  // and the last component, as a directory
};

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string c = path.substr(start, end - start);
    if (!c.empty() && c != ".") out.push_back(std::move(c));
    start = end + 1;
  }
  return out;
}

std::string joined(const std::string& dir, const std::string& name) {
  if (dir == ".") return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool is_procfs(int fd) {
  struct statfs s {};
  return fstatfs(fd, &s) == 0 && s.f_type == PROC_SUPER_MAGIC;
}

struct stat stat_of(int fd, const std::string& shown) {
  struct stat st {};
  if (fstat(fd, &st) != 0) throw PathRefused(errno, fmt::format("cannot inspect '{}'", shown));
  return st;
}

bool trusted_owner(uid_t uid) { return uid == 0 || uid == geteuid(); }

bool sticky_world_writable(const struct stat& dir) {
  return (dir.st_mode & (S_ISVTX | S_IWOTH)) == (S_ISVTX | S_IWOTH);
}

// The kernel's may_follow_link() for fs.protected_symlinks=1, or stricter for private files.
void check_link(const Policy& policy, const struct stat& dir, const struct stat& link, const std::string& link_shown,
                const std::string& dir_shown) {
  if (policy.private_dirs) {
    if (!trusted_owner(link.st_uid))
      throw PathRefused(EPERM, fmt::format("'{}' is a symbolic link owned by uid {}", link_shown, link.st_uid));
    return;
  }
  if (!sticky_world_writable(dir) || link.st_uid == policy.follower || link.st_uid == dir.st_uid) return;
  throw PathRefused(ELOOP, fmt::format("'{}' is a symbolic link owned by uid {} in the sticky directory '{}', "
                                       "not followed",
                                       link_shown, link.st_uid, dir_shown));
}

// A directory on the way to a private file: root's or ours; others may write only a sticky one.
void check_private_ancestor(const struct stat& st, const std::string& shown) {
  if (!trusted_owner(st.st_uid))
    throw PathRefused(EPERM, fmt::format("'{}' is owned by uid {}", shown, st.st_uid));
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
    throw PathRefused(EPERM, fmt::format("'{}' is writable by other users", shown));
}

UniqueFd open_start(bool absolute) {
  UniqueFd fd(open(absolute ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw PathRefused(errno, "");
  return fd;
}

ResolvedPath walk(const std::string& path, const Policy& policy) {
  if (path.empty()) throw PathRefused(ENOENT, "");
  if (path.back() == '/') throw PathRefused(EISDIR, "");  // "out/" names a directory
  std::deque<std::string> parts = components(path);
  ResolvedPath r;
  r.dir = open_start(path[0] == '/');
  r.dir_shown = path[0] == '/' ? "/" : ".";
  if (policy.private_dirs) check_private_ancestor(stat_of(r.dir.get(), r.dir_shown), r.dir_shown);
  int links = 0;
  while (!parts.empty()) {
    const std::string c = parts.front();
    parts.pop_front();
    const bool last = parts.empty();
    const std::string shown = joined(r.dir_shown, c);
    struct stat st {};
    if (fstatat(r.dir.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      if (err == ENOENT && last && !policy.create_last) {
        r.name = c;
        break;
      }
      if (err != ENOENT || !policy.create) throw PathRefused(err, "");
      if (mkdirat(r.dir.get(), c.c_str(), 0755) != 0 && errno != EEXIST)
        throw PathRefused(errno, fmt::format("cannot create '{}'", shown));
      if (fstatat(r.dir.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw PathRefused(errno, "");
      if (last) {
        r.name = c;
        r.exists = true;
        r.st = st;
        break;
      }
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) throw PathRefused(ELOOP, "");
      // The link's owner and target are read through one descriptor: a link swapped after
      // fstatat() is judged by what is actually followed.
      UniqueFd link(openat(r.dir.get(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!link) throw PathRefused(errno, "");
      st = stat_of(link.get(), shown);
      if (!S_ISLNK(st.st_mode)) throw PathRefused(EAGAIN, fmt::format("'{}' changed while it was resolved", shown));
      check_link(policy, stat_of(r.dir.get(), r.dir_shown), st, shown, r.dir_shown);
      if (is_procfs(r.dir.get())) {
        // /proc/self, /proc/PID/fd/N: their "targets" are not paths (pipe:[123]); the kernel
        // follows them, and they lead only where this process may already go.
        if (last) {
          r.name = c;
          r.exists = true;
          r.st = st;
          r.proc_link = true;
          break;
        }
        UniqueFd next(openat(r.dir.get(), c.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!next) throw PathRefused(errno, "");
        r.dir = std::move(next);
        r.dir_shown = shown;
        continue;
      }
      char target[PATH_MAX];
      ssize_t n = readlinkat(link.get(), "", target, sizeof target);
      if (n < 0) throw PathRefused(errno, "");
      if (n == 0) throw PathRefused(ENOENT, "");
      if (static_cast<size_t>(n) == sizeof target) throw PathRefused(ENAMETOOLONG, "");
      const std::string to(target, static_cast<size_t>(n));
      if (last && to.back() == '/') throw PathRefused(EISDIR, "");
      std::deque<std::string> more = components(to);
      parts.insert(parts.begin(), more.begin(), more.end());
      if (to[0] == '/') {
        r.dir = open_start(true);
        r.dir_shown = "/";
      }
      if (parts.empty()) throw PathRefused(EISDIR, "");  // a link to "/" or "."
      continue;
    }
    if (last) {
      r.name = c;
      r.exists = true;
      r.st = st;
      break;
    }
    if (!S_ISDIR(st.st_mode)) throw PathRefused(ENOTDIR, "");
    // O_NOFOLLOW: a directory replaced by a link since fstatat() fails here instead.
    UniqueFd next(openat(r.dir.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) throw PathRefused(errno == ELOOP ? EAGAIN : errno, "");
    if (policy.private_dirs) check_private_ancestor(stat_of(next.get(), shown), shown);
    r.dir = std::move(next);
    r.dir_shown = shown;
  }
  if (r.name.empty()) throw PathRefused(EISDIR, "");  // "/", "." or "..": a directory
  if (policy.private_dirs) {
    struct stat dir = stat_of(r.dir.get(), r.dir_shown);
    if (!owned_privately(dir))
      throw PathRefused(EPERM, fmt::format("'{}' is owned by uid {} with mode {:o}", r.dir_shown, dir.st_uid,
                                           dir.st_mode & 07777));
  }
  return r;
}

}  // namespace

int open_regular_file(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) return -1;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return -1;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return -1;
  }
  return fd.release();  // O_NONBLOCK changes nothing for a regular file
}

RegularFile read_regular_file(int dir, const std::string& name, size_t max_bytes) {
  UniqueFd fd(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) throw PathRefused(errno, "");
  RegularFile f;
  if (fstat(fd.get(), &f.st) != 0) throw PathRefused(errno, "");
  if (!S_ISREG(f.st.st_mode)) throw PathRefused(EINVAL, "it is not a regular file");
  if (static_cast<size_t>(f.st.st_size) > max_bytes) throw PathRefused(EFBIG, fmt::format("it is larger than {} bytes", max_bytes));
  f.text.resize(static_cast<size_t>(f.st.st_size));
  size_t got = 0;
  while (got < f.text.size()) {  // a file growing meanwhile is read up to its size at open
    ssize_t n = pread(fd.get(), f.text.data() + got, f.text.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw PathRefused(errno, "");
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  f.text.resize(got);
  return f;
}

bool owned_privately(const struct stat& st) { return trusted_owner(st.st_uid) && !(st.st_mode & (S_IWGRP | S_IWOTH)); }

ResolvedPath resolve_output_path(const std::string& path, uid_t follower) {
  Policy p;
  p.follower = follower;
  return walk(path, p);
}

void make_output_directories(const std::string& path, uid_t follower) {
  Policy p;
  p.follower = follower;
  p.create = p.create_last = true;
  ResolvedPath r = walk(path, p);
  if (r.exists && !S_ISDIR(r.st.st_mode)) throw PathRefused(ENOTDIR, "");
}

ResolvedPath resolve_private_path(const std::string& path, bool create) {
  Policy p;
  p.follower = geteuid();
  p.private_dirs = true;
  p.create = create;
  return walk(path, p);
}

UniqueFd open_private_directory(const std::string& path) {
  Policy p;
  p.follower = geteuid();
  p.private_dirs = true;
  p.create = p.create_last = true;
  ResolvedPath r = walk(path, p);
  UniqueFd dir(openat(r.dir.get(), r.name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!dir || fstat(dir.get(), &st) != 0) throw PathRefused(errno, "");
  if (!owned_privately(st)) throw PathRefused(EPERM, fmt::format("'{}' is not the effective user's own", path));
  return dir;
}

}  // namespace perfbpf
