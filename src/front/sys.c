/*
 * sys.c: Vault's sys/ endpoints — health, seal status, init, unseal, seal —
 * and ACL policies (sys/policies/acl and the legacy sys/policy that hvac
 * 0.11 still calls).
 *
 * The seal endpoints answer with Vault's bare JSON objects (no envelope);
 * hvac reads fields such as "sealed" and "initialized" at the top level.
 * The front validates init parameters for a clear 400, but the keeper
 * checks them again: it trusts nothing the front says.
 */
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

#define SHARES_MAX 255

/* ---- seal status ---- */

static int seal_status_call(struct kw_req *r, uint16_t type, struct kw_ipc_msg *req,
                            struct kw_ipc_msg *reply)
{
	int err;

	if ((err = kw_req_msg(r, req, type)) != 0)
		return err;
	return kw_req_call(r, req, reply);
}

/* Vault's seal-status object from a SEAL_STATUS-shaped reply. */
static int seal_json(const struct kw_ipc_msg *m, json_t **out)
{
	bool sealed = kw_ipc_u32_or(m, KW_T_SEALED, 1) != 0;
	json_t *o;

	o = json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:s, s:s, s:s, s:b, s:b, s:s}", "type",
	              "shamir", "initialized", kw_ipc_u32_or(m, KW_T_INITIALIZED, 0) != 0, "sealed",
	              sealed, "t", (json_int_t)kw_ipc_u32_or(m, KW_T_THRESHOLD, 0), "n",
	              (json_int_t)kw_ipc_u32_or(m, KW_T_SHARES, 0), "progress",
	              (json_int_t)kw_ipc_u32_or(m, KW_T_PROGRESS, 0), "nonce", "", "version",
	              KW_FRONT_VERSION, "build_date", "", "migration", 0, "recovery_seal", 0,
	              "storage_type", "sqlite");
	if (o == NULL)
		return KW_ERR_NOMEM;
	/* Vault names the cluster only once it is unsealed. */
	if (!sealed && kw_jset(o, "cluster_name", json_string(KW_FRONT_CLUSTER)) != 0) {
		json_decref(o);
		return KW_ERR_NOMEM;
	}
	*out = o;
	return 0;
}

int kw_h_seal_status(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	json_t *o;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);

	if ((err = seal_status_call(r, KW_MSG_SEAL_STATUS, &req, &reply)) != 0)
		goto out;
	if ((err = seal_json(&reply, &o)) != 0)
		goto out;
	err = kw_resp_json(out, 200, o);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* ---- health ---- */

static int query_code(struct kw_req *r, const char *key, unsigned def, unsigned *out)
{
	const char *v = kw_req_query(r, key);
	uint64_t n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (kw_uint_parse(v, 100, 599, &n) != 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "query parameter \"%s\" must be an HTTP status code", key);
	*out = (unsigned)n;
	return 0;
}

int kw_h_health(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	unsigned active = 0, sealed_code = 0, uninit_code = 0, status;
	bool init, sealed;
	json_t *o;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	/* standbyok and the standby codes do not apply: never a standby. */
	if ((err = query_code(r, "activecode", 200, &active)) != 0 ||
	    (err = query_code(r, "sealedcode", 503, &sealed_code)) != 0 ||
	    (err = query_code(r, "uninitcode", 501, &uninit_code)) != 0)
		goto out;
	if ((err = seal_status_call(r, KW_MSG_SEAL_STATUS, &req, &reply)) != 0)
		goto out;
	init = kw_ipc_u32_or(&reply, KW_T_INITIALIZED, 0) != 0;
	sealed = kw_ipc_u32_or(&reply, KW_T_SEALED, 1) != 0;
	status = !init ? uninit_code : sealed ? sealed_code : active;
	if (status == 204) {
		kw_resp_empty(out);
		goto out;
	}
	o = json_pack("{s:b, s:b, s:b, s:b, s:s, s:s, s:I, s:s, s:s}", "initialized", init,
	              "sealed", sealed, "standby", 0, "performance_standby", 0,
	              "replication_performance_mode", "disabled", "replication_dr_mode", "disabled",
	              "server_time_utc", (json_int_t)kw_now(), "version", KW_FRONT_VERSION,
	              "cluster_name", KW_FRONT_CLUSTER);
	err = kw_resp_json(out, status, o);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* ---- init ---- */

int kw_h_init_get(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);

	if ((err = seal_status_call(r, KW_MSG_SEAL_STATUS, &req, &reply)) != 0)
		goto out;
	err = kw_resp_json(
	    out, 200,
	    json_pack("{s:b}", "initialized", kw_ipc_u32_or(&reply, KW_T_INITIALIZED, 0) != 0));
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* Vault's SealConfig.Validate rules, with its sentences. */
static int init_params(struct kw_req *r, uint32_t *shares, uint32_t *threshold)
{
	struct kw_opt_u64 n, t;
	const json_t *pgp = json_object_get(r->body, "pgp_keys");
	const char *root_pgp;
	int err;

	if ((err = kw_jfield_u64(r->body, "secret_shares", SHARES_MAX, &n, &r->fail)) != 0 ||
	    (err = kw_jfield_u64(r->body, "secret_threshold", SHARES_MAX, &t, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "root_token_pgp_key", false, &root_pgp, &r->fail)) != 0)
		return err;
	if (!n.set)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "missing required field \"%s\"",
		                   "secret_shares");
	if (!t.set)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "missing required field \"%s\"",
		                   "secret_threshold");
	if ((json_is_array(pgp) && json_array_size(pgp) > 0) ||
	    (root_pgp != NULL && root_pgp[0] != '\0'))
		return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                   "PGP-encrypted key shares are not supported");
	if (n.v < 1)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "shares must be at least one");
	if (t.v < 1)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "threshold must be at least one");
	if (t.v > n.v)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "threshold cannot be larger than shares");
	if (n.v > 1 && t.v == 1)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "threshold must be greater than one for multiple shares");
	*shares = (uint32_t)n.v;
	*threshold = (uint32_t)t.v;
	return 0;
}

