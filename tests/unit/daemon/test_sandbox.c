/*
 * test_sandbox.c: the keeper's and the front's syscall filters. Each case
 * forks a child that installs one filter and makes one call; the parent
 * asserts the child's fate: killed by SIGSYS for a denied call (and nothing
 * changed on disk), a clean exit for a call the process still needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/daemon/sandbox.h"

#define KW_TEST(path, fn)                                                                          \
	{                                                                                          \
		path, fn, NULL, NULL, NULL                                                         \
	}

#define KILLED_BY_FILTER (-SIGSYS)

static char dir[64];
static char existing[128]; /* a file every case may try to change */
static char fresh[128];    /* a path no case may create */

static int setup(void **state)
{
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/kw-sandbox-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(existing, sizeof(existing), "%s/existing", dir);
	snprintf(fresh, sizeof(fresh), "%s/fresh", dir);
	fd = open(existing, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "untouched", 9) != 9)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(fresh);
	unlink(existing);
	rmdir(dir);
	return 0;
}

/* Fork; the child installs the filter and runs fn, exiting with its
 * result. Returns the exit status, or minus the signal that killed it. */
static int fate(int (*sandbox)(void), int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (sandbox() != 0)
			_exit(100);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void assert_existing_untouched(void)
{
	char buf[32] = {0};
	int fd = open(existing, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 9);
	close(fd);
	assert_string_equal(buf, "untouched");
	assert_int_equal(access(fresh, F_OK), -1);
}

/* ---- the calls ---- */

static int read_existing(void)
{
	char buf[16];
	int fd = open(existing, O_RDONLY);

	return fd >= 0 && read(fd, buf, sizeof(buf)) == 9 ? 0 : 1;
}

static int create_fresh(void)
{
	int fd = open(fresh, O_WRONLY | O_CREAT | O_EXCL, 0600);

	return fd >= 0 && write(fd, "x", 1) == 1 ? 0 : 1;
}

static int write_existing(void)
{
	int fd = openat(AT_FDCWD, existing, O_WRONLY);

	return fd >= 0 && write(fd, "changed", 7) == 7 ? 0 : 1;
}

static int append_existing(void)
{
	return open(existing, O_RDONLY | O_APPEND) >= 0 ? 0 : 1;
}

static int truncate_existing(void)
{
	return open(existing, O_RDONLY | O_TRUNC) >= 0 ? 0 : 1;
}

static int remove_existing(void)
{
	return unlink(existing) == 0 ? 0 : 1;
}

static int rename_existing(void)
{
	return rename(existing, fresh) == 0 ? 0 : 1;
}

static int chmod_existing(void)
{
	return chmod(existing, 0666) == 0 ? 0 : 1;
}

/* openat2's flags are behind a pointer: refused with ENOSYS. */
static int openat2_refused(void)
{
	struct open_how how = {.flags = O_RDONLY};
	long r = syscall(SYS_openat2, AT_FDCWD, existing, &how, sizeof(how));

	return r == -1 && errno == ENOSYS ? 0 : 1;
}

static int run_program(void)
{
	char *argv[] = {"true", NULL}, *envp[] = {NULL};

	execve("/bin/true", argv, envp);
	return 1;
}

static int trace_me(void)
{
	return ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 0 : 1;
}

static int read_parent_memory(void)
{
	char mine[8], theirs[8] = {0};
	struct iovec local = {mine, sizeof(mine)}, remote = {theirs, sizeof(theirs)};

	return process_vm_readv(getppid(), &local, 1, &remote, 1, 0) >= 0 ? 0 : 1;
}

static int packet_socket(void)
{
	return socket(AF_PACKET, SOCK_RAW, 0) >= 0 ? 0 : 1;
}

static int raw_socket(void)
{
	return socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP) >= 0 ? 0 : 1;
}

/* What getaddrinfo does (AI_ADDRCONFIG): a raw netlink socket. */
static int resolve_localhost(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

static int new_user_namespace(void)
{
	return unshare(CLONE_NEWUSER) == 0 ? 0 : 1;
}

static void *thread_main(void *arg)
{
	return arg;
}

/* pthread_create: clone3 is refused with ENOSYS, glibc falls back to clone. */
static int start_thread(void)
{
	pthread_t t;
	void *out = NULL;

	if (pthread_create(&t, NULL, thread_main, &out) != 0 || pthread_join(t, &out) != 0)
		return 1;
	return out != NULL ? 0 : 1;
}

static int clone3_refused(void)
{
	return syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS ? 0 : 1;
}

static int listen_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	return fd >= 0 && listen(fd, 1) == 0 ? 0 : 1;
}

