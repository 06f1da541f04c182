// Argument parsing shared by the workloads: a count that is not a plain decimal number is a
// usage error (USAGE prints the program's usage and exits 2).
#ifndef PERFBPF_WORKLOAD_ARGS_H
#define PERFBPF_WORKLOAD_ARGS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static inline uint64_t workload_parse_u64(const char *s, void (*usage)(void))
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		usage();
	return v;
}

#endif
