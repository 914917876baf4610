/*
 * Unit tests for src/front, the pure pieces: addresses, routes, methods,
 * vault texts, JSON fields, the status table, body limits, request ids, the
 * channel pool, and requests rejected before any keeper call. The handlers
 * against a fake keeper are in test_keeper.c.
 *
 * Run one group: test_front '/front/route/'* (cmocka filters with globs)
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

#include "front_test.h"

/* ---- helpers ---- */

const json_t *jget(const json_t *j, const char *key)
{
	const json_t *v = json_object_get(j, key);

	assert_non_null(v);
	return v;
}

const char *jstr(const json_t *j, const char *key)
{
	const json_t *v = jget(j, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

long long jint(const json_t *j, const char *key)
{
	const json_t *v = jget(j, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

bool jbool(const json_t *j, const char *key)
{
	const json_t *v = jget(j, key);

	assert_true(json_is_boolean(v));
	return json_is_true(v);
}

const json_t *jdata(const struct kw_resp *out)
{
	return jget(out->json, "data");
}

const char *err_code(const struct kw_resp *out)
{
	return jstr(out->json, "code");
}

const char *err_text(const struct kw_resp *out)
{
	const json_t *e = jget(out->json, "errors");

	assert_int_equal(json_array_size(e), 1);
	return json_string_value(json_array_get(e, 0));
}

/* ---- addresses ---- */

static void addr_ipv4(void **state)
{
	struct kw_addr a;

	assert_int_equal(kw_addr_parse("127.0.0.1:8200", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.port, 8200);
	assert_true(a.loopback);
	assert_int_equal(kw_addr_parse("127.1.2.3:1", &a), 0);
	assert_true(a.loopback);
	assert_int_equal(kw_addr_parse("0.0.0.0:8200", &a), 0);
	assert_false(a.loopback);
	assert_int_equal(kw_addr_parse("10.1.2.3:443", &a), 0);
	assert_false(a.loopback);
	assert_int_equal(kw_addr_parse("localhost:0", &a), 0);
	assert_true(a.loopback);
	assert_int_equal(a.port, 0);
}

static void addr_ipv6(void **state)
{
	struct kw_addr a;

	assert_int_equal(kw_addr_parse("[::1]:8200", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.port, 8200);
	assert_true(a.loopback);
	assert_int_equal(kw_addr_parse("[2001:db8::1]:65535", &a), 0);
	assert_false(a.loopback);
	assert_int_equal(a.port, 65535);
	assert_int_equal(kw_addr_parse("[::]:8200", &a), 0);
	assert_false(a.loopback);
}

static void addr_unix(void **state)
{
	struct kw_addr a;

	assert_int_equal(kw_addr_parse("unix:/run/keyward/api.sock", &a), 0);
	assert_int_equal(a.family, AF_UNIX);
	assert_true(a.loopback);
	assert_string_equal(a.path, "/run/keyward/api.sock");
	assert_int_equal(a.port, 0);
}

static void addr_rejects_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "127.0.0.1",
	    "127.0.0.1:",
	    ":8200",
	    "::1:8200",
	    "[::1]8200",
	    "[::1:8200",
	    "1.2.3.4:70000",
	    "1.2.3.4:-1",
	    "1.2.3.4:8x",
	    "host:80",
	    "1.2.3:80",
	    "[1.2.3.4]:80",
	    "unix:",
	    "unix:rel.sock",
	    "1.2.3.4:+80",
	    "[]:80",
	    "999.1.1.1:80",
	};
	char longpath[300];
	struct kw_addr a;

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		if (kw_addr_parse(bad[i], &a) != KW_ERR_CONFIG)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(kw_addr_parse(longpath, &a), KW_ERR_CONFIG);
}

/* ---- methods and routes ---- */

static void method_parse(void **state)
{
	unsigned m;

	assert_int_equal(kw_method_parse("GET", false, &m), 0);
	assert_int_equal(m, KW_M_GET);
	assert_int_equal(kw_method_parse("GET", true, &m), 0);
	assert_int_equal(m, KW_M_LIST);
	assert_int_equal(kw_method_parse("LIST", false, &m), 0);
	assert_int_equal(m, KW_M_LIST);
	assert_int_equal(kw_method_parse("PUT", false, &m), 0);
	assert_int_equal(m, KW_M_POST);
	assert_int_equal(kw_method_parse("POST", true, &m), 0);
	assert_int_equal(m, KW_M_POST);
	assert_int_equal(kw_method_parse("HEAD", false, &m), 0);
	assert_int_equal(m, KW_M_HEAD);
	assert_int_equal(kw_method_parse("DELETE", false, &m), 0);
	assert_int_equal(m, KW_M_DELETE);
	assert_int_equal(kw_method_parse("PATCH", false, &m), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_method_parse("get", false, &m), KW_ERR_UNSUPPORTED);
}

static void method_names(void **state)
{
	char buf[64];

	kw_method_names(KW_M_GET | KW_M_POST, buf, sizeof(buf));
	assert_string_equal(buf, "GET, HEAD, POST, PUT");
	kw_method_names(KW_M_LIST, buf, sizeof(buf));
	assert_string_equal(buf, "LIST");
}

/* Every pattern, filled in, finds its own row with every method it lists. */
static void route_every_entry(void **state)
{
	static const unsigned bits[] = {KW_M_GET, KW_M_POST, KW_M_DELETE, KW_M_LIST};
	size_t n;
	const struct kw_route *t = kw_routes(&n);

	assert_true(n > 40);
	for (size_t i = 0; i < n; i++) {
		char path[256] = "";
		size_t nargs = 0;
		const char *p = t[i].pattern;

		/* ":x" -> "k<i>" so args are distinguishable. */
		while (*p != '\0') {
			size_t len = strcspn(p, "/");

			if (p[0] == ':') {
				snprintf(path + strlen(path), sizeof(path) - strlen(path), "k%zu",
				         nargs++);
			} else {
				strncat(path, p, len);
			}
			p += len;
			if (*p == '/') {
				strcat(path, "/");
				p++;
			}
		}
		for (size_t b = 0; b < KW_ARRAY_LEN(bits); b++) {
			const struct kw_route *got;
			struct kw_route_args a;
			unsigned allowed;

			if (!(t[i].methods & bits[b]))
				continue;
			if (kw_route_find(bits[b], path, &got, &a, &allowed) != 0)
				fail_msg("no route for %s", path);
			assert_ptr_equal(got->fn, t[i].fn);
			assert_string_equal(got->pattern, t[i].pattern);
			assert_int_equal(a.n, nargs);
			for (size_t k = 0; k < nargs; k++) {
				char want[24];

				snprintf(want, sizeof(want), "k%zu", k);
				assert_string_equal(a.v[k], want);
			}
			kw_route_args_cleanup(&a);
		}
	}
}

struct route_case {
	unsigned method;
	const char *path;
	kw_handler fn;
	const char *arg0, *arg1, *arg2;
};

static void route_specific(void **state)
{
	static const struct route_case cases[] = {
	    {KW_M_GET, "sys/health", kw_h_health, NULL, NULL, NULL},
	    {KW_M_HEAD, "sys/health", kw_h_health, NULL, NULL, NULL},
	    {KW_M_GET, "sys/seal-status", kw_h_seal_status, NULL, NULL, NULL},
	    {KW_M_GET, "sys/init", kw_h_init_get, NULL, NULL, NULL},
	    {KW_M_POST, "sys/init", kw_h_init_put, NULL, NULL, NULL},
	    {KW_M_POST, "sys/unseal", kw_h_unseal, NULL, NULL, NULL},
	    {KW_M_POST, "sys/seal", kw_h_seal, NULL, NULL, NULL},
	    {KW_M_LIST, "transit/keys", kw_h_key_list, NULL, NULL, NULL},
	    {KW_M_POST, "transit/keys/payments", kw_h_key_create, "payments", NULL, NULL},
	    {KW_M_GET, "transit/keys/payments", kw_h_key_read, "payments", NULL, NULL},
	    {KW_M_DELETE, "transit/keys/payments", kw_h_key_delete, "payments", NULL, NULL},
	    {KW_M_POST, "transit/keys/k/config", kw_h_key_config, "k", NULL, NULL},
	    {KW_M_POST, "transit/keys/k/rotate", kw_h_key_rotate, "k", NULL, NULL},
	    {KW_M_GET, "transit/export/signing-key/k", kw_h_key_export, "signing-key", "k", NULL},
	    {KW_M_GET, "transit/export/signing-key/k/latest", kw_h_key_export, "signing-key", "k",
	     "latest"},
	    {KW_M_POST, "transit/encrypt/k", kw_h_encrypt, "k", NULL, NULL},
	    {KW_M_POST, "transit/decrypt/k", kw_h_decrypt, "k", NULL, NULL},
	    {KW_M_POST, "transit/rewrap/k", kw_h_rewrap, "k", NULL, NULL},
	    {KW_M_POST, "transit/datakey/wrapped/k", kw_h_datakey, "wrapped", "k", NULL},
	    {KW_M_POST, "transit/sign/k", kw_h_sign, "k", NULL, NULL},
	    {KW_M_POST, "transit/sign/k/sha2-384", kw_h_sign, "k", "sha2-384", NULL},
	    {KW_M_POST, "transit/verify/k/sha2-512", kw_h_verify, "k", "sha2-512", NULL},
	    {KW_M_POST, "transit/hmac/k", kw_h_hmac, "k", NULL, NULL},
	    {KW_M_POST, "transit/random/64", kw_h_random, "64", NULL, NULL},
	    {KW_M_POST, "sys/tools/random", kw_h_random, NULL, NULL, NULL},
	    {KW_M_POST, "transit/hash/sha2-512", kw_h_hash, "sha2-512", NULL, NULL},
	    {KW_M_POST, "sys/tools/hash", kw_h_hash, NULL, NULL, NULL},
	    {KW_M_POST, "auth/token/create", kw_h_token_create, NULL, NULL, NULL},
	    {KW_M_GET, "auth/token/lookup-self", kw_h_token_lookup_self, NULL, NULL, NULL},
	    {KW_M_POST, "auth/token/lookup-accessor", kw_h_token_lookup_accessor, NULL, NULL, NULL},
	    {KW_M_POST, "auth/token/revoke-self", kw_h_token_revoke_self, NULL, NULL, NULL},
	    {KW_M_LIST, "sys/policies/acl", kw_h_policy_list, NULL, NULL, NULL},
	    {KW_M_POST, "sys/policies/acl/ops", kw_h_policy_put, "ops", NULL, NULL},
	    {KW_M_GET, "sys/policy", kw_h_legacy_policy_list, NULL, NULL, NULL},
	    {KW_M_GET, "sys/policy/ops", kw_h_legacy_policy_get, "ops", NULL, NULL},
	    {KW_M_DELETE, "sys/policy/ops", kw_h_policy_delete, "ops", NULL, NULL},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		const struct route_case *c = &cases[i];
		const char *want[3] = {c->arg0, c->arg1, c->arg2};
		const struct kw_route *got;
		struct kw_route_args a;
		unsigned allowed;
		size_t nargs = 0;

		if (kw_route_find(c->method, c->path, &got, &a, &allowed) != 0)
			fail_msg("no route for %s", c->path);
		if (got->fn != c->fn)
			fail_msg("wrong handler for %s", c->path);
		for (; nargs < 3 && want[nargs] != NULL; nargs++)
			assert_string_equal(a.v[nargs], want[nargs]);
		assert_int_equal(a.n, nargs);
		kw_route_args_cleanup(&a);
	}
}

static void route_names_flagged(void **state)
{
	const struct kw_route *got;
	struct kw_route_args a;
	unsigned allowed;

	assert_int_equal(
	    kw_route_find(KW_M_GET, "transit/export/public-key/k/2", &got, &a, &allowed), 0);
	assert_false(a.is_name[0]); /* :type */
	assert_true(a.is_name[1]);  /* :name */
	assert_false(a.is_name[2]); /* :version */
	kw_route_args_cleanup(&a);
}

static void route_unknown_path(void **state)
{
	static const char *const paths[] = {
	    "",
	    "nope",
	    "transit",
	    "transit/keys/a/b/c",
	    "transit//keys",
	    "sys/health/",
	    "/sys/health",
	    "v1/sys/health",
	    "transit/encrypt",
	    "transit/sign/k/sha2-256/x",
	    "sys/policies/acl/a/b",
	};
	const struct kw_route *got;
	struct kw_route_args a;
	unsigned allowed;

	for (size_t i = 0; i < KW_ARRAY_LEN(paths); i++)
		if (kw_route_find(KW_M_GET, paths[i], &got, &a, &allowed) != KW_ERR_NOT_FOUND)
			fail_msg("\"%s\" matched", paths[i]);
}

static void route_wrong_method(void **state)
{
	const struct kw_route *got;
	struct kw_route_args a;
	unsigned allowed = 0;

	assert_int_equal(kw_route_find(KW_M_DELETE, "sys/health", &got, &a, &allowed),
	                 KW_ERR_UNSUPPORTED);
	assert_int_equal(allowed, KW_M_GET);
	assert_int_equal(kw_route_find(KW_M_GET, "transit/encrypt/k", &got, &a, &allowed),
	                 KW_ERR_UNSUPPORTED);
	assert_int_equal(allowed, KW_M_POST);
	assert_int_equal(kw_route_find(KW_M_POST, "transit/keys", &got, &a, &allowed),
	                 KW_ERR_UNSUPPORTED);
	assert_int_equal(allowed, KW_M_LIST);
	/* Several rows for one path: the mask is their union. */
	assert_int_equal(kw_route_find(KW_M_LIST, "transit/keys/k", &got, &a, &allowed),
	                 KW_ERR_UNSUPPORTED);
	assert_int_equal(allowed, KW_M_GET | KW_M_POST | KW_M_DELETE);
}

/* ---- names, integers, shares ---- */

static void names(void **state)
{
	char n128[129], n129[130];

	memset(n128, 'a', 128);
	n128[128] = '\0';
	memset(n129, 'a', 129);
	n129[129] = '\0';
	assert_true(kw_name_valid("a"));
	assert_true(kw_name_valid("my-key.v2_X"));
	assert_true(kw_name_valid(n128));
	assert_false(kw_name_valid(n129));
	assert_false(kw_name_valid(""));
	assert_false(kw_name_valid("a/b"));
	assert_false(kw_name_valid("a b"));
	assert_false(kw_name_valid("caf\xc3\xa9"));
	assert_false(kw_name_valid("."));
	assert_false(kw_name_valid(".."));
}

static void uint_parse(void **state)
{
	uint64_t v;

	assert_int_equal(kw_uint_parse("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(kw_uint_parse("0", 1, 100, &v), KW_ERR_INVALID);
	assert_int_equal(kw_uint_parse("101", 1, 100, &v), KW_ERR_INVALID);
	assert_int_equal(kw_uint_parse("-1", 0, 100, &v), KW_ERR_INVALID);
	assert_int_equal(kw_uint_parse(" 1", 0, 100, &v), KW_ERR_INVALID);
	assert_int_equal(kw_uint_parse("1 ", 0, 100, &v), KW_ERR_INVALID);
	assert_int_equal(kw_uint_parse("", 0, 100, &v), KW_ERR_INVALID);
	assert_int_equal(kw_uint_parse("99999999999999999999999", 0, UINT64_MAX, &v),
	                 KW_ERR_INVALID);
}

static void share_decode(void **state)
{
	struct kw_bytes b = {0};

	assert_int_equal(kw_share_decode("00ff", &b), 0);
	assert_int_equal(b.len, 2);
	assert_int_equal(b.p[1], 0xff);
	kw_bytes_purge(&b);
	assert_int_equal(kw_share_decode("AP8=", &b), 0);
	assert_int_equal(b.len, 2);
	assert_int_equal(b.p[0], 0x00);
	assert_int_equal(b.p[1], 0xff);
	kw_bytes_purge(&b);
	assert_int_equal(kw_share_decode("zz", &b), KW_ERR_INVALID);
	assert_int_equal(kw_share_decode("", &b), KW_ERR_INVALID);
	assert_int_equal(kw_share_decode("AP8", &b), KW_ERR_INVALID);
	assert_false(b.set);
}

/* ---- vault texts ---- */

static void vault_good(void **state)
{
	struct kw_bytes raw = {0};
	uint32_t v = 0;
	char *s;

	assert_int_equal(kw_vault_text_parse("vault:v1:AAEC", false, &v, &raw), 0);
	assert_int_equal(v, 1);
	assert_int_equal(raw.len, 3);
	assert_int_equal(raw.p[2], 2);
	kw_bytes_purge(&raw);
	assert_int_equal(kw_vault_text_parse("vault:v4294967295:AAEC", false, &v, &raw), 0);
	assert_int_equal(v, UINT32_MAX);
	kw_bytes_purge(&raw);
	assert_int_equal(kw_vault_text_format(12, (const uint8_t *)"\x00\x01\x02", 3, false, &s),
	                 0);
	assert_string_equal(s, "vault:v12:AAEC");
	free(s);
}

static void vault_url(void **state)
{
	const uint8_t sig[] = {0xfb, 0xff, 0xfe};
	struct kw_bytes raw = {0};
	uint32_t v;
	char *s;

	assert_int_equal(kw_vault_text_format(2, sig, sizeof(sig), true, &s), 0);
	assert_string_equal(s, "vault:v2:-__-");
	assert_int_equal(kw_vault_text_parse(s, true, &v, &raw), 0);
	assert_int_equal(v, 2);
	assert_memory_equal(raw.p, sig, sizeof(sig));
	kw_bytes_purge(&raw);
	/* The standard alphabet is not base64url. */
	assert_int_equal(kw_vault_text_parse("vault:v2:+//+", true, &v, &raw), KW_ERR_BASE64);
	free(s);
}

static void vault_bad_prefix(void **state)
{
	static const char *const bad[] = {"",
	                                  "AAEC",
	                                  "vault:",
	                                  "vault:1:AAEC",
	                                  "Vault:v1:AAEC",
	                                  "vault-v1:AAEC",
	                                  "vault:v1AAEC",
	                                  " vault:v1:AAEC",
	                                  "vaul:v1:AAEC"};
	struct kw_bytes raw = {0};
	uint32_t v;

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		if (kw_vault_text_parse(bad[i], false, &v, &raw) != KW_ERR_INVALID)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_false(raw.set);
}

static void vault_bad_version(void **state)
{
	static const char *const bad[] = {"vault:v0:AAEC",          "vault:v01:AAEC",
	                                  "vault:v:AAEC",           "vault:v-1:AAEC",
	                                  "vault:v+1:AAEC",         "vault:v1x:AAEC",
	                                  "vault:v4294967296:AAEC", "vault:v99999999999:AAEC"};
	struct kw_bytes raw = {0};
	uint32_t v;

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		if (kw_vault_text_parse(bad[i], false, &v, &raw) != KW_ERR_INVALID)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void vault_bad_base64(void **state)
{
	static const char *const bad[] = {"vault:v1:AAE", "vault:v1:AA!C", "vault:v1:AA EC",
	                                  "vault:v1:-_8=", "vault:v1:AAEC:"};
	struct kw_bytes raw = {0};
	uint32_t v;

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		if (kw_vault_text_parse(bad[i], false, &v, &raw) != KW_ERR_BASE64)
			fail_msg("accepted \"%s\"", bad[i]);
	/* Nothing after the prefix is no ciphertext at all. */
	assert_int_equal(kw_vault_text_parse("vault:v1:", false, &v, &raw), KW_ERR_INVALID);
}

/* ---- JSON ---- */

static void body_json(void **state)
{
	struct kw_fail f = {0};
	json_t *j;

	assert_int_equal(kw_body_json(NULL, 0, &j, &f), 0);
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	assert_int_equal(kw_body_json((const uint8_t *)"{\"a\":1}", 7, &j, &f), 0);
	json_decref(j);
	assert_int_equal(kw_body_json((const uint8_t *)"[1]", 3, &j, &f), KW_ERR_INVALID);
	assert_non_null(strstr(kw_fail_text(&f, KW_ERR_INVALID), "object"));
	assert_int_equal(kw_body_json((const uint8_t *)"{\"a\":1,\"a\":2}", 13, &j, &f),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_body_json((const uint8_t *)"{\"a\":\"\\u0000\"}", 14, &j, &f),
	                 KW_ERR_INVALID);
}

static void body_json_no_echo(void **state)
{
	const char *body = "{\"plaintext\": s3cr3tvalue}";
	struct kw_fail f = {0};
	json_t *j;

	assert_int_equal(kw_body_json((const uint8_t *)body, strlen(body), &j, &f), KW_ERR_INVALID);
	assert_non_null(strstr(f.msg, "not valid JSON"));
	assert_null(strstr(f.msg, "s3cr3t"));
}

static void fields_str(void **state)
{
	json_t *o = json_pack("{s:s, s:i, s:n}", "a", "x", "b", 3, "c");
	struct kw_fail f = {0};
	const char *s = "unset";

	assert_int_equal(kw_jfield_str(o, "a", true, &s, &f), 0);
	assert_string_equal(s, "x");
	assert_int_equal(kw_jfield_str(o, "b", false, &s, &f), KW_ERR_INVALID);
	assert_string_equal(f.msg, "field \"b\" must be a string");
	assert_int_equal(kw_jfield_str(o, "c", false, &s, &f), 0);
	assert_null(s); /* null is "not given" */
	assert_int_equal(kw_jfield_str(o, "c", true, &s, &f), KW_ERR_INVALID);
	assert_string_equal(f.msg, "missing required field \"c\"");
	assert_int_equal(kw_jfield_str(o, "zz", true, &s, &f), KW_ERR_INVALID);
	json_decref(o);
}

static void fields_u64(void **state)
{
	json_t *o = json_pack("{s:i, s:i, s:s, s:s, s:f, s:b, s:I}", "ok", 7, "neg", -1, "str",
	                      "12", "junk", "1x", "real", 1.5, "bool", 1, "big", (json_int_t)300);
	struct kw_fail f = {0};
	struct kw_opt_u64 v;

	assert_int_equal(kw_jfield_u64(o, "ok", 10, &v, &f), 0);
	assert_true(v.set);
	assert_int_equal(v.v, 7);
	assert_int_equal(kw_jfield_u64(o, "str", 100, &v, &f), 0);
	assert_int_equal(v.v, 12);
	assert_int_equal(kw_jfield_u64(o, "absent", 100, &v, &f), 0);
	assert_false(v.set);
	static const char *const bad[] = {"neg", "junk", "real", "bool", "big"};
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		assert_int_equal(kw_jfield_u64(o, bad[i], 255, &v, &f), KW_ERR_INVALID);
		assert_non_null(strstr(f.msg, bad[i]));
	}
	json_decref(o);
}

static void fields_bool(void **state)
{
	json_t *o = json_pack("{s:b, s:s, s:i, s:s}", "t", 1, "s", "false", "n", 1, "x", "yes");
	struct kw_fail f = {0};
	struct kw_opt_bool b;

	assert_int_equal(kw_jfield_bool(o, "t", &b, &f), 0);
	assert_true(b.set && b.v);
	assert_int_equal(kw_jfield_bool(o, "s", &b, &f), 0);
	assert_true(b.set && !b.v);
	assert_int_equal(kw_jfield_bool(o, "n", &b, &f), KW_ERR_INVALID);
	assert_string_equal(f.msg, "field \"n\" must be true or false");
	assert_int_equal(kw_jfield_bool(o, "x", &b, &f), KW_ERR_INVALID);
	json_decref(o);
}

static void fields_b64(void **state)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "ok", "aGk=", "empty", "", "bad", "hunter2!",
	                      "num", 5);
	struct kw_fail f = {0};
	struct kw_bytes b = {0};

	assert_int_equal(kw_jfield_b64(o, "ok", true, &b, &f), 0);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.p, "hi", 2);
	kw_bytes_purge(&b);
	assert_int_equal(kw_jfield_b64(o, "empty", true, &b, &f), 0);
	assert_true(b.set);
	assert_int_equal(b.len, 0);
	kw_bytes_purge(&b);
	assert_int_equal(kw_jfield_b64(o, "bad", true, &b, &f), KW_ERR_BASE64);
	assert_string_equal(f.msg, "field \"bad\" is not valid base64");
	assert_null(strstr(f.msg, "hunter2"));
	assert_int_equal(kw_jfield_b64(o, "num", true, &b, &f), KW_ERR_INVALID);
	assert_int_equal(kw_jfield_b64(o, "absent", false, &b, &f), 0);
	assert_false(b.set);
	assert_int_equal(kw_jfield_b64(o, "absent", true, &b, &f), KW_ERR_INVALID);
	json_decref(o);
}

static void fields_duration(void **state)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:i}", "int", 3600, "h", "1h", "mix", "1h30m",
	                      "bad", "soon", "neg", -5);
	struct kw_fail f = {0};
	struct kw_opt_u64 v;

	assert_int_equal(kw_jfield_duration(o, "int", &v, &f), 0);
	assert_int_equal(v.v, 3600);
	assert_int_equal(kw_jfield_duration(o, "h", &v, &f), 0);
	assert_int_equal(v.v, 3600);
	assert_int_equal(kw_jfield_duration(o, "mix", &v, &f), 0);
	assert_int_equal(v.v, 5400);
	assert_int_equal(kw_jfield_duration(o, "bad", &v, &f), KW_ERR_INVALID);
	assert_non_null(strstr(f.msg, "\"bad\""));
	assert_int_equal(kw_jfield_duration(o, "neg", &v, &f), KW_ERR_INVALID);
	json_decref(o);
}

