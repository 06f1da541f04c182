// Known resource behaviour for the collector tests to compare against: CPU time per thread,
// sleeps, direct disk writes, touched memory, loopback TCP bytes and pipe round trips. Each mode
// measures itself with the kernel's own clocks and counters and prints `key=value` lines on
// stdout (flushed at once), which are the ground truth a collector's numbers must match.
//
//   resource_target spin THREADS MS      each thread burns MS ms of its own CPU time
//   resource_target sleep COUNT MS       a thread named "sleeper" sleeps MS ms COUNT times
//   resource_target dio-write PATH MIB   O_DIRECT 1 MiB writes + fsync, then unlink PATH
//   resource_target touch MIB            malloc and touch MIB MiB, hold it 300 ms
//   resource_target tcp BYTES            loopback TCP transfer of exactly BYTES bytes
//   resource_target syn-retransmit MS    a connect whose SYNs a full listener drops, MS ms long
//   resource_target pingpong ROUNDS      one byte bounced over two pipes ROUNDS times
//   resource_target idle MS              sleep MS ms
//   resource_target forks COUNT          COUNT children, one after another, each exiting at once
//
// With RESOURCE_TARGET_WAIT=1 it first waits for a line on stdin, so a test can attach its
// probes before anything happens. Exit 0 on success, 2 on bad usage or an unsupported
// filesystem (O_DIRECT refused), 1 on any other failure.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload_args.h"
#include "workload_clock.h"

#define MIB (1024u * 1024u)
#define TCP_CHUNK (64u * 1024u)

static void die(const char *what)
{
	fprintf(stderr, "resource_target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: resource_target spin THREADS MS | sleep COUNT MS | dio-write PATH MIB |\n"
		"       fsync-writes PATH COUNT | touch MIB | tcp BYTES | pingpong ROUNDS | idle MS |\n"
		"       forks COUNT\n");
	exit(2);
}

static uint64_t parse_u64(const char *s)
{
	return workload_parse_u64(s, usage);
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000u, .tv_nsec = ns % 1000000000u };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int err = pthread_create(t, NULL, fn, arg);

	if (err) {
		errno = err;
		die("pthread_create");
	}
}

// ---- spin ----

static uint64_t spin_ms;
static volatile uint64_t sink;

/* The kernel's own count of time this thread waited on a run queue (schedstat field 2). */
static uint64_t thread_run_delay_ns(void)
{
	unsigned long long on_cpu = 0, delay = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (!f)
		die("/proc/thread-self/schedstat");
	if (fscanf(f, "%llu %llu", &on_cpu, &delay) != 2)
		die("parsing /proc/thread-self/schedstat");
	fclose(f);
	return delay;
}

static uint64_t run_delay_total; /* summed over the spin threads, before each exits */

static void *spin_thread(void *arg)
{
	// The thread's own CPU clock, not wall time: preemption by the other threads on a
	// 2-core machine must not shorten the CPU time we claim.
	uint64_t start = clock_ns(CLOCK_THREAD_CPUTIME_ID), used;

	(void)arg;
	do {
		// The thread CPU clock is a real syscall (no vDSO): check it only every ~50 us so
		// the time is spent in user code, where a sampler should find it.
		for (int i = 0; i < 50000; i++)
			sink++;
		used = clock_ns(CLOCK_THREAD_CPUTIME_ID) - start;
	} while (used < spin_ms * 1000000u);
	printf("thread_cpu_ns=%" PRIu64 " tid=%d\n", used, (int)tid());
	fflush(stdout);
	__atomic_add_fetch(&run_delay_total, thread_run_delay_ns(), __ATOMIC_RELAXED);
	return NULL;
}

/* utime + stime of the whole process from /proc/self/stat (fields 14 and 15), in ns. */
static uint64_t proc_self_cpu_ns(void)
{
	char buf[1024];
	unsigned long long utime = 0, stime = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	char *p;

	if (!f || !fgets(buf, sizeof(buf), f))
		die("/proc/self/stat");
	fclose(f);
	p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
		die("parsing /proc/self/stat");
	return (uint64_t)(utime + stime) * 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
}

