/*
 * route.c: every REST path the front serves, in one table, and the
 * dispatcher that matches a request to it.
 *
 * Patterns are relative to "/v1/"; a ":x" segment matches any one segment
 * and is handed to the handler in order. ":name" segments are key or policy
 * names and are checked here, once, before any handler runs. Matching is
 * exact on the number of segments, so "keys" and "keys/:name" never clash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

#define GET    KW_M_GET
#define POST   KW_M_POST
#define DELETE KW_M_DELETE
#define LIST   KW_M_LIST

static const struct kw_route routes[] = {
    /* seal and health: sys.c */
    {GET, "sys/health", kw_h_health},
    {GET, "sys/seal-status", kw_h_seal_status},
    {GET, "sys/metrics", kw_h_metrics}, /* metrics.c */
    {GET, "sys/init", kw_h_init_get},
    {POST, "sys/init", kw_h_init_put},
    {POST, "sys/unseal", kw_h_unseal},
    {POST, "sys/seal", kw_h_seal},
    /* policies: sys.c */
    {LIST, "sys/policies/acl", kw_h_policy_list},
    {GET, "sys/policies/acl/:name", kw_h_policy_get},
    {POST, "sys/policies/acl/:name", kw_h_policy_put},
    {DELETE, "sys/policies/acl/:name", kw_h_policy_delete},
    {GET | LIST, "sys/policy", kw_h_legacy_policy_list},
    {GET, "sys/policy/:name", kw_h_legacy_policy_get},
    {POST, "sys/policy/:name", kw_h_policy_put},
    {DELETE, "sys/policy/:name", kw_h_policy_delete},
    /* keys: keys.c */
    {LIST, "transit/keys", kw_h_key_list},
    {POST, "transit/keys/:name", kw_h_key_create},
    {GET, "transit/keys/:name", kw_h_key_read},
    {DELETE, "transit/keys/:name", kw_h_key_delete},
    {POST, "transit/keys/:name/config", kw_h_key_config},
    {POST, "transit/keys/:name/rotate", kw_h_key_rotate},
    {GET, "transit/export/:type/:name", kw_h_key_export},
    {GET, "transit/export/:type/:name/:version", kw_h_key_export},
    /* operations: transit.c */
    {POST, "transit/encrypt/:name", kw_h_encrypt},
    {POST, "transit/decrypt/:name", kw_h_decrypt},
    {POST, "transit/rewrap/:name", kw_h_rewrap},
    {POST, "transit/datakey/:type/:name", kw_h_datakey},
    {POST, "transit/sign/:name", kw_h_sign},
    {POST, "transit/sign/:name/:hash", kw_h_sign},
    {POST, "transit/verify/:name", kw_h_verify},
    {POST, "transit/verify/:name/:hash", kw_h_verify},
    {POST, "transit/hmac/:name", kw_h_hmac},
    {POST, "transit/hmac/:name/:hash", kw_h_hmac},
    {POST, "transit/random", kw_h_random},
    {POST, "transit/random/:bytes", kw_h_random},
    {POST, "transit/hash", kw_h_hash},
    {POST, "transit/hash/:hash", kw_h_hash},
    {POST, "sys/tools/random", kw_h_random},
    {POST, "sys/tools/random/:bytes", kw_h_random},
    {POST, "sys/tools/hash", kw_h_hash},
    {POST, "sys/tools/hash/:hash", kw_h_hash},
    /* PKCS#11 operations Vault lacks, and its objects: p11ops.c */
    {POST, "keyward/sign-raw/:name", kw_h_p11_sign_raw},
    {POST, "keyward/decrypt/:name", kw_h_p11_decrypt},
    {POST, "keyward/derive/:name", kw_h_p11_derive},
    {POST, "keyward/cipher/:name", kw_h_p11_cipher},
    {POST, "keyward/wrap/:name", kw_h_p11_wrap},
    {POST, "keyward/unwrap/:name", kw_h_p11_unwrap},
    {LIST, "keyward/objects", kw_h_p11_object_list},
    {GET, "keyward/objects/:name", kw_h_p11_object_get},
    {POST, "keyward/objects/:name", kw_h_p11_object_put},
    {DELETE, "keyward/objects/:name", kw_h_p11_object_delete},
    /* tokens: token.c */
    {POST, "auth/token/create", kw_h_token_create},
    {GET, "auth/token/lookup-self", kw_h_token_lookup_self},
    {POST, "auth/token/lookup", kw_h_token_lookup},
    {POST, "auth/token/lookup-accessor", kw_h_token_lookup_accessor},
    {POST, "auth/token/revoke", kw_h_token_revoke},
    {POST, "auth/token/revoke-accessor", kw_h_token_revoke_accessor},
    {POST, "auth/token/revoke-self", kw_h_token_revoke_self},
    /* auth mounts and logins: auth_mount.c (after the auth/token rows, which win) */
    {GET | LIST, "sys/auth", kw_h_auth_list},
    {GET, "sys/auth/:mount", kw_h_auth_read},
    {POST, "sys/auth/:mount", kw_h_auth_enable},
    {DELETE, "sys/auth/:mount", kw_h_auth_disable},
    {GET, "auth/:mount/config", kw_h_auth_config_get},
    {POST, "auth/:mount/config", kw_h_auth_config_put},
    {LIST, "auth/:mount/role", kw_h_auth_role_list},
    {GET, "auth/:mount/role/:name", kw_h_auth_role_get},
    {POST, "auth/:mount/role/:name", kw_h_auth_role_put},
    {DELETE, "auth/:mount/role/:name", kw_h_auth_role_delete},
    {LIST, "auth/:mount/certs", kw_h_auth_role_list},
    {GET, "auth/:mount/certs/:name", kw_h_auth_role_get},
    {POST, "auth/:mount/certs/:name", kw_h_auth_role_put},
    {DELETE, "auth/:mount/certs/:name", kw_h_auth_role_delete},
    {POST, "auth/:mount/login", kw_h_auth_login},
    /* the audit log: audit.c */
    {GET, "keyward/audit/checkpoint", kw_h_audit_checkpoint},
    {GET, "keyward/audit/entries", kw_h_audit_entries},
    {GET, "keyward/audit/proof/inclusion", kw_h_audit_inclusion},
    {GET, "keyward/audit/proof/consistency", kw_h_audit_consistency},
    {GET, "keyward/audit/search", kw_h_audit_search},
};

