#include "util/json_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "perfbpf/error.h"
#include "util/safe_path.h"

namespace perfbpf {
namespace {

[[noreturn]] void unreadable(const std::string& what, const std::string& path, int err) {
  throw Error(errno_message("cannot read " + what + " " + path, err),
              err == ENOENT ? "check the path" : "give the path of a " + what + " file", err);
}

}  // namespace

std::string json_error_text(const nlohmann::json::exception& e) {
  std::string text = e.what();
  if (text.rfind("[json.exception.", 0) == 0) {
    size_t end = text.find("] ");
    if (end != std::string::npos) text.erase(0, end + 2);
  }
  return text;
}

nlohmann::json read_json_file(const std::string& path, const std::string& what, const std::string& hint) {
  // A regular file only: a FIFO or device given as a report cannot hang or flood perfbpf.
  int fd = open_regular_file(path);
  if (fd < 0) {
    int err = errno;
    struct stat st {};
    if (err == EINVAL && stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) err = EISDIR;
    unreadable(what, path, err);
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      unreadable(what, path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e3089
    throw Error(what + " " + path + " is not valid JSON: " + json_error_text(e), hint, EINVAL);
  }
}

}  // namespace perfbpf
