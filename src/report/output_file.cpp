#include "report/output_file.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "session/privileges.h"

namespace perfbpf {

struct OutputFile::State {
  std::string path;     // as the user gave it, for messages
  std::string option;   // "-o", "--folded", ...
  InvokingUser user;    // present: every file-system step runs as this user
  UniqueFd dir;         // the directory holding NAME (absent for in-place outputs)
  std::string name;     // the final name in DIR
  std::string temp;     // our temporary in DIR until it is renamed over NAME
  UniqueFd fd;
  bool regular = false; // fsync only means something for a regular file
  bool committed = false;
  int stream_error = 0;           // Stream mode: first failure, thrown by commit()
  std::string stream_reason;
  Mode mode = Mode::Replace;
  mutable std::mutex mutex;
};

namespace {

std::string hint_for(int err, const std::string& option, const InvokingUser& user) {
  switch (err) {
    case ENOSPC:
    case EDQUOT: return option + ": the file system is full; free space or choose another path";
    case EFBIG: return option + ": the file size limit (ulimit -f) is reached";
    case EACCES:
    case EPERM:
    case EROFS:
      if (user.present)
        return fmt::format("{}: under sudo perfbpf writes as {} (uid {}); choose a path they may write", option,
                           user.name.empty() ? "the invoking user" : user.name, user.uid);
      return option + ": choose a path you may write";
    case ELOOP: return option + ": remove the link, or give the path it points to";
    case ENOENT:
    case ENOTDIR: return option + ": the directory does not exist";
    case EISDIR: return option + ": give a file name, not a directory";
    case ENXIO: return option + ": start the reader first";
    default: return option + ": choose another path";
  }
}

[[noreturn]] void fail(const std::string& path, const std::string& option, const InvokingUser& user, int err,
                       const std::string& reason = {}) {
  throw Error(fmt::format("cannot write '{}': {}", path, reason.empty() ? std::strerror(err) : reason),
              hint_for(err, option, user), err);
}

// "-", /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: a stream this process already
// holds, written through a duplicate so its mode (append), position and kind (socket) hold.
std::optional<int> own_descriptor(const std::string& path) {
  if (path == "-" || path == "/dev/stdout") return 1;
  if (path == "/dev/stderr") return 2;
  for (const char* prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    std::string_view p(path);
    if (p.rfind(prefix, 0) != 0) continue;
    p.remove_prefix(std::strlen(prefix));
    int fd = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), fd);
    if (ec == std::errc() && end == p.data() + p.size() && !p.empty()) return fd;
  }
  return std::nullopt;
}

// ".NAME.XXXXXX": unpredictable, so nobody can plant it in advance; hidden, so a listing of the
// directory does not show a half-written report.
std::string temporary_name(const std::string& name) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char random[8];
  if (getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random))
    for (auto& r : random) r = static_cast<unsigned char>(std::rand());
  std::string out = "." + name.substr(0, 200) + ".";
  for (unsigned char r : random) out += kChars[r % (sizeof kChars - 1)];
  return out;
}

void clear_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

