/*
 * Unit tests for the keeper's auth mounts, logins and identities, through
 * IPC on a socketpair with the real store, as the front drives them: mount
 * administration and its permissions, role validation, login tokens and
 * their TTL, refused logins in the audit log, revocation by disabling a
 * mount, implicit certificate identities and network identities. Run one
 * with `test_keeper_auth '/keeper-auth/login-ttl-capped'`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "../../../src/audit/audit.h"
#include "../../../src/ipc/ipc.h"
#include "../../../src/keeper/keeper.h"

#include "keeper_fx.h"

#define SIGNER_POLICY "{\"path\":{\"transit/sign/app-*\":{\"capabilities\":[\"update\"]}}}"
#define SPIFFE_ID     "spiffe://prod.example/ns/payments/sa/web"

/* ---- helpers ---- */

static void expect(struct fx *f, uint16_t type, const char *token, int want, ...)
{
	struct kw_ipc_msg rep;
	va_list ap;
	const char *s[4] = {0};
	uint16_t tags[4] = {0};
	int n = 0, tag;

	/* Up to four string fields: tag, value, ..., 0. */
	va_start(ap, want);
	while (n < 4 && (tag = va_arg(ap, int)) != 0) {
		tags[n] = (uint16_t)tag;
		s[n++] = va_arg(ap, const char *);
	}
	va_end(ap);
	switch (n) {
	case 0:
		assert_int_equal(call(f, type, token, &rep, 0), want);
		break;
	case 1:
		assert_int_equal(call(f, type, token, &rep, tags[0], 's', s[0], 0), want);
		break;
	case 2:
		assert_int_equal(
		    call(f, type, token, &rep, tags[0], 's', s[0], tags[1], 's', s[1], 0), want);
		break;
	case 3:
		assert_int_equal(call(f, type, token, &rep, tags[0], 's', s[0], tags[1], 's', s[1],
		                      tags[2], 's', s[2], 0),
		                 want);
		break;
	default:
		assert_int_equal(call(f, type, token, &rep, tags[0], 's', s[0], tags[1], 's', s[1],
		                      tags[2], 's', s[2], tags[3], 's', s[3], 0),
		                 want);
	}
	if (want != 0)
		assert_non_null(kw_ipc_find(&rep, KW_T_ERROR_DETAIL));
	kw_ipc_msg_cleanup(&rep);
}

static void enable(struct fx *f, const char *mount, const char *type)
{
	expect(f, KW_MSG_AUTH_ENABLE, f->root, 0, KW_T_MOUNT, mount, KW_T_AUTH_TYPE, type, 0);
}

static void role_put(struct fx *f, const char *mount, const char *role, const char *json)
{
	expect(f, KW_MSG_AUTH_ROLE_PUT, f->root, 0, KW_T_MOUNT, mount, KW_T_ROLE, role,
	       KW_T_AUTH_ROLE, json, 0);
}

static void policy_put(struct fx *f, const char *name, const char *text)
{
	expect(f, KW_MSG_POLICY_PUT, f->root, 0, KW_T_NAME, name, KW_T_POLICY_TEXT, text, 0);
}

static void key_create(struct fx *f, const char *name)
{
	expect(f, KW_MSG_KEY_CREATE, f->root, 0, KW_T_NAME, name, KW_T_KEY_TYPE, "ed25519", 0);
}

/* A token of the given policy, made by root. */
static void token_with(struct fx *f, const char *policy, char *out, size_t len)
{
	struct kw_ipc_msg rep;

	assert_int_equal(call(f, KW_MSG_TOKEN_CREATE, f->root, &rep, KW_T_POLICY, 's', policy,
	                      KW_T_NO_DEFAULT_POLICY, 'u', 1, 0),
	                 0);
	snprintf(out, len, "%s", kw_ipc_str_or(&rep, KW_T_TOKEN, ""));
	assert_true(strlen(out) > 10);
	kw_ipc_msg_cleanup(&rep);
}

/* AUTH_LOGIN; on success the token into tok and the reply kept in rep. */
static int login(struct fx *f, const char *mount, const char *role, const char *caller,
                 const char *meta, uint64_t expires, struct kw_ipc_msg *rep, char *tok, size_t len)
{
	struct kw_ipc_msg req;
	int s;

	kw_ipc_msg_init(&req, KW_MSG_AUTH_LOGIN);
	assert_int_equal(kw_ipc_put_str(&req, KW_T_REQ_ID, "login-test"), 0);
	assert_int_equal(kw_ipc_put_str(&req, KW_T_MOUNT, mount), 0);
	assert_int_equal(kw_ipc_put_str(&req, KW_T_ROLE, role), 0);
	if (caller != NULL)
		assert_int_equal(kw_ipc_put_str(&req, KW_T_CALLER_ID, caller), 0);
	if (meta != NULL)
		assert_int_equal(kw_ipc_put_str(&req, KW_T_CALLER_META, meta), 0);
	if (expires != 0)
		assert_int_equal(kw_ipc_put_u64(&req, KW_T_CALLER_EXPIRES, expires), 0);
	assert_int_equal(kw_ipc_call(f->fd, &req, rep), 0);
	kw_ipc_msg_cleanup(&req);
	s = rep->status;
	if (s == 0 && tok != NULL)
		snprintf(tok, len, "%s", kw_ipc_str_or(rep, KW_T_TOKEN, ""));
	if (s != 0)
		assert_null(kw_ipc_find(rep, KW_T_TOKEN));
	return s;
}

static int login0(struct fx *f, const char *mount, const char *role, uint64_t expires, char *tok,
                  size_t len)
{
	struct kw_ipc_msg rep;
	int s = login(f, mount, role, "k8s:payments/api", NULL, expires, &rep, tok, len);

	kw_ipc_msg_cleanup(&rep);
	return s;
}

