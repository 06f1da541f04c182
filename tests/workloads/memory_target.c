// Known memory behaviour for the RSS tests: processes that come and go, and one that grows.
// Each mode prints what the kernel says of its memory (/proc/self/status) as key=value lines
// on stdout, flushed at once: the ground truth perfbpf's RSS figures are compared with.
//
//   memory_target hold MIB          touch MIB MiB and keep it until stdin closes
//   memory_target churn MIB         for each line N read from stdin, fork N children one after
//                                   another; each touches MIB MiB, prints its own peak
//                                   ("child=PID hwm_bytes=B") and exits; then "done=N"
//   memory_target grow MIB STEPS MS touch MIB more MiB every MS ms, STEPS times, keeping all;
//                                   prints "t_ns=T vm_rss_bytes=B" after each step (T is
//                                   CLOCK_MONOTONIC, the clock perfbpf's reports use)
//   memory_target reuse MIB         at a line on stdin, fork a child that exits at once, reap
//                                   it, and fork another with the same pid (clone3 set_tid, as
//                                   a fork-heavy machine's pid wrap does, within microseconds
//                                   here); prints "first=PID reused=PID". The second, at the
//                                   next line, touches MIB MiB, prints "hwm_bytes=B" and waits
//                                   for stdin to close
//
// Exit 0 on success, 2 on bad usage, 1 on any other failure.
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload_args.h"
#include "workload_fork.h"

#define MIB (1024u * 1024u)

static void die(const char *what)
{
	fprintf(stderr, "memory_target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: memory_target hold MIB | churn MIB | grow MIB STEPS MS | reuse MIB\n");
	exit(2);
}

static uint64_t parse_u64(const char *s)
{
	return workload_parse_u64(s, usage);
}

/* A /proc/self/status field in bytes ("VmRSS", "VmHWM"). */
static uint64_t status_bytes(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		die("/proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':' && sscanf(line + n + 1, "%llu", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/*
 * MIB MiB of fresh anonymous memory, every page written so it is resident; volatile, or the
 * compiler drops the stores to memory nobody reads (and the malloc with them).
 */
static void touch(uint64_t mib)
{
	volatile char *p = malloc(mib * MIB);

	if (!p && mib)
		die("malloc");
	for (uint64_t i = 0; i < mib * MIB; i += 4096)
		p[i] = (char)i;
}

static void wait_for_eof(void)
{
	char buf[64];

	while (fgets(buf, sizeof(buf), stdin))
		;
}

static void churn(uint64_t mib)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin)) {
		uint64_t n = parse_u64(strtok(line, "\n") ? line : "0");

		for (uint64_t i = 0; i < n; i++) {
			pid_t child = fork();
			int status;

			if (child < 0)
				die("fork");
			if (child == 0) {
				touch(mib);
				printf("child=%d hwm_bytes=%" PRIu64 "\n", (int)getpid(), status_bytes("VmHWM"));
				fflush(stdout);
				_exit(0);
			}
			if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
				die("child");
		}
		printf("done=%" PRIu64 "\n", n);
		fflush(stdout);
	}
}

static void grow(uint64_t mib, uint64_t steps, uint64_t ms)
{
	struct timespec pause = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	for (uint64_t i = 0; i < steps; i++) {
		struct timespec now;

		touch(mib);
		clock_gettime(CLOCK_MONOTONIC, &now);
		printf("t_ns=%" PRIu64 " vm_rss_bytes=%" PRIu64 "\n",
		       (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec, status_bytes("VmRSS"));
		fflush(stdout);
		while (nanosleep(&pause, &pause) && errno == EINTR)
			;
	}
}

static void nothing(void *arg)
{
	(void)arg;
}

static void reuse(uint64_t mib)
{
	char line[64];
	pid_t first, again;
	int status;

	if (!fgets(line, sizeof(line), stdin))
		return;
	again = workload_fork_reusing(nothing, NULL, &first);
	if (again < 0)
		die("clone3 set_tid");
	if (again == 0) {
		if (!fgets(line, sizeof(line), stdin))
			_exit(1);
		touch(mib);
		printf("hwm_bytes=%" PRIu64 "\n", status_bytes("VmHWM"));
		wait_for_eof();
		_exit(0);
	}
	printf("first=%d reused=%d\n", (int)first, (int)again);
	if (waitpid(again, &status, 0) != again || !WIFEXITED(status) || WEXITSTATUS(status))
		die("child");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "hold")) {
		touch(parse_u64(argv[2]));
		printf("vm_rss_bytes=%" PRIu64 "\n", status_bytes("VmRSS"));
		wait_for_eof();
	} else if (argc == 3 && !strcmp(argv[1], "churn")) {
		churn(parse_u64(argv[2]));
	} else if (argc == 3 && !strcmp(argv[1], "reuse")) {
		reuse(parse_u64(argv[2]));
	} else if (argc == 5 && !strcmp(argv[1], "grow")) {
		grow(parse_u64(argv[2]), parse_u64(argv[3]), parse_u64(argv[4]));
	} else {
		usage();
	}
	return 0;
}