/* Append s (a secret text we own) to arr, then wipe and free it. */
static int shares_json(const struct kw_ipc_msg *reply, json_t *hex, json_t *b64)
{
	const struct kw_ipc_field *fl;
	size_t pos = 0;

	while ((fl = kw_ipc_next(reply, KW_T_UNSEAL_KEY, &pos)) != NULL) {
		/* json_array_append_new takes (and on failure frees) a NULL too. */
		if (json_array_append_new(hex, kw_json_bytes(fl->val, fl->len, true)) != 0 ||
		    json_array_append_new(b64, kw_json_bytes(fl->val, fl->len, false)) != 0)
			return KW_ERR_NOMEM;
	}
	return json_array_size(hex) > 0 ? 0 : KW_ERR_INTERNAL;
}

int kw_h_init_put(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	json_t *hex = NULL, *b64 = NULL, *o = NULL;
	uint32_t shares = 0, threshold = 0;
	const char *root;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = init_params(r, &shares, &threshold)) != 0)
		goto out;
	if ((err = kw_req_msg(r, &req, KW_MSG_INIT)) != 0 ||
	    (err = kw_ipc_put_u32(&req, KW_T_SHARES, shares)) != 0 ||
	    (err = kw_ipc_put_u32(&req, KW_T_THRESHOLD, threshold)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = KW_ERR_NOMEM;
	hex = json_array();
	b64 = json_array();
	if (hex == NULL || b64 == NULL)
		goto out;
	if ((err = shares_json(&reply, hex, b64)) != 0)
		goto out;
	if ((err = kw_ipc_get_str(&reply, KW_T_ROOT_TOKEN, &root)) != 0) {
		err = KW_ERR_INTERNAL;
		goto out;
	}
	o = json_pack("{s:O, s:O, s:s}", "keys", hex, "keys_base64", b64, "root_token", root);
	err = kw_resp_json(out, 200, o);
out:
	json_decref(hex);
	json_decref(b64);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* ---- unseal, seal ---- */

int kw_h_unseal(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_bytes share = {0};
	struct kw_opt_bool reset;
	const char *key;
	json_t *o;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_jfield_bool(r->body, "reset", &reset, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "key", false, &key, &r->fail)) != 0)
		goto out;
	if (!(reset.set && reset.v) && key == NULL) {
		err = kw_fail_set(&r->fail, KW_ERR_INVALID,
		                  "missing required field \"key\" (or \"reset\": true)");
		goto out;
	}
	if (!(reset.set && reset.v) && kw_share_decode(key, &share) != 0) {
		err = kw_fail_set(&r->fail, KW_ERR_INVALID,
		                  "field \"key\" must be an unseal key share in hex or base64");
		goto out;
	}
	if ((err = kw_req_msg(r, &req, KW_MSG_UNSEAL)) != 0)
		goto out;
	if (reset.set && reset.v)
		err = kw_ipc_put_u32(&req, KW_T_RESET, 1);
	else
		err = kw_ipc_put(&req, KW_T_UNSEAL_KEY, share.p, share.len);
	if (err != 0 || (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((err = seal_json(&reply, &o)) != 0)
		goto out;
	err = kw_resp_json(out, 200, o);
out:
	kw_bytes_purge(&share);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* A request whose reply carries nothing we show: answered 204. */
static int call_named(struct kw_req *r, uint16_t type, const char *name, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_req_msg(r, &req, type)) != 0 ||
	    (name != NULL && (err = kw_ipc_put_str(&req, KW_T_NAME, name)) != 0) ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	kw_resp_empty(out);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_seal(struct kw_req *r, struct kw_resp *out)
{
	return call_named(r, KW_MSG_SEAL, NULL, out);
}

/* ---- policies ---- */

int kw_h_policy_list(struct kw_req *r, struct kw_resp *out)
{
	json_t *keys;
	int err;

	if ((err = kw_req_names(r, KW_MSG_POLICY_LIST, &keys)) != 0)
		return err;
	return kw_resp_list(r, out, keys);
}

/* Legacy sys/policy: Vault repeats "policies" and "keys" at the top level. */
int kw_h_legacy_policy_list(struct kw_req *r, struct kw_resp *out)
{
	json_t *keys;
	int err;

	if ((err = kw_req_names(r, KW_MSG_POLICY_LIST, &keys)) != 0)
		return err;
	err = kw_resp_data(r, out, json_pack("{s:O, s:O}", "policies", keys, "keys", keys));
	if (err == 0 && (kw_jset(out->json, "policies", json_copy(keys)) != 0 ||
	                 kw_jset(out->json, "keys", json_copy(keys)) != 0))
		err = KW_ERR_NOMEM;
	json_decref(keys);
	return err;
}

/* POLICY_GET -> NAME POLICY_TEXT, as "name" and "text_key" in o. */
static int policy_fetch(struct kw_req *r, const char *text_key, json_t **out)
{
	struct kw_ipc_msg req, reply;
	const char *name, *text;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_req_msg(r, &req, KW_MSG_POLICY_GET)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_NAME, r->args.v[0])) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	name = kw_ipc_str_or(&reply, KW_T_NAME, r->args.v[0]);
	if ((err = kw_ipc_get_str(&reply, KW_T_POLICY_TEXT, &text)) != 0) {
		err = KW_ERR_INTERNAL;
		goto out;
	}
	*out = json_pack("{s:s, s:s}", "name", name, text_key, text);
	err = *out ? 0 : KW_ERR_NOMEM;
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_policy_get(struct kw_req *r, struct kw_resp *out)
{
	json_t *data;
	int err;

	if ((err = policy_fetch(r, "policy", &data)) != 0)
		return err;
	return kw_resp_data(r, out, data);
}

int kw_h_legacy_policy_get(struct kw_req *r, struct kw_resp *out)
{
	json_t *data;
	int err;

	if ((err = policy_fetch(r, "rules", &data)) != 0)
		return err;
	err = kw_resp_data(r, out, json_copy(data));
	if (err == 0 && json_object_update(out->json, data) != 0)
		err = KW_ERR_NOMEM;
	json_decref(data);
	return err;
}

/* "policy" (or legacy "rules"): text as-is, or a JSON object as its text
 * (then *owned holds it, for kw_json_text_free). */
static int policy_text(struct kw_req *r, const char **text, char **owned)
{
	const char *key = json_object_get(r->body, "policy") ? "policy" : "rules";
	const json_t *v = json_object_get(r->body, key);
	size_t len;

	if (json_is_string(v)) {
		*text = json_string_value(v);
		return 0;
	}
	if (json_is_object(v)) {
		if ((*owned = kw_json_text(v, &len)) == NULL)
			return KW_ERR_NOMEM;
		*text = *owned;
		return 0;
	}
	if (v == NULL || json_is_null(v))
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "missing required field \"policy\"");
	return kw_fail_set(&r->fail, KW_ERR_INVALID,
	                   "field \"%s\" must be a string or a JSON object", key);
}

int kw_h_policy_put(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	const char *text = NULL;
	char *owned = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = policy_text(r, &text, &owned)) != 0)
		goto out;
	if ((err = kw_req_msg(r, &req, KW_MSG_POLICY_PUT)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_NAME, r->args.v[0])) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_POLICY_TEXT, text)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	kw_resp_empty(out);
out:
	kw_json_text_free(owned);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_policy_delete(struct kw_req *r, struct kw_resp *out)
{
	return call_named(r, KW_MSG_POLICY_DELETE, r->args.v[0], out);
}