#undef GET
#undef POST
#undef DELETE
#undef LIST

const struct kw_route *kw_routes(size_t *n)
{
	*n = KW_ARRAY_LEN(routes);
	return routes;
}

static const struct {
	const char *name;
	unsigned bit;
} methods[] = {
    {"GET", KW_M_GET},  {"HEAD", KW_M_HEAD},     {"POST", KW_M_POST},
    {"PUT", KW_M_POST}, {"DELETE", KW_M_DELETE}, {"LIST", KW_M_LIST},
};

int kw_method_parse(const char *method, bool list_query, unsigned *out)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(methods); i++) {
		if (strcmp(method, methods[i].name) != 0)
			continue;
		*out = (methods[i].bit == KW_M_GET && list_query) ? KW_M_LIST : methods[i].bit;
		return 0;
	}
	return KW_ERR_UNSUPPORTED;
}

void kw_method_names(unsigned mask, char *buf, size_t buflen)
{
	size_t o = 0;

	if (mask & KW_M_GET)
		mask |= KW_M_HEAD;
	buf[0] = '\0';
	for (size_t i = 0; i < KW_ARRAY_LEN(methods); i++) {
		int n;

		if (!(mask & methods[i].bit))
			continue;
		n = snprintf(buf + o, buflen - o, "%s%s", o ? ", " : "", methods[i].name);
		if (n < 0 || (size_t)n >= buflen - o)
			return;
		o += (size_t)n;
	}
}

void kw_route_args_cleanup(struct kw_route_args *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

/* Does the '/'-split path (segs, nsegs) fit pattern? Fills args if so. */
static bool pattern_match(const char *pattern, char *const *segs, size_t nsegs,
                          struct kw_route_args *a)
{
	size_t i = 0, nargs = 0;
	const char *p = pattern;

	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (i >= nsegs)
			return false;
		if (p[0] == ':') {
			if (nargs >= KW_ROUTE_ARGS_MAX)
				return false;
			a->v[nargs] = segs[i];
			a->is_name[nargs] = len == 5 && strncmp(p, ":name", 5) == 0;
			nargs++;
		} else if (strlen(segs[i]) != len || strncmp(p, segs[i], len) != 0) {
			return false;
		}
		i++;
		p += len;
		if (*p == '/')
			p++;
	}
	if (i != nsegs)
		return false;
	a->n = nargs;
	return true;
}

