#include "util/cache_dir.h"

#include <unistd.h>

#include <cstdlib>

namespace perfbpf {

std::string perfbpf_cache_directory() {
  if (geteuid() == 0) return "/var/cache/perfbpf";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/perfbpf";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/perfbpf";
}

}  // namespace perfbpf
