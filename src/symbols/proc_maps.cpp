#include "symbols/proc_maps.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "perfbpf/error.h"

namespace perfbpf {

std::vector<MapEntry> read_proc_maps(const std::string& proc_root, int pid) {
  std::string dir = proc_root + "/" + std::to_string(pid);
  std::ifstream in(dir + "/maps");
  if (!in) {
    int err = errno;
    std::ifstream probe(dir + "/stat");
    if (!probe) throw Error("no process with pid " + std::to_string(pid), "check the pid; the process may have exited", ESRCH);
    throw Error(errno_message("cannot read " + dir + "/maps", err), "run as root", err);
  }
  std::vector<MapEntry> maps;
  std::string line;
  while (std::getline(in, line)) {
    MapEntry e;
    char perms[8] = {};
    unsigned long long start = 0, end = 0, offset = 0, inode = 0;
    int path_at = 0;
    // start-end perms offset dev inode [path]; the path may hold spaces, so take the rest.
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %llu %n", &start, &end, perms, &offset, &inode, &path_at) < 5)
      continue;
    e.start = start;
    e.end = end;
    e.perms = perms;
    e.offset = offset;
    e.inode = inode;
    if (path_at > 0 && static_cast<size_t>(path_at) <= line.size()) e.path = line.substr(static_cast<size_t>(path_at));
    maps.push_back(std::move(e));
  }
  return maps;
}

std::vector<std::string> mapped_objects(const std::vector<MapEntry>& maps) {
  static const std::string kDeleted = " (deleted)";
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& m : maps) {
    if (m.inode == 0 || m.path.empty() || m.path[0] != '/') continue;
    if (m.path.size() > kDeleted.size() && m.path.compare(m.path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
      continue;
    if (seen.insert(m.path).second) out.push_back(m.path);
  }
  return out;
}

bool library_name_matches(std::string_view path, std::string_view name) {
  if (name.empty()) return false;
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (base == name) return true;
  if (base.size() <= name.size() || base.substr(0, name.size()) != name) return false;
  std::string_view rest = base.substr(name.size());
  if (rest.rfind(".so", 0) == 0 || rest[0] == '-') return true;
  // "libfoo.so" also names "libfoo.so.1.2".
  bool name_is_so = name.size() >= 3 && name.substr(name.size() - 3) == ".so";
  return name_is_so && rest[0] == '.' && rest.size() > 1 && std::isdigit(static_cast<unsigned char>(rest[1]));
}

}  // namespace perfbpf
