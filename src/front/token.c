/*
 * token.c: Vault's token endpoints — create, lookup(-self, -accessor),
 * revoke(-self, -accessor) — in Vault's response shapes.
 *
 * Tokens are secrets: the caller's own travels as the common TOKEN field,
 * a token being looked up or revoked as TARGET_TOKEN. The front never
 * checks, caches or logs one; the keeper alone knows what a token means.
 * keyward tokens are service tokens without renewal, use counts or
 * parents, so those Vault options are refused rather than ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

#define TOKEN_PATH "auth/token/create"

static json_t *policies_json(const struct kw_ipc_msg *m)
{
	const struct kw_ipc_field *fl;
	json_t *a = json_array();
	size_t pos = 0;

	while (a != NULL && (fl = kw_ipc_next(m, KW_T_POLICY, &pos)) != NULL) {
		if (json_array_append_new(a, json_string((const char *)fl->val)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Vault's token lookup "data"; id only when the caller gave the token. */
static int token_info_json(const struct kw_ipc_msg *m, const char *id, json_t **out)
{
	uint64_t created = kw_ipc_u64_or(m, KW_T_CREATED, 0);
	uint64_t expires = kw_ipc_u64_or(m, KW_T_EXPIRES, 0);
	int64_t now = kw_now();
	char issue[32], expire[32];
	json_t *o, *exp;

	kw_time_format((int64_t)created, issue, sizeof(issue));
	kw_time_format((int64_t)expires, expire, sizeof(expire));
	/* EXPIRES 0 is a token that never expires: Vault says null and ttl 0. */
	exp = expires ? json_string(expire) : json_null();
	o = json_pack(
	    "{s:s, s:I, s:I, s:s, s:s, s:o, s:I, s:s, s:n, s:I, s:b, s:s, s:o, s:b, s:I, "
	    "s:s}",
	    "accessor", kw_ipc_str_or(m, KW_T_ACCESSOR, ""), "creation_time", (json_int_t)created,
	    "creation_ttl", (json_int_t)kw_ipc_u64_or(m, KW_T_TTL, 0), "display_name",
	    kw_ipc_str_or(m, KW_T_DISPLAY_NAME, ""), "entity_id", "", "expire_time", exp,
	    "explicit_max_ttl", (json_int_t)0, "issue_time", issue, "meta", "num_uses",
	    (json_int_t)0, "orphan", 0, "path", TOKEN_PATH, "policies", policies_json(m),
	    "renewable", 0, "ttl",
	    (json_int_t)(expires > (uint64_t)now ? expires - (uint64_t)now : 0), "type", "service");
	if (o == NULL)
		return KW_ERR_NOMEM;
	if (id != NULL && kw_jset(o, "id", json_string(id)) != 0) {
		json_decref(o);
		return KW_ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* Send a token message with an optional string field; reply -> info JSON
 * (when want_info) or 204. */
static int token_call(struct kw_req *r, uint16_t type, uint16_t tag, const char *val,
                      bool want_info, const char *id, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	json_t *data;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_req_msg(r, &req, type)) != 0 ||
	    (val != NULL && (err = kw_ipc_put_str(&req, tag, val)) != 0) ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if (!want_info) {
		kw_resp_empty(out);
		goto out;
	}
	if ((err = token_info_json(&reply, id, &data)) != 0)
		goto out;
	err = kw_resp_data(r, out, data);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* A required string field of the body, e.g. "token" or "accessor". */
static int body_str(struct kw_req *r, const char *key, const char **out)
{
	int err = kw_jfield_str(r->body, key, true, out, &r->fail);

	if (err == 0 && (*out)[0] == '\0')
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"%s\" is empty", key);
	return err;
}

int kw_h_token_lookup_self(struct kw_req *r, struct kw_resp *out)
{
	return token_call(r, KW_MSG_TOKEN_LOOKUP_SELF, 0, NULL, true, r->token ? r->token : "",
	                  out);
}

int kw_h_token_lookup(struct kw_req *r, struct kw_resp *out)
{
	const char *t;
	int err;

	if ((err = body_str(r, "token", &t)) != 0)
		return err;
	return token_call(r, KW_MSG_TOKEN_LOOKUP, KW_T_TARGET_TOKEN, t, true, t, out);
}

int kw_h_token_lookup_accessor(struct kw_req *r, struct kw_resp *out)
{
	const char *a;
	int err;

	if ((err = body_str(r, "accessor", &a)) != 0)
		return err;
	return token_call(r, KW_MSG_TOKEN_LOOKUP, KW_T_ACCESSOR, a, true, NULL, out);
}

int kw_h_token_revoke(struct kw_req *r, struct kw_resp *out)
{
	const char *t;
	int err;

	if ((err = body_str(r, "token", &t)) != 0)
		return err;
	return token_call(r, KW_MSG_TOKEN_REVOKE, KW_T_TARGET_TOKEN, t, false, NULL, out);
}

int kw_h_token_revoke_accessor(struct kw_req *r, struct kw_resp *out)
{
	const char *a;
	int err;

	if ((err = body_str(r, "accessor", &a)) != 0)
		return err;
	return token_call(r, KW_MSG_TOKEN_REVOKE, KW_T_ACCESSOR, a, false, NULL, out);
}

int kw_h_token_revoke_self(struct kw_req *r, struct kw_resp *out)
{
	return token_call(r, KW_MSG_TOKEN_REVOKE_SELF, 0, NULL, false, NULL, out);
}

/* ---- create ---- */

static int put_policy(struct kw_req *r, struct kw_ipc_msg *m, const char *p, size_t len,
                      size_t *count)
{
	char name[KW_NAME_MAX + 1];

	if (len == 0)
		return 0; /* "a,,b" and a trailing comma: nothing there */
	if (len > KW_NAME_MAX)
		goto bad;
	memcpy(name, p, len);
	name[len] = '\0';
	if (!kw_name_valid(name))
		goto bad;
	if (++*count > KW_POLICIES_MAX)
		return kw_fail_set(&r->fail, KW_ERR_LIMIT, "a token may carry at most %d policies",
		                   KW_POLICIES_MAX);
	return kw_ipc_put_str(m, KW_T_POLICY, name);
bad:
	return kw_fail_set(&r->fail, KW_ERR_INVALID,
	                   "field \"policies\" holds a name that is not 1 to %d characters of "
	                   "A-Z a-z 0-9 . _ -",
	                   KW_NAME_MAX);
}

/* "policies": an array of names, or Vault's comma-separated string. */
static int put_policies(struct kw_req *r, struct kw_ipc_msg *m)
{
	const json_t *v = json_object_get(r->body, "policies");
	size_t count = 0, i;
	const json_t *e;
	int err;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		while (*s != '\0') {
			size_t len = strcspn(s, ","), skip = len + (s[len] == ',');

			/* Vault trims the spaces in "a, b". */
			while (len > 0 && *s == ' ') {
				s++;
				len--;
				skip--;
			}
			while (len > 0 && s[len - 1] == ' ')
				len--;
			if ((err = put_policy(r, m, s, len, &count)) != 0)
				return err;
			s += skip;
		}
		return 0;
	}
	if (!json_is_array(v))
		goto bad;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			goto bad;
		if ((err = put_policy(r, m, json_string_value(e), json_string_length(e), &count)) !=
		    0)
			return err;
	}
	return 0;
