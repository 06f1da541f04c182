// Fixture library with an IFUNC of its own, chosen by the CPU as glibc's are: the resolver
// runs once per process and callers then jump straight to the implementation it returned.
#define IMPL __attribute__((noinline, used))

static volatile long ifunc_sink;

IMPL static int scale_avx2(int x) { ifunc_sink += x; return 2 * x; }
IMPL static int scale_generic(int x) { ifunc_sink -= x; return 2 * x; }

static int (*resolve_scale(void))(int)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") ? scale_avx2 : scale_generic;
}

int ifunc_scale(int x) __attribute__((ifunc("resolve_scale")));
