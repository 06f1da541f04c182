#include "collect/procfs.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>

#include "perfbpf/error.h"

namespace fs = std::filesystem;

namespace perfbpf {
namespace {

// /proc files report size 0, so read through the stream buffer rather than by size.
std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    f(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// "VmRSS:\t    1748 kB" -> 1748 * 1024. Both status and meminfo use this shape.
bool parse_kb_field(std::string_view line, std::string_view key, uint64_t& bytes) {
  if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':')
    return false;
  auto tokens = split_ws(line.substr(key.size() + 1));
  uint64_t value = 0;
  if (tokens.empty() || !parse_number(tokens[0], value)) return false;
  // Every such field is in kB today; a bare number would be a count, kept as is.
  bytes = tokens.size() >= 2 && tokens[1] == "kB" ? value * 1024 : value;
  return true;
}

std::vector<uint32_t> numeric_entries(const std::string& dir) {
  std::vector<uint32_t> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    uint32_t n = 0;
    if (parse_number(std::string_view(it->path().filename().native()), n)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void read_cgroup_procs(const fs::path& file, std::vector<uint32_t>& out) {
  // A cgroup removed during the walk just has nothing left to report.
  auto text = read_text(file.string());
  if (!text) return;
  for_each_line(*text, [&](std::string_view line) {
    uint32_t pid = 0;
    if (parse_number(line, pid)) out.push_back(pid);
  });
}

}  // namespace

double MemInfo::used_pct() const {
  if (total_bytes == 0) return 0.0;
  uint64_t used = total_bytes > available_bytes ? total_bytes - available_bytes : 0;
  return static_cast<double>(used) / static_cast<double>(total_bytes) * 100.0;
}

std::optional<ProcStat> parse_proc_stat(const std::string& text) {
  // comm is "(...)" and may itself hold spaces and ')': only the last ')' closes it.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat s;
  auto head = split_ws(std::string_view(text).substr(0, open));
  if (head.size() != 1 || !parse_number(head[0], s.pid)) return std::nullopt;
  s.comm = text.substr(open + 1, close - open - 1);
  // Fields from 3 (state) on; field N of proc(5) is rest[N - 3].
  auto rest = split_ws(std::string_view(text).substr(close + 1));
  if (rest.size() < 22 || rest[0].size() != 1) return std::nullopt;
  s.state = rest[0][0];
  bool ok = parse_number(rest[1], s.ppid) && parse_number(rest[7], s.minflt) &&
            parse_number(rest[9], s.majflt) && parse_number(rest[11], s.utime_ticks) &&
            parse_number(rest[12], s.stime_ticks) && parse_number(rest[17], s.num_threads) &&
            parse_number(rest[19], s.starttime_ticks) && parse_number(rest[21], s.rss_pages);
  if (!ok) return std::nullopt;
  return s;
}

ProcFs::ProcFs(std::string root) : root_(std::move(root)) {}

const std::string& ProcFs::root() const { return root_; }

std::optional<ProcStat> ProcFs::stat(uint32_t pid) const {
  auto text = read_text(root_ + "/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

std::optional<ProcStat> ProcFs::thread_stat(uint32_t pid, uint32_t tid) const {
  auto text = read_text(root_ + "/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

std::optional<SchedStat> ProcFs::thread_schedstat(uint32_t pid, uint32_t tid) const {
  auto text = read_text(root_ + "/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/schedstat");
  if (!text) return std::nullopt;
  std::vector<std::string_view> f = split_ws(*text);
  SchedStat s;
  if (f.size() < 3 || !parse_number(f[0], s.exec_ns) || !parse_number(f[1], s.run_delay_ns) ||
      !parse_number(f[2], s.timeslices))
    return std::nullopt;
  return s;
}

std::optional<ProcMemory> ProcFs::memory(uint32_t pid) const {
  auto text = read_text(root_ + "/" + std::to_string(pid) + "/status");
  if (!text) return std::nullopt;
  ProcMemory m;
  for_each_line(*text, [&](std::string_view line) {
    parse_kb_field(line, "VmRSS", m.vm_rss_bytes) || parse_kb_field(line, "RssAnon", m.rss_anon_bytes) ||
        parse_kb_field(line, "RssFile", m.rss_file_bytes) ||
        parse_kb_field(line, "RssShmem", m.rss_shmem_bytes) || parse_kb_field(line, "VmHWM", m.vm_hwm_bytes);
  });
  return m;
}

std::vector<uint32_t> ProcFs::pids() const { return numeric_entries(root_); }

std::vector<uint32_t> ProcFs::threads(uint32_t pid) const {
  return numeric_entries(root_ + "/" + std::to_string(pid) + "/task");
}

MemInfo ProcFs::meminfo() const {
  std::string path = root_ + "/meminfo";
  auto text = read_text(path);
  if (!text) {
    int err = errno;
    throw Error(errno_message("cannot read " + path, err), "is " + root_ + " a mounted proc filesystem?", err);
  }
  MemInfo info;
  bool have_total = false, have_available = false;
  uint64_t free = 0, buffers = 0, cached = 0;
  for_each_line(*text, [&](std::string_view line) {
    if (parse_kb_field(line, "MemTotal", info.total_bytes)) have_total = true;
    else if (parse_kb_field(line, "MemAvailable", info.available_bytes)) have_available = true;
    else parse_kb_field(line, "MemFree", free) || parse_kb_field(line, "Buffers", buffers) ||
             parse_kb_field(line, "Cached", cached);
  });
  if (!have_total) throw Error(path + " has no MemTotal line", "is " + root_ + " a proc filesystem?");
  // Kernels before 3.14 have no MemAvailable; free + buffers + cache is the old estimate.
  if (!have_available) info.available_bytes = std::min(info.total_bytes, free + buffers + cached);
  return info;
}

std::vector<DiskStatsLine> ProcFs::diskstats() const {
  std::vector<DiskStatsLine> out;
  auto text = read_text(root_ + "/diskstats");
  if (!text) return out;
  for_each_line(*text, [&](std::string_view line) {
    // major minor name reads merged sectors ms writes merged sectors ms ...
    auto t = split_ws(line);
    DiskStatsLine d;
    if (t.size() < 10) return;
    uint64_t ignored = 0;
    if (!parse_number(t[0], d.major) || !parse_number(t[1], d.minor) || !parse_number(t[3], d.reads) ||
        !parse_number(t[4], ignored) || !parse_number(t[5], d.sectors_read) ||
        !parse_number(t[7], d.writes) || !parse_number(t[9], d.sectors_written))
      return;
    d.name = std::string(t[2]);
    out.push_back(std::move(d));
  });
  return out;
}

std::vector<NetDevLine> ProcFs::net_dev() const {
  std::vector<NetDevLine> out;
  auto text = read_text(root_ + "/net/dev");
  if (!text) return out;
  for_each_line(*text, [&](std::string_view line) {
    // "  eth0: 26276275 739 0 ..." ; the two header lines have '|' and fail the number parse.
    // The name and the first counter may touch ("eth0:123") when the counter is wide.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    auto names = split_ws(line.substr(0, colon));
    auto t = split_ws(line.substr(colon + 1));
    NetDevLine n;
    if (names.size() != 1 || t.size() < 10) return;
    if (!parse_number(t[0], n.rx_bytes) || !parse_number(t[1], n.rx_packets) ||
        !parse_number(t[8], n.tx_bytes) || !parse_number(t[9], n.tx_packets))
      return;
    n.name = std::string(names[0]);
    out.push_back(std::move(n));
  });
  return out;
}

CpuTimes ProcFs::cpu_times() const {
  CpuTimes out;
  auto text = read_text(root_ + "/stat");
  if (!text) return out;
  bool done = false;
  for_each_line(*text, [&](std::string_view line) {
    if (done) return;
    auto t = split_ws(line);
    if (t.empty() || t[0] != "cpu") return;
    done = true;
    // user nice system idle iowait irq softirq steal [guest guest_nice]. guest time is already
    // counted in user and nice, so it must not be added again.
    uint64_t v[8] = {};
    for (size_t i = 0; i < 8 && i + 1 < t.size(); ++i)
      if (!parse_number(t[i + 1], v[i])) return;
    uint64_t total = 0;
    for (uint64_t x : v) total += x;
    out.total_ticks = total;
    out.busy_ticks = total - v[3] - v[4];
  });
  return out;
}

std::vector<uint32_t> cgroup_pids(const std::string& dir) {
  fs::path root(dir);
  std::error_code ec;
  if (!fs::is_regular_file(root / "cgroup.procs", ec))
    throw Error::usage(dir + " is not a cgroup directory (no cgroup.procs)",
                       "pass a directory under /sys/fs/cgroup, e.g. /sys/fs/cgroup/system.slice/foo.service "
                       "(cgroup v2) or /sys/fs/cgroup/memory/NAME (v1)");
  std::vector<uint32_t> out;
  read_cgroup_procs(root / "cgroup.procs", out);
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec) && !it->is_symlink(type_ec)) {
      fs::path procs = it->path() / "cgroup.procs";
      if (fs::is_regular_file(procs, type_ec)) read_cgroup_procs(procs, out);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

uint64_t clock_ticks_to_ns(uint64_t ticks) {
  static const uint64_t hz = [] {
    long v = sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<uint64_t>(v) : 100;
  }();
  constexpr uint64_t kNsPerSec = 1'000'000'000;
  // Split so ticks * 1e9 cannot overflow for long-lived processes.
  return ticks / hz * kNsPerSec + ticks % hz * kNsPerSec / hz;
}

}  // namespace perfbpf