/* ---- errors, bodies, ids ---- */

static void status_table(void **state)
{
	static const struct {
		int err;
		unsigned status;
	} want[] = {
	    {KW_ERR_INVALID, 400},     {KW_ERR_BASE64, 400},         {KW_ERR_KEY_TYPE, 400},
	    {KW_ERR_VERSION, 400},     {KW_ERR_NOT_EXPORTABLE, 400}, {KW_ERR_DELETE_DENIED, 400},
	    {KW_ERR_DECRYPT, 400},     {KW_ERR_UNSUPPORTED, 400},    {KW_ERR_EXISTS, 400},
	    {KW_ERR_BAD_SHARE, 400},   {KW_ERR_ALREADY_INIT, 400},   {KW_ERR_LIMIT, 400},
	    {KW_ERR_AUTH, 403},        {KW_ERR_DENIED, 403},         {KW_ERR_NOT_FOUND, 404},
	    {KW_ERR_TOO_LARGE, 413},   {KW_ERR_SEALED, 503},         {KW_ERR_NOT_INIT, 503},
	    {KW_ERR_UNAVAILABLE, 503}, {KW_ERR_SELFTEST, 500},       {KW_ERR_INTEGRITY, 500},
	    {KW_ERR_STORE, 500},       {KW_ERR_CRYPTO, 500},         {KW_ERR_IPC, 500},
	    {KW_ERR_INTERNAL, 500},    {KW_ERR_NOMEM, 500},          {-9999, 500},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(want); i++)
		if (kw_http_status(want[i].err) != want[i].status)
			fail_msg("%s -> %u", kw_err_code(want[i].err), kw_http_status(want[i].err));
}

