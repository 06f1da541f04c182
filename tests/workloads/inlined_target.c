// A program whose DWARF describes inlined calls, for the debug-cache tests: built with its
// debug sections compressed (SHF_COMPRESSED and the older .zdebug_), as Debian's debug files are.
#include <stdio.h>
#include <stdlib.h>

static inline __attribute__((always_inline)) unsigned mix_inlined(unsigned x) { return x * 2654435761u ^ (x >> 13); }

static inline __attribute__((always_inline)) unsigned step_inlined(unsigned x, unsigned i) {
  return mix_inlined(x + i) + (x >> 3);
}

__attribute__((noinline)) unsigned hash_loop(unsigned seed, unsigned n) {
  for (unsigned i = 0; i < n; i++) seed = step_inlined(seed, i);
  return seed;
}

int main(int argc, char** argv) {
  unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000;
  printf("%u\n", hash_loop(1, n));
  return 0;
}