// SIGPIPE (reader gone) and SIGXFSZ (ulimit -f) would kill perfbpf before it could say why:
// they are held for this thread while it writes, and one raised by our write is consumed.
class HoldWriteSignals {
 public:
  HoldWriteSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigaddset(&set_, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~HoldWriteSignals() {
    sigset_t pending;
    sigpending(&pending);
    for (int sig : {SIGPIPE, SIGXFSZ}) {
      if (!sigismember(&pending, sig) || sigismember(&old_, sig)) continue;
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      timespec zero{};
      sigtimedwait(&one, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t set_{}, old_{};
};

// 0 or the errno of the first failure.
int write_all(int fd, std::string_view data) {
  HoldWriteSignals hold;
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {  // a non-blocking descriptor we were given (stdout)
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, -1);
      continue;
    }
    return n < 0 ? errno : EIO;
  }
  return 0;
}

bool in_sticky_world_writable(int dir) {
  struct stat st {};
  return fstat(dir, &st) == 0 && (st.st_mode & (S_ISVTX | S_IWOTH)) == (S_ISVTX | S_IWOTH);
}

uid_t owner_of(int dir) {
  struct stat st {};
  fstat(dir, &st);
  return st.st_uid;
}

// A new file of ours next to S.name in S.dir, under a name nobody could have planted: O_EXCL
// fails on anything already there, link or not. 0644 less the umask.
void create_temporary(OutputFile::State& s) {
  for (int attempt = 0; attempt < 100 && !s.fd; attempt++) {
    s.temp = temporary_name(s.name);
    s.fd.reset(openat(s.dir.get(), s.temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!s.fd && errno != EEXIST) {
      const int err = errno;
      s.temp.clear();
      fail(s.path, s.option, s.user, err);
    }
  }
  if (!s.fd) {
    s.temp.clear();
    fail(s.path, s.option, s.user, EEXIST, "no unused temporary name in its directory");
  }
  s.regular = true;
}

// Opens S's output. PROBE_ONLY (the check before a session): nothing is left behind and no
// FIFO is opened.
void open_output(OutputFile::State& s, bool probe_only) {
  auto refuse = [&s](int err, const std::string& reason = {}) { fail(s.path, s.option, s.user, err, reason); };
  ActingAs as(s.user);
  const uid_t follower = s.user.present ? s.user.uid : geteuid();

  if (auto own = own_descriptor(s.path)) {
    int flags = fcntl(*own, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) refuse(EBADF, "descriptor " + std::to_string(*own) + " is not open for writing");
    if (probe_only) return;
    s.fd.reset(fcntl(*own, F_DUPFD_CLOEXEC, 3));
    if (!s.fd) refuse(errno);
    struct stat st {};
    s.regular = fstat(s.fd.get(), &st) == 0 && S_ISREG(st.st_mode);
    return;
  }

  ResolvedPath r;
  try {
    r = resolve_output_path(s.path, follower);
  } catch (const PathRefused& e) {
    refuse(e.err(), e.what());
  }

  if (r.proc_link) {  // /proc/PID/fd/N of another process: the kernel checks we may use it
    if (probe_only) return;
    s.fd.reset(openat(r.dir.get(), r.name.c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!s.fd) refuse(errno);
    clear_nonblocking(s.fd.get());
    return;
  }

  if (r.exists && !S_ISREG(r.st.st_mode)) {
    if (S_ISDIR(r.st.st_mode)) refuse(EISDIR);
    if (S_ISBLK(r.st.st_mode)) refuse(EPERM, "it is a block device: perfbpf does not write over disks");
    if (S_ISSOCK(r.st.st_mode)) refuse(ENXIO, "it is a socket");
    // A FIFO or device in /tmp belongs to whoever made it: another user's FIFO would read what
    // we write (the kernel's fs.protected_fifos rule, applied here whatever the sysctl says).
    if (in_sticky_world_writable(r.dir.get()) && r.st.st_uid != follower && r.st.st_uid != owner_of(r.dir.get()))
      refuse(EPERM, fmt::format("'{}' is a {} owned by uid {} in the sticky directory '{}'", s.path,
                                S_ISFIFO(r.st.st_mode) ? "FIFO" : "device", r.st.st_uid, r.dir_shown));
    if (probe_only && S_ISFIFO(r.st.st_mode)) return;
    // O_NONBLOCK: a FIFO nobody reads fails (ENXIO) instead of hanging perfbpf in open().
    s.fd.reset(openat(r.dir.get(), r.name.c_str(), O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!s.fd && errno == ENXIO && S_ISFIFO(r.st.st_mode)) refuse(ENXIO, "no process is reading the FIFO");
    if (!s.fd) refuse(errno);
    struct stat now {};
    if (fstat(s.fd.get(), &now) != 0 || now.st_dev != r.st.st_dev || now.st_ino != r.st.st_ino)
      refuse(EAGAIN, "it was replaced while it was opened");
    clear_nonblocking(s.fd.get());
    if (probe_only) s.fd.reset();
    return;
  }

  // A regular file, new or replaced: a temporary of our own, renamed over NAME at commit().
  s.dir = std::move(r.dir);
  s.name = r.name;
  create_temporary(s);
  // A replaced file keeps the permissions its owner chose (a private report stays private),
  // but is never left writable by every user.
  if (r.exists && fchmod(s.fd.get(), r.st.st_mode & 0666 & ~S_IWOTH) != 0) refuse(errno);
  if (probe_only) return;  // check_writable() removes the temporary
  if (s.mode == OutputFile::Mode::Stream) {
    if (renameat(s.dir.get(), s.temp.c_str(), s.dir.get(), s.name.c_str()) != 0) refuse(errno);
    s.temp.clear();
  }
}

void remove_temporary(OutputFile::State& s) noexcept {
  if (s.temp.empty() || !s.dir) return;
  try {
    ActingAs as(s.user);
    unlinkat(s.dir.get(), s.temp.c_str(), 0);
  } catch (...) {
    unlinkat(s.dir.get(), s.temp.c_str(), 0);  // our own file, by its unguessable name
  }
  s.temp.clear();
}

}  // namespace

OutputFile::OutputFile(const std::string& path, std::string option, Mode mode) : state_(std::make_unique<State>()) {
  state_->path = path;
  state_->option = std::move(option);
  state_->user = invoking_user();
  state_->mode = mode;
  try {
    open_output(*state_, /*probe_only=*/false);
  } catch (...) {
    remove_temporary(*state_);
    throw;
  }
}

OutputFile::OutputFile(ResolvedPath target, std::string shown_path, std::string option)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = std::move(shown_path);
  s.option = std::move(option);
  s.dir = std::move(target.dir);
  s.name = target.name;
  create_temporary(s);
}

OutputFile::OutputFile(OutputFile&&) noexcept = default;
OutputFile& OutputFile::operator=(OutputFile&&) noexcept = default;

OutputFile::~OutputFile() {
  if (state_ && !state_->committed) remove_temporary(*state_);
}

void OutputFile::write(std::string_view data) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.stream_error || !s.fd) return;
  int err = write_all(s.fd.get(), data);
  if (!err) return;
  if (s.mode == Mode::Stream) {
    s.stream_error = err;
    return;
  }
  fail(s.path, s.option, s.user, err);
}

std::string OutputFile::failure() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->stream_error ? std::strerror(state_->stream_error) : "";
}