/* Split a copy of path at '/'; empty segments ("a//b", "/a") never match. */
static int path_split(const char *path, char **buf, char ***segs, size_t *nsegs)
{
	size_t n = 1;
	char *b, **s, *p;

	for (const char *c = path; *c != '\0'; c++)
		n += *c == '/';
	b = strdup(path);
	s = calloc(n, sizeof(*s));
	if (b == NULL || s == NULL) {
		free(b);
		free(s);
		return KW_ERR_NOMEM;
	}
	p = b;
	for (size_t i = 0; i < n; i++) {
		char *slash = strchr(p, '/');

		s[i] = p;
		if (slash != NULL) {
			*slash = '\0';
			p = slash + 1;
		}
	}
	*buf = b;
	*segs = s;
	*nsegs = n;
	return 0;
}

int kw_route_find(unsigned method, const char *path, const struct kw_route **route,
                  struct kw_route_args *args, unsigned *allowed)
{
	unsigned want = method == KW_M_HEAD ? KW_M_GET : method;
	unsigned mask = 0;
	char *buf, **segs;
	size_t nsegs;
	int r;

	memset(args, 0, sizeof(*args));
	if ((r = path_split(path, &buf, &segs, &nsegs)) != 0)
		return r;
	for (size_t i = 0; i < nsegs; i++) {
		if (segs[i][0] == '\0') {
			r = KW_ERR_NOT_FOUND;
			goto out;
		}
	}
	for (size_t i = 0; i < KW_ARRAY_LEN(routes); i++) {
		struct kw_route_args a = {0};

		if (!pattern_match(routes[i].pattern, segs, nsegs, &a))
			continue;
		if (routes[i].methods & want) {
			a.buf = buf;
			buf = NULL;
			*args = a;
			*route = &routes[i];
			r = 0;
			goto out;
		}
		mask |= routes[i].methods;
	}
	if (mask == 0) {
		r = KW_ERR_NOT_FOUND;
	} else {
		*allowed = mask;
		r = KW_ERR_UNSUPPORTED;
	}
out:
	free(segs);
	free(buf);
	return r;
}

/* Vault returns 405 for a known path with a method it does not serve. */
static void answer_bad_method(struct kw_req *r, unsigned allowed, const char *method,
                              struct kw_resp *out)
{
	char text[KW_DETAIL_BYTES];

	snprintf(text, sizeof(text), "%s is not supported on /v1/%s", method, r->path);
	out->status = 405;
	out->json = kw_error_json(text, "method_not_allowed");
	kw_method_names(allowed, out->allow, sizeof(out->allow));
}

static void answer_no_path(struct kw_req *r, const char *method, struct kw_resp *out)
{
	char text[KW_DETAIL_BYTES];

	/* The path is echoed: it names keys and endpoints, never secrets. */
	snprintf(text, sizeof(text), "unsupported path: %s /v1/%.180s", method, r->path);
	out->status = 404;
	out->json = kw_error_json(text, "unsupported_path");
}

static const char *method_text(unsigned m)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(methods); i++)
		if (methods[i].bit == m)
			return methods[i].name;
	return "?";
}

static int args_check(struct kw_req *r)
{
	for (size_t i = 0; i < r->args.n; i++) {
		if (r->args.is_name[i] && !kw_name_valid(r->args.v[i]))
			return kw_fail_set(&r->fail, KW_ERR_INVALID,
			                   "key and policy names must be 1 to %d characters of "
			                   "A-Z a-z 0-9 . _ -",
			                   KW_NAME_MAX);
	}
	return 0;
}

void kw_dispatch(struct kw_req *r, const struct kw_body *body, struct kw_resp *out)
{
	const struct kw_route *route;
	unsigned allowed = 0;
	int err;

	memset(out, 0, sizeof(*out));
	if (body->too_large) {
		err = KW_ERR_TOO_LARGE;
		goto fail;
	}
	err = kw_route_find(r->method, r->path, &route, &r->args, &allowed);
	if (err == KW_ERR_NOT_FOUND) {
		answer_no_path(r, method_text(r->method), out);
		return;
	}
	if (err == KW_ERR_UNSUPPORTED) {
		answer_bad_method(r, allowed, method_text(r->method), out);
		return;
	}
	if (err != 0)
		goto fail;
	r->route = route;
	if ((err = args_check(r)) != 0)
		goto fail;
	/* Vault reads a body only on writes; GET/DELETE/LIST bodies are ignored. */
	if (r->method == KW_M_POST)
		err = kw_body_json(body->buf.data, body->buf.len, &r->body, &r->fail);
	else
		err = (r->body = json_object()) ? 0 : KW_ERR_NOMEM;
	if (err != 0)
		goto fail;
	if ((err = route->fn(r, out)) == 0)
		return;
fail:
	kw_resp_cleanup(out);
	if (kw_resp_error(out, err, &r->fail) != 0)
		out->status = 500; /* no memory for a body: status alone */
}