static void error_body(void **state)
{
	struct kw_resp out = {0};
	struct kw_fail f = {0};

	assert_int_equal(kw_resp_error(&out, KW_ERR_SEALED, NULL), 0);
	assert_int_equal(out.status, 503);
	assert_string_equal(err_code(&out), "sealed");
	assert_string_equal(err_text(&out), kw_err_str(KW_ERR_SEALED));
	kw_resp_cleanup(&out);
	/* A sentence recorded for another error is not used. */
	kw_fail_set(&f, KW_ERR_INVALID, "field \"x\" is odd");
	assert_int_equal(kw_resp_error(&out, KW_ERR_NOT_FOUND, &f), 0);
	assert_string_equal(err_text(&out), kw_err_str(KW_ERR_NOT_FOUND));
	kw_resp_cleanup(&out);
	assert_int_equal(kw_resp_error(&out, KW_ERR_INVALID, &f), 0);
	assert_string_equal(err_text(&out), "field \"x\" is odd");
	assert_string_equal(err_code(&out), "invalid_request");
	kw_resp_cleanup(&out);
}

static void body_limit(void **state)
{
	struct kw_body b;
	char chunk[10] = "0123456789";

	assert_int_equal(kw_body_expect(NULL, 10), 0);
	assert_int_equal(kw_body_expect("10", 10), 0);
	assert_int_equal(kw_body_expect("11", 10), KW_ERR_TOO_LARGE);
	assert_int_equal(kw_body_expect("99999999999999999999999", 10), KW_ERR_INVALID);
	assert_int_equal(kw_body_expect("ten", 10), KW_ERR_INVALID);
	kw_body_init(&b, 25);
	assert_int_equal(kw_body_append(&b, chunk, 10), 0);
	assert_int_equal(kw_body_append(&b, chunk, 10), 0);
	assert_int_equal(kw_body_append(&b, chunk, 5), 0);
	assert_int_equal(b.buf.len, 25); /* exactly the limit is fine */
	assert_int_equal(kw_body_append(&b, chunk, 1), KW_ERR_TOO_LARGE);
	assert_true(b.too_large);
	assert_int_equal(b.buf.len, 0); /* dropped, not kept */
	assert_null(b.buf.data);
	assert_int_equal(kw_body_append(&b, chunk, 1), KW_ERR_TOO_LARGE);
	assert_null(b.buf.data);
	kw_body_cleanup(&b);
}

