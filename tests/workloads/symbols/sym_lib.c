// Fixture shared library: exported and hidden functions.
__attribute__((noinline, visibility("default"))) int sym_lib_add(int a, int b) { return a + b; }
__attribute__((noinline, visibility("default"))) int sym_lib_mul(int a, int b) { return a * b; }
__attribute__((noinline, visibility("hidden"))) int sym_lib_hidden(int a) { return a - 1; }
