/*
 * admin.c: auth/token/create and sys/policies/acl — the operator's calls
 * besides keys and the seal. A created token is secret: its reply is wiped
 * when released.
 */
#include <stdlib.h>

#include "client_int.h"

static int token_body(struct kw_client *c, const struct kw_client_token_opts *o, json_t *body)
{
	json_t *policies;
	int r = 0;

	if (o->npolicies > 0) {
		if ((policies = json_array()) == NULL)
			return KW_ERR_NOMEM;
		for (size_t i = 0; i < o->npolicies && r == 0; i++)
			if (json_array_append_new(policies, json_string(o->policies[i])) != 0)
				r = KW_ERR_INVALID;
		if (r != 0) {
			json_decref(policies);
			client_fail(c, r, "a policy name is not UTF-8 text");
			return r;
		}
		if ((r = client_json_set(body, "policies", policies)) != 0)
			return r;
	}
	if (o->ttl != NULL && (r = client_json_set_str(c, body, "ttl", o->ttl)) != 0)
		return r;
	if (o->display_name != NULL &&
	    (r = client_json_set_str(c, body, "display_name", o->display_name)) != 0)
		return r;
	if (o->no_default_policy)
		r = client_json_set(body, "no_default_policy", json_true());
	return r;
}

int kw_client_token_create(struct kw_client *c, const struct kw_client_token_opts *o, json_t **auth)
{
	static const struct kw_client_token_opts none = {0};
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = token_body(c, o ? o : &none, body)) != 0)
		return client_abort(c, body, r);
	return client_do(c, "POST", "auth/token/create", body, CLIENT_TAKE_AUTH, true, auth);
}

int kw_client_policy_write(struct kw_client *c, const char *name, const char *text)
{
	json_t *body = json_object();
	char *path = NULL;
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_name_path(c, "sys/policies/acl/", name, "", &path)) != 0 ||
	    (r = client_json_set_str(c, body, "policy", text)) != 0) {
		kw_client_json_free(body);
		goto out;
	}
	r = client_do(c, "PUT", path, body, CLIENT_TAKE_NONE, false, NULL);
out:
	free(path);
	return r;
}

int kw_client_policy_read(struct kw_client *c, const char *name, json_t **data)
{
	char *path = NULL;
	int r;

	if ((r = client_name_path(c, "sys/policies/acl/", name, "", &path)) != 0)
		return r;
	r = client_do(c, "GET", path, NULL, CLIENT_TAKE_DATA, true, data);
	free(path);
	return r;
}

int kw_client_policy_list(struct kw_client *c, json_t **names)
{
	return client_list(c, "sys/policies/acl", names);
}

int kw_client_token_lookup_self(struct kw_client *c, json_t **data)
{
	return client_do(c, "GET", "auth/token/lookup-self", NULL, CLIENT_TAKE_DATA, true, data);
}

int kw_client_jwt_login(struct kw_client *c, const char *mount, const char *role, const char *jwt,
                        json_t **auth)
{
	json_t *body = json_object();
	char *path = NULL;
	int r;

	/* The body carries the credential: client_do wipes it on release. */
	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_name_path(c, "auth/", mount, "/login", &path)) != 0 ||
	    (r = client_json_set_str(c, body, "role", role)) != 0 ||
	    (r = client_json_set_str(c, body, "jwt", jwt)) != 0) {
		kw_client_json_free(body);
		goto out;
	}
	r = client_do(c, "POST", path, body, CLIENT_TAKE_AUTH, true, auth);
out:
	free(path);
	return r;
}
