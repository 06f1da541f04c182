// Fixture library with one name in two versions, as glibc has memcpy@GLIBC_2.2.5 and
// memcpy@@GLIBC_2.14: programs linked against the old version keep calling the old code.
#define IMPL __attribute__((noinline, used))

static volatile long vers_sink;

IMPL int vfn_v1(int x) { vers_sink += x; return 1; }
IMPL int vfn_v2(int x) { vers_sink += 2 * x; return 2; }
__asm__(".symver vfn_v1,vfn@V1");
__asm__(".symver vfn_v2,vfn@@V2");
