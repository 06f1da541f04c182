#include "perfbpf/error.h"

#include <cstring>

namespace perfbpf {

std::string errno_message(const std::string& what, int err) {
  if (err < 0) err = -err;  // libbpf returns -errno
  return what + ": " + std::strerror(err);
}

}  // namespace perfbpf