void OutputFile::commit() {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.committed) return;
  auto failed = [&s](int err) {
    s.fd.reset();
    remove_temporary(s);
    fail(s.path, s.option, s.user, err);
  };
  if (s.stream_error) failed(s.stream_error);
  // fsync: on ext4 and NFS, space runs out or I/O fails only when data reaches the disk.
  if (s.regular && fsync(s.fd.get()) != 0 && errno != EINVAL) failed(errno);
  if (::close(s.fd.release()) != 0 && errno != EINTR) failed(errno);  // EINTR: Linux has closed it
  if (!s.temp.empty()) {
    ActingAs as(s.user);
    if (renameat(s.dir.get(), s.temp.c_str(), s.dir.get(), s.name.c_str()) != 0) failed(errno);
    s.temp.clear();
  }
  s.committed = true;
}

const std::string& OutputFile::path() const { return state_->path; }

void OutputFile::check_writable(const std::string& path, const std::string& option) {
  State s;
  s.path = path;
  s.option = option;
  s.user = invoking_user();
  try {
    open_output(s, /*probe_only=*/true);
  } catch (...) {
    s.fd.reset();
    remove_temporary(s);
    throw;
  }
  s.fd.reset();
  remove_temporary(s);
}

void create_output_directory(const std::string& path, const std::string& option) {
  const InvokingUser user = invoking_user();
  ActingAs as(user);
  try {
    make_output_directories(path, user.present ? user.uid : geteuid());
  } catch (const PathRefused& e) {
    fail(path, option, user, e.err(), e.what());
  }
}

void write_output_file(const std::string& path, const std::string& option, std::string_view contents) {
  OutputFile out(path, option);
  out.write(contents);
  out.commit();
}

}  // namespace perfbpf
