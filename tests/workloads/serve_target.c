// A small service for the live-dashboard, Prometheus and agent tests: handle_request() parses
// (~20 us of CPU), renders (~30 us), and every tenth request writes a log line with fsync (disk)
// and sleeps 1 ms (off CPU), so every chart and both flame graphs have something to show.
//
//   serve_target N LOG     two threads handle N requests in all, then print "requests=N" and
//                          wait until stdin closes (the test reads the live numbers meanwhile)
//   serve_target loop LOG  handles requests until killed (the agent's planted process)
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workload_clock.h"

#define PROBED __attribute__((noinline, noclone, used))

static volatile uint64_t sink;
static int log_fd = -1;

static void spin_ns(uint64_t ns)
{
	uint64_t start = now_ns();

	while (now_ns() - start < ns)
		sink++;
}

PROBED int parse_request(unsigned id)
{
	spin_ns(20000);
	return (int)(id % 10);
}

PROBED void render_response(int key)
{
	spin_ns(30000);
	sink += (uint64_t)key;
}

PROBED void write_log(unsigned id)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "request %u\n", id);
	struct timespec ts = { 0, 1000000 };

	if (write(log_fd, line, (size_t)n) != n || fdatasync(log_fd) != 0)
		sink++;
	nanosleep(&ts, NULL);
}

PROBED void handle_request(unsigned id)
{
	int key = parse_request(id);

	render_response(key);
	if (key == 0)
		write_log(id);
}

static unsigned per_thread;
static int forever;

static void *worker(void *arg)
{
	unsigned first = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; forever || i < per_thread; i++)
		handle_request(first + i);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[2];
	char buf[64];

	if (argc != 3) {
		fprintf(stderr, "usage: serve_target N|loop LOG\n");
		return 2;
	}
	forever = strcmp(argv[1], "loop") == 0;
	per_thread = forever ? 0 : (unsigned)atoi(argv[1]) / 2;
	log_fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		perror(argv[2]);
		return 1;
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i * 1000000u));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("requests=%u\n", 2 * per_thread);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}
