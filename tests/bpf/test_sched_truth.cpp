// CPU, run-queue and off-CPU time against the kernel's own counters on real workloads the tests
// start themselves (stress-ng, Debian's nginx under ab, a process waiting in known states):
// /proc/stat for the machine, /proc/PID/task/TID/schedstat for each process, read at the
// moments the session's window opens (on_attached, right after the collectors' first read)
// and closes (the last interval's callback, right after their last read). This file reads
// /proc itself, independently of perfbpf's own readers.
#include <arpa/inet.h>
#include <sched.h>
#include <time.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "perfbpf/session.h"
#include "process.h"

using namespace perfbpf;
using perfbpf::test::workload;

namespace {

constexpr double kMs = 1e6;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// user + nice + system + irq + softirq of /proc/stat's "cpu" line, in ns (USER_HZ ticks).
uint64_t machine_busy_ns() {
  std::istringstream in(slurp("/proc/stat"));
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
  REQUIRE(cpu == "cpu");
  return (user + nice + system + irq + softirq) * (1'000'000'000 / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
}

// A process's CPU clock (the kernel's precise CPU time of all its threads, exited ones
// included: task_sched_runtime brings a running thread's count up to date, where schedstat
// lags up to a tick) and, when asked, its threads.
struct Counters {
  uint64_t cpu_ns = 0;
  std::set<uint32_t> tids;
};

std::optional<Counters> process_counters(uint32_t pid, bool with_threads) {
  Counters c;
  clockid_t clock;
  timespec ts{};
  if (clock_getcpuclockid(static_cast<pid_t>(pid), &clock) != 0 || clock_gettime(clock, &ts) != 0) return std::nullopt;
  c.cpu_ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
  std::error_code ec;
  if (with_threads)
    for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
      c.tids.insert(static_cast<uint32_t>(std::stoul(t.path().filename().string())));
  return c;
}

// The kernel's counters at one moment.
struct KernelView {
  bool taken = false;
  uint64_t busy_ns = 0;
  std::map<uint32_t, Counters> processes;  // every process, or only those asked for
};

// Every process (two syscalls each: all of them in about a millisecond, close to perfbpf's
// own read), or only those asked for, with their threads.
KernelView kernel_view(const std::vector<uint32_t>& only = {}) {
  KernelView v;
  v.taken = true;
  v.busy_ns = machine_busy_ns();
  std::vector<uint32_t> pids = only;
  if (pids.empty())
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
        pids.push_back(static_cast<uint32_t>(std::stoul(name)));
    }
  for (uint32_t pid : pids)
    if (auto c = process_counters(pid, !only.empty())) v.processes[pid] = *c;
  return v;
}

uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// One thread's schedstat (/proc/PID/schedstat: the process's main thread) and when it was read.
struct SchedStatRead {
  uint64_t at_ns = 0, exec_ns = 0, delay_ns = 0;
};

SchedStatRead read_schedstat(uint32_t pid) {
  SchedStatRead r;
  r.at_ns = monotonic_now_ns();
  std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/schedstat"));
  in >> r.exec_ns >> r.delay_ns;
  return r;
}

// Of a wait for a CPU that single-threaded process PID was in at reading AT, the part before
// it. run_delay holds a wait only once it ends (then whole): the wait's part inside a window is
// run_delay's growth over it less the part before the start of a wait open at the start, plus
// the part before the end of one open at the end. Found by watching schedstat from AT until a
// counter moves: a wait that ends at e adds its length W at once, so it began at e - W. 0 when
// the thread was running (exec moves first) or asleep (its next wait begins after AT).
double open_wait_before(uint32_t pid, const SchedStatRead& at) {
  while (monotonic_now_ns() - at.at_ns < 2'000'000'000u) {
    const SchedStatRead now = read_schedstat(pid);
    if (now.delay_ns != at.delay_ns) {
      const uint64_t wait = now.delay_ns - at.delay_ns, since = now.at_ns - at.at_ns;
      return wait > since ? static_cast<double>(wait - since) : 0;
    }
    if (now.exec_ns != at.exec_ns) return 0;
    usleep(100);
  }
  return 0;
}

// Reads the kernel at the window's start (on_attached) and at its end (the last interval,
// which stop() closes right after the collectors' final read: DURATION is not a multiple of
// the interval, so that last interval is long enough to be reported). With WAITS_OF, also
// that process's run_delay and the waits open at both edges.
struct Window {
  KernelView start, end;
  SchedStatRead delay_start, delay_end;
  double wait_before_start_ns = 0, wait_before_end_ns = 0;
  std::thread start_watcher;  // the session goes on meanwhile: its off-CPU window opens next
  ~Window() {
    if (start_watcher.joinable()) start_watcher.join();
  }
  void watch(SessionOptions& o, std::vector<uint32_t> pids = {}, uint32_t waits_of = 0) {
    o.on_attached = [this, pids, waits_of](const AttachedProbes&) {
      if (waits_of) delay_start = read_schedstat(waits_of);
      start = kernel_view(pids);
      if (waits_of)
        start_watcher = std::thread([this, waits_of] { wait_before_start_ns = open_wait_before(waits_of, delay_start); });
    };
    const double last = o.duration_s - 0.5 * o.interval_s;
    o.on_interval = [this, pids, last, waits_of](const SeriesSample& s) {
      if (s.t <= last) return;
      if (waits_of) delay_end = read_schedstat(waits_of);
      end = kernel_view(pids);
      if (waits_of) wait_before_end_ns = open_wait_before(waits_of, delay_end);
    };
  }
  uint64_t cpu_ns(uint32_t pid) const { return end.processes.at(pid).cpu_ns - start.processes.at(pid).cpu_ns; }
  // run_delay's growth over the window, waits spanning its edges counted for their part inside.
  double runqueue_in_window_ns() const {
    return static_cast<double>(delay_end.delay_ns - delay_start.delay_ns) - wait_before_start_ns + wait_before_end_ns;
  }
};

// The test's thread reads the kernel as soon as a callback fires, ahead of the load it made:
// SCHED_FIFO while the session runs (it sleeps in poll otherwise), so that its reads and
// perfbpf's own, in the same thread, are milliseconds apart whatever the machine's load.
class FirstInLine {
 public:
  FirstInLine() {
    sched_param rt{};
    rt.sched_priority = 1;
    on_ = sched_setscheduler(0, SCHED_FIFO, &rt) == 0;
  }
  ~FirstInLine() {
    sched_param normal{};
    if (on_) sched_setscheduler(0, SCHED_OTHER, &normal);
  }

