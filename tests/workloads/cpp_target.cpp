// A C++ workload for symbolization: a namespaced class whose method burns CPU itself and
// through a shared library.
//   cpp_target MS        MS ms of CPU time
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

extern "C" uint64_t workload_lib_spin(uint64_t iterations);

namespace app {

uint64_t cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

class Engine {
 public:
  __attribute__((noinline)) uint64_t spin(uint64_t iterations) {
    for (uint64_t i = 0; i < iterations; i++) asm volatile("" : "+r"(state_) : "r"(i) : "memory");
    return state_;
  }
  // MS ms of this thread's CPU time: a busy machine stretches the run, not thins its samples.
  __attribute__((noinline)) void run(long ms) {
    const uint64_t end = cpu_ns() + static_cast<uint64_t>(ms) * 1000000u;
    while (cpu_ns() < end) {
      spin(2000000);
      state_ += workload_lib_spin(2000000);
    }
  }

 private:
  uint64_t state_ = 0;
};

}  // namespace app

int main(int argc, char** argv) {
  app::Engine engine;
  engine.run(argc > 1 ? std::atol(argv[1]) : 300);
  std::printf("cpp_target done\n");
  return 0;
}
