// A command for the launcher tests, with known behaviour and its own account of it on stdout:
//
//   launch_target mallocs N         calls malloc exactly N times; no stdio (it would allocate)
//   launch_target children N        forks N children that all live at once, each calls
//                                   child_work() once; prints children=N ok=K
//   launch_target ignore-term SEC   ignores SIGTERM and SIGINT, as does a child it forks;
//                                   prints pid=P child=C, then sleeps SEC seconds
//   launch_target hwm MIB           touches MIB MiB, holds them 300 ms, prints its own
//                                   vm_hwm_bytes=N from /proc/self/status
//   launch_target lines N           prints "line 1" .. "line N" on stdout
//   launch_target sleep SEC         prints ready=P, then sleeps SEC seconds
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBED __attribute__((noinline, noclone, used))

PROBED uint64_t child_work(uint64_t x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2 + 1;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static int mallocs(long n)
{
	void *volatile p;

	for (long i = 0; i < n; i++) {
		p = malloc(32 + (size_t)(i % 7));
		free(p);
	}
	return write(1, "done\n", 5) == 5 ? 0 : 1;
}

/* All children block on one pipe until every one is forked, so they are alive at once. */
static int children(int n)
{
	int gate[2], made = 0, ok = 0, status;

	if (pipe(gate) != 0)
		return 1;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		char c;

		if (pid == 0) {
			close(gate[1]);
			if (read(gate[0], &c, 1) != 0) /* EOF: the parent let go */
				_exit(1);
			child_work((uint64_t)i);
			_exit(0);
		}
		if (pid < 0) {
			perror("fork");
			break;
		}
		made++;
	}
	close(gate[1]);
	while (wait(&status) > 0)
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
	printf("children=%d ok=%d\n", made, ok);
	return made == n && ok == n ? 0 : 1;
}

static int ignore_term(double seconds)
{
	pid_t child;

	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	child = fork(); /* inherits the ignored signals */
	if (child == 0) {
		sleep_s(seconds);
		_exit(0);
	}
	printf("pid=%d child=%d\n", (int)getpid(), (int)child);
	fflush(stdout);
	sleep_s(seconds);
	return 0;
}

static int hwm(long mib)
{
	size_t bytes = (size_t)mib << 20;
	char *p = malloc(bytes), line[256];
	unsigned long long kb = 0;
	FILE *status;

	if (!p)
		return 1;
	for (size_t i = 0; i < bytes; i += 4096)
		p[i] = 1;
	sleep_s(0.3);
	status = fopen("/proc/self/status", "r");
	if (!status)
		return 1;
	while (fgets(line, sizeof(line), status))
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	fclose(status);
	printf("vm_hwm_bytes=%llu\n", kb * 1024);
	free(p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "mallocs") == 0)
		return mallocs(atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "children") == 0)
		return children(atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "ignore-term") == 0)
		return ignore_term(atof(argv[2]));
	if (argc == 3 && strcmp(argv[1], "hwm") == 0)
		return hwm(atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "lines") == 0) {
		for (int i = 1; i <= atoi(argv[2]); i++)
			printf("line %d\n", i);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
		printf("ready=%d\n", (int)getpid());
		fflush(stdout);
		sleep_s(atof(argv[2]));
		return 0;
	}
	fprintf(stderr, "usage: launch_target mallocs N | children N | ignore-term SEC | hwm MIB | lines N | sleep SEC\n");
	return 2;
}
