// Probed functions that are left without returning, for the [bpf] tests: C++ exceptions
// thrown through them (caught, rethrown, with destructors on the way) and longjmp out of
// them. The output is only counts, so a probed run must print exactly what an unprobed one
// does, and exit the same way.
//
//   unwind_target throw N     outer(i) -> middle(i) -> inner(i); inner throws when i % 3 == 0,
//                             middle catches and rethrows when also i % 5 == 0; after(i) follows
//   unwind_target longjmp N   outer_lj(i) -> jumper(i); jumper longjmps to main when i is odd;
//                             after(i) follows
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#define PROBED extern "C" __attribute__((noinline, noclone, used))

namespace {

volatile uint64_t sink;
std::jmp_buf jump_back;
uint64_t destructed = 0, rethrown = 0;

void spin(int n) {
  for (int i = 0; i < n; i++) sink = sink + static_cast<uint64_t>(i);
}

struct Guard {  // a destructor the unwinder must run on the way out
  ~Guard() { destructed++; }
};

}  // namespace

PROBED void inner(int i) {
  spin(500);
  if (i % 3 == 0) throw std::runtime_error("inner");
}

PROBED void middle(int i) {
  Guard guard;
  spin(200);
  try {
    inner(i);
  } catch (const std::runtime_error&) {
    if (i % 5 != 0) throw;
    rethrown++;
    throw std::logic_error("middle");
  }
  spin(100);
}

PROBED void outer(int i) {
  middle(i);
  spin(100);
}

PROBED void jumper(int i) {
  spin(500);
  if (i % 2) std::longjmp(jump_back, 1);
}

PROBED void outer_lj(int i) {
  jumper(i);
  spin(100);
}

PROBED void after(int i) { spin(50 + i % 7); }

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: unwind_target throw|longjmp N\n");
    return 2;
  }
  const int n = std::atoi(argv[2]);
  if (std::strcmp(argv[1], "throw") == 0) {
    int caught = 0;
    for (int i = 0; i < n; i++) {
      try {
        outer(i);
      } catch (const std::exception&) {
        caught++;
      }
      after(i);
    }
    std::printf("outer=%d thrown=%d rethrown=%llu caught=%d destructed=%llu after=%d\n", n, caught,
                static_cast<unsigned long long>(rethrown), caught, static_cast<unsigned long long>(destructed), n);
    return caught == (n + 2) / 3 ? 0 : 10;
  }
  if (std::strcmp(argv[1], "longjmp") == 0) {
    // Neither changes between setjmp and the longjmp back, so neither needs volatile.
    int jumped = 0;
    for (int i = 0; i < n; i++) {
      if (setjmp(jump_back) == 0)
        outer_lj(i);
      else
        jumped++;
      after(i);
    }
    std::printf("outer_lj=%d jumped=%d after=%d\n", n, jumped, n);
    return jumped == n / 2 ? 0 : 10;
  }
  std::fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