static int socketpair_talk(void)
{
	int sv[2];
	char c = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 1;
	return send(sv[0], "k", 1, 0) == 1 && recv(sv[1], &c, 1, 0) == 1 && c == 'k' ? 0 : 1;
}

/* What the keeper does with its store and log: create, write, rename,
 * remove files. */
static int keeper_files(void)
{
	char tmp[160];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", fresh);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "log", 3) != 3 || fdatasync(fd) != 0 || ftruncate(fd, 1) != 0)
		return 1;
	close(fd);
	if (rename(tmp, fresh) != 0 || unlink(fresh) != 0)
		return 1;
	return 0;
}

/* The front's threads exist before its filter: a thread started earlier is
 * filtered too. */
static int write_from_older_thread_result;
static pthread_barrier_t installed;

static void *older_thread(void *arg)
{
	pthread_barrier_wait(&installed); /* the main thread has the filter on */
	write_from_older_thread_result = create_fresh();
	return NULL;
}

static void filter_reaches_older_threads(void **state)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;

		pthread_barrier_init(&installed, NULL, 2);
		if (pthread_create(&t, NULL, older_thread, NULL) != 0)
			_exit(101);
		if (kw_sandbox_front() != 0)
			_exit(100);
		pthread_barrier_wait(&installed);
		pthread_join(t, NULL);
		_exit(write_from_older_thread_result);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	assert_existing_untouched();
}

/* ---- front ---- */

static void front_reads_files(void **state)
{
	assert_int_equal(fate(kw_sandbox_front, read_existing), 0);
	assert_int_equal(fate(kw_sandbox_front, start_thread), 0);
	assert_int_equal(fate(kw_sandbox_front, socketpair_talk), 0);
	assert_int_equal(fate(kw_sandbox_front, clone3_refused), 0);
	assert_int_equal(fate(kw_sandbox_front, openat2_refused), 0);
	assert_int_equal(fate(kw_sandbox_front, resolve_localhost), 0);
}

static void front_changes_no_file(void **state)
{
	int (*calls[])(void) = {create_fresh,      write_existing,  append_existing,
	                        truncate_existing, remove_existing, rename_existing,
	                        chmod_existing};

	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		assert_int_equal(fate(kw_sandbox_front, calls[i]), KILLED_BY_FILTER);
		assert_existing_untouched();
	}
}

static void both_deny_the_intruders_calls(void **state)
{
	int (*sandboxes[])(void) = {kw_sandbox_front, kw_sandbox_keeper};
	int (*calls[])(void) = {run_program,        trace_me,      read_parent_memory,
	                        new_user_namespace, packet_socket, raw_socket};

	for (size_t s = 0; s < 2; s++)
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
			assert_int_equal(fate(sandboxes[s], calls[i]), KILLED_BY_FILTER);
}

/* ---- keeper ---- */

static void keeper_keeps_its_files_and_channels(void **state)
{
	assert_int_equal(fate(kw_sandbox_keeper, keeper_files), 0);
	assert_int_equal(access(fresh, F_OK), -1);
	assert_int_equal(fate(kw_sandbox_keeper, socketpair_talk), 0);
	assert_int_equal(fate(kw_sandbox_keeper, start_thread), 0);
	assert_int_equal(fate(kw_sandbox_keeper, clone3_refused), 0);
}

static void keeper_never_listens(void **state)
{
	assert_int_equal(fate(kw_sandbox_keeper, listen_socket), KILLED_BY_FILTER);
	/* Without a filter the same call works: the test tests the filter. */
	assert_int_equal(listen_socket(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    KW_TEST("/sandbox/front/reads-files-and-starts-threads", front_reads_files),
	    KW_TEST("/sandbox/front/changes-no-file", front_changes_no_file),
	    KW_TEST("/sandbox/front/filter-reaches-older-threads", filter_reaches_older_threads),
	    KW_TEST("/sandbox/both/deny-exec-ptrace-memory-namespaces",
	            both_deny_the_intruders_calls),
	    KW_TEST("/sandbox/keeper/keeps-files-and-channels",
	            keeper_keeps_its_files_and_channels),
	    KW_TEST("/sandbox/keeper/never-listens", keeper_never_listens),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
