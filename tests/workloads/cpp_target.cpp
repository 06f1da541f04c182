// A C++ workload for symbolization: a namespaced class whose method burns CPU itself and
// through a shared library.
//   cpp_target MS
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" uint64_t workload_lib_spin(uint64_t iterations);

namespace app {

class Engine {
 public:
  __attribute__((noinline)) uint64_t spin(uint64_t iterations) {
    for (uint64_t i = 0; i < iterations; i++) asm volatile("" : "+r"(state_) : "r"(i) : "memory");
    return state_;
  }
  __attribute__((noinline)) void run(long ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
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
