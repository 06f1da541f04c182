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
#include <sstream>

#include "perfbpf/error.h"
#include "perfbpf/session.h"

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

// The function under test: spins for SPIN_NS and records how long its body really took.
extern "C" __attribute__((noinline, used)) void perfbpf_validate_plain(uint64_t spin_ns, uint64_t* truth) {
  uint64_t start = now_ns(), end;
  do end = now_ns();
  while (end - start < spin_ns);
  *truth = end - start;
}
extern "C" void perfbpf_validate_optimized(uint64_t spin_ns, uint64_t* truth);

namespace perfbpf::validation {
namespace {

double rusage_children_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// utime + stime of a process that has exited but is not reaped yet.
double proc_cpu_s(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t after_comm = stat.rfind(')');
  if (after_comm == std::string::npos) return 0;
  std::istringstream fields(stat.substr(after_comm + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> f; i++) {  // field 3 is the state
    if (i == 14) utime = std::stoull(f);
    if (i == 15) {
      stime = std::stoull(f);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
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

[[noreturn]] void child_main(const WorkloadSpec& spec, uint64_t* truth, int go_fd) {
  char go;
  if (read(go_fd, &go, 1) != 1) _exit(1);  // the parent gave up
  if (spec.touch_bytes) {
    void* p = mmap(nullptr, spec.touch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(2);
    memset(p, 1, spec.touch_bytes);  // every page faulted in; freed at exit
    truth[spec.body_ns.size()] = self_vm_rss_bytes();
  }
  auto fn = spec.site == Site::Optimized ? perfbpf_validate_optimized : perfbpf_validate_plain;
  for (size_t i = 0; i < spec.body_ns.size(); i++) fn(spec.body_ns[i], &truth[i]);
  _exit(0);
}

}  // namespace

const char* site_name(Site site) { return site == Site::Optimized ? "optimized" : "plain"; }

uint64_t exact_quantile(std::vector<uint64_t> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(values.size()))));
  return values[std::min(rank, values.size()) - 1];
}

WorkloadRun run_workload(const WorkloadSpec& spec) {
  const size_t bytes = (spec.body_ns.size() + 1) * sizeof(uint64_t);  // the last slot: VmRSS
  void* shared = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) throw Error(errno_message("mmap", errno), "", errno);
  auto* truth = static_cast<uint64_t*>(shared);
  int go[2];
  if (pipe(go) != 0) {
    munmap(shared, bytes);
    throw Error(errno_message("pipe", errno), "", errno);
  }
  const double rusage_before = rusage_children_cpu_s();
  pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    child_main(spec, truth, go[0]);
  }
  close(go[0]);
  WorkloadRun run;
  try {
    if (child < 0) throw Error(errno_message("fork", errno), "", errno);
    SessionOptions options;
    options.functions = {std::string("perfbpf_validate_") + site_name(spec.site)};
    options.pid = child;
    options.handle_signals = false;
    options.sample_freq = 0;  // sampling interrupts would land in the timed calls
    options.collectors = spec.collectors;
    options.on_attached = [&](const AttachedProbes&) {
      if (write(go[1], "g", 1) != 1) throw Error(errno_message("cannot start the validation workload", errno));
    };
    run.profile = run_session(options);
  } catch (...) {
    close(go[1]);  // the child exits on EOF
    if (child > 0) waitpid(child, nullptr, 0);
    munmap(shared, bytes);
    throw;
  }
  close(go[1]);
  run.proc_cpu_s = proc_cpu_s(child);
  int status = 0;
  waitpid(child, &status, 0);
  run.rusage_cpu_s = rusage_children_cpu_s() - rusage_before;
  run.truth_ns.assign(truth, truth + spec.body_ns.size());
  run.vm_rss_bytes = truth[spec.body_ns.size()];
  munmap(shared, bytes);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("the validation workload failed", "run perfbpf validate with -v");
  return run;
}

}  // namespace perfbpf::validation
