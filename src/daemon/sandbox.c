/*
 * sandbox.c: the seccomp deny lists of sandbox.h.
 *
 * Why a deny list and not an allow list: OpenSSL, GnuTLS, libcurl, SQLite,
 * libpq and an upstream PKCS#11 module (the seal anchor) run inside these
 * processes, and the calls they make change with their versions; an allow
 * list that missed one would stop keywardd on a library update. What is
 * denied here is what none of them needs and an intruder wants: running
 * programs, reaching other processes, widening its view of the kernel, and
 * (front) touching files.
 *
 * Calls are named as strings and resolved for the build's architecture, so
 * the lists hold on arm64 too, where some (open, creat...) do not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox.h"

/* refuse_unnamed covers call numbers below this: x86_64 and arm64 have
 * under 470 today, and 1024 would quadruple the filter (837 BPF
 * instructions instead of 188) for numbers decades away. */
#define SANDBOX_NR_MAX 512

static const char *const denied_both[] = {
    /* programs */
    "execve", "execveat",
    /* other processes' memory and descriptors */
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    /* namespaces, mounts, roots */
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    /* kernel attack surface nobody here uses */
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "iopl", "ioperm", "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie", "quotactl", "acct", "swapon", "swapoff", "reboot",
    "vhangup", "syslog",
    /* the clock other programs trust */
    "settimeofday", "clock_settime", "adjtimex", "clock_adjtime"};

/* Front: whatever changes the file system. */
static const char *const denied_front[] = {
    "creat",     "truncate", "rename",   "renameat",  "renameat2", "link",    "linkat", "symlink",
    "symlinkat", "unlink",   "unlinkat", "rmdir",     "mkdir",     "mkdirat", "mknod",  "mknodat",
    "chmod",     "fchmod",   "fchmodat", "fchmodat2", "chown",     "fchown",  "lchown", "fchownat"};

/* Keeper: it answers its channels and connects out, never in. */
static const char *const denied_keeper[] = {"bind", "listen", "accept", "accept4"};

/* open/openat flags that write or create: any one of them denies. */
static const unsigned long open_write_flags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND};

static const unsigned long new_namespace_flags[] = {CLONE_NEWNS,    CLONE_NEWUSER, CLONE_NEWPID,
                                                    CLONE_NEWNET,   CLONE_NEWIPC,  CLONE_NEWUTS,
                                                    CLONE_NEWCGROUP};

static int deny_names(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);

		if (nr == __NR_SCMP_ERROR)
			continue; /* not a call on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0) != 0) {
			kw_error("sandbox: cannot deny %s", names[i]);
			return KW_ERR_INTERNAL;
		}
	}
	return 0;
}

/* Deny name when argument arg has any of flags set (one rule per flag:
 * rules on one call are alternatives). */
static int deny_flags(scmp_filter_ctx ctx, const char *name, unsigned arg,
                      const unsigned long *flags, size_t n)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 1,
		                     SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, flags[i], flags[i])) != 0) {
			kw_error("sandbox: cannot filter %s", name);
			return KW_ERR_INTERNAL;
		}
	return 0;
}

/* A call whose arguments sit behind a pointer the filter cannot read:
 * ENOSYS, so the C library falls back to the older call filtered above
 * (glibc's pthread_create does so for clone3). */
static int refuse(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0) {
		kw_error("sandbox: cannot refuse %s", name);
		return KW_ERR_INTERNAL;
	}
	return 0;
}

/* Every call number libseccomp cannot name (newer than this build, or a
 * gap) answers ENOSYS, as Docker's profile does: a deny list must not let a
 * system call added after it was written slip past. */
static int refuse_unnamed(scmp_filter_ctx ctx)
{
	for (int nr = 0; nr < SANDBOX_NR_MAX; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name != NULL) {
			free(name);
			continue;
		}
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0) {
			kw_error("sandbox: cannot refuse system call %d", nr);
			return KW_ERR_INTERNAL;
		}
	}
	return 0;
}

/* No packet or raw IP sockets: run as root (no user: set), either process
 * could otherwise read or forge the host's traffic. Raw netlink sockets
 * stay: glibc's getaddrinfo asks the kernel for its addresses with one. */
