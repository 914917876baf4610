/*
 * sys.c: sys/init, sys/unseal, sys/seal and sys/seal-status. Shares and the
 * root token pass through here; their request bodies and replies are wiped
 * when released (client_do, kw_client_json_free).
 */
#include "client_int.h"

int kw_client_sys_init(struct kw_client *c, unsigned shares, unsigned threshold, json_t **reply)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set(body, "secret_shares", json_integer(shares))) != 0 ||
	    (r = client_json_set(body, "secret_threshold", json_integer(threshold))) != 0)
		return client_abort(c, body, r);
	return client_do(c, "PUT", "sys/init", body, CLIENT_TAKE_BODY, true, reply);
}

int kw_client_sys_unseal(struct kw_client *c, const char *share, json_t **status)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_str(c, body, "key", share)) != 0)
		return client_abort(c, body, r);
	return client_do(c, "PUT", "sys/unseal", body, CLIENT_TAKE_BODY, true, status);
}

int kw_client_sys_unseal_reset(struct kw_client *c, json_t **status)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set(body, "reset", json_true())) != 0)
		return client_abort(c, body, r);
	return client_do(c, "PUT", "sys/unseal", body, CLIENT_TAKE_BODY, true, status);
}

int kw_client_sys_seal(struct kw_client *c)
{
	return client_do(c, "PUT", "sys/seal", NULL, CLIENT_TAKE_NONE, false, NULL);
}

int kw_client_sys_seal_status(struct kw_client *c, json_t **status)
{
	return client_do(c, "GET", "sys/seal-status", NULL, CLIENT_TAKE_BODY, true, status);
}