static int sign_as(struct fx *f, const char *token, const char *key)
{
	struct kw_ipc_msg rep;
	int s = call(f, KW_MSG_SIGN, token, &rep, KW_T_NAME, 's', key, KW_T_INPUT, 'b', "m",
	             (size_t)1, 0);

	kw_ipc_msg_cleanup(&rep);
	return s;
}

static bool has_policy(const struct kw_ipc_msg *m, const char *name)
{
	const struct kw_ipc_field *fl;
	size_t pos = 0;

	while ((fl = kw_ipc_next(m, KW_T_POLICY, &pos)) != NULL)
		if (strcmp((const char *)fl->val, name) == 0)
			return true;
	return false;
}

/* The newest audit entry of an operation (NULL if none); free it. */
static struct kw_audit_entry *last_entry(struct fx *f, const char *operation)
{
	struct kw_audit_entry *found = NULL;
	const struct kw_ipc_field *e;
	struct kw_ipc_msg rep;
	size_t pos = 0;

	assert_int_equal(call(f, KW_MSG_AUDIT_ENTRIES, f->root, &rep, 0), 0);
	while ((e = kw_ipc_next(&rep, KW_T_ENTRY, &pos)) != NULL) {
		struct kw_audit_entry *d;

		assert_int_equal(kw_audit_entry_decode(e->val + 8, e->len - 8, &d), 0);
		if (strcmp(d->operation, operation) == 0) {
			kw_audit_entry_free(found);
			found = d;
		} else {
			kw_audit_entry_free(d);
		}
	}
	kw_ipc_msg_cleanup(&rep);
	return found;
}

static const char *claim(json_t *claims, const char *name)
{
	return json_string_value(json_object_get(claims, name));
}

/* ---- mounts ---- */

static size_t list_mounts(struct fx *f, const char *token, int want, const char *find,
                          const char **type)
{
	struct kw_ipc_msg rep;
	const struct kw_ipc_field *m;
	size_t pos = 0, n = 0;
	static char found_type[32];

	assert_int_equal(call(f, KW_MSG_AUTH_LIST, token, &rep, 0), want);
	while ((m = kw_ipc_next(&rep, KW_T_MOUNT, &pos)) != NULL) {
		n++;
		if (find != NULL && strcmp((const char *)m->val, find) == 0) {
			/* MOUNT AUTH_TYPE DESCRIPTION: the type follows its mount. */
			size_t tpos = 0;
			const struct kw_ipc_field *t = NULL;
			for (size_t i = 0; i < n; i++)
				t = kw_ipc_next(&rep, KW_T_AUTH_TYPE, &tpos);
			snprintf(found_type, sizeof(found_type), "%s", (const char *)t->val);
			*type = found_type;
		}
	}
	kw_ipc_msg_cleanup(&rep);
	return n;
}

static void enable_list_disable(void **state)
{
	struct fx *f = *state;
	const char *type = NULL;
	char admin[128], reader[128];

	init_unseal(f);
	/* The built-in token mount is always listed. */
	assert_int_equal(list_mounts(f, f->root, 0, "token", &type), 1);
	assert_string_equal(type, "token");
	expect(f, KW_MSG_AUTH_ENABLE, f->root, 0, KW_T_MOUNT, "k8s-prod", KW_T_AUTH_TYPE,
	       "kubernetes", KW_T_DESCRIPTION, "production cluster", 0);
	enable(f, "k8s-staging", "kubernetes");
	assert_int_equal(list_mounts(f, f->root, 0, "k8s-prod", &type), 3);
	assert_string_equal(type, "kubernetes");
	/* Taken, built in, or not a mount path or type at all. */
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_EXISTS, KW_T_MOUNT, "k8s-prod",
	       KW_T_AUTH_TYPE, "jwt", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_EXISTS, KW_T_MOUNT, "token", KW_T_AUTH_TYPE,
	       "jwt", 0);
	expect(f, KW_MSG_AUTH_DISABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT, "token", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT, "a/b", KW_T_AUTH_TYPE,
	       "jwt", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT, "", KW_T_AUTH_TYPE,
	       "jwt", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT, "a.b", KW_T_AUTH_TYPE,
	       "jwt", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT,
	       "a1234567890123456789012345678901234567890123456789012345678901234", KW_T_AUTH_TYPE,
	       "jwt", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT, "ldap", KW_T_AUTH_TYPE,
	       "ldap", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT, "tok2", KW_T_AUTH_TYPE,
	       "token", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, KW_ERR_INVALID, KW_T_MOUNT, "x", KW_T_AUTH_TYPE,
	       "jwt", KW_T_DESCRIPTION, "two\nlines", 0);
	/* 64 characters is the longest path. */
	enable(f, "a123456789012345678901234567890123456789012345678901234567890123", "jwt");
	/* Without sudo, create/update/delete on sys/auth/<mount> is not enough. */
	policy_put(f, "nosudo",
	           "{\"path\":{\"sys/auth/*\":{\"capabilities\":[\"create\",\"update\","
	           "\"delete\",\"read\"]},\"sys/auth\":{\"capabilities\":[\"read\"]}}}");
	policy_put(f, "authadmin",
	           "{\"path\":{\"sys/auth/jwt-*\":{\"capabilities\":[\"create\",\"delete\","
	           "\"sudo\"]}}}");
	token_with(f, "nosudo", reader, sizeof(reader));
	token_with(f, "authadmin", admin, sizeof(admin));
	expect(f, KW_MSG_AUTH_ENABLE, reader, KW_ERR_DENIED, KW_T_MOUNT, "jwt-gh", KW_T_AUTH_TYPE,
	       "jwt", 0);
	expect(f, KW_MSG_AUTH_DISABLE, reader, KW_ERR_DENIED, KW_T_MOUNT, "k8s-staging", 0);
	assert_int_equal(list_mounts(f, reader, 0, NULL, NULL), 4);
	expect(f, KW_MSG_AUTH_ENABLE, admin, 0, KW_T_MOUNT, "jwt-gh", KW_T_AUTH_TYPE, "jwt", 0);
	expect(f, KW_MSG_AUTH_ENABLE, admin, KW_ERR_DENIED, KW_T_MOUNT, "other", KW_T_AUTH_TYPE,
	       "jwt", 0);
	assert_int_equal(list_mounts(f, admin, KW_ERR_DENIED, NULL, NULL), 0);
	expect(f, KW_MSG_AUTH_DISABLE, admin, 0, KW_T_MOUNT, "jwt-gh", 0);
	/* Disabling what is not there succeeds, as in Vault. */
	expect(f, KW_MSG_AUTH_DISABLE, f->root, 0, KW_T_MOUNT, "k8s-staging", 0);
	expect(f, KW_MSG_AUTH_DISABLE, f->root, 0, KW_T_MOUNT, "k8s-staging", 0);
	type = NULL;
	assert_int_equal(list_mounts(f, f->root, 0, "k8s-staging", &type), 3);
	assert_null(type);
	expect(f, KW_MSG_AUTH_LIST, NULL, KW_ERR_AUTH, 0);
}