static void uuid_format(void **state)
{
	char a[KW_UUID_BYTES], b[KW_UUID_BYTES];

	assert_int_equal(kw_uuid_v4(a), 0);
	assert_int_equal(kw_uuid_v4(b), 0);
	assert_int_equal(strlen(a), 36);
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(a[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", a[i]));
	}
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_string_not_equal(a, b);
}

static void chanpool(void **state)
{
	const int fds[] = {7, 8};
	struct kw_chanpool p;
	int a, b;

	assert_int_equal(kw_chanpool_init(&p, fds, 0), KW_ERR_INVALID);
	assert_int_equal(kw_chanpool_init(&p, fds, 2), 0);
	assert_int_equal(kw_chanpool_get(&p, &a), 0);
	assert_int_equal(kw_chanpool_get(&p, &b), 0);
	assert_int_not_equal(a, b);
	kw_chanpool_put(&p, a);
	assert_int_equal(kw_chanpool_get(&p, &b), 0);
	assert_int_equal(b, a);
	assert_true(kw_chanpool_fail(&p));
	assert_false(kw_chanpool_fail(&p));
	assert_int_equal(kw_chanpool_get(&p, &a), KW_ERR_UNAVAILABLE);
	kw_chanpool_cleanup(&p);
}

/* ---- dispatch without a keeper ---- */

struct kw_chanpool *test_pool;

unsigned run_req(unsigned method, const char *path, const char *body, const char *token,
                 struct kw_resp *out)
{
	struct kw_body b;
	struct kw_req r;

	kw_req_init(&r, NULL, test_pool);
	assert_int_equal(kw_uuid_v4(r.id), 0);
	snprintf(r.remote, sizeof(r.remote), "192.0.2.7");
	r.port = 8200;
	r.method = method;
	r.path = path;
	r.token = token;
	kw_body_init(&b, 4096);
	if (body != NULL && kw_body_append(&b, body, strlen(body)) != 0)
		b.too_large = true;
	kw_dispatch(&r, &b, out);
	kw_req_cleanup(&r);
	kw_body_cleanup(&b);
	return out->status;
}

static void dispatch_no_path(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_GET, "transit/nothing", NULL, NULL, &out), 404);
	assert_string_equal(err_code(&out), "unsupported_path");
	assert_non_null(strstr(err_text(&out), "GET /v1/transit/nothing"));
	kw_resp_cleanup(&out);
}

