// One error type for everything perfbpf reports to a user: what went wrong, a hint on how to
// fix it, the errno behind it (0 if none) and whether it was a usage mistake (exit 2) or a
// runtime failure (exit 1).
#pragma once

#include <stdexcept>
#include <string>

namespace perfbpf {

enum class ErrorKind { Usage, Runtime };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string hint = {}, int errno_value = 0,
                 ErrorKind kind = ErrorKind::Runtime)
      : std::runtime_error(what), hint_(std::move(hint)), errno_(errno_value), kind_(kind) {}

  static Error usage(const std::string& what, std::string hint = {}) {
    return Error(what, std::move(hint), 0, ErrorKind::Usage);
  }

  const std::string& hint() const noexcept { return hint_; }
  int errno_value() const noexcept { return errno_; }
  ErrorKind kind() const noexcept { return kind_; }
  int exit_code() const noexcept { return kind_ == ErrorKind::Usage ? 2 : 1; }

 private:
  std::string hint_;
  int errno_;
  ErrorKind kind_;
};

// "what: strerror(err)" for errors coming back from syscalls and libbpf (-errno).
std::string errno_message(const std::string& what, int err);

}  // namespace perfbpf
