/*
 * proc.c: privilege separation. The parent makes one socketpair per front
 * worker, forks the keeper and the front, and then only supervises: if
 * either child dies the other is stopped and keywardd exits non-zero, so
 * there is never a half-alive daemon (a front with no keeper, or a keeper
 * nobody can reach).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

#define STOP_GRACE_SECONDS 10

/* What the child being started confines itself with (set before fork). */
static const struct kw_sandbox_user *run_as;
static const char *keeper_store;

/* A store the user cannot write is a start-up error worth naming: the
 * operator chowns the directory, not reads SQLite's message. */
static int store_dir_check(void)
{
	char dir[1024];
	const char *path = keeper_store, *slash;

	if (strncmp(path, "sqlite:", 7) == 0)
		path += 7;
	if (strstr(path, "://") != NULL || (slash = strrchr(path, '/')) == NULL)
		return 0; /* not a file, or in the working directory */
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (dir[0] != '\0' && access(dir, W_OK | X_OK) != 0) {
		kw_error("the store's directory %s is not writable by user '%s': it must belong "
		         "to that user, and the directories above it let the user through",
		         dir, run_as->name);
		return KW_ERR_CONFIG;
	}
	return 0;
}

static int user_enter(void)
{
	int r;

	if ((r = kw_sandbox_user_enter(run_as)) != 0)
		return r;
	/* A change of user resets the dumpable flag: set it again. */
	return kw_process_harden() == 0 ? 0 : KW_ERR_INTERNAL;
}

static int keeper_confine(void)
{
	int r;

	if ((r = user_enter()) != 0)
		return r;
	if (run_as->set && (r = store_dir_check()) != 0)
		return r;
	return kw_sandbox_keeper();
}

static int front_confine(void)
{
	int r = user_enter();

	return r != 0 ? r : kw_sandbox_front();
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static pid_t spawn_keeper(const struct kw_daemon_conf *c, int *front_ends, int *keeper_ends,
                          size_t n)
{
	struct kw_keeper_conf kc;
	pid_t pid = fork();
	int r;

	if (pid != 0)
		return pid;
	close_all(front_ends, n);
	/* The parent stops us by closing the channels (through the front),
	 * not by signal: a keeper never dies between a store write and its
	 * reply because of a stray Ctrl-C. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	kw_log_set_proc("keeper");
	if (kw_process_harden() != 0)
		kw_fatal("cannot disable core dumps");
	/* Confined once the secure heap is locked, before the store opens. */
	kc = c->keeper;
	kc.confine = keeper_confine;
	keeper_store = kc.store_url;
	r = kw_keeper_run(&kc, keeper_ends, n);
	_exit(r == 0 ? 0 : 1);
}

static pid_t spawn_front(const struct kw_daemon_conf *c, int *front_ends, int *keeper_ends,
                         size_t n)
{
	struct kw_front_conf fc;
	pid_t pid = fork();
	int r;

	if (pid != 0)
		return pid;
	close_all(keeper_ends, n);
	kw_log_set_proc("front");
	if (kw_process_harden() != 0)
		kw_fatal("cannot disable core dumps");
	/* Confined once the listeners are bound (a port below 1024 may need
	 * root) and their keys read: start-up removes stale unix sockets,
	 * serving never writes. */
	fc = c->front;
	fc.confine = front_confine;
	r = kw_front_run(&fc, front_ends, n);
	close_all(front_ends, n);
	_exit(r == 0 ? 0 : 1);
}

static const char *child_name(pid_t pid, pid_t keeper, pid_t front)
{
	return pid == keeper ? "keeper" : pid == front ? "front" : "child";
}

static void describe_exit(const char *who, int status)
{
	if (WIFEXITED(status))
		kw_info("%s exited with status %d", who, WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		kw_error("%s was stopped by its syscall filter: it made a system call its "
		         "sandbox denies (a bug, or someone inside it)",
		         who);
	else if (WIFSIGNALED(status))
		kw_error("%s was killed by signal %d", who, WTERMSIG(status));
}

/* Wait for pid, up to the grace period, then SIGKILL it. */
static void reap(pid_t pid, const char *who)
{
	int status;

	for (int i = 0; i < STOP_GRACE_SECONDS * 10; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			describe_exit(who, status);
			return;
		}
		if (w < 0)
			return;
		usleep(100000);
	}
	kw_error("%s did not stop in %d s; killing it", who, STOP_GRACE_SECONDS);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int kw_proc_run(const struct kw_daemon_conf *c, const struct kw_sandbox_user *user,
                void (*ready)(void *), void *arg)
{
	size_t n = kw_front_channels(&c->front);
	int *front_ends = calloc(n, sizeof(int)), *keeper_ends = calloc(n, sizeof(int));
	pid_t keeper, front;
	sigset_t set;
	int sig, status, rc = 0;

	if (front_ends == NULL || keeper_ends == NULL)
		kw_fatal("out of memory");
	for (size_t i = 0; i < n; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
			kw_fatal("socketpair: %s", strerror(errno));
		front_ends[i] = sv[0];
		keeper_ends[i] = sv[1];
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	/* Blocked before forking so no signal is lost; children unblock
	 * (front: its own sigwait; keeper: ignores). */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	run_as = user;
	if ((keeper = spawn_keeper(c, front_ends, keeper_ends, n)) < 0)
		kw_fatal("fork: %s", strerror(errno));
	if ((front = spawn_front(c, front_ends, keeper_ends, n)) < 0)
		kw_fatal("fork: %s", strerror(errno));
	close_all(front_ends, n);
	close_all(keeper_ends, n);
	free(front_ends);
	free(keeper_ends);
	kw_info("started keeper (pid %d) and front (pid %d)", (int)keeper, (int)front);
	if (ready != NULL)
		ready(arg);

	for (;;) {
		pid_t dead;

		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			continue; /* reload is not supported yet; keep running */
		if (sig == SIGINT || sig == SIGTERM) {
			kw_info("stopping (signal %d)", sig);
			kill(front, SIGTERM);
			reap(front, "front");
			reap(keeper, "keeper");
			break;
		}
		dead = waitpid(-1, &status, WNOHANG);
		if (dead <= 0)
			continue;
		describe_exit(child_name(dead, keeper, front), status);
		kw_error("the %s process stopped unexpectedly; stopping keywardd",
		         child_name(dead, keeper, front));
		if (dead == keeper) {
			kill(front, SIGTERM);
			reap(front, "front");
		} else {
			/* The front's exit closed the channels; the keeper follows. */
			reap(keeper, "keeper");
		}
		rc = 1;
		break;
	}
	kw_front_unix_cleanup(&c->front);
	return rc;
}