/* ---- configs and roles ---- */

static void config_role_round_trip(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	const struct kw_ipc_field *fl;
	const char *cfg = "{\"issuer\":\"https://kubernetes.default.svc\",\"pem_keys\":[]}";
	const char *role = "{\"bound_service_account_names\":[\"api\"],\"token_policies\":"
	                   "[\"signer\"],\"token_ttl\":600,\"token_max_ttl\":3600}";
	size_t pos = 0, n = 0;

	init_unseal(f);
	enable(f, "kubernetes", "kubernetes");
	assert_int_equal(
	    call(f, KW_MSG_AUTH_CONFIG_GET, f->root, &rep, KW_T_MOUNT, 's', "kubernetes", 0), 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_AUTH_TYPE, ""), "kubernetes");
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_AUTH_CONFIG, ""), "{}");
	kw_ipc_msg_cleanup(&rep);
	expect(f, KW_MSG_AUTH_CONFIG_PUT, f->root, 0, KW_T_MOUNT, "kubernetes", KW_T_AUTH_CONFIG,
	       cfg, 0);
	assert_int_equal(
	    call(f, KW_MSG_AUTH_CONFIG_GET, f->root, &rep, KW_T_MOUNT, 's', "kubernetes", 0), 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_AUTH_CONFIG, ""), cfg);
	kw_ipc_msg_cleanup(&rep);
	expect(f, KW_MSG_AUTH_CONFIG_PUT, f->root, KW_ERR_INVALID, KW_T_MOUNT, "kubernetes",
	       KW_T_AUTH_CONFIG, "[1]", 0);
	expect(f, KW_MSG_AUTH_CONFIG_PUT, f->root, KW_ERR_NOT_FOUND, KW_T_MOUNT, "nope",
	       KW_T_AUTH_CONFIG, "{}", 0);
	expect(f, KW_MSG_AUTH_CONFIG_GET, f->root, KW_ERR_NOT_FOUND, KW_T_MOUNT, "nope", 0);

	role_put(f, "kubernetes", "api", role);
	role_put(f, "kubernetes", "batch", "{}");
	assert_int_equal(call(f, KW_MSG_AUTH_ROLE_GET, f->root, &rep, KW_T_MOUNT, 's', "kubernetes",
	                      KW_T_ROLE, 's', "api", 0),
	                 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_AUTH_ROLE, ""), role);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(
	    call(f, KW_MSG_AUTH_ROLE_LIST, f->root, &rep, KW_T_MOUNT, 's', "kubernetes", 0), 0);
	while ((fl = kw_ipc_next(&rep, KW_T_ROLE, &pos)) != NULL)
		assert_string_equal((const char *)fl->val, n++ == 0 ? "api" : "batch");
	assert_int_equal(n, 2);
	kw_ipc_msg_cleanup(&rep);
	/* The front's cache fill: no token, everything the mount holds. */
	assert_int_equal(call(f, KW_MSG_AUTH_LOAD, NULL, &rep, KW_T_MOUNT, 's', "kubernetes", 0),
	                 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_AUTH_TYPE, ""), "kubernetes");
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_AUTH_CONFIG, ""), cfg);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_ROLE, ""), "api");
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_AUTH_ROLE, ""), role);
	pos = 0;
	assert_non_null(kw_ipc_next(&rep, KW_T_AUTH_ROLE, &pos));
	assert_non_null(kw_ipc_next(&rep, KW_T_AUTH_ROLE, &pos));
	assert_null(kw_ipc_next(&rep, KW_T_AUTH_ROLE, &pos));
	kw_ipc_msg_cleanup(&rep);
	expect(f, KW_MSG_AUTH_LOAD, NULL, KW_ERR_NOT_FOUND, KW_T_MOUNT, "token", 0);
	/* By type: the names only, so a restarted front finds its cert mounts. */
	expect(f, KW_MSG_AUTH_ENABLE, f->root, 0, KW_T_MOUNT, "spire", KW_T_AUTH_TYPE, "cert", 0);
	expect(f, KW_MSG_AUTH_ENABLE, f->root, 0, KW_T_MOUNT, "mtls", KW_T_AUTH_TYPE, "cert", 0);
	assert_int_equal(call(f, KW_MSG_AUTH_LOAD, NULL, &rep, KW_T_AUTH_TYPE, 's', "cert", 0), 0);
	pos = 0;
	n = 0;
	while ((fl = kw_ipc_next(&rep, KW_T_MOUNT, &pos)) != NULL)
		assert_string_equal((const char *)fl->val, n++ == 0 ? "mtls" : "spire");
	assert_int_equal(n, 2);
	assert_null(kw_ipc_next(&rep, KW_T_AUTH_CONFIG, &(size_t){0}));
	kw_ipc_msg_cleanup(&rep);

	expect(f, KW_MSG_AUTH_ROLE_DELETE, f->root, 0, KW_T_MOUNT, "kubernetes", KW_T_ROLE, "batch",
	       0);
	expect(f, KW_MSG_AUTH_ROLE_GET, f->root, KW_ERR_NOT_FOUND, KW_T_MOUNT, "kubernetes",
	       KW_T_ROLE, "batch", 0);
	expect(f, KW_MSG_AUTH_ROLE_DELETE, f->root, 0, KW_T_MOUNT, "kubernetes", KW_T_ROLE, "batch",
	       0);
	expect(f, KW_MSG_AUTH_ROLE_PUT, f->root, KW_ERR_NOT_FOUND, KW_T_MOUNT, "nope", KW_T_ROLE,
	       "r", KW_T_AUTH_ROLE, "{}", 0);
}

