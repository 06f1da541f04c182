// Short-lived processes that each move a known number of bytes, for the network and block
// collectors' tests: the bytes each child moved are the ground truth of its row.
//
//   io_churn_target udp          each child sends its bytes to itself over one loopback UDP
//                                socket and receives them (datagrams of at most 1024 bytes,
//                                one in flight: none is dropped), so it sends and receives
//                                exactly that many
//   io_churn_target dio PATH     each child overwrites the start of PATH (a file or a block
//                                device) with its bytes (a multiple of 4096) with O_DIRECT: the
//                                parent writes them first, so in a file a child's writes
//                                allocate nothing and submit exactly its bytes
//
// It prints "ready", then reads commands on stdin, one per line:
//   churn N BYTES   forks N children, 8 alive at a time, each moving BYTES bytes; each prints
//                   "child=PID" before it exits; then "done=N" once all are reaped
//   reuse A B       a child moves A bytes and exits, is reaped, and a second is forked with its
//                   pid (workload_fork.h) and moves B bytes; prints "first=PID reused=PID paired=1"
//
// Exit 0 on success, 2 on bad usage or an unsupported filesystem (O_DIRECT refused), 1 on any
// other failure.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload_args.h"
#include "workload_fork.h"

#define DATAGRAM 1024u
#define BLOCK 4096u
#define DIO_CHUNK (1024u * 1024u)
#define PARALLEL 8 /* children alive at once */

static const char *dio_path; /* NULL: udp */

static void die(const char *what)
{
	fprintf(stderr, "io_churn_target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: io_churn_target udp | dio PATH\n");
	exit(2);
}

static void udp_bytes(uint64_t bytes)
{
	static char buf[DATAGRAM];
	struct sockaddr_in self = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(self);
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&self, sizeof(self)) || getsockname(s, (struct sockaddr *)&self, &len))
		die("udp socket");
	for (uint64_t left = bytes; left;) {
		size_t n = left < DATAGRAM ? (size_t)left : DATAGRAM;

		if (sendto(s, buf, n, 0, (struct sockaddr *)&self, sizeof(self)) != (ssize_t)n)
			die("sendto");
		if (recv(s, buf, sizeof(buf), 0) != (ssize_t)n)
			die("recv");
		left -= n;
	}
	close(s);
}

/* BYTES (a multiple of BLOCK) written from the start of PATH with O_DIRECT, FLAGS added. */
static void dio_bytes(uint64_t bytes, int flags)
{
	size_t size = bytes < DIO_CHUNK ? (size_t)bytes : DIO_CHUNK; /* few pages to fault in */
	void *buf;
	int fd = open(dio_path, O_WRONLY | O_DIRECT | flags, 0600);

	if (fd < 0) {
		if (errno == EINVAL) {
			fprintf(stderr, "io_churn_target: O_DIRECT refused on %s\n", dio_path);
			exit(2);
		}
		die("open");
	}
	if (posix_memalign(&buf, BLOCK, size))
		die("posix_memalign");
	memset(buf, 0x5a, size);
	for (uint64_t done = 0; done < bytes;) {
		size_t n = bytes - done < size ? (size_t)(bytes - done) : size;

		if (pwrite(fd, buf, n, (off_t)done) != (ssize_t)n)
			die("pwrite");
		done += n;
	}
	free(buf);
	close(fd);
}

static void child_bytes(void *arg)
{
	uint64_t bytes = *(uint64_t *)arg;

	if (dio_path)
		dio_bytes(bytes, 0);
	else
		udp_bytes(bytes);
}

static void reap_one(void)
{
	int status;

	if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		die("child");
}

/* Children overlap their waits for the device (a VM's write takes milliseconds when busy). */
static void churn(uint64_t n, uint64_t bytes)
{
	uint64_t running = 0;

	for (uint64_t i = 0; i < n; i++) {
		pid_t child;

		if (running == PARALLEL) {
			reap_one();
			running--;
		}
		child = fork();
		if (child < 0)
			die("fork");
		if (child == 0) {
			child_bytes(&bytes);
			printf("child=%d\n", (int)getpid());
			fflush(stdout);
			_exit(0);
		}
		running++;
	}
	while (running--)
		reap_one();
	printf("done=%llu\n", (unsigned long long)n);
}

static void reuse(uint64_t first_bytes, uint64_t second_bytes)
{
	pid_t first, again = workload_fork_reusing(child_bytes, &first_bytes, &first);
	int status;

	if (again < 0)
		die("clone3 set_tid");
	if (again == 0) {
		child_bytes(&second_bytes);
		_exit(0);
	}
	if (waitpid(again, &status, 0) != again || !WIFEXITED(status) || WEXITSTATUS(status))
		die("child");
	printf("first=%d reused=%d paired=1\n", (int)first, (int)again);
}

int main(int argc, char **argv)
{
	char line[128], cmd[16], a[32], b[32];
	uint64_t allocated = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "dio"))
		dio_path = argv[2];
	else if (argc != 2 || strcmp(argv[1], "udp"))
		usage();
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t x, y, most;

		if (sscanf(line, "%15s %31s %31s", cmd, a, b) != 3)
			usage();
		bool churning = !strcmp(cmd, "churn");

		if (!churning && strcmp(cmd, "reuse"))
			usage();
		x = workload_parse_u64(a, usage);
		y = workload_parse_u64(b, usage);
		most = churning ? y : x > y ? x : y; /* the most bytes a child moves */
		if (dio_path && ((churning ? y : x | y) % BLOCK))
			usage();
		/* The blocks the children overwrite are written (allocated) before any child runs. */
		if (dio_path && most > allocated) {
			dio_bytes(most, O_CREAT | O_DSYNC);
			allocated = most;
		}
		if (churning)
			churn(x, y);
		else
			reuse(x, y);
	}
	return 0;
}
