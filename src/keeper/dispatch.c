/*
 * dispatch.c: the keeper's message table. Each message the front may send
 * has one row: the lock it runs under, whether keyward must be unsealed, and
 * the handler. Anything not in the table never reaches a handler.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "keeper_int.h"

enum lock_mode {
	LOCK_READ,  /* uses keys: runs in parallel with other readers */
	LOCK_WRITE, /* changes seal state or the key cache */
	LOCK_SELF,  /* takes the locks itself (slow key generation outside them) */
};

struct keeper_handler {
	uint16_t type;
	enum lock_mode lock;
	bool unsealed; /* refuse with SEALED / NOT_INIT otherwise */
	int (*answer)(struct kreq *r);
	const char *path; /* audit path of unauthenticated messages */
};

static const struct keeper_handler handlers[] = {
    {KW_MSG_SEAL_STATUS, LOCK_READ, false, keeper_answer_seal_status, NULL},
    {KW_MSG_INIT, LOCK_WRITE, false, keeper_answer_init, NULL},
    {KW_MSG_UNSEAL, LOCK_WRITE, false, keeper_answer_unseal, NULL},
    {KW_MSG_SEAL, LOCK_WRITE, true, keeper_answer_seal, NULL},
    {KW_MSG_KEY_CREATE, LOCK_SELF, true, keeper_answer_key_create, NULL},
    {KW_MSG_KEY_READ, LOCK_READ, true, keeper_answer_key_read, NULL},
    {KW_MSG_KEY_LIST, LOCK_READ, true, keeper_answer_key_list, NULL},
    {KW_MSG_KEY_DELETE, LOCK_WRITE, true, keeper_answer_key_delete, NULL},
    {KW_MSG_KEY_CONFIG, LOCK_WRITE, true, keeper_answer_key_config, NULL},
    {KW_MSG_KEY_ROTATE, LOCK_SELF, true, keeper_answer_key_rotate, NULL},
    {KW_MSG_KEY_EXPORT, LOCK_READ, true, keeper_answer_key_export, NULL},
    {KW_MSG_ENCRYPT, LOCK_READ, true, keeper_answer_encrypt, NULL},
    {KW_MSG_DECRYPT, LOCK_READ, true, keeper_answer_decrypt, NULL},
    {KW_MSG_REWRAP, LOCK_READ, true, keeper_answer_rewrap, NULL},
    {KW_MSG_DATAKEY, LOCK_READ, true, keeper_answer_datakey, NULL},
    {KW_MSG_SIGN, LOCK_READ, true, keeper_answer_sign, NULL},
    {KW_MSG_VERIFY, LOCK_READ, true, keeper_answer_verify, NULL},
    {KW_MSG_HMAC, LOCK_READ, true, keeper_answer_hmac, NULL},
    {KW_MSG_RANDOM, LOCK_READ, true, keeper_answer_random, NULL},
    {KW_MSG_HASH, LOCK_READ, true, keeper_answer_hash, NULL},
    {KW_MSG_TOKEN_CREATE, LOCK_READ, true, keeper_answer_token_create, NULL},
    {KW_MSG_TOKEN_LOOKUP_SELF, LOCK_READ, true, keeper_answer_token_lookup_self, NULL},
    {KW_MSG_TOKEN_REVOKE_SELF, LOCK_READ, true, keeper_answer_token_revoke_self, NULL},
    {KW_MSG_TOKEN_REVOKE, LOCK_READ, true, keeper_answer_token_revoke, NULL},
    {KW_MSG_TOKEN_LOOKUP, LOCK_READ, true, keeper_answer_token_lookup, NULL},
    {KW_MSG_POLICY_PUT, LOCK_READ, true, keeper_answer_policy_put, NULL},
    {KW_MSG_POLICY_GET, LOCK_READ, true, keeper_answer_policy_get, NULL},
    {KW_MSG_POLICY_LIST, LOCK_READ, true, keeper_answer_policy_list, NULL},
    {KW_MSG_POLICY_DELETE, LOCK_READ, true, keeper_answer_policy_delete, NULL},
    {KW_MSG_AUDIT_CHECKPOINT, LOCK_READ, true, keeper_answer_audit_checkpoint, NULL},
    {KW_MSG_AUDIT_ENTRIES, LOCK_READ, true, keeper_answer_audit_entries, NULL},
    {KW_MSG_AUDIT_INCLUSION, LOCK_READ, true, keeper_answer_audit_inclusion, NULL},
    {KW_MSG_AUDIT_CONSISTENCY, LOCK_READ, true, keeper_answer_audit_consistency, NULL},
    {KW_MSG_AUDIT_SEARCH, LOCK_READ, true, keeper_answer_audit_search, NULL},
    {KW_MSG_AUTH_LIST, LOCK_READ, true, keeper_answer_auth_list, NULL},
    {KW_MSG_AUTH_ENABLE, LOCK_READ, true, keeper_answer_auth_enable, NULL},
    {KW_MSG_AUTH_DISABLE, LOCK_READ, true, keeper_answer_auth_disable, NULL},
    {KW_MSG_AUTH_CONFIG_PUT, LOCK_READ, true, keeper_answer_auth_config_put, NULL},
    {KW_MSG_AUTH_CONFIG_GET, LOCK_READ, true, keeper_answer_auth_config_get, NULL},
    {KW_MSG_AUTH_ROLE_PUT, LOCK_READ, true, keeper_answer_auth_role_put, NULL},
    {KW_MSG_AUTH_ROLE_GET, LOCK_READ, true, keeper_answer_auth_role_get, NULL},
    {KW_MSG_AUTH_ROLE_LIST, LOCK_READ, true, keeper_answer_auth_role_list, NULL},
    {KW_MSG_AUTH_ROLE_DELETE, LOCK_READ, true, keeper_answer_auth_role_delete, NULL},
    {KW_MSG_P11_SIGN_RAW, LOCK_READ, true, keeper_answer_p11_sign_raw, NULL},
    {KW_MSG_P11_DECRYPT, LOCK_READ, true, keeper_answer_p11_decrypt, NULL},
    {KW_MSG_P11_DERIVE, LOCK_SELF, true, keeper_answer_p11_derive, NULL},
    {KW_MSG_P11_CIPHER, LOCK_READ, true, keeper_answer_p11_cipher, NULL},
    {KW_MSG_P11_WRAP, LOCK_READ, true, keeper_answer_p11_wrap, NULL},
    {KW_MSG_P11_UNWRAP, LOCK_SELF, true, keeper_answer_p11_unwrap, NULL},
    {KW_MSG_P11_OBJECT_PUT, LOCK_READ, true, keeper_answer_p11_object_put, NULL},
    {KW_MSG_P11_OBJECT_GET, LOCK_READ, true, keeper_answer_p11_object_get, NULL},
    {KW_MSG_P11_OBJECT_DELETE, LOCK_READ, true, keeper_answer_p11_object_delete, NULL},
    {KW_MSG_P11_OBJECT_LIST, LOCK_READ, true, keeper_answer_p11_object_list, NULL},
    {KW_MSG_METRICS, LOCK_READ, true, keeper_answer_metrics, NULL},
    /* The front's own requests, without a token: they set their path. */
    {KW_MSG_AUTH_LOAD, LOCK_READ, true, keeper_answer_auth_load, NULL},
    {KW_MSG_AUTH_LOGIN, LOCK_READ, true, keeper_answer_auth_login, NULL},
    {KW_MSG_AUTH_LOGIN_FAILED, LOCK_READ, true, keeper_answer_auth_login_failed, NULL},
};

