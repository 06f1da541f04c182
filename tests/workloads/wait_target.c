// Threads that wait, for known lengths, in known states: for the off-CPU tests.
//
//   wait_target MS     the main thread waits MS ms in uninterruptible sleep (D: the parent of
//                      a vfork-style clone waits for its child, which sleeps MS ms and exits),
//                      while a thread named "sleeper" sleeps MS ms in nanosleep (S)
//
// Prints "main=TID sleeper=TID child=PID" (flushed) once both waits have begun, then "done" at the end.
// Exit 0 on success, 2 on bad usage, 1 on any other failure.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t wait_ms;
static volatile pid_t sleeper_tid;

static void die(const char *what)
{
	fprintf(stderr, "wait_target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void *sleeper(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "sleeper");
	sleeper_tid = (pid_t)syscall(SYS_gettid);
	sleep_ms(wait_ms);
	return NULL;
}

// The vfork child: the parent stays in D until it exits. It says when both waits have begun.
static int child(void *arg)
{
	(void)arg;
	while (!sleeper_tid)
		sched_yield();
	printf("main=%d sleeper=%d child=%d\n", (int)getppid(), (int)sleeper_tid, (int)getpid());
	fflush(stdout);
	sleep_ms(wait_ms);
	_exit(0);
}

int main(int argc, char **argv)
{
	static char stack[256 * 1024];
	pthread_t t;
	pid_t pid;
	int status;

	if (argc != 3 || strcmp(argv[1], "wait") != 0 || !(wait_ms = strtoull(argv[2], NULL, 10))) {
		fprintf(stderr, "usage: wait_target wait MS\n");
		return 2;
	}
	if (pthread_create(&t, NULL, sleeper, NULL))
		die("pthread_create");
	// CLONE_VFORK: the parent sleeps uninterruptibly (killable) until the child exits.
	pid = clone(child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	if (pid < 0)
		die("clone");
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("waitpid");
	pthread_join(t, NULL);
	printf("done\n");
	return 0;
}
