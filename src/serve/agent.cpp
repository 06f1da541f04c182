#include "serve/agent.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "perfbpf/calibration.h"
#include "perfbpf/error.h"
#include "perfbpf/session.h"
#include "report/json_report.h"
#include "report/output_file.h"
#include "util/unique_fd.h"
#include "report/pprof.h"
#include "serve/agent_config.h"
#include "serve/agent_memory.h"
#include "serve/dashboard_server.h"
#include "serve/live_report.h"
#include "session/system_info.h"

namespace perfbpf {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPrefix = "perfbpf-";

std::string utc_stamp() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char text[32];
  strftime(text, sizeof(text), "%Y%m%dT%H%M%S", &t);
  return fmt::format("{}.{:03d}Z", text, ts.tv_nsec / 1000000);
}

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Processes whose comm or executable base name is NAME, by tgid.
std::map<uint32_t, std::string> find_processes(const std::vector<AgentProbe>& probes) {
  std::map<uint32_t, std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const uint32_t pid = static_cast<uint32_t>(std::stoul(name));
    if (pid == static_cast<uint32_t>(getpid())) continue;
    const std::string comm = read_line(entry.path().string() + "/comm");
    std::error_code link_ec;
    const std::string exe = fs::read_symlink(entry.path() / "exe", link_ec).filename().string();
    for (const auto& p : probes)
      if (p.process == comm || (!link_ec && p.process == exe)) {
        found[pid] = p.process;
        break;
      }
  }
  return found;
}