static int deny_raw_sockets(scmp_filter_ctx ctx)
{
	int nr = seccomp_syscall_resolve_name("socket");

	if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 1,
	                     SCMP_CMP(0, SCMP_CMP_EQ, (scmp_datum_t)AF_PACKET)) != 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 2,
	                     SCMP_CMP(0, SCMP_CMP_EQ, (scmp_datum_t)AF_INET),
	                     SCMP_CMP(1, SCMP_CMP_MASKED_EQ, 0xf, (scmp_datum_t)SOCK_RAW)) != 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 2,
	                     SCMP_CMP(0, SCMP_CMP_EQ, (scmp_datum_t)AF_INET6),
	                     SCMP_CMP(1, SCMP_CMP_MASKED_EQ, 0xf, (scmp_datum_t)SOCK_RAW)) != 0) {
		kw_error("sandbox: cannot filter socket");
		return KW_ERR_INTERNAL;
	}
	return 0;
}

static scmp_filter_ctx common_filter(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (ctx == NULL) {
		kw_error("sandbox: libseccomp cannot start a filter");
		return NULL;
	}
	/* Threads started before the filter (the front's) get it too. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0 ||
	    /* A binary search, not a list, for the calls the kernel cannot
	     * cache (those with argument checks: clone, open, openat). */
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0 || refuse_unnamed(ctx) != 0 ||
	    deny_names(ctx, denied_both, KW_ARRAY_LEN(denied_both)) != 0 ||
	    deny_flags(ctx, "clone", 0, new_namespace_flags, KW_ARRAY_LEN(new_namespace_flags)) !=
	        0 ||
	    refuse(ctx, "clone3") != 0 || deny_raw_sockets(ctx) != 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

static int load(scmp_filter_ctx ctx, const char *who)
{
	int r = seccomp_load(ctx);

	seccomp_release(ctx);
	if (r != 0) {
		kw_error("sandbox: the kernel refused the %s's syscall filter: %s", who,
		         strerror(-r));
		return KW_ERR_INTERNAL;
	}
	return 0;
}

int kw_sandbox_keeper(void)
{
	scmp_filter_ctx ctx = common_filter();

	if (ctx == NULL)
		return KW_ERR_INTERNAL;
	if (deny_names(ctx, denied_keeper, KW_ARRAY_LEN(denied_keeper)) != 0) {
		seccomp_release(ctx);
		return KW_ERR_INTERNAL;
	}
	return load(ctx, "keeper");
}

int kw_sandbox_front(void)
{
	scmp_filter_ctx ctx = common_filter();

	if (ctx == NULL)
		return KW_ERR_INTERNAL;
	if (deny_names(ctx, denied_front, KW_ARRAY_LEN(denied_front)) != 0 ||
	    deny_flags(ctx, "open", 1, open_write_flags, KW_ARRAY_LEN(open_write_flags)) != 0 ||
	    deny_flags(ctx, "openat", 2, open_write_flags, KW_ARRAY_LEN(open_write_flags)) != 0 ||
	    refuse(ctx, "openat2") != 0) {
		seccomp_release(ctx);
		return KW_ERR_INTERNAL;
	}
	return load(ctx, "front");
}

/* ---- the unprivileged user ---- */

int kw_sandbox_user_resolve(const char *name, struct kw_sandbox_user *out)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	memset(out, 0, sizeof(*out));
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) != 0 || found == NULL) {
		kw_error("config: user '%s' does not exist", name);
		return KW_ERR_CONFIG;
	}
	if (pw.pw_uid == 0) {
		kw_error("config: user '%s' is root; name an unprivileged user", name);
		return KW_ERR_CONFIG;
	}
	if (geteuid() != 0 && geteuid() != pw.pw_uid) {
		kw_error("config: user is '%s' but keywardd runs as uid %u: start it as root "
		         "(it switches) or as that user",
		         name, (unsigned)geteuid());
		return KW_ERR_CONFIG;
	}
	if (kw_strlcpy(out->name, name, sizeof(out->name)) != 0) {
		kw_error("config: user name too long");
		return KW_ERR_CONFIG;
	}
	out->set = true;
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	return 0;
}

int kw_sandbox_user_enter(const struct kw_sandbox_user *u)
{
	if (!u->set || (geteuid() == u->uid && getuid() == u->uid))
		return 0;
	/* glibc applies each of these to every thread of the process. Groups
	 * first: after setresuid we could no longer drop root's. */
	if (setgroups(1, &u->gid) != 0 || setresgid(u->gid, u->gid, u->gid) != 0 ||
	    setresuid(u->uid, u->uid, u->uid) != 0) {
		kw_error("cannot become user '%s': %s", u->name, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != u->uid || getgid() != u->gid) {
		kw_error("became user '%s' but root could be taken back; stopping", u->name);
		return KW_ERR_INTERNAL;
	}
	return 0;
}
