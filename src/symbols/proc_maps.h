// /proc/PID/maps parsing through an injectable proc root (tests point it at tests/data/proc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace perfbpf {

struct MapEntry {
  uint64_t start = 0, end = 0, offset = 0;
  std::string perms;  // "r-xp"
  uint64_t inode = 0;
  std::string path;   // as the process sees it (its mount namespace); may be "" or "[heap]"
};

// An executable file mapping as the kernel reported it at a sample (bpf/profile.h code_mapping),
// so that a process gone before /proc/PID/maps could be read keeps its code's names.
struct CodeMapping {
  uint32_t tgid = 0;
  uint64_t start = 0, end = 0, offset = 0;
  uint64_t dev = 0, inode = 0;  // the file's st_dev (userspace encoding) and st_ino
  std::string path;             // as the process saw it (its mount namespace); "" when too deep
  bool first = false;           // the first of a new set: the process's earlier code mappings are gone
  bool new_image = false;       // ... and its whole image: an exec (or a process first seen)
};

// Throws Error when the process does not exist (hint: check the pid) or maps is unreadable.
std::vector<MapEntry> read_proc_maps(const std::string& proc_root, int pid);

// Distinct file-backed paths (absolute, inode != 0), in first-mapped order; " (deleted)" kept out.
std::vector<std::string> mapped_objects(const std::vector<MapEntry>& maps);

// Does a library name as a user types it ("libssl", "libc", "libc.so.6", "libfoo.so") name this
// file? Matches the basename exactly, or NAME followed by ".so" or "-" ("libc-2.31.so"), or
// NAME followed by "." and a version when NAME already ends in ".so". Never a prefix that runs
// on into letters ("libc" does not match "libcrypto.so.3").
bool library_name_matches(std::string_view path, std::string_view name);

}  // namespace perfbpf
