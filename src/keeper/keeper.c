/*
 * keeper.c: start-up and the channel loops. Hardening and self-tests come
 * before the store is opened; then one thread per front channel answers
 * requests until the front closes its end.
 */
#include <stdlib.h>
#include <string.h>

#include "keeper_int.h"

#define KEEPER_SECURE_HEAP_DEFAULT (16u * 1024 * 1024)

struct chan_ctx {
	struct keeper *k;
	int fd;
	size_t index;
};

void keeper_call_send(struct keeper_call *c)
{
	/* A failed send means the front is gone; the channel's thread sees
	 * its read fail and ends. */
	if (kw_ipc_send(c->fd, &c->reply) != 0)
		kw_warn("channel %zu: cannot send a reply; the front is gone?", c->chan);
	kw_ipc_msg_cleanup(&c->msg);
	kw_ipc_msg_cleanup(&c->reply);
	free(c);
}

/*
 * One request at a time: the front sends the next only after the reply, so
 * a deferred reply (forced audit, sent by the audit log's syncer) leaves
 * this thread free to wait for that next request.
 */
static void *chan_loop(void *arg)
{
	struct chan_ctx *c = arg;

	for (;;) {
		struct keeper_call *call = calloc(1, sizeof(*call));
		int r;

		if (call == NULL)
			kw_fatal("out of memory on channel %zu", c->index);
		*call = (struct keeper_call){.k = c->k, .fd = c->fd, .chan = c->index};
		r = kw_ipc_recv(c->fd, &call->msg);
		if (r == KW_ERR_IO) {
			free(call);
			break;
		}
		/* Inside the boundary a malformed frame means the front is not
		 * what it should be: stop rather than guess. */
		if (r != 0 || (call->msg.flags & KW_IPC_F_REPLY))
			kw_fatal("channel %zu: malformed message from the front; stopping",
			         c->index);
		if (!keeper_dispatch(call))
			keeper_call_send(call);
	}
	return NULL;
}

static int keeper_start(struct keeper *k, const struct kw_keeper_conf *c)
{
	const char *failed = NULL;
	int r;

	k->conf = c;
	pthread_rwlock_init(&k->lock, NULL);
	pthread_mutex_init(&k->cache_mu, NULL);
	pthread_mutex_init(&k->auth_lock, NULL);
	pthread_mutex_init(&k->mount_mu, NULL);
	if (kw_secure_heap_init(c->secure_heap_bytes ? c->secure_heap_bytes
	                                             : KEEPER_SECURE_HEAP_DEFAULT) != 0) {
		kw_error("cannot set up the secure heap (mlock limit?)");
		return KW_ERR_NOMEM;
	}
	/* Power-up self-tests: a failure leaves keyward running but unable to
	 * unseal, with the failing test named in every refusal. */
	if (kw_crypto_selftest(&failed) != 0) {
		k->selftest_failed = failed ? failed : "unknown";
		kw_error("power-up self-test '%s' failed; keyward will refuse to unseal",
		         k->selftest_failed);
	} else {
		kw_info("power-up self-tests passed");
	}
	if (c->confine != NULL && (r = c->confine()) != 0)
		return r;
	if ((r = kw_store_open(c->store_url, &k->store)) != 0) {
		kw_error("cannot open the store");
		return r;
	}
	if ((r = keeper_seal_open(k)) != 0)
		return r;
	if ((r = keeper_audit_open(k)) != 0)
		return r;
	if (c->dev && (r = keeper_dev_setup(k)) != 0)
		return r;
	return 0;
}

static void keeper_stop(struct keeper *k)
{
	keeper_audit_close(k);
	pthread_rwlock_wrlock(&k->lock);
	keeper_seal_wipe(k);
	pthread_rwlock_unlock(&k->lock);
	keeper_tokens_purge(k);
	keeper_policies_purge(k);
	keeper_mounts_purge(k);
	if (k->store != NULL)
		kw_store_close(k->store);
}

int kw_keeper_run(const struct kw_keeper_conf *c, const int *chans, size_t nchans)
{
	struct keeper *k = calloc(1, sizeof(*k));
	struct chan_ctx *ctx = calloc(nchans, sizeof(*ctx));
	pthread_t *threads = calloc(nchans, sizeof(*threads));
	size_t started = 0;
	int r;

	kw_log_set_proc("keeper");
	if (k == NULL || ctx == NULL || threads == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = keeper_start(k, c)) != 0)
		goto out;
	for (; started < nchans; started++) {
		ctx[started] = (struct chan_ctx){k, chans[started], started};
		if (pthread_create(&threads[started], NULL, chan_loop, &ctx[started]) != 0) {
			r = KW_ERR_INTERNAL;
			kw_error("cannot start channel thread %zu", started);
			break;
		}
	}
	kw_info("serving %zu channels", started);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	kw_info("all channels closed; stopping");
out:
	if (k != NULL)
		keeper_stop(k);
	free(k);
	free(ctx);
	free(threads);
	return r;
}
