/*
 * sandbox.h: the system calls each keywardd process gives up after start-up.
 *
 * A deny list enforced by a seccomp filter (libseccomp). A denied call kills
 * the whole process (SIGSYS): a keeper or front that tries one is either
 * broken or taken over, and keywardd stops rather than run on. The filter
 * sets no_new_privs and covers every thread of the process.
 *
 * Both processes: no program execution, no reading or writing another
 * process's memory (ptrace, process_vm_*, pidfd_getfd), no new namespaces,
 * no kernel modules, BPF, perf events, io_uring, userfaultfd, keyrings,
 * mounts, clock setting or reboot, no packet or raw sockets.
 * Front, in addition: no file is created, written, renamed, removed or
 * re-permissioned. It runs as the keeper's user, so this is what keeps a
 * front taken over through TLS, HTTP or JWT parsing away from the store
 * and the audit log.
 * Keeper, in addition: no listening or accepting sockets (it only answers
 * its channels and connects out: PostgreSQL, syslog).
 *
 * Started as root, both children also become an unprivileged user.
 */
#ifndef KW_DAEMON_SANDBOX_H
#define KW_DAEMON_SANDBOX_H

#include <sys/types.h>

#include "../common/common.h"

/* Install the filter on the calling process. KW_ERR_INTERNAL with a log
 * line if the kernel or libseccomp refuses. */
int kw_sandbox_keeper(void) KW_MUST_CHECK;
int kw_sandbox_front(void) KW_MUST_CHECK;

/*
 * The unprivileged user a keywardd started as root gives its children
 * (config `user:`). The parent resolves it before forking; each child
 * switches once its privileged start-up is done (the keeper after locking
 * its secure heap, the front after binding its listeners).
 */
struct kw_sandbox_user {
	bool set;
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Look name up. KW_ERR_CONFIG, logged, for an unknown user, for root, or
 * when keywardd runs as neither root nor that user (it could not switch). */
int kw_sandbox_user_resolve(const char *name, struct kw_sandbox_user *out) KW_MUST_CHECK;

/* Become u for good (groups, gid, uid: real, effective and saved, every
 * thread), and check that root cannot be taken back. Nothing to do if u is
 * not set or is already who we are. */
int kw_sandbox_user_enter(const struct kw_sandbox_user *u) KW_MUST_CHECK;

#endif
