// The demo workload: a toy request handler with functions of very different latency, so the
// summary shows what perfbpf is for. Two worker threads serve REQUESTS requests each:
// parse_request (~5 us of CPU), lookup_cache (~1 us, 90% hits), query_database on a miss
// (~2 ms, sleeping like an I/O wait), render_response (~40 us of CPU).
//
//   demo_service [REQUESTS]   (default 400 per worker)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "workload_clock.h"

#define PROBED __attribute__((noinline, noclone, used))

static volatile uint64_t sink;

static void spin_ns(uint64_t ns)
{
	uint64_t start = now_ns();

	while (now_ns() - start < ns)
		sink++;
}

PROBED int parse_request(unsigned id)
{
	spin_ns(5000);
	return (int)(id % 10);
}

PROBED int lookup_cache(int key)
{
	spin_ns(1000);
	return key != 0; /* one key in ten misses */
}

PROBED void query_database(int key)
{
	struct timespec ts = { 0, 2000000 }; /* a 2 ms round trip */

	nanosleep(&ts, NULL);
	sink += (uint64_t)key;
}

PROBED void render_response(int key)
{
	spin_ns(40000);
	sink += (uint64_t)key;
}

PROBED void handle_request(unsigned id)
{
	int key = parse_request(id);

	if (!lookup_cache(key))
		query_database(key);
	render_response(key);
}

static void *worker(void *arg)
{
	unsigned requests = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < requests; i++)
		handle_request(i);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned requests = argc > 1 ? (unsigned)atoi(argv[1]) : 400;
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)requests);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("demo_service: served %u requests\n", 2 * requests);
	return 0;
}