static void mode_spin(uint64_t threads, uint64_t ms)
{
	pthread_t *t = calloc(threads, sizeof(*t));
	uint64_t cpu0, wall0, delay0;

	if (!t || threads == 0)
		usage();
	spin_ms = ms;
	delay0 = thread_run_delay_ns(); /* waits before the spin (start-up) are not the spin's */
	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	wall0 = now_ns();
	for (uint64_t i = 0; i < threads; i++)
		start_thread(&t[i], spin_thread, NULL);
	for (uint64_t i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("process_cpu_ns=%" PRIu64 "\n", clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
	printf("proc_cpu_ns=%" PRIu64 "\n", proc_self_cpu_ns());
	printf("run_delay_ns=%" PRIu64 "\n", run_delay_total + thread_run_delay_ns() - delay0);
	fflush(stdout);
	printf("wall_ns=%" PRIu64 "\n", now_ns() - wall0);
	fflush(stdout);
	free(t);
}

// ---- sleep ----

struct sleep_args {
	uint64_t count, ms, slept_ns;
	pid_t tid;
};

static void *sleep_thread(void *arg)
{
	struct sleep_args *a = arg;
	uint64_t start;

	prctl(PR_SET_NAME, "sleeper", 0, 0, 0);
	a->tid = tid();
	start = now_ns();
	for (uint64_t i = 0; i < a->count; i++)
		sleep_ns(a->ms * 1000000u);
	a->slept_ns = now_ns() - start;
	return NULL;
}

static void mode_sleep(uint64_t count, uint64_t ms)
{
	struct sleep_args a = { .count = count, .ms = ms };
	pthread_t t;

	start_thread(&t, sleep_thread, &a);
	pthread_join(t, NULL);
	printf("slept_ns=%" PRIu64 "\n", a.slept_ns);
	fflush(stdout);
	printf("sleeper_tid=%d\n", (int)a.tid);
	fflush(stdout);
}

// ---- dio-write ----

static void dio_unsupported(const char *path)
{
	fprintf(stderr,
		"resource_target: %s: O_DIRECT is not supported on this filesystem (EINVAL); "
		"use a path on a block-device filesystem such as /var/tmp, not tmpfs\n",
		path);
	unlink(path);
	exit(2);
}

static void mode_dio_write(const char *path, uint64_t mib)
{
	struct stat st;
	void *buf;
	uint64_t writes = 0, bytes = 0;
	int fd, err;

	// O_DIRECT needs the buffer, length and offset aligned to the logical block size;
	// 1 MiB alignment satisfies every device.
	err = posix_memalign(&buf, MIB, MIB);
	if (err) {
		errno = err;
		die("posix_memalign");
	}
	memset(buf, 0xa5, MIB);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);
	if (fd < 0) {
		if (errno == EINVAL)
			dio_unsupported(path);
		die(path);
	}
	if (fstat(fd, &st))
		die("fstat");
	for (uint64_t i = 0; i < mib; i++) {
		ssize_t n = write(fd, buf, MIB);

		if (n < 0 && errno == EINVAL)
			dio_unsupported(path);
		if (n != (ssize_t)MIB) {
			unlink(path);
			if (n >= 0)
				errno = EIO;
			die("write");
		}
		writes++;
		bytes += (uint64_t)n;
		if (fsync(fd)) {
			unlink(path);
			die("fsync");
		}
	}
	close(fd);
	if (unlink(path))
		die("unlink");
	free(buf);
	printf("bytes_written=%" PRIu64 "\n", bytes);
	fflush(stdout);
	printf("writes=%" PRIu64 "\n", writes);
	fflush(stdout);
	printf("st_dev_major=%u st_dev_minor=%u\n", major(st.st_dev), minor(st.st_dev));
	fflush(stdout);
}

// ---- touch ----

static uint64_t self_vm_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		die("/proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024u;
}

static void mode_touch(uint64_t mib)
{
	size_t size = (size_t)mib * MIB;
	char *p = malloc(size ? size : 1);

	if (!p)
		die("malloc");
	memset(p, 0x5a, size);
	// Keep the compiler from dropping the stores to memory that is freed unread.
	__asm__ volatile("" : : "r"(p) : "memory");
	printf("vm_rss_bytes=%" PRIu64 "\n", self_vm_rss_bytes());
	fflush(stdout);
	printf("touched_bytes=%" PRIu64 "\n", (uint64_t)size);
	fflush(stdout);
	sleep_ns(300 * 1000000u);  // the peak stays long enough for a collector's sampling
	free(p);
}

// ---- tcp ----

struct tcp_args {
	int listen_fd;
	struct sockaddr_in addr;
	uint64_t bytes, done;
	pid_t tid;
};

static void *tcp_server(void *arg)
{
	struct tcp_args *a = arg;
	char *buf = malloc(TCP_CHUNK);
	int fd;

	a->tid = tid();
	fd = accept(a->listen_fd, NULL, NULL);
	if (fd < 0 || !buf)
		die("accept");
	while (a->done < a->bytes) {
		ssize_t n = recv(fd, buf, TCP_CHUNK, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		a->done += (uint64_t)n;
	}
	close(fd);
	free(buf);
	return NULL;
}

static void *tcp_client(void *arg)
{
	struct tcp_args *a = arg;
	char *buf = calloc(1, TCP_CHUNK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a->tid = tid();
	if (fd < 0 || !buf)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a->addr, sizeof(a->addr)))
		die("connect");
	while (a->done < a->bytes) {
		uint64_t left = a->bytes - a->done;
		ssize_t n = send(fd, buf, left < TCP_CHUNK ? left : TCP_CHUNK, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("send");
		a->done += (uint64_t)n;
	}
	close(fd);
	free(buf);
	return NULL;
}

static void mode_tcp(uint64_t bytes)
{
	struct tcp_args server = { .bytes = bytes }, client = { .bytes = bytes };
	socklen_t len = sizeof(server.addr);
	pthread_t st, ct;

	server.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (server.listen_fd < 0)
		die("socket");
	server.addr.sin_family = AF_INET;
	server.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never leaves the machine
	server.addr.sin_port = 0;
	if (bind(server.listen_fd, (struct sockaddr *)&server.addr, sizeof(server.addr)))
		die("bind 127.0.0.1");
	if (getsockname(server.listen_fd, (struct sockaddr *)&server.addr, &len))
		die("getsockname");
	if (listen(server.listen_fd, 1))
		die("listen");
	client.addr = server.addr;
	start_thread(&st, tcp_server, &server);
	start_thread(&ct, tcp_client, &client);
	pthread_join(ct, NULL);
	pthread_join(st, NULL);
	close(server.listen_fd);
	printf("sent=%" PRIu64 " received=%" PRIu64 "\n", client.done, server.done);
	fflush(stdout);
	printf("port=%u client_tid=%d server_tid=%d\n", ntohs(server.addr.sin_port), (int)client.tid,
	       (int)server.tid);
	fflush(stdout);
	if (client.done != bytes || server.done != bytes) {
		fprintf(stderr, "resource_target: tcp transfer incomplete\n");
		exit(1);
	}
}

// ---- syn-retransmit ----

// A listener with a backlog of 0 holds one connection in its accept queue and, with that one
// never accepted, drops every further SYN (tcp_conn_request: accept queue full): the second
// connect's SYN is retransmitted by its timer (in softirq, not in this process) after 1 s,
// 3 s, ... The socket's own count (tcpi_total_retrans) is the truth, read while the next
// retransmit is a second away at either side of MS = 2000.
static void mode_syn_retransmit(uint64_t ms)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int listener = socket(AF_INET, SOCK_STREAM, 0), queued = socket(AF_INET, SOCK_STREAM, 0);
	int dropped = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct tcp_info info = {};
	socklen_t info_len = sizeof(info);

	if (listener < 0 || queued < 0 || dropped < 0)
		die("socket");
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || getsockname(listener, (struct sockaddr *)&addr, &len))
		die("bind 127.0.0.1");
	if (listen(listener, 0))
		die("listen");
	if (connect(queued, (struct sockaddr *)&addr, sizeof(addr)))
		die("connect");
	if (connect(dropped, (struct sockaddr *)&addr, sizeof(addr)) == 0 || errno != EINPROGRESS)
		die("connect (expected to wait)");
	sleep_ns(ms * 1000000u);
	if (getsockopt(dropped, IPPROTO_TCP, TCP_INFO, &info, &info_len))
		die("getsockopt TCP_INFO");
	close(dropped);
	close(queued);
	close(listener);
	printf("retransmits=%u syn_sent=%d\n", info.tcpi_total_retrans, info.tcpi_state == TCP_SYN_SENT);
	fflush(stdout);
}

