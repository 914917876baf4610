/*
 * request.c: one request's life on a worker thread — its id, its error
 * sentence, and its calls to the keeper over a borrowed channel.
 *
 * A request borrows a channel on its first keeper call and keeps it until
 * it is answered, so a multi-step request (create then read, batches) never
 * waits twice for the pool. A channel whose call failed is never returned:
 * its stream may be mid-frame, and the next reader could be handed a reply
 * meant for someone else.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "front_int.h"

int kw_fail_set(struct kw_fail *f, int err, const char *fmt, ...)
{
	va_list ap;

	f->err = err;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	return err;
}

void kw_fail_clear(struct kw_fail *f)
{
	f->err = 0;
	f->msg[0] = '\0';
}

const char *kw_fail_text(const struct kw_fail *f, int err)
{
	if (f != NULL && f->err == err && f->msg[0] != '\0')
		return f->msg;
	return kw_err_str(err);
}

int kw_uuid_v4(char out[KW_UUID_BYTES])
{
	uint8_t b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return KW_ERR_CRYPTO;
	/* RFC 9562 section 5.4: version 4, variant 10. */
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, KW_UUID_BYTES,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	         b[15]);
	return 0;
}

void kw_req_init(struct kw_req *r, struct kw_front *front, struct kw_chanpool *pool)
{
	memset(r, 0, sizeof(*r));
	r->front = front;
	r->pool = pool;
	r->chan = -1;
}

void kw_req_cleanup(struct kw_req *r)
{
	if (r->chan >= 0 && !r->chan_broken)
		kw_chanpool_put(r->pool, r->chan);
	r->chan = -1;
	json_decref(r->body);
	r->body = NULL;
	kw_route_args_cleanup(&r->args);
}

const char *kw_req_query(const struct kw_req *r, const char *key)
{
	if (r->conn == NULL)
		return NULL;
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int kw_req_msg(struct kw_req *r, struct kw_ipc_msg *m, uint16_t type)
{
	int err;

	kw_ipc_msg_init(m, type);
	if ((err = kw_ipc_put_str(m, KW_T_REQ_ID, r->id)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_REMOTE_ADDR, r->remote)) != 0 ||
	    (err = kw_ipc_put_u32(m, KW_T_LISTENER_PORT, r->port)) != 0)
		return err;
	if (r->token != NULL && r->token[0] != '\0')
		err = kw_ipc_put_str(m, KW_T_TOKEN, r->token);
	else if (r->peer.n > 0)
		err = kw_cert_implicit(r, m); /* a token, when sent, always wins */
	return err;
}

/* The keeper's status as one of ours: anything else it says is a bug. */
static int keeper_status(int32_t status)
{
	if (status >= 0 || strcmp(kw_err_code(status), "unknown") == 0)
		return KW_ERR_INTERNAL;
	return status;
}

static int channel_broken(struct kw_req *r, struct kw_ipc_msg *req, int err)
{
	const char *what = kw_msg_name(req->type);

	r->chan_broken = true;
	if (kw_chanpool_fail(r->pool)) {
		kw_error("keeper channel failed during %s (request %s): %s; stopping the front",
		         what ? what : "?", r->id, kw_err_str(err));
		if (r->front != NULL)
			kw_front_fatal(r->front);
	}
	return kw_fail_set(&r->fail, KW_ERR_UNAVAILABLE,
	                   "the key-holding process stopped answering; keyward is restarting");
}

int kw_req_call(struct kw_req *r, struct kw_ipc_msg *req, struct kw_ipc_msg *reply)
{
	int err;

	/* Empty, so cleanup is safe whatever kw_ipc_call did. */
	kw_buf_init(&reply->buf);
	reply->nfields = 0;
	if (r->chan_broken || r->pool == NULL)
		return kw_fail_set(&r->fail, KW_ERR_UNAVAILABLE,
		                   "the key-holding process is not available");
	if (r->chan < 0 && (err = kw_chanpool_get(r->pool, &r->chan)) != 0) {
		r->chan = -1;
		return kw_fail_set(&r->fail, KW_ERR_UNAVAILABLE,
		                   "the key-holding process is not available; keyward is stopping");
	}
	if ((err = kw_ipc_call(r->chan, req, reply)) != 0)
		return channel_broken(r, req, err);
	if (reply->status != 0) {
		const char *detail = kw_ipc_str_or(reply, KW_T_ERROR_DETAIL, NULL);

		err = keeper_status(reply->status);
		if (detail != NULL)
			kw_fail_set(&r->fail, err, "%s", detail);
		return err;
	}
	return 0;
}

int kw_req_names(struct kw_req *r, uint16_t type, json_t **out)
{
	struct kw_ipc_msg req, reply;
	const struct kw_ipc_field *fl;
	json_t *names = NULL;
	size_t pos = 0;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_req_msg(r, &req, type)) != 0 || (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = KW_ERR_NOMEM;
	if ((names = json_array()) == NULL)
		goto out;
	while ((fl = kw_ipc_next(&reply, KW_T_NAME, &pos)) != NULL)
		if (json_array_append_new(names, json_string((const char *)fl->val)) != 0)
			goto out;
	*out = names;
	names = NULL;
	err = 0;
out:
	json_decref(names);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}