int kreq_fail(struct kreq *r, int status, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* Start the reply again: an error never carries half a result. */
	kw_ipc_msg_cleanup(r->reply);
	kw_ipc_reply_init(r->reply, r->msg, status);
	if (kw_ipc_set_error(r->reply, status, "%s", detail) != 0)
		kw_error("req=%s: cannot attach error detail", r->req_id);
	return status;
}

int kreq_need_name(struct kreq *r)
{
	size_t n;

	if (r->name == NULL)
		return kreq_fail(r, KW_ERR_INVALID, "a name is required");
	n = strlen(r->name);
	if (n == 0 || n > KW_NAME_MAX ||
	    strspn(r->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        n)
		return kreq_fail(
		    r, KW_ERR_INVALID,
		    "names are 1 to %d characters of letters, digits, '.', '_' and '-'",
		    KW_NAME_MAX);
	return 0;
}

/* The lock is held (as the row says) by the caller. */
static int check_unsealed(struct kreq *r)
{
	if (!r->k->initialized)
		return kreq_fail(r, KW_ERR_NOT_INIT, "keyward is not initialized");
	if (r->k->sealed)
		return kreq_fail(r, KW_ERR_SEALED, "keyward is sealed");
	return 0;
}

int keeper_check_unsealed(struct kreq *r)
{
	return check_unsealed(r);
}

static const struct keeper_handler *handler_find(uint16_t type)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(handlers); i++)
		if (handlers[i].type == type)
			return &handlers[i];
	return NULL;
}