// ---- pingpong ----

struct pingpong_args {
	int in, out;
	uint64_t rounds;
};

static void read_byte(int fd)
{
	char c;
	ssize_t n;

	while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		die("pipe read");
}

static void write_byte(int fd)
{
	char c = 'x';
	ssize_t n;

	while ((n = write(fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		die("pipe write");
}

static void *ping_thread(void *arg)
{
	struct pingpong_args *a = arg;

	for (uint64_t i = 0; i < a->rounds; i++) {
		write_byte(a->out);
		read_byte(a->in);
	}
	return NULL;
}

static void *pong_thread(void *arg)
{
	struct pingpong_args *a = arg;

	for (uint64_t i = 0; i < a->rounds; i++) {
		read_byte(a->in);
		write_byte(a->out);
	}
	return NULL;
}

static void mode_pingpong(uint64_t rounds)
{
	int to_pong[2], to_ping[2];
	struct pingpong_args ping, pong;
	pthread_t a, b;
	uint64_t start, wall;

	if (pipe(to_pong) || pipe(to_ping))
		die("pipe");
	ping = (struct pingpong_args){ .in = to_ping[0], .out = to_pong[1], .rounds = rounds };
	pong = (struct pingpong_args){ .in = to_pong[0], .out = to_ping[1], .rounds = rounds };
	start = now_ns();
	start_thread(&b, pong_thread, &pong);
	start_thread(&a, ping_thread, &ping);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	wall = now_ns() - start;
	printf("rounds=%" PRIu64 " ns_per_round=%.1f\n", rounds, rounds ? (double)wall / (double)rounds : 0.0);
	fflush(stdout);
	close(to_pong[0]);
	close(to_pong[1]);
	close(to_ping[0]);
	close(to_ping[1]);
}

// ---- fsync-writes: one function that waits on the disk, for the analysis tests ----

static volatile uint64_t records_synced;

/*
 * Appends a 4 KiB record and waits for it to reach the disk: its time is I/O wait. fsync is
 * the syscall instruction itself: Debian's libc has no frame pointers, so a wait inside its
 * fsync() would hide this function from the stack; the count after it prevents a tail call.
 */
__attribute__((noinline)) void write_record(int fd, const char *record)
{
	long ret = SYS_fsync;

	if (write(fd, record, 4096) != 4096)
		die("write");
	__asm__ volatile("syscall" : "+a"(ret) : "D"((long)fd) : "rcx", "r11", "memory");
	if (ret != 0)
		die("fsync");
	records_synced++;
}

static void mode_fsync_writes(const char *path, uint64_t count)
{
	static char record[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		die(path);
	memset(record, 'r', sizeof(record));
	for (uint64_t i = 0; i < count; i++)
		write_record(fd, record);
	close(fd);
	unlink(path);
	printf("records=%" PRIu64 "\n", count);
	fflush(stdout);
}

/*
 * Short-lived processes, more than a session keeps live at once: their CPU by the kernel's own
 * sum, and how many distinct pids they had (pid_max may be 32768: other tenants' forks can
 * wrap it, and a report knows processes by pid).
 */
static void mode_forks(uint64_t count)
{
	static uint8_t seen[(1u << 22) / 8]; /* PID_MAX_LIMIT bits */
	uint64_t distinct = 0;
	struct rusage ru;

	for (uint64_t i = 0; i < count; i++) {
		pid_t child = fork();
		int status;

		if (child < 0)
			die("fork");
		if (child == 0)
			_exit(0);
		if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
			die("waitpid");
		if ((uint32_t)child < (1u << 22) && !(seen[child / 8] & (1u << (child % 8)))) {
			seen[child / 8] |= (uint8_t)(1u << (child % 8));
			distinct++;
		}
	}
	if (getrusage(RUSAGE_CHILDREN, &ru) != 0)
		die("getrusage");
	printf("forks=%" PRIu64 " distinct_pids=%" PRIu64 " children_cpu_ns=%" PRIu64 "\n", count, distinct,
	       ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
		       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *wait = getenv("RESOURCE_TARGET_WAIT");
	const char *mode;

	if (argc < 2)
		usage();
	mode = argv[1];
	if (wait && strcmp(wait, "1") == 0) {
		char line[64];

		if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
			die("stdin");
	}
	if (strcmp(mode, "spin") == 0 && argc == 4)
		mode_spin(parse_u64(argv[2]), parse_u64(argv[3]));
	else if (strcmp(mode, "sleep") == 0 && argc == 4)
		mode_sleep(parse_u64(argv[2]), parse_u64(argv[3]));
	else if (strcmp(mode, "dio-write") == 0 && argc == 4)
		mode_dio_write(argv[2], parse_u64(argv[3]));
	else if (strcmp(mode, "fsync-writes") == 0 && argc == 4)
		mode_fsync_writes(argv[2], parse_u64(argv[3]));
	else if (strcmp(mode, "touch") == 0 && argc == 3)
		mode_touch(parse_u64(argv[2]));
	else if (strcmp(mode, "tcp") == 0 && argc == 3)
		mode_tcp(parse_u64(argv[2]));
	else if (strcmp(mode, "syn-retransmit") == 0 && argc == 3)
		mode_syn_retransmit(parse_u64(argv[2]));
	else if (strcmp(mode, "pingpong") == 0 && argc == 3)
		mode_pingpong(parse_u64(argv[2]));
	else if (strcmp(mode, "forks") == 0 && argc == 3)
		mode_forks(parse_u64(argv[2]));
	else if (strcmp(mode, "idle") == 0 && argc == 3) {
		uint64_t ms = parse_u64(argv[2]);

		printf("pid=%d\n", (int)getpid());
		fflush(stdout);
		sleep_ns(ms * 1000000u);
	} else
		usage();
	return 0;
}
