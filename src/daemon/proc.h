/*
 * proc: keywardd's process structure — parent supervisor, keeper child,
 * front child, joined by one socketpair per front worker.
 */
#ifndef KW_DAEMON_PROC_H
#define KW_DAEMON_PROC_H

#include "config.h"
#include "sandbox.h"

/* Fork both children and supervise them until a signal stops keywardd
 * (returns 0) or a child dies (stops the other, returns 1). ready is called
 * in the parent once both children exist. Each child confines itself after
 * its privileged start-up: user (if set), then its syscall filter. */
int kw_proc_run(const struct kw_daemon_conf *c, const struct kw_sandbox_user *user,
                void (*ready)(void *), void *arg);

#endif