#define WITHHELD "the audit log cannot be written; the result was withheld"

/* A deferred call's holder lets go; the last one sends the reply, or the
 * refusal if the entry did not become durable. */
static void call_release(struct keeper_call *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (c->audit_rc != 0) {
		struct kreq r = {.k = c->k, .msg = &c->msg, .reply = &c->reply};

		kw_error("req=%s: the audit entry did not become durable: %s",
		         kw_ipc_str_or(&c->msg, KW_T_REQ_ID, "-"), kw_err_str(c->audit_rc));
		kreq_fail(&r, KW_ERR_UNAVAILABLE, WITHHELD);
	}
	keeper_call_send(c);
}

void keeper_call_answer(void *call, int rc)
{
	struct keeper_call *c = call;

	c->audit_rc = rc; /* published by the release below */
	call_release(c);
}

bool keeper_dispatch(struct keeper_call *c)
{
	struct keeper *k = c->k;
	const struct kw_ipc_msg *msg = &c->msg;
	struct kw_ipc_msg *reply = &c->reply;
	const struct keeper_handler *h = handler_find(msg->type);
	struct kreq r = {.k = k, .msg = msg, .reply = reply, .call = c};
	int status;

	kw_ipc_reply_init(reply, msg, 0);
	r.req_id = kw_ipc_str_or(msg, KW_T_REQ_ID, "-");
	r.name = kw_ipc_str_or(msg, KW_T_NAME, NULL);
	if (h == NULL) {
		kreq_fail(&r, KW_ERR_UNSUPPORTED, "operation not handled by the keeper");
		goto done;
	}
	if (h->path != NULL)
		snprintf(r.path, sizeof(r.path), "%s", h->path);
	/* Forced audit: nothing runs unlogged. Seal stays possible, and so
	 * does the status probe, which is not logged. */
	if (!k->conf->audit_unforced && msg->type != KW_MSG_SEAL_STATUS &&
	    msg->type != KW_MSG_SEAL && keeper_audit_broken(k)) {
		status =
		    kreq_fail(&r, KW_ERR_UNAVAILABLE,
		              "the audit log cannot be written; keyward refuses to work unlogged");
		goto done; /* nothing ran, and there is no log to write to */
	}
	if (h->lock == LOCK_READ)
		pthread_rwlock_rdlock(&k->lock);
	else if (h->lock == LOCK_WRITE)
		pthread_rwlock_wrlock(&k->lock);
	if (h->lock != LOCK_SELF && h->unsealed && (status = check_unsealed(&r)) != 0)
		goto out;
	status = h->answer(&r);
	/* A handler that returned an error without saying why still fails. */
	if (status != 0 && r.reply->status == 0)
		kreq_fail(&r, status, "%s", kw_err_str(status));
out:
	if (h->lock != LOCK_SELF)
		pthread_rwlock_unlock(&k->lock);
	kw_debug("req=%s op=%s key=%s result=%s", r.req_id, kw_msg_name(msg->type),
	         r.name ? r.name : "-", kw_err_code(status));
	/* After the lock: a group commit's fdatasync must not hold up
	 * writers. With forced audit the log may take the call and send the
	 * reply itself once the entry is durable. */
	if (msg->type != KW_MSG_SEAL_STATUS && keeper_audit_record(&r, status) != 0 &&
	    !k->conf->audit_unforced)
		kreq_fail(&r, KW_ERR_UNAVAILABLE, WITHHELD);
done:
	keeper_identity_cleanup(&r.id);
	/* Before the release: a deferred reply is ours until then. */
	keeper_metrics_count(k, msg->type, reply->status);
	if (r.deferred)
		call_release(c);
	return r.deferred;
}