/* The keeper checks what it relies on, whatever the front sent. */
static void role_validation(void **state)
{
	static const char *const bad[] = {
	    "[]",
	    "not json",
	    "{\"token_policies\":\"signer\"}",
	    "{\"token_policies\":[\"a b\"]}",
	    "{\"token_policies\":[1]}",
	    "{\"token_policies\":[\"root\"]}",
	    "{\"token_ttl\":-1}",
	    "{\"token_ttl\":\"10m\"}",
	    "{\"token_max_ttl\":1.5}",
	    "{\"token_ttl\":600,\"token_max_ttl\":60}",
	    "{\"token_no_default_policy\":1}",
	    "{\"a\":1,\"a\":2}",
	};
	struct fx *f = *state;

	init_unseal(f);
	enable(f, "jwt", "jwt");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(f, KW_MSG_AUTH_ROLE_PUT, f->root, KW_ERR_INVALID, KW_T_MOUNT, "jwt",
		       KW_T_ROLE, "r", KW_T_AUTH_ROLE, bad[i], 0);
	expect(f, KW_MSG_AUTH_ROLE_PUT, f->root, KW_ERR_INVALID, KW_T_MOUNT, "jwt", KW_T_ROLE,
	       "bad/name", KW_T_AUTH_ROLE, "{}", 0);
	expect(f, KW_MSG_AUTH_ROLE_GET, f->root, KW_ERR_NOT_FOUND, KW_T_MOUNT, "jwt", KW_T_ROLE,
	       "r", 0);
	role_put(f, "jwt", "r", "{\"token_policies\":[\"a.b\",\"c-d\"],\"token_ttl\":0}");
}

/* A cert mount's roles live at auth/<mount>/certs/<name>, as in Vault. */
static void cert_roles_are_certs(void **state)
{
	struct fx *f = *state;
	char certs[128], roles[128];

	init_unseal(f);
	enable(f, "cert", "cert");
	policy_put(f, "certs",
	           "{\"path\":{\"auth/cert/certs/*\":{\"capabilities\":[\"create\",\"read\"]},"
	           "\"auth/cert/certs\":{\"capabilities\":[\"list\"]}}}");
	policy_put(f, "roles",
	           "{\"path\":{\"auth/cert/role/*\":{\"capabilities\":[\"create\",\"read\"]}}}");
	token_with(f, "certs", certs, sizeof(certs));
	token_with(f, "roles", roles, sizeof(roles));
	expect(f, KW_MSG_AUTH_ROLE_PUT, roles, KW_ERR_DENIED, KW_T_MOUNT, "cert", KW_T_ROLE, "web",
	       KW_T_AUTH_ROLE, "{}", 0);
	expect(f, KW_MSG_AUTH_ROLE_PUT, certs, 0, KW_T_MOUNT, "cert", KW_T_ROLE, "web",
	       KW_T_AUTH_ROLE, "{}", 0);
	expect(f, KW_MSG_AUTH_ROLE_GET, certs, 0, KW_T_MOUNT, "cert", KW_T_ROLE, "web", 0);
	expect(f, KW_MSG_AUTH_ROLE_LIST, certs, 0, KW_T_MOUNT, "cert", 0);
	expect(f, KW_MSG_AUTH_ROLE_DELETE, certs, KW_ERR_DENIED, KW_T_MOUNT, "cert", KW_T_ROLE,
	       "web", 0);
	expect(f, KW_MSG_AUTH_CONFIG_GET, certs, KW_ERR_DENIED, KW_T_MOUNT, "cert", 0);
}

/* ---- logins ---- */

static void login_setup(struct fx *f)
{
	init_unseal(f);
	enable(f, "kubernetes", "kubernetes");
	policy_put(f, "signer", SIGNER_POLICY);
	role_put(f, "kubernetes", "app", "{\"token_policies\":[\"signer\"]}");
	key_create(f, "app-1");
	key_create(f, "db-1");
}

