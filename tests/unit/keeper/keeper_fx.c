/*
 * keeper_fx.c: the shared keeper test fixture (see keeper_fx.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "keeper_fx.h"

static void *keeper_thread(void *arg)
{
	struct fx *f = arg;
	f->rc = kw_keeper_run(&f->conf, &f->kfd, 1);
	return NULL;
}

void keeper_start(struct fx *f)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->fd = sv[0];
	f->kfd = sv[1];
	assert_int_equal(pthread_create(&f->thread, NULL, keeper_thread, f), 0);
}

void keeper_stop(struct fx *f)
{
	close(f->fd);
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	close(f->kfd);
	assert_int_equal(f->rc, 0);
}

int call(struct fx *f, uint16_t type, const char *token, struct kw_ipc_msg *reply, ...)
{
	struct kw_ipc_msg req;
	va_list ap;
	int tag;

	kw_ipc_msg_init(&req, type);
	assert_int_equal(kw_ipc_put_str(&req, KW_T_REQ_ID, "test"), 0);
	if (token != NULL)
		assert_int_equal(kw_ipc_put_str(&req, KW_T_TOKEN, token), 0);
	va_start(ap, reply);
	while ((tag = va_arg(ap, int)) != 0) {
		int kind = va_arg(ap, int);
		if (kind == 's') {
			assert_int_equal(
			    kw_ipc_put_str(&req, (uint16_t)tag, va_arg(ap, const char *)), 0);
		} else if (kind == 'u') {
			assert_int_equal(kw_ipc_put_u32(&req, (uint16_t)tag, va_arg(ap, unsigned)),
			                 0);
		} else if (kind == 'q') {
			assert_int_equal(kw_ipc_put_u64(&req, (uint16_t)tag, va_arg(ap, uint64_t)),
			                 0);
		} else {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			assert_int_equal(kw_ipc_put(&req, (uint16_t)tag, p, n), 0);
		}
	}
	va_end(ap);
	assert_int_equal(kw_ipc_call(f->fd, &req, reply), 0);
	kw_ipc_msg_cleanup(&req);
	return reply->status;
}

/* Call and discard the reply; returns the status. */
int call0(struct fx *f, uint16_t type, const char *token, ...)
{
	/* The variadic tail is forwarded by re-dispatch on a fixed shape:
	 * only NAME is ever needed with call0. */
	struct kw_ipc_msg reply;
	va_list ap;
	const char *name;
	int s;

	va_start(ap, token);
	name = va_arg(ap, const char *);
	va_end(ap);
	if (name != NULL)
		s = call(f, type, token, &reply, KW_T_NAME, 's', name, 0);
	else
		s = call(f, type, token, &reply, 0);
	kw_ipc_msg_cleanup(&reply);
	return s;
}

void init_unseal(struct fx *f)
{
	struct kw_ipc_msg rep;
	const struct kw_ipc_field *fld;
	size_t pos = 0;
	int i = 0;

	assert_int_equal(
	    call(f, KW_MSG_INIT, NULL, &rep, KW_T_SHARES, 'u', 5, KW_T_THRESHOLD, 'u', 3, 0), 0);
	while ((fld = kw_ipc_next(&rep, KW_T_UNSEAL_KEY, &pos)) != NULL) {
		assert_int_equal(fld->len, SHARE_BYTES);
		memcpy(f->shares[i++], fld->val, SHARE_BYTES);
	}
	assert_int_equal(i, 5);
	snprintf(f->root, sizeof(f->root), "%s", kw_ipc_str_or(&rep, KW_T_ROOT_TOKEN, ""));
	assert_true(strlen(f->root) > 10);
	kw_ipc_msg_cleanup(&rep);
	for (i = 0; i < 3; i++) {
		assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b',
		                      f->shares[i], (size_t)SHARE_BYTES, 0),
		                 0);
		assert_int_equal(kw_ipc_u32_or(&rep, KW_T_SEALED, 9), i < 2);
		kw_ipc_msg_cleanup(&rep);
	}
}

int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-keeper-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/k.db", f->dir);
	snprintf(f->conf.store_url, sizeof(f->conf.store_url), "%s", f->db);
	keeper_start(f);
	*state = f;
	return 0;
}

int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	keeper_stop(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}