 private:
  bool on_ = false;
};

const ProcessResources* find_process(const Profile& p, uint32_t pid) {
  for (const auto& proc : p.system.processes)
    if (proc.pid == pid) return &proc;
  return nullptr;
}

// A real program the test runs for the length of a test case, stopped (SIGTERM) and reaped at
// the end. Its output goes to a file: nothing blocks on a full pipe.
class Program {
 public:
  explicit Program(std::vector<std::string> argv) {
    REQUIRE(std::filesystem::exists(argv[0]));  // installed by scripts/bootstrap.sh
    log_ = test::temp_path("program.log");
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      setpgid(0, 0);  // its own group: stopping it stops what it forked
      if (!freopen(log_.c_str(), "w", stdout) || !freopen(log_.c_str(), "a", stderr)) _exit(126);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    setpgid(pid_, pid_);
  }
  ~Program() {
    kill(-pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    kill(-pid_, SIGKILL);  // anything left in the group
  }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  pid_t pid() const { return pid_; }
  std::string log() const { return slurp(log_); }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

std::vector<uint32_t> children_of(pid_t pid) {
  std::vector<uint32_t> out;
  std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"));
  for (uint32_t c; in >> c;) out.push_back(c);
  return out;
}

// stress-ng spinning on N workers (processes), more than the CPUs so that they queue.
std::unique_ptr<Program> stress_cpu(unsigned workers, std::vector<uint32_t>& pids) {
  auto p = std::make_unique<Program>(std::vector<std::string>{"/usr/bin/stress-ng", "--cpu", std::to_string(workers),
                                                              "--timeout", "120", "--quiet"});
  const pid_t parent = p->pid();
  REQUIRE(test::eventually([&] { return children_of(parent).size() >= workers; }, 5000));
  pids = children_of(parent);
  return p;
}

// Time in the off-CPU view by thread and reason ("runnable", "io", "sleep").
std::map<std::pair<uint32_t, std::string>, uint64_t> waits_by_thread(const Profile& p) {
  std::map<std::pair<uint32_t, std::string>, uint64_t> out;
  for (const auto& s : p.off_cpu.stacks) {
    REQUIRE(!s.frames.empty());
    std::string leaf = p.off_cpu.frames[s.frames.back()].name;  // "[off-cpu: sleep]"
    const std::string prefix = "[off-cpu: ";
    REQUIRE(leaf.rfind(prefix, 0) == 0);
    out[{s.tid, leaf.substr(prefix.size(), leaf.size() - prefix.size() - 1)}] += s.count;
  }
  return out;
}

uint64_t waits_of(const Profile& p, const std::set<uint32_t>& tids, const std::string& why) {
  uint64_t ns = 0;
  for (const auto& [key, n] : waits_by_thread(p))
    if (tids.count(key.first) && key.second == why) ns += n;
  return ns;
}

bool within(double measured, double truth, double relative, double absolute_ns) {
  return std::abs(measured - truth) <= std::max(relative * truth, absolute_ns);
}

}  // namespace

TEST_CASE("sched: system-wide CPU under stress-ng matches /proc/stat and every process's schedstat, within capacity",
          "[bpf][collectors][sched]") {
  std::vector<uint32_t> workers;
  auto load = stress_cpu(std::thread::hardware_concurrency() + 1, workers);
  SessionOptions o;
  o.handle_signals = false;
  o.system_wide = true;
  o.collectors = {"sched"};
  o.sample_freq = 0;
  o.duration_s = 3.2;
  o.interval_s = 0.7;
  o.top_n = 100'000;  // every process, to compare each with its own counters
  Window w;
  w.watch(o);
  Profile p;
  {
    FirstInLine rt;
    p = run_session(o);
  }
  REQUIRE(w.start.taken);
  REQUIRE(w.end.taken);
  const SystemProfile& s = p.system;
  std::string lost;
  for (const auto& [reason, n] : s.lost_by_reason) lost += " " + reason + " " + std::to_string(n);
  INFO("lost:" << lost);

  // This process is perfbpf here, never counted: its own threads are taken out of the truth.
  const uint32_t self = static_cast<uint32_t>(getpid());
  const double busy = static_cast<double>(w.end.busy_ns - w.start.busy_ns) - static_cast<double>(w.cpu_ns(self));
  const double total = static_cast<double>(s.totals.cpu_time_ns);
  double window_ns = 0;
  for (const auto& x : s.series) window_ns += x.dt * 1e9;
  INFO("perfbpf " << total / kMs << " ms on CPU, /proc/stat busy " << busy / kMs << " ms, window " << window_ns / kMs
                  << " ms x " << s.cpus << " CPUs");
  // /proc/stat is sampled at every tick (4 ms here): a few ticks of difference; 5 % is the bound.
  CHECK(within(total, busy, 0.05, 0));
  CHECK(total <= s.cpus * window_ns);
  for (const auto& x : s.series) {
    INFO("interval ending at " << x.t << " s: " << x.cpu_pct << "%");
    CHECK(x.cpu_pct <= 100.0 * s.cpus + 1e-9);
  }

  // Each process that lived through the window: its CPU time is the growth of its CPU clock.
  // 2 % or 5 ms: perfbpf's counter of a thread on CPU lags up to a tick (4 ms here) at each
  // read, and the reads here come a few ms after perfbpf's own.
  std::string wrong;
  size_t compared = 0, busy_ones = 0;
  double worst = 0;
  std::string worst_of;
  for (const auto& [pid, before] : w.start.processes) {
    auto after = w.end.processes.find(pid);
    if (pid == self || after == w.end.processes.end()) continue;
    const ProcessResources* r = find_process(p, pid);
    const double measured = r ? static_cast<double>(r->usage.cpu_time_ns) : 0;
    const double truth = static_cast<double>(w.cpu_ns(pid));
    compared++;
    busy_ones += truth > 100 * kMs;
    if (std::abs(measured - truth) > worst) {
      worst = std::abs(measured - truth);
      worst_of = std::to_string(pid) + (r ? " " + r->comm : "") + " (" + std::to_string(truth / kMs) + " ms)";
    }
    if (!within(measured, truth, 0.02, 5 * kMs))
      wrong += "\n  pid " + std::to_string(pid) + (r ? " " + r->comm : "") + ": perfbpf " + std::to_string(measured / kMs) +
               " ms, CPU clock " + std::to_string(truth / kMs) + " ms";
  }
  INFO(compared << " processes compared, largest difference " << worst / kMs << " ms for pid " << worst_of
                 << "; wrong:" << wrong);
  CHECK(wrong.empty());
  CHECK(busy_ones >= workers.size());
}

TEST_CASE("off-CPU: waits spanning the whole session count for their part inside it, by state",
          "[bpf][collectors][sched]") {
  test::Spawned w = test::spawn({workload("wait_target"), "wait", "5000"});
  std::string line = test::read_until(w.stdout_fd, "\n", 3000);
  uint32_t main_tid = 0, sleeper_tid = 0, child = 0;
  REQUIRE(sscanf(line.c_str(), "main=%u sleeper=%u child=%u", &main_tid, &sleeper_tid, &child) == 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both in their waits

  SessionOptions o;
  o.handle_signals = false;
  o.pid = w.pid;
  o.duration_s = 1.0;
  // Intervals due at 0.6 s and at the end: a last interval shorter than a tenth of one is not
  // reported, so one this long is, even after a late poll, and the series spans the window.
  o.interval_s = 0.6;
  o.off_cpu = true;
  o.sample_freq = 0;
  o.collectors = {"sched"};
  Profile p = run_session(o);
  kill(static_cast<pid_t>(child), SIGKILL);
  kill(w.pid, SIGKILL);
  test::finish(w);

  // Asleep from before the session to after it: the whole window, in the state they wait in.
  const double window = p.session.duration_s * 1e9;
  const double io = static_cast<double>(waits_of(p, {main_tid}, "io"));
  const double sleep = static_cast<double>(waits_of(p, {sleeper_tid}, "sleep"));
  INFO("window " << window / kMs << " ms; off-CPU view: main io " << io / kMs << " ms, sleeper sleep " << sleep / kMs << " ms");
  // The off-CPU window and the report's duration open and close a few ms apart.
  CHECK(within(io, window, 0.01, 5 * kMs));
  CHECK(within(sleep, window, 0.01, 5 * kMs));
  CHECK(waits_of(p, {main_tid, sleeper_tid}, "runnable") == 0);

  // The kernel stack each was waiting in when the session began.
  bool nanosleep_seen = false;
  for (const auto& s : p.off_cpu.stacks)
    if (s.tid == sleeper_tid)
      for (uint32_t f : s.frames) nanosleep_seen |= p.off_cpu.frames[f].name.find("nanosleep") != std::string::npos;
  CHECK(nanosleep_seen);
  // Without sampling the off-CPU view is where code mappings the ring lost would show.
  REQUIRE(p.off_cpu.lost_by_reason.count("code_mappings_ring_full") == 1);
  CHECK(p.off_cpu.lost_by_reason.at("code_mappings_ring_full") == 0);

  // The sched collector books the same waits over its own window: from its first read to its
  // last, which the intervals cover end to end (they bracket the report's duration).
  double collectors_window = 0;
  for (const auto& x : p.system.series) collectors_window += x.dt * 1e9;
  const ProcessResources* r = find_process(p, static_cast<uint32_t>(w.pid));
  REQUIRE(r);
  for (const auto& t : r->threads) {
    INFO("collectors' window " << collectors_window / kMs << " ms: thread " << t.tid << " io "
                               << t.usage.off_cpu_ns.io / kMs << " ms, sleep " << t.usage.off_cpu_ns.sleep / kMs << " ms");
    if (t.tid == main_tid) CHECK(within(static_cast<double>(t.usage.off_cpu_ns.io), collectors_window, 0.01, 5 * kMs));
    if (t.tid == sleeper_tid)
      CHECK(within(static_cast<double>(t.usage.off_cpu_ns.sleep), collectors_window, 0.01, 5 * kMs));
  }
}

namespace {

// One --pid session on PID with the sched collector and the off-CPU view; both run-queue
// figures against the process's schedstat run_delay over the same window.
void check_run_queue(uint32_t pid, const char* what) {
  SessionOptions o;
  o.handle_signals = false;
  o.pid = static_cast<int>(pid);
  o.duration_s = 2.4;
  o.interval_s = 0.7;
  o.off_cpu = true;
  o.sample_freq = 0;
  o.collectors = {"sched"};
  Window w;
  w.watch(o, {pid}, pid);
  Profile p;
  {
    FirstInLine rt;
    p = run_session(o);
  }
  w.start_watcher.join();
  REQUIRE(w.start.taken);
  REQUIRE(w.end.taken);
  REQUIRE(w.start.processes.count(pid));
  REQUIRE(w.end.processes.count(pid));
  const ProcessResources* r = find_process(p, pid);
  REQUIRE(r);
  const Counters& threads = w.end.processes.at(pid);
  REQUIRE(threads.tids.size() == 1);  // /proc/PID/schedstat is the process's one thread
  // Waits spanning the window's edges count for their part inside it (docs/how-it-works.md).
  const double delay = static_cast<double>(w.delay_end.delay_ns - w.delay_start.delay_ns);
  const double cpu = static_cast<double>(w.cpu_ns(pid)), schedstat = w.runqueue_in_window_ns();
  const double collector = static_cast<double>(r->usage.off_cpu_ns.runqueue);
  const double off_cpu_view = static_cast<double>(waits_of(p, threads.tids, "runnable"));
  const double view_off_total = off_cpu_view + static_cast<double>(waits_of(p, threads.tids, "sleep") +
                                                                    waits_of(p, threads.tids, "io"));
  // The kernel's counters run on the run queue's clock, which __schedule leaves as the waker
  // set it when a wakeup preempts (rq_clock_skip_update): the woken thread's wait from its
  // wakeup to its switch-in is charged to its on-CPU time, not to run_delay. The off-CPU view
  // times waits at the tracepoints on the monotonic clock, so its run-queue time exceeds
  // run_delay by what the kernel's on-CPU time and the view's off-CPU time overshoot the window
  // by together (docs/how-it-works.md).
  const double window = p.session.duration_s * 1e9;
  const double clocks_apart = std::max(0.0, cpu + view_off_total - window);
  INFO(what << " " << pid << ": run queue: schedstat " << schedstat / kMs << " ms (run_delay grew " << delay / kMs
            << " ms; open waits at the edges " << w.wait_before_start_ns / kMs << " ms before the start, "
            << w.wait_before_end_ns / kMs << " ms before the end), sched collector " << collector / kMs
            << " ms, off-CPU view " << off_cpu_view / kMs << " ms; CPU: CPU clock " << cpu / kMs << " ms, perfbpf "
            << r->usage.cpu_time_ns / kMs << " ms; off-CPU view in all " << view_off_total / kMs
            << " ms, on-CPU + off-CPU - window " << clocks_apart / kMs << " ms");
  std::string lost;
  for (const auto& [reason, n] : p.system.lost_by_reason) lost += " sched " + reason + " " + std::to_string(n);
  for (const auto& [reason, n] : p.off_cpu.lost_by_reason) lost += " off-CPU " + reason + " " + std::to_string(n);
  INFO("lost:" << lost);
  REQUIRE(schedstat > 50 * kMs);  // the load made it wait: the comparison means something
  CHECK(within(collector, schedstat, 0.05, 0));
  auto view_agrees = [&](double kernel) {
    return off_cpu_view >= 0.95 * kernel && off_cpu_view <= 1.05 * kernel + clocks_apart;
  };
  CHECK(view_agrees(schedstat));
  CHECK(view_agrees(collector));
  CHECK(clocks_apart <= 0.05 * window);  // nor can a thread be on and off CPU for longer
  CHECK(within(static_cast<double>(r->usage.cpu_time_ns), cpu, 0.02, 5 * kMs));
}

// A TCP port on 127.0.0.1 that nothing listens on now.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("run queue: a stress-ng worker's wait agrees in the sched collector, the off-CPU view and schedstat",
          "[bpf][collectors][sched]") {
  std::vector<uint32_t> workers;
  auto load = stress_cpu(std::thread::hardware_concurrency() + 1, workers);
  check_run_queue(workers.front(), "stress-ng worker");
}

TEST_CASE("run queue: an nginx worker under ab load agrees in the sched collector, the off-CPU view and schedstat",
          "[bpf][collectors][sched]") {
  // Debian's nginx, in the foreground, on a free loopback port, with its own prefix and config.
  const std::string dir = std::filesystem::path(test::temp_path("nginx.conf")).parent_path();
  const int port = free_port();
  std::ofstream(dir + "/nginx.conf") << "daemon off;\nmaster_process on;\nworker_processes 1;\nerror_log stderr;\n"
                                     << "pid " << dir << "/nginx.pid;\nevents { worker_connections 256; }\n"
                                     << "http {\n  access_log off;\n  client_body_temp_path " << dir << "/body;\n"
                                     << "  proxy_temp_path " << dir << "/proxy;\n  fastcgi_temp_path " << dir << "/fcgi;\n"
                                     << "  uwsgi_temp_path " << dir << "/uwsgi;\n  scgi_temp_path " << dir << "/scgi;\n"
                                     << "  server { listen 127.0.0.1:" << port << "; location / { return 200 \"hello\\n\"; } }\n}\n";
  Program nginx({"/usr/sbin/nginx", "-p", dir, "-c", dir + "/nginx.conf", "-e", "stderr"});
  std::vector<uint32_t> worker;
  REQUIRE(test::eventually([&] { return !(worker = children_of(nginx.pid())).empty(); }, 5000));
  INFO("nginx: " << nginx.log());
  Program ab({"/usr/bin/ab", "-q", "-k", "-c", "8", "-t", "60", "-n", "100000000",
              "http://127.0.0.1:" + std::to_string(port) + "/"});
  // ab alone may leave a CPU free on a quiet machine: a CPU hog per CPU makes the worker wait.
  std::vector<uint32_t> hogs;
  auto load = stress_cpu(std::thread::hardware_concurrency(), hogs);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the load is on
  check_run_queue(worker.front(), "nginx worker");
}