static void dispatch_bad_method(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_DELETE, "sys/seal-status", NULL, NULL, &out), 405);
	assert_string_equal(err_code(&out), "method_not_allowed");
	assert_string_equal(out.allow, "GET, HEAD");
	kw_resp_cleanup(&out);
}

static void dispatch_too_large(void **state)
{
	char big[5000];
	struct kw_resp out;

	memset(big, ' ', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k", big, NULL, &out), 413);
	assert_string_equal(err_code(&out), "too_large");
	kw_resp_cleanup(&out);
}

static void dispatch_bad_name(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_GET, "transit/keys/a%20b", NULL, NULL, &out), 400);
	assert_string_equal(err_code(&out), "invalid_request");
	kw_resp_cleanup(&out);
}

struct bad_body {
	const char *path, *body, *code, *needle;
};

/* Rejected in the front, before any keeper call (there is none here). */
static void dispatch_bad_bodies(void **state)
{
	static const struct bad_body cases[] = {
	    {"transit/encrypt/k", "{", "invalid_request", "not valid JSON"},
	    {"transit/encrypt/k", "[]", "invalid_request", "object"},
	    {"transit/encrypt/k", "{}", "invalid_request", "\"plaintext\""},
	    {"transit/encrypt/k", "{\"plaintext\":\"!!\"}", "bad_base64", "\"plaintext\""},
	    {"transit/encrypt/k", "{\"plaintext\":\"aGk=\",\"key_version\":\"x\"}",
	     "invalid_request", "\"key_version\""},
	    {"transit/encrypt/k", "{\"plaintext\":\"aGk=\",\"convergent_encryption\":true}",
	     "unsupported", "convergent"},
	    {"transit/encrypt/k", "{\"batch_input\":{}}", "invalid_request", "batch_input"},
	    {"transit/encrypt/k", "{\"batch_input\":[]}", "invalid_request", "empty"},
	    {"transit/decrypt/k", "{\"ciphertext\":\"v1:AAAA\"}", "invalid_request", "vault:v"},
	    {"transit/decrypt/k", "{\"ciphertext\":\"vault:v0:AAAA\"}", "invalid_request",
	     "vault:v"},
	    {"transit/decrypt/k", "{\"ciphertext\":\"vault:v1:AA\"}", "bad_base64", "base64"},
	    {"transit/decrypt/k", "{\"ciphertext\":7}", "invalid_request", "\"ciphertext\""},
	    {"transit/datakey/secret/k", "{}", "invalid_request", "plaintext"},
	    {"transit/datakey/wrapped/k", "{\"bits\":100}", "invalid_request", "\"bits\""},
	    {"transit/sign/k", "{\"input\":\"aGk=\",\"marshaling_algorithm\":\"der\"}",
	     "invalid_request", "marshaling_algorithm"},
	    {"transit/sign/k", "{\"input\":\"aGk=\",\"salt_length\":\"big\"}", "invalid_request",
	     "salt_length"},
	    {"transit/verify/k", "{\"input\":\"aGk=\"}", "invalid_request", "exactly one"},
	    {"transit/verify/k",
	     "{\"input\":\"aGk=\",\"signature\":\"vault:v1:AAAA\",\"hmac\":\"vault:v1:AAAA\"}",
	     "invalid_request", "exactly one"},
	    {"transit/random/0", "{}", "invalid_request", "byte count"},
	    {"transit/random", "{\"bytes\":131073}", "invalid_request", "\"bytes\""},
	    {"transit/random", "{\"format\":\"raw\"}", "invalid_request", "\"format\""},
	    {"transit/hash", "{}", "invalid_request", "\"input\""},
	    {"transit/keys/k", "{\"type\":\"rot13\"}", "invalid_request", "\"type\""},
	    {"transit/keys/k", "{\"derived\":true}", "unsupported", "derived"},
	    {"transit/keys/k", "{\"auto_rotate_period\":\"10m\"}", "invalid_request",
	     "auto_rotate_period"},
	    {"transit/keys/k/config", "{\"deletion_allowed\":\"maybe\"}", "invalid_request",
	     "deletion_allowed"},
	    {"sys/init", "{\"secret_shares\":0,\"secret_threshold\":0}", "invalid_request",
	     "shares must be at least one"},
	    {"sys/init", "{\"secret_shares\":3,\"secret_threshold\":4}", "invalid_request",
	     "larger"},
	    {"sys/init", "{\"secret_shares\":3,\"secret_threshold\":1}", "invalid_request",
	     "greater than one"},
	    {"sys/init", "{\"secret_shares\":256,\"secret_threshold\":2}", "invalid_request",
	     "secret_shares"},
	    {"sys/init", "{\"secret_threshold\":2}", "invalid_request", "secret_shares"},
	    {"sys/init", "{\"secret_shares\":1,\"secret_threshold\":1,\"pgp_keys\":[\"x\"]}",
	     "unsupported", "PGP"},
	    {"sys/unseal", "{}", "invalid_request", "\"key\""},
	    {"sys/unseal", "{\"key\":\"not a share!\"}", "invalid_request", "hex or base64"},
	    {"auth/token/create", "{\"policies\":[\"a/b\"]}", "invalid_request", "policies"},
	    {"auth/token/create", "{\"policies\":7}", "invalid_request", "policies"},
	    {"auth/token/create", "{\"type\":\"batch\"}", "unsupported", "service"},
	    {"auth/token/create", "{\"ttl\":\"forever\"}", "invalid_request", "\"ttl\""},
	    {"auth/token/lookup", "{}", "invalid_request", "\"token\""},
	    {"auth/token/revoke-accessor", "{\"accessor\":\"\"}", "invalid_request",
	     "\"accessor\""},
	    {"sys/policies/acl/p", "{}", "invalid_request", "\"policy\""},
	    {"sys/policy/p", "{\"policy\":[1]}", "invalid_request", "\"policy\""},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		const struct bad_body *c = &cases[i];
		struct kw_resp out;
		unsigned status = run_req(KW_M_POST, c->path, c->body, NULL, &out);

		if (status != 400 || strcmp(err_code(&out), c->code) != 0 ||
		    strstr(err_text(&out), c->needle) == NULL)
			fail_msg("%s %s -> %u %s: %s", c->path, c->body, status, err_code(&out),
			         err_text(&out));
		kw_resp_cleanup(&out);
	}
}

