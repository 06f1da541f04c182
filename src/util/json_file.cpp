#include "util/json_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "perfbpf/error.h"

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
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) unreadable(what, path, errno);
  struct stat st {};
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    int err = S_ISDIR(st.st_mode) ? EISDIR : errno;
    close(fd);
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
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(what + " " + path + " is not valid JSON: " + json_error_text(e), hint, EINVAL);
  }
}

}  // namespace perfbpf
