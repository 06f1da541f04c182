#include "validation/workload.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <new>

#include "collect/procfs.h"
#include "perfbpf/error.h"

namespace {

uint64_t read_clock(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}
uint64_t now_ns() { return read_clock(CLOCK_MONOTONIC); }
uint64_t thread_cpu_ns() { return read_clock(CLOCK_THREAD_CPUTIME_ID); }

// What the next body writes first when the caches are to be cold (WorkloadSpec::cold).
char* g_evict = nullptr;
size_t g_evict_bytes = 0;

}  // namespace

// The function under test: spins for SPIN_NS and records its body's own first and last clock
// reads (stored after the last: the memory was touched before the calls).
extern "C" __attribute__((noinline, used)) void perfbpf_validate_plain(uint64_t spin_ns,
                                                                        perfbpf::validation::CallTruth* truth) {
  const uint64_t start = now_ns();
  for (size_t i = 0; i < g_evict_bytes; i += 64 /* a cache line */) g_evict[i]++;
  uint64_t end;
  do end = now_ns();
  while (end - start < spin_ns);
  truth->body_start_ns = start;
  truth->body_end_ns = end;
}
extern "C" void perfbpf_validate_optimized(uint64_t spin_ns, perfbpf::validation::CallTruth* truth);

namespace perfbpf::validation {
namespace {

// What the child tells the parent besides its calls, at the head of the shared memory.
struct ChildFacts {
  uint64_t vm_rss_bytes = 0;
  uint64_t clock_read_ns = 0;
};

double rusage_children_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Time on a CPU and runnable waiting for one, in ns, from a schedstat file (the kernel's
// sum_exec_runtime and run_delay), with plain system calls: the child reads its own.
void read_schedstat(const char* path, uint64_t& run, uint64_t& wait) {
  char buf[128];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char* end = nullptr;
  run = strtoull(buf, &end, 10);
  wait = strtoull(end, nullptr, 10);
}

// Whether PID is asleep ('S' in /proc/PID/stat) within 10 s: polled, since it gets there
// whenever the machine gives it a CPU.
bool wait_until_asleep(pid_t pid) {
  const ProcFs proc;
  for (int i = 0; i < 10000; i++) {
    auto stat = proc.stat(static_cast<uint32_t>(pid));
    if (!stat) return false;
    if (stat->state == 'S') return true;
    usleep(1000);
  }
  return false;
}

// VmRSS from /proc/self/status with plain system calls: this runs in a forked child.
uint64_t self_vm_rss_bytes() {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* line = strstr(buf, "VmRSS:");
  return line ? strtoull(line + 6, nullptr, 10) * 1024 : 0;
}

// The body's clock cannot place its boundaries finer than one clock read: the median of
// back-to-back reads.
uint64_t median_clock_read_ns() {
  uint64_t d[1001];
  for (auto& x : d) {
    const uint64_t a = now_ns();
    x = now_ns() - a;
  }
  std::nth_element(d, d + 500, d + 1001);
  return d[500];
}

[[noreturn]] void child_main(const WorkloadSpec& spec, ChildFacts* facts, CallTruth* truth, int ready_fd, int go_fd) {
  facts->clock_read_ns = median_clock_read_ns();  // while the parent attaches
  if (spec.evict_bytes && !spec.cold.empty()) {
    void* p = mmap(nullptr, spec.evict_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(3);
    memset(p, 0, spec.evict_bytes);  // faulted in now, not inside a timed call
    g_evict = static_cast<char*>(p);
  }
  // A first write to a page of the shared mapping faults; in a call it would be the call's.
  memset(static_cast<void*>(truth), 0, spec.body_ns.size() * sizeof(CallTruth));
  // The session attaches while this waits for "go", asleep: it sees all of the rest.
  if (write(ready_fd, "r", 1) != 1) _exit(1);
  char go;
  if (read(go_fd, &go, 1) != 1) _exit(1);  // the parent gave up
  if (spec.touch_bytes) {
    void* p = mmap(nullptr, spec.touch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(2);
    memset(p, 1, spec.touch_bytes);  // every page faulted in; freed at exit
    facts->vm_rss_bytes = self_vm_rss_bytes();
  }
  auto fn = spec.site == Site::Optimized ? perfbpf_validate_optimized : perfbpf_validate_plain;
  for (size_t i = 0; i < spec.body_ns.size(); i++) {
    CallTruth& t = truth[i];
    // The CPU-clock window holds the wall window: CPU time can only over-count the call's.
    g_evict_bytes = g_evict && i < spec.cold.size() && spec.cold[i] ? spec.evict_bytes : 0;
    const uint64_t cpu_start = thread_cpu_ns();
    t.call_start_ns = now_ns();
    fn(spec.body_ns[i], &t);
    t.call_end_ns = now_ns();
    t.call_cpu_ns = thread_cpu_ns() - cpu_start;
  }
  _exit(0);
}

}  // namespace

uint64_t cache_evicting_bytes() {
  uint64_t largest = 0;
  for (int i = 0; i < 8; i++) {
    std::ifstream in("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    uint64_t kib = 0;
    if (in >> kib) largest = std::max(largest, kib * 1024);  // "32768K"
  }
  return largest ? std::clamp<uint64_t>(2 * largest, 8 << 20, 1ull << 30) : 64 << 20;
}

const char* site_name(Site site) { return site == Site::Optimized ? "optimized" : "plain"; }

uint64_t exact_quantile(std::vector<uint64_t> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(values.size()))));
  return values[std::min(rank, values.size()) - 1];
}

WorkloadRun run_workload(const WorkloadSpec& spec) {
  const size_t bytes = sizeof(ChildFacts) + spec.body_ns.size() * sizeof(CallTruth);
  void* shared = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) throw Error(errno_message("mmap", errno), "", errno);
  auto* facts = new (shared) ChildFacts;
  auto* truth = reinterpret_cast<CallTruth*>(static_cast<char*>(shared) + sizeof(ChildFacts));
  std::uninitialized_default_construct_n(truth, spec.body_ns.size());
  int go[2], ready[2];
  if (pipe(go) != 0) {
    munmap(shared, bytes);
    throw Error(errno_message("pipe", errno), "", errno);
  }
  if (pipe(ready) != 0) {
    close(go[0]);
    close(go[1]);
    munmap(shared, bytes);
    throw Error(errno_message("pipe", errno), "", errno);
  }
  const double rusage_before = rusage_children_cpu_s();
  pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    close(ready[0]);
    child_main(spec, facts, truth, ready[1], go[0]);
  }
  close(go[0]);
  close(ready[1]);
  WorkloadRun run;
  run.calls.reserve(spec.body_ns.size());
  uint64_t run_start = 0, wait_start = 0;
  try {
    if (child < 0) throw Error(errno_message("fork", errno), "", errno);
    char r;
    const bool started = read(ready[0], &r, 1) == 1;
    close(ready[0]);
    ready[0] = -1;
    if (!started) throw Error("the validation workload did not start", "run perfbpf validate with -v");
    // Asleep in its read of "go" (nothing else blocks after "ready"), its counters stand
    // still: the baseline of what the session will see. Runnable instead, it would wait
    // unseen by a session that attaches meanwhile.
    if (!wait_until_asleep(child))
      throw Error("the validation workload did not wait for its start", "run perfbpf validate with -v");
    read_schedstat(("/proc/" + std::to_string(child) + "/schedstat").c_str(), run_start, wait_start);
    SessionOptions options;
    options.functions = {std::string("perfbpf_validate_") + site_name(spec.site)};
    options.pid = child;
    options.handle_signals = false;
    options.sample_freq = 0;  // sampling interrupts would land in the timed calls
    options.collectors = spec.collectors;
    options.on_call = [&run](const CallTiming& c) { run.calls.push_back(c); };
    options.on_attached = [&](const AttachedProbes&) {
      if (write(go[1], "g", 1) != 1) throw Error(errno_message("cannot start the validation workload", errno));
    };
    run.profile = run_session(options);
  } catch (...) {
    close(go[1]);  // the child exits on EOF
    if (ready[0] >= 0) close(ready[0]);
    if (child > 0) waitpid(child, nullptr, 0);
    munmap(shared, bytes);
    throw;
  }
  close(go[1]);
  // The child has exited (the session ended with it) but is not reaped: its /proc files stay.
  if (auto stat = ProcFs().stat(static_cast<uint32_t>(child)))
    run.proc_cpu_s = static_cast<double>(clock_ticks_to_ns(stat->utime_ticks + stat->stime_ticks)) / 1e9;
  uint64_t run_end = 0, wait_end = 0;  // one thread: the process's schedstat is its own
  read_schedstat(("/proc/" + std::to_string(child) + "/schedstat").c_str(), run_end, wait_end);
  int status = 0;
  waitpid(child, &status, 0);
  run.rusage_cpu_s = rusage_children_cpu_s() - rusage_before;
  run.sched_run_ns = run_end - run_start;
  run.sched_wait_ns = wait_end - wait_start;
  run.truth.assign(truth, truth + spec.body_ns.size());
  run.vm_rss_bytes = facts->vm_rss_bytes;
  run.clock_read_ns = facts->clock_read_ns;
  munmap(shared, bytes);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("the validation workload failed", "run perfbpf validate with -v");
  return run;
}

}  // namespace perfbpf::validation