static void dispatch_no_keeper(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_GET, "sys/seal-status", NULL, NULL, &out), 503);
	assert_string_equal(err_code(&out), "unavailable");
	kw_resp_cleanup(&out);
}

#define T(name, fn)                                                                                \
	{                                                                                          \
		name, fn, NULL, NULL, NULL                                                         \
	}

/* ---- rate limit (ratelimit.c), on a clock the test moves ---- */

#define SEC 1000000000ull

static void ratelimit_bucket(void **state)
{
	struct kw_ratelimit rl;
	uint64_t t = 5 * SEC;

	assert_int_equal(kw_ratelimit_init(&rl, 2, 3), 0);
	/* A burst of 3, then the 4th waits: 0.5 s for a token, rounded up. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(kw_ratelimit_take(&rl, "10.0.0.1", t), 0);
	assert_int_equal(kw_ratelimit_take(&rl, "10.0.0.1", t), 1);
	/* Another address has its own bucket. */
	assert_int_equal(kw_ratelimit_take(&rl, "10.0.0.2", t), 0);
	/* Refused requests take nothing: after 0.5 s one token is back. */
	assert_int_equal(kw_ratelimit_take(&rl, "10.0.0.1", t + SEC / 4), 1);
	assert_int_equal(kw_ratelimit_take(&rl, "10.0.0.1", t + SEC / 2), 0);
	assert_int_equal(kw_ratelimit_take(&rl, "10.0.0.1", t + SEC / 2), 1);
	/* A long pause refills to the burst, not beyond. */
	t += 100 * SEC;
	for (int i = 0; i < 3; i++)
		assert_int_equal(kw_ratelimit_take(&rl, "10.0.0.1", t), 0);
	assert_int_not_equal(kw_ratelimit_take(&rl, "10.0.0.1", t), 0);
	kw_ratelimit_cleanup(&rl);
}

