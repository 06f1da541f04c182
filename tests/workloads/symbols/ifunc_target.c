// Calls glibc's IFUNC'd strlen, strcmp and memcpy and a test library's own IFUNC an exact
// number of times. It uses no stdio and no other libc string function, so libc itself adds
// no calls to the counts; output goes through write(2).
//   ifunc_target calls N   N calls of each, then the counts
//   ifunc_target wait N    binds each once, prints "ready", waits for a byte on stdin, then
//                          N calls of each and the counts (for --pid sessions)
// First it prints where each symbol's code is, as "NAME_at=0xVADDR": the implementation this
// process bound, as a virtual address of its object (ASLR taken out), from dl_iterate_phdr.
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ifunc_scale(int x);

static size_t (*volatile my_strlen)(const char *) = strlen;
static int (*volatile my_strcmp)(const char *, const char *) = strcmp;
static void *(*volatile my_memcpy)(void *, const void *, size_t) = memcpy;

static char out[512];
static size_t out_len;

static void put(const char *s)
{
	while (*s && out_len < sizeof(out))
		out[out_len++] = *s++;
}

static void put_num(uint64_t v, unsigned base)
{
	char digits[24];
	int n = 0;
	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && out_len < sizeof(out))
		out[out_len++] = digits[--n];
}

static void flush(void)
{
	if (write(1, out, out_len) < 0)
		_exit(3);
	out_len = 0;
}

struct lookup {
	uintptr_t code, vaddr;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lookup *l = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && l->code >= start && l->code < start + ph->p_memsz) {
			l->vaddr = l->code - info->dlpi_addr;
			return 1;
		}
	}
	return 0;
}

static void put_where(const char *name, void *code)
{
	struct lookup l = {(uintptr_t)code, 0};
	dl_iterate_phdr(find_object, &l);
	put(name);
	put("_at=0x");
	put_num(l.vaddr, 16);
	put("\n");
}

/* The address the PLT slot of ifunc_scale was bound to: the function pointer a direct call uses. */
static int (*volatile scale_ptr)(int) = ifunc_scale;

int main(int argc, char **argv)
{
	const int wait = argc > 1 && argv[1][0] == 'w';
	const long n = argc > 2 ? atol(argv[2]) : 1000;
	char buf[64] = "ifunc", copy[64];
	volatile size_t len = 0;
	volatile int cmp = 0;
	volatile long scaled = 0;

	put_where("strlen", (void *)my_strlen);
	put_where("strcmp", (void *)my_strcmp);
	put_where("memcpy", (void *)my_memcpy);
	put_where("ifunc_scale", (void *)scale_ptr);
	if (wait) {
		/* Bound before the window: the --pid session reads the slots the calls went through. */
		len += my_strlen(buf);
		cmp += my_strcmp(buf, "x");
		my_memcpy(copy, buf, 8);
		scaled += ifunc_scale(1);
		put("ready\n");
		flush();
		char go;
		if (read(0, &go, 1) != 1)
			return 2;
	}
	flush();
	for (long i = 0; i < n; i++) {
		buf[0] = (char)('a' + i % 26);
		len += my_strlen(buf);
		cmp += my_strcmp(buf, "m");
		my_memcpy(copy, buf, 16);
		scaled += ifunc_scale((int)i);
	}
	put("strlen_calls=");
	put_num((uint64_t)n, 10);
	put(" strcmp_calls=");
	put_num((uint64_t)n, 10);
	put(" memcpy_calls=");
	put_num((uint64_t)n, 10);
	put(" ifunc_scale_calls=");
	put_num((uint64_t)n, 10);
	put("\n");
	flush();
	return len == 0 || scaled == 1;
}