// Sessions of one period, each on its own thread, all ended by one eventfd.
class Period {
 public:
  Period(const AgentConfig& config, std::shared_ptr<LiveReport> live, std::ostream& log)
      : config_(config), live_(std::move(live)), log_(log), stop_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (stop_.get() < 0) throw Error(errno_message("eventfd", errno));
    start_ns_ = monotonic_ns();
  }
  ~Period() {
    stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  bool has_system() const {
    return config_.sample_freq > 0 || config_.off_cpu || !config_.collectors.empty();
  }

  void start_system() {
    SessionOptions o = base_options();
    o.system_wide = true;
    o.collectors = config_.collectors;
    o.sample_freq = config_.sample_freq;
    o.off_cpu = config_.off_cpu;
    o.min_block_us = config_.min_block_us;
    o.top_n = config_.top_n;
    o.duration_s = config_.period_s;
    o.on_snapshot = [this](const Profile& p) {
      std::lock_guard lock(mutex_);
      system_ = p;
      publish_locked();
    };
    threads_.emplace_back([this, o] {
      try {
        Profile p = run_session(o);
        std::lock_guard lock(mutex_);
        system_ = std::move(p);
        system_done_ = true;
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        system_error_ = e.what();
        system_done_ = true;
      }
    });
  }

  // Starts a pid session for each named process not profiled yet in this period.
  void scan_processes() {
    if (config_.probes.empty()) return;
    const double elapsed = static_cast<double>(monotonic_ns() - start_ns_) / 1e9;
    if (config_.period_s - elapsed < 0.2) return;  // too late in the period to be worth attaching
    for (const auto& [pid, process] : find_processes(config_.probes)) {
      if (!seen_.insert(pid).second) continue;
      names_[pid] = process;
      SessionOptions o = base_options();
      o.pid = static_cast<int>(pid);
      for (const auto& probe : config_.probes)
        if (probe.process == process) o.functions.insert(o.functions.end(), probe.functions.begin(), probe.functions.end());
      o.collectors = {};
      o.sample_freq = 0;
      o.duration_s = config_.period_s - elapsed;
      o.on_snapshot = [this, pid](const Profile& p) {
        std::lock_guard lock(mutex_);
        processes_[pid] = p;
        if (!has_system()) publish_locked();
      };
      log_ << fmt::format("perfbpf agent: probing {} (pid {})\n", process, pid) << std::flush;
      threads_.emplace_back([this, o, pid, process] {
        try {
          Profile p = run_session(o);
          std::lock_guard lock(mutex_);
          processes_[pid] = std::move(p);
        } catch (const std::exception& e) {
          std::lock_guard lock(mutex_);
          processes_.erase(pid);
          log_ << fmt::format("perfbpf agent: cannot probe {} (pid {}): {}\n", process, pid, e.what()) << std::flush;
        }
      });
    }
  }

  void stop() {
    uint64_t one = 1;
    if (write(stop_.get(), &one, sizeof(one)) != sizeof(one)) {
      // Already signalled: the counter only grows; nothing else can fail here.
    }
  }

  // Joins every session (after stop() or the period's end) and writes their reports.
  // Returns the names written; throws Error when the system session failed.
  std::vector<std::string> finish() {
    stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
    if (!system_error_.empty()) throw Error("system-wide session failed: " + system_error_);
    std::vector<std::string> written;
    create_output_directory(config_.output_dir, "the agent's output_dir");
    const std::string stamp = utc_stamp(), dir = config_.output_dir + "/";
    auto write = [&](const std::string& name, const std::string& contents) {
      write_output_file(dir + name, "the agent's output_dir", contents);
      written.push_back(name);
    };
    if (has_system() && system_done_) {
      write(fmt::format("{}system-{}.json", kPrefix, stamp), to_json(system_).dump(2) + "\n");
      if (system_.stacks.enabled || system_.off_cpu.enabled)
        write(fmt::format("{}system-{}.pb.gz", kPrefix, stamp), pprof_profile(system_));
    }
    for (const auto& [pid, p] : processes_)
      write(fmt::format("{}{}-{}-{}.json", kPrefix, names_[pid], pid, stamp), to_json(p).dump(2) + "\n");
    return written;
  }

  bool system_done() {
    std::lock_guard lock(mutex_);
    return system_done_;
  }
  double elapsed_s() const { return static_cast<double>(monotonic_ns() - start_ns_) / 1e9; }

  // With no system-wide session, the process sessions' snapshots are all there is.
  void publish_processes_only() {
    std::lock_guard lock(mutex_);
    publish_locked();
  }

 private:
  SessionOptions base_options() const {
    SessionOptions o;
    o.handle_signals = false;  // the agent owns signals
    o.stop_fd = stop_.get();
    o.interval_s = config_.interval_s;
    o.thresholds = config_.thresholds;
    return o;
  }

  void publish_locked() {
    std::vector<Profile> others;
    for (const auto& [pid, p] : processes_) others.push_back(p);
    Profile main = system_;
    if (!has_system()) {
      main.session.mode = "system";
      main.session.hostname = host_name();
      main.session.kernel = kernel_release();
      main.tool_version = PERFBPF_VERSION;
    }
    live_->publish(std::move(main), std::move(others));
  }

  const AgentConfig& config_;
  std::shared_ptr<LiveReport> live_;
  std::ostream& log_;
  UniqueFd stop_;
  uint64_t start_ns_ = 0;
  std::vector<std::thread> threads_;
  std::set<uint32_t> seen_;
  std::mutex mutex_;
  Profile system_;
  bool system_done_ = false;
  std::string system_error_;
  std::map<uint32_t, Profile> processes_;
  std::map<uint32_t, std::string> names_;  // pid -> the probes' process name
};

}  // namespace

std::vector<std::string> rotate_outputs(const std::string& dir, uint64_t max_bytes, const std::vector<std::string>& keep) {
  struct File {
    std::string name;
    uint64_t size;
    fs::file_time_type mtime;
  };
  std::vector<File> files;
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0 || !entry.is_regular_file(ec) || entry.is_symlink(ec)) continue;
    File f{name, entry.file_size(ec), entry.last_write_time(ec)};
    total += f.size;
    files.push_back(std::move(f));
  }
  // Oldest first: by modification time, then by name (names carry a UTC time stamp).
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) {
    return a.mtime != b.mtime ? a.mtime < b.mtime : a.name < b.name;
  });
  std::vector<std::string> removed;
  for (const File& f : files) {
    if (total <= max_bytes) break;
    if (std::find(keep.begin(), keep.end(), f.name) != keep.end()) continue;
    if (fs::remove(fs::path(dir) / f.name, ec)) {
      total -= f.size;
      removed.push_back(f.name);
    }
  }
  return removed;
}