static void ratelimit_slow_rate_waits_longer(void **state)
{
	struct kw_ratelimit rl;

	assert_int_equal(kw_ratelimit_init(&rl, 1, 0), 0); /* burst 0 = rate */
	assert_int_equal(kw_ratelimit_take(&rl, "::1", SEC), 0);
	assert_int_equal(kw_ratelimit_take(&rl, "::1", SEC), 1);
	assert_int_equal(kw_ratelimit_take(&rl, "::1", SEC + SEC / 10), 1);
	assert_int_equal(kw_ratelimit_take(&rl, "::1", 2 * SEC), 0);
	kw_ratelimit_cleanup(&rl);
}

/* More addresses than the table holds: a newcomer is never refused (it
 * takes over an idle slot with a full bucket), and rate 0 is no limit. */
static void ratelimit_table_full_and_off(void **state)
{
	struct kw_ratelimit rl, off;
	char addr[32];

	assert_int_equal(kw_ratelimit_init(&rl, 1, 1), 0);
	for (unsigned i = 0; i < 4 * RL_STRIPES * RL_STRIPE_SLOTS; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16 & 255, i >> 8 & 255, i & 255);
		assert_int_equal(kw_ratelimit_take(&rl, addr, SEC + i), 0);
	}
	kw_ratelimit_cleanup(&rl);
	assert_int_equal(kw_ratelimit_init(&off, 0, 0), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(kw_ratelimit_take(&off, "10.0.0.1", SEC), 0);
	kw_ratelimit_cleanup(&off);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T("/front/addr/ipv4", addr_ipv4),
	    T("/front/addr/ipv6", addr_ipv6),
	    T("/front/addr/unix", addr_unix),
	    T("/front/addr/rejects-bad", addr_rejects_bad),
	    T("/front/method/parse", method_parse),
	    T("/front/method/names", method_names),
	    T("/front/route/every-entry", route_every_entry),
	    T("/front/route/specific", route_specific),
	    T("/front/route/names-flagged", route_names_flagged),
	    T("/front/route/unknown-path", route_unknown_path),
	    T("/front/route/wrong-method", route_wrong_method),
	    T("/front/parse/names", names),
	    T("/front/parse/uint", uint_parse),
	    T("/front/parse/share", share_decode),
	    T("/front/vault/good", vault_good),
	    T("/front/vault/url", vault_url),
	    T("/front/vault/bad-prefix", vault_bad_prefix),
	    T("/front/vault/bad-version", vault_bad_version),
	    T("/front/vault/bad-base64", vault_bad_base64),
	    T("/front/json/body", body_json),
	    T("/front/json/body-no-echo", body_json_no_echo),
	    T("/front/json/str", fields_str),
	    T("/front/json/u64", fields_u64),
	    T("/front/json/bool", fields_bool),
	    T("/front/json/b64", fields_b64),
	    T("/front/json/duration", fields_duration),
	    T("/front/error/status-table", status_table),
	    T("/front/error/body", error_body),
	    T("/front/body/limit", body_limit),
	    T("/front/uuid/format", uuid_format),
	    T("/front/chanpool/basics", chanpool),
	    T("/front/ratelimit/bucket", ratelimit_bucket),
	    T("/front/ratelimit/slow-rate", ratelimit_slow_rate_waits_longer),
	    T("/front/ratelimit/table-full-and-off", ratelimit_table_full_and_off),
	    T("/front/dispatch/no-path", dispatch_no_path),
	    T("/front/dispatch/bad-method", dispatch_bad_method),
	    T("/front/dispatch/too-large", dispatch_too_large),
	    T("/front/dispatch/bad-name", dispatch_bad_name),
	    T("/front/dispatch/bad-bodies", dispatch_bad_bodies),
	    T("/front/dispatch/no-keeper", dispatch_no_keeper),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	kw_json_wipe_init();
	kw_log_set_level(KW_LOG_ERR);
	return cmocka_run_group_tests_name("/front", tests, NULL, NULL) | front_keeper_tests();
}