bad:
	return kw_fail_set(&r->fail, KW_ERR_INVALID,
	                   "field \"policies\" must be a list of policy names");
}

static int create_refusals(struct kw_req *r)
{
	const json_t *meta = json_object_get(r->body, "meta");
	struct kw_opt_u64 uses;
	const char *id, *type;
	int err;

	if ((err = kw_jfield_str(r->body, "id", false, &id, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "type", false, &type, &r->fail)) != 0 ||
	    (err = kw_jfield_u64(r->body, "num_uses", UINT32_MAX, &uses, &r->fail)) != 0)
		return err;
	if (id != NULL && id[0] != '\0')
		return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                   "choosing a token's id is not supported");
	if (type != NULL && strcmp(type, "service") != 0 && strcmp(type, "default") != 0)
		return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                   "only service tokens are supported");
	if (uses.set && uses.v != 0)
		return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                   "tokens with a use count are not supported");
	/* Metadata is accepted for compatibility and not stored. */
	if (meta != NULL && !json_is_null(meta) && !json_is_object(meta))
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"meta\" must be an object");
	return 0;
}

static int create_msg(struct kw_req *r, struct kw_ipc_msg *m)
{
	struct kw_opt_bool no_default;
	struct kw_opt_u64 ttl;
	const char *display;
	int err;

	if ((err = create_refusals(r)) != 0 ||
	    (err = kw_jfield_duration(r->body, "ttl", &ttl, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "display_name", false, &display, &r->fail)) != 0 ||
	    (err = kw_jfield_bool(r->body, "no_default_policy", &no_default, &r->fail)) != 0)
		return err;
	if ((err = kw_req_msg(r, m, KW_MSG_TOKEN_CREATE)) != 0 || (err = put_policies(r, m)) != 0)
		return err;
	if (ttl.set && (err = kw_ipc_put_u64(m, KW_T_TTL, ttl.v)) != 0)
		return err;
	if (display != NULL && (err = kw_ipc_put_str(m, KW_T_DISPLAY_NAME, display)) != 0)
		return err;
	if (no_default.set && (err = kw_ipc_put_u32(m, KW_T_NO_DEFAULT_POLICY, no_default.v)) != 0)
		return err;
	return 0;
}

static int auth_json(const struct kw_ipc_msg *m, json_t **out)
{
	const char *token;
	json_t *pol = policies_json(m);

	if (kw_ipc_get_str(m, KW_T_TOKEN, &token) != 0) {
		json_decref(pol);
		return KW_ERR_INTERNAL;
	}
	*out = json_pack("{s:s, s:s, s:o, s:O, s:n, s:I, s:b, s:s, s:s, s:b, s:I}", "client_token",
	                 token, "accessor", kw_ipc_str_or(m, KW_T_ACCESSOR, ""), "policies", pol,
	                 "token_policies", pol, "metadata", "lease_duration",
	                 (json_int_t)kw_ipc_u64_or(m, KW_T_TTL, 0), "renewable", 0, "entity_id", "",
	                 "token_type", "service", "orphan", 0, "num_uses", (json_int_t)0);
	return *out ? 0 : KW_ERR_NOMEM;
}

int kw_h_token_create(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	json_t *auth;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = create_msg(r, &req)) != 0 || (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((err = auth_json(&reply, &auth)) != 0)
		goto out;
	err = kw_resp_auth(r, out, auth);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}