int run_agent(const std::string& config_path, std::ostream& log) {
  AgentConfig config = load_agent_config(config_path);
  // A long-running process whose sessions come and go on threads (serve/agent_memory.h).
  configure_agent_allocator();
  // Every thread started from here (server, sessions) inherits the mask: the signals reach
  // only this signalfd.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) throw Error(errno_message("pthread_sigmask", errno));
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (signal_fd.get() < 0) throw Error(errno_message("signalfd", errno));

  // Calibrated once, before sessions start in parallel: they then read the cache.
  if (!config.probes.empty()) load_or_calibrate();

  auto live = std::make_shared<LiveReport>();
  std::unique_ptr<DashboardServer> server;
  std::string listening;
  bool exiting = false;
  for (unsigned period_number = 0; !exiting; period_number++) {
    if (config.listen != listening) {
      server.reset();
      if (!config.listen.empty()) {
        server = std::make_unique<DashboardServer>(parse_serve_address(config.listen, "listen"), live);
        log << "perfbpf agent: dashboard at " << server->url() << ", metrics at " << server->url() << "metrics\n";
      }
      listening = config.listen;
    }
    log << fmt::format("perfbpf agent: period {} ({} s), writing to {}\n", period_number, config.period_s,
                       config.output_dir)
        << std::flush;
    bool reload = false;
    {
      Period period(config, live, log);
      if (period.has_system()) period.start_system();
      for (;;) {
        period.scan_processes();
        if (!period.has_system()) period.publish_processes_only();
        if (period.has_system() ? period.system_done() : period.elapsed_s() >= config.period_s) break;
        pollfd pfd{signal_fd.get(), POLLIN, 0};
        const double wait_s = std::min(config.process_scan_s, config.interval_s);
        if (poll(&pfd, 1, static_cast<int>(wait_s * 1000)) > 0) {
          signalfd_siginfo info{};
          if (read(signal_fd.get(), &info, sizeof(info)) == sizeof(info)) {
            if (info.ssi_signo == SIGHUP) {
              reload = true;
              log << "perfbpf agent: SIGHUP: ending the period and reloading " << config_path << "\n" << std::flush;
            } else {
              exiting = true;
              log << "perfbpf agent: " << strsignal(static_cast<int>(info.ssi_signo)) << ": ending\n" << std::flush;
            }
            break;
          }
        }
      }
      try {
        std::vector<std::string> written = period.finish();
        std::vector<std::string> removed = rotate_outputs(config.output_dir, config.max_output_bytes, written);
        log << fmt::format("perfbpf agent: wrote {} file(s), removed {} old one(s)\n", written.size(), removed.size())
            << std::flush;
      } catch (const Error& e) {
        // The first period failing is a setup problem (privileges, kernel): say so and stop,
        // the service manager restarts or reports it. Later ones are retried.
        if (period_number == 0) throw;
        log << "perfbpf agent: error: " << e.what() << "\n" << std::flush;
      }
    }
    // Every session, symbol cache and report of the period is gone by now, but for the
    // dashboard's last snapshot: move it next to what the agent keeps, then give the freed
    // pages back, so RSS follows what the agent holds rather than its high-water mark.
    live->relocate();
    log << fmt::format("perfbpf agent: memory after period {}: {}\n", period_number, describe(end_period_memory()))
        << std::flush;
    if (reload) {
      try {
        config = load_agent_config(config_path);
      } catch (const Error& e) {
        log << "perfbpf agent: error: " << e.what() << " (keeping the previous configuration)\n" << std::flush;
      }
    }
  }
  return 0;
}

}  // namespace perfbpf
