// The C++ half of sym_clones: a hot/cold split of a mangled name
// ("shapes::checked(int) [clone .cold]").
#include <cstdio>

[[gnu::cold, gnu::noinline]] void cxx_report(int x) { std::fprintf(stderr, "out of range: %d\n", x); }

namespace shapes {

[[gnu::noinline]] int checked(int x) {
  if (x < -1000000) {
    cxx_report(x);
    std::fprintf(stderr, "shapes::checked: giving up on %d\n", x);
    return -1;
  }
  return x * 2;
}

}  // namespace shapes

extern "C" int cxx_checked(int x) { return shapes::checked(x); }