static void login_grants_role_policies(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	char tok[128];
	json_t *meta;

	login_setup(f);
	assert_int_equal(
	    login(f, "kubernetes", "app", "k8s:payments/api",
	          "{\"namespace\":\"payments\",\"pod_name\":\"api-1\",\"mount\":\"x\"}", 0, &rep,
	          tok, sizeof(tok)),
	    0);
	assert_true(strncmp(tok, "kws.", 4) == 0);
	assert_true(has_policy(&rep, "signer"));
	assert_true(has_policy(&rep, "default"));
	assert_false(has_policy(&rep, "root"));
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_DISPLAY_NAME, ""), "k8s:payments/api");
	assert_int_equal(kw_ipc_u64_or(&rep, KW_T_TTL, 0), 768 * 3600);
	assert_true(strlen(kw_ipc_str_or(&rep, KW_T_ACCESSOR, "")) > 10);
	kw_ipc_msg_cleanup(&rep);
	/* What the policy grants, and nothing else. */
	assert_int_equal(sign_as(f, tok, "app-1"), 0);
	assert_int_equal(sign_as(f, tok, "db-1"), KW_ERR_DENIED);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, tok, NULL), KW_ERR_DENIED);
	assert_int_equal(call0(f, KW_MSG_KEY_ROTATE, tok, "app-1"), KW_ERR_DENIED);
	assert_int_equal(call0(f, KW_MSG_AUTH_LIST, tok, NULL), KW_ERR_DENIED);
	/* Its metadata: the front's claims, with ours winning. */
	assert_int_equal(call(f, KW_MSG_TOKEN_LOOKUP_SELF, tok, &rep, 0), 0);
	meta = json_loads(kw_ipc_str_or(&rep, KW_T_CALLER_META, ""), 0, NULL);
	assert_non_null(meta);
	assert_string_equal(claim(meta, "mount"), "kubernetes");
	assert_string_equal(claim(meta, "role"), "app");
	assert_string_equal(claim(meta, "method"), "kubernetes");
	assert_string_equal(claim(meta, "pod_name"), "api-1");
	json_decref(meta);
	kw_ipc_msg_cleanup(&rep);
	/* Malformed metadata is refused, not stored. */
	assert_int_equal(login(f, "kubernetes", "app", "k8s:payments/api", "[1]", 0, &rep, NULL, 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
}

static void login_ttl_capped(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint64_t soon = (uint64_t)time(NULL) + 120;

	login_setup(f);
	role_put(f, "kubernetes", "short", "{\"token_max_ttl\":600}");
	role_put(f, "kubernetes", "hour", "{\"token_ttl\":3600,\"token_max_ttl\":7200}");
	assert_int_equal(login(f, "kubernetes", "short", "k8s:a/b", NULL, 0, &rep, NULL, 0), 0);
	assert_int_equal(kw_ipc_u64_or(&rep, KW_T_TTL, 0), 600);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(login(f, "kubernetes", "hour", "k8s:a/b", NULL, 0, &rep, NULL, 0), 0);
	assert_int_equal(kw_ipc_u64_or(&rep, KW_T_TTL, 0), 3600);
	kw_ipc_msg_cleanup(&rep);
	/* Never beyond the credential: it expires with the service-account token. */
	assert_int_equal(login(f, "kubernetes", "hour", "k8s:a/b", NULL, soon, &rep, NULL, 0), 0);
	assert_true(kw_ipc_u64_or(&rep, KW_T_TTL, 0) <= 120);
	assert_int_equal(kw_ipc_u64_or(&rep, KW_T_EXPIRES, 0), soon);
	kw_ipc_msg_cleanup(&rep);
	/* A credential that ends later does not stretch the role's TTL. */
	assert_int_equal(
	    login(f, "kubernetes", "short", "k8s:a/b", NULL, soon + 86400, &rep, NULL, 0), 0);
	assert_int_equal(kw_ipc_u64_or(&rep, KW_T_TTL, 0), 600);
	kw_ipc_msg_cleanup(&rep);
	/* Already over: refused. */
	assert_int_equal(login0(f, "kubernetes", "hour", (uint64_t)time(NULL) - 1, NULL, 0),
	                 KW_ERR_AUTH);
	assert_int_equal(login0(f, "kubernetes", "hour", 1, NULL, 0), KW_ERR_AUTH);
}

static void login_unknown_refused(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;

	login_setup(f);
	assert_int_equal(login0(f, "nope", "app", 0, NULL, 0), KW_ERR_DENIED);
	assert_int_equal(login0(f, "kubernetes", "nope", 0, NULL, 0), KW_ERR_DENIED);
	assert_int_equal(login0(f, "token", "app", 0, NULL, 0), KW_ERR_DENIED);
	assert_int_equal(login0(f, "bad/mount", "app", 0, NULL, 0), KW_ERR_INVALID);
	assert_int_equal(login(f, "kubernetes", "app", NULL, NULL, 0, &rep, NULL, 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(login(f, "kubernetes", "app", "two\nlines", NULL, 0, &rep, NULL, 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	/* The subject of audit entries must be UTF-8. */
	assert_int_equal(login(f, "kubernetes", "app", "k8s:\xc3(/x", NULL, 0, &rep, NULL, 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(
	    login(f, "kubernetes", "app", "spiffe://td/\xc3\xa9t\xc3\xa9", NULL, 0, &rep, NULL, 0),
	    0);
	kw_ipc_msg_cleanup(&rep);
	/* A deleted role logs in no more. */
	expect(f, KW_MSG_AUTH_ROLE_DELETE, f->root, 0, KW_T_MOUNT, "kubernetes", KW_T_ROLE, "app",
	       0);
	assert_int_equal(login0(f, "kubernetes", "app", 0, NULL, 0), KW_ERR_DENIED);
}

/* A changed role applies to the next login: the cache follows writes. */
static void login_follows_role_changes(void **state)
{
	struct fx *f = *state;
	char tok[128];

	login_setup(f);
	assert_int_equal(login0(f, "kubernetes", "app", 0, tok, sizeof(tok)), 0);
	assert_int_equal(sign_as(f, tok, "app-1"), 0);
	role_put(f, "kubernetes", "app", "{\"token_policies\":[]}");
	assert_int_equal(login0(f, "kubernetes", "app", 0, tok, sizeof(tok)), 0);
	assert_int_equal(sign_as(f, tok, "app-1"), KW_ERR_DENIED);
}

static void sql(const char *db, const char *stmt)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* Logins and implicit identities read mounts and roles from memory: with
 * those tables renamed away under the keeper, they still work, while an
 * administrative write, which must reach the store, fails. */
static void login_reads_cache_not_store(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;

	login_setup(f);
	assert_int_equal(login0(f, "kubernetes", "app", 0, NULL, 0), 0);
	sql(f->db, "ALTER TABLE auth_roles RENAME TO auth_roles_away;"
	           "ALTER TABLE auth_mounts RENAME TO auth_mounts_away;");
	assert_int_equal(login0(f, "kubernetes", "app", 0, NULL, 0), 0);
	assert_int_equal(login0(f, "kubernetes", "nope", 0, NULL, 0), KW_ERR_DENIED);
	assert_int_equal(call(f, KW_MSG_AUTH_ROLE_PUT, f->root, &rep, KW_T_MOUNT, 's', "kubernetes",
	                      KW_T_ROLE, 's', "x", KW_T_AUTH_ROLE, 's', "{}", 0),
	                 KW_ERR_STORE);
	kw_ipc_msg_cleanup(&rep);
	sql(f->db, "ALTER TABLE auth_roles_away RENAME TO auth_roles;"
	           "ALTER TABLE auth_mounts_away RENAME TO auth_mounts;");
}

static int login_failed(struct fx *f, const char *reason, uint32_t status)
{
	struct kw_ipc_msg rep;
	int s =
	    call(f, KW_MSG_AUTH_LOGIN_FAILED, NULL, &rep, KW_T_MOUNT, 's', "kubernetes", KW_T_ROLE,
	         's', "app", KW_T_CALLER_ID, 's', "k8s:other/intruder", KW_T_AUTH_REASON, 's',
	         reason, KW_T_FAIL_STATUS, 'u', status, KW_T_REMOTE_ADDR, 's', "10.1.2.3", 0);

	if (s != 0)
		assert_non_null(kw_ipc_find(&rep, KW_T_ERROR_DETAIL));
	kw_ipc_msg_cleanup(&rep);
	return s;
}

static void login_failed_is_audited(void **state)
{
	struct fx *f = *state;
	struct kw_audit_entry *e;
	json_t *claims;

	login_setup(f);
	assert_int_equal(login_failed(f, "token_expired", (uint32_t)-KW_ERR_AUTH), KW_ERR_AUTH);
	e = last_entry(f, "login");
	assert_non_null(e);
	assert_int_equal(e->result, KW_ERR_AUTH);
	assert_string_equal(e->result_code, "token_expired");
	assert_string_equal(e->path, "auth/kubernetes/login");
	assert_string_equal(e->auth_method, "kubernetes");
	assert_string_equal(e->subject, "k8s:other/intruder");
	assert_string_equal(e->accessor, "");
	assert_string_equal(e->source_addr, "10.1.2.3");
	claims = json_loads(e->claims, 0, NULL);
	assert_string_equal(claim(claims, "role"), "app");
	json_decref(claims);
	kw_audit_entry_free(e);
	assert_int_equal(login_failed(f, "binding_mismatch", (uint32_t)-KW_ERR_DENIED),
	                 KW_ERR_DENIED);
	e = last_entry(f, "login");
	assert_int_equal(e->result, KW_ERR_DENIED);
	assert_string_equal(e->result_code, "binding_mismatch");
	kw_audit_entry_free(e);
	/* A reason must be a code, the status a keyward error. */
	assert_int_equal(login_failed(f, "Not A Code", (uint32_t)-KW_ERR_AUTH), KW_ERR_INVALID);
	assert_int_equal(login_failed(f, "x", 0), KW_ERR_INVALID);
	assert_int_equal(login_failed(f, "x", 5000), KW_ERR_INVALID);
	/* And no token came of any of it. */
	assert_null(last_entry(f, "token-create"));
}

static void audit_carries_login_identity(void **state)
{
	struct fx *f = *state;
	struct kw_audit_entry *e;
	struct kw_ipc_msg rep;
	char tok[128], acc[64];
	json_t *claims;

	login_setup(f);
	assert_int_equal(login(f, "kubernetes", "app", "k8s:payments/api",
	                       "{\"namespace\":\"payments\",\"pod_uid\":\"u-1\"}", 0, &rep, tok,
	                       sizeof(tok)),
	                 0);
	snprintf(acc, sizeof(acc), "%s", kw_ipc_str_or(&rep, KW_T_ACCESSOR, ""));
	kw_ipc_msg_cleanup(&rep);
	/* The login itself. */
	e = last_entry(f, "login");
	assert_non_null(e);
	assert_int_equal(e->result, 0);
	assert_string_equal(e->auth_method, "kubernetes");
	assert_string_equal(e->subject, "k8s:payments/api");
	assert_string_equal(e->accessor, acc);
	assert_string_equal(e->path, "auth/kubernetes/login");
	kw_audit_entry_free(e);
	/* A later request with its token. */
	assert_int_equal(sign_as(f, tok, "app-1"), 0);
	e = last_entry(f, "sign");
	assert_non_null(e);
	assert_string_equal(e->auth_method, "kubernetes");
	assert_string_equal(e->subject, "k8s:payments/api");
	assert_string_equal(e->accessor, acc);
	claims = json_loads(e->claims, 0, NULL);
	assert_non_null(claims);
	assert_string_equal(claim(claims, "namespace"), "payments");
	assert_string_equal(claim(claims, "pod_uid"), "u-1");
	assert_string_equal(claim(claims, "mount"), "kubernetes");
	json_decref(claims);
	kw_audit_entry_free(e);
	/* The token never appears in the log. */
	assert_int_equal(call(f, KW_MSG_AUDIT_ENTRIES, f->root, &rep, 0), 0);
	assert_null(memmem(rep.buf.data, rep.buf.len, tok, strlen(tok)));
	kw_ipc_msg_cleanup(&rep);
	/* A plain token stays "token", without claims. */
	assert_int_equal(sign_as(f, f->root, "app-1"), 0);
	e = last_entry(f, "sign");
	assert_string_equal(e->auth_method, "token");
	assert_string_equal(e->claims, "");
	kw_audit_entry_free(e);
}

static void disable_revokes_tokens(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	char tok[128], child[128], other[128], plain[128];

	login_setup(f);
	enable(f, "k8s-b", "kubernetes");
	policy_put(f, "maker",
	           "{\"path\":{\"auth/token/create\":{\"capabilities\":[\"update\"]}}}");
	role_put(f, "kubernetes", "app", "{\"token_policies\":[\"signer\",\"maker\"]}");
	role_put(f, "k8s-b", "app", "{\"token_policies\":[\"signer\"]}");
	assert_int_equal(login0(f, "kubernetes", "app", 0, tok, sizeof(tok)), 0);
	assert_int_equal(login0(f, "k8s-b", "app", 0, other, sizeof(other)), 0);
	token_with(f, "signer", plain, sizeof(plain));
	assert_int_equal(call(f, KW_MSG_TOKEN_CREATE, tok, &rep, KW_T_POLICY, 's', "signer", 0), 0);
	snprintf(child, sizeof(child), "%s", kw_ipc_str_or(&rep, KW_T_TOKEN, ""));
	kw_ipc_msg_cleanup(&rep);
	/* In the cache before the disable. */
	assert_int_equal(sign_as(f, tok, "app-1"), 0);
	assert_int_equal(sign_as(f, child, "app-1"), 0);
	expect(f, KW_MSG_AUTH_DISABLE, f->root, 0, KW_T_MOUNT, "kubernetes", 0);
	assert_int_equal(sign_as(f, tok, "app-1"), KW_ERR_AUTH);
	assert_int_equal(call0(f, KW_MSG_TOKEN_LOOKUP_SELF, tok, NULL), KW_ERR_AUTH);
	assert_int_equal(sign_as(f, child, "app-1"), KW_ERR_AUTH);
	assert_int_equal(sign_as(f, other, "app-1"), 0);
	assert_int_equal(sign_as(f, plain, "app-1"), 0);
	/* Enabled again, the old tokens stay dead and the roles are gone. */
	enable(f, "kubernetes", "kubernetes");
	assert_int_equal(sign_as(f, tok, "app-1"), KW_ERR_AUTH);
	assert_int_equal(login0(f, "kubernetes", "app", 0, NULL, 0), KW_ERR_DENIED);
}

/* ---- implicit certificate identity ---- */

static int implicit_sign(struct fx *f, const char *mount, const char *role, const char *caller,
                         uint64_t expires, const char *key)
{
	struct kw_ipc_msg rep;
	int s;

	if (caller == NULL)
		s = call(f, KW_MSG_SIGN, NULL, &rep, KW_T_NAME, 's', key, KW_T_INPUT, 'b', "m",
		         (size_t)1, KW_T_CALLER_MOUNT, 's', mount, KW_T_CALLER_EXPIRES, 'q',
		         expires, 0);
	else
		s = call(f, KW_MSG_SIGN, NULL, &rep, KW_T_NAME, 's', key, KW_T_INPUT, 'b', "m",
		         (size_t)1, KW_T_CALLER_MOUNT, 's', mount, KW_T_CALLER_ROLE, 's', role,
		         KW_T_CALLER_ID, 's', caller, KW_T_CALLER_EXPIRES, 'q', expires,
		         KW_T_CALLER_META, 's', "{\"sha256\":\"ab12\"}", 0);
	kw_ipc_msg_cleanup(&rep);
	return s;
}

static void implicit_cert_identity(void **state)
{
	struct fx *f = *state;
	uint64_t later = (uint64_t)time(NULL) + 3600;
	struct kw_audit_entry *e;
	json_t *claims;

	login_setup(f);
	enable(f, "cert", "cert");
	role_put(f, "cert", "web", "{\"token_policies\":[\"signer\"]}");
	role_put(f, "kubernetes", "web", "{\"token_policies\":[\"signer\"]}");
	assert_int_equal(implicit_sign(f, "cert", "web", SPIFFE_ID, later, "app-1"), 0);
	e = last_entry(f, "sign");
	assert_string_equal(e->auth_method, "cert");
	assert_string_equal(e->subject, SPIFFE_ID);
	assert_string_equal(e->accessor, "");
	claims = json_loads(e->claims, 0, NULL);
	assert_string_equal(claim(claims, "role"), "web");
	assert_string_equal(claim(claims, "sha256"), "ab12");
	json_decref(claims);
	kw_audit_entry_free(e);
	/* The role's policies, nothing more. */
	assert_int_equal(implicit_sign(f, "cert", "web", SPIFFE_ID, later, "db-1"), KW_ERR_DENIED);
	/* Only a cert mount, only an existing role, only before the end. */
	assert_int_equal(implicit_sign(f, "kubernetes", "web", SPIFFE_ID, later, "app-1"),
	                 KW_ERR_AUTH);
	assert_int_equal(implicit_sign(f, "cert", "nope", SPIFFE_ID, later, "app-1"), KW_ERR_AUTH);
	assert_int_equal(implicit_sign(f, "gone", "web", SPIFFE_ID, later, "app-1"), KW_ERR_AUTH);
	assert_int_equal(
	    implicit_sign(f, "cert", "web", SPIFFE_ID, (uint64_t)time(NULL) - 5, "app-1"),
	    KW_ERR_AUTH);
	e = last_entry(f, "sign");
	assert_int_equal(e->result, KW_ERR_AUTH);
	assert_string_equal(e->subject, SPIFFE_ID);
	kw_audit_entry_free(e);
	assert_int_equal(implicit_sign(f, "cert", NULL, NULL, later, "app-1"), KW_ERR_AUTH);
	/* No token to look up or revoke. */
	{
		struct kw_ipc_msg rep;
		assert_int_equal(call(f, KW_MSG_TOKEN_REVOKE_SELF, NULL, &rep, KW_T_CALLER_MOUNT,
		                      's', "cert", KW_T_CALLER_ROLE, 's', "web", KW_T_CALLER_ID,
		                      's', SPIFFE_ID, 0),
		                 KW_ERR_AUTH);
		kw_ipc_msg_cleanup(&rep);
	}
	/* Disabled, the mount vouches for nobody. */
	expect(f, KW_MSG_AUTH_DISABLE, f->root, 0, KW_T_MOUNT, "cert", 0);
	assert_int_equal(implicit_sign(f, "cert", "web", SPIFFE_ID, later, "app-1"), KW_ERR_AUTH);
}

/* ---- network identity ---- */

static int net_sign(struct fx *f, const char *token, const char *addr, uint32_t port,
                    const char *key)
{
	struct kw_ipc_msg rep;
	int s = call(f, KW_MSG_SIGN, token, &rep, KW_T_NAME, 's', key, KW_T_INPUT, 'b', "m",
	             (size_t)1, KW_T_REMOTE_ADDR, 's', addr, KW_T_LISTENER_PORT, 'u', port, 0);

	kw_ipc_msg_cleanup(&rep);
	return s;
}

static void network_identity(void **state)
{
	struct fx *f = *state;
	struct kw_net_identity *n = &f->conf.net_ids[0];
	struct kw_audit_entry *e;
	char weak[128];

	keeper_stop(f);
	n->port = 7443;
	snprintf(n->name, sizeof(n->name), "payments-signer");
	snprintf(n->policies, sizeof(n->policies), "signer");
	assert_int_equal(kw_cidr_parse("127.0.0.2", &n->allow[0]), 0);
	assert_int_equal(kw_cidr_parse("fd00::/8", &n->allow[1]), 0);
	n->nallow = 2;
	f->conf.n_net_ids = 1;
	keeper_start(f);
	login_setup(f);
	assert_int_equal(net_sign(f, NULL, "127.0.0.2", 7443, "app-1"), 0);
	e = last_entry(f, "sign");
	assert_string_equal(e->auth_method, "network");
	assert_string_equal(e->subject, "net:payments-signer");
	assert_int_equal(e->listener_port, 7443);
	kw_audit_entry_free(e);
	assert_int_equal(net_sign(f, NULL, "fd00::7", 7443, "app-1"), 0);
	assert_int_equal(net_sign(f, NULL, "127.0.0.2", 7443, "db-1"), KW_ERR_DENIED);
	/* The wrong source, the wrong port. */
	assert_int_equal(net_sign(f, NULL, "127.0.0.1", 7443, "app-1"), KW_ERR_AUTH);
	assert_int_equal(net_sign(f, NULL, "127.0.0.2", 8200, "app-1"), KW_ERR_AUTH);
	assert_int_equal(net_sign(f, NULL, "not-an-address", 7443, "app-1"), KW_ERR_AUTH);
	/* A token always wins, even a weaker or a bad one. */
	token_with(f, "default", weak, sizeof(weak));
	assert_int_equal(net_sign(f, weak, "127.0.0.2", 7443, "app-1"), KW_ERR_DENIED);
	assert_int_equal(net_sign(f, "kws.bogus", "127.0.0.2", 7443, "app-1"), KW_ERR_AUTH);
	/* The identity has no token to look up, and is not root. */
	{
		struct kw_ipc_msg rep;
		assert_int_equal(call(f, KW_MSG_TOKEN_LOOKUP_SELF, NULL, &rep, KW_T_REMOTE_ADDR,
		                      's', "127.0.0.2", KW_T_LISTENER_PORT, 'u', 7443, 0),
		                 KW_ERR_AUTH);
		kw_ipc_msg_cleanup(&rep);
	}
	assert_int_equal(net_sign(f, NULL, "127.0.0.2", 7443, "db-1"), KW_ERR_DENIED);
	f->conf.n_net_ids = 0;
}

#define T(name, fn)                                                                                \
	{                                                                                          \
		"/keeper-auth/" name, fn, setup, teardown, NULL                                    \
	}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T("enable-list-disable", enable_list_disable),
	    T("config-role-round-trip", config_role_round_trip),
	    T("role-validation", role_validation),
	    T("cert-roles-are-certs", cert_roles_are_certs),
	    T("login-grants-role-policies", login_grants_role_policies),
	    T("login-ttl-capped", login_ttl_capped),
	    T("login-unknown-refused", login_unknown_refused),
	    T("login-follows-role-changes", login_follows_role_changes),
	    T("login-reads-cache-not-store", login_reads_cache_not_store),
	    T("login-failed-is-audited", login_failed_is_audited),
	    T("audit-carries-login-identity", audit_carries_login_identity),
	    T("disable-revokes-tokens", disable_revokes_tokens),
	    T("implicit-cert-identity", implicit_cert_identity),
	    T("network-identity", network_identity),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("/keeper-auth", tests, NULL, NULL);
}
