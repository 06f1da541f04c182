// Pid reuse on demand, shared by the workloads: a fork-heavy machine's pid wrap (pid_max
// 32 768 wraps in seconds) hands a just-reaped process's pid to a new one; clone3's set_tid does
// the same here within microseconds.
#ifndef PERFBPF_WORKLOAD_FORK_H
#define PERFBPF_WORKLOAD_FORK_H

#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A child with pid PID (fork's semantics), or -1 with errno (EEXIST: taken since). */
static inline pid_t workload_fork_as(pid_t pid)
{
	struct clone_args args = { .exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&pid, .set_tid_size = 1 };

	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/*
 * Forks a child that runs FIRST(ARG) and exits 0, reaps it, and forks another with the same
 * pid: returns what fork returns for that second child, or -1 with errno. *FIRST_PID is the
 * first one's pid. Another process may take the freed pid first: then a new pair, up to 100.
 */
static inline pid_t workload_fork_reusing(void (*first)(void *), void *arg, pid_t *first_pid)
{
	pid_t again = -1;
	int status;

	for (int attempt = 0; attempt <= 100; attempt++) {
		*first_pid = fork();
		if (*first_pid < 0)
			return -1;
		if (*first_pid == 0) {
			first(arg);
			_exit(0);
		}
		if (waitpid(*first_pid, &status, 0) != *first_pid || !WIFEXITED(status) || WEXITSTATUS(status))
			return -1;
		again = workload_fork_as(*first_pid);
		if (again >= 0 || errno != EEXIST)
			break;
	}
	return again;
}

#endif
