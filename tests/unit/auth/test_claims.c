/*
 * test_claims.c: generic claim access for the jwt method (names, JSON
 * pointers, scalars as text, bound_claims matching) and the Kubernetes
 * claims of projected and legacy tokens.
 */
#include <stdlib.h>
#include <string.h>

#include "auth_tests.h"

/* A token over payload, signed by the RS256 test key and verified. */
static struct kw_auth_jwt *verified(const char *payload)
{
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.rs);
	struct kw_auth_jwt_opts o;
	char *h = t_header("RS256", t_fx.rs.kid);
	char *tok = t_token(h, payload, &t_fx.rs, "RS256", T_SIG_OK);
	struct kw_auth_jwt *jwt;

	kw_auth_jwt_opts_init(&o);
	jwt = t_expect_valid(ks, &o, tok, T_NOW);
	free(h);
	free(tok);
	kw_auth_keyset_free(ks);
	return jwt;
}

static const char claims_doc[] =
    "{\"sub\":\"repo:acme/app:ref:refs/heads/main\",\"exp\":1700000600,"
    "\"email\":\"dev@example.com\",\"groups\":[\"dev\",\"ops\",7],\"n\":42,\"f\":1.5,"
    "\"b\":true,\"nothing\":null,\"nested\":{\"a/b\":{\"c~d\":\"x\"}},"
    "\"kubernetes.io\":{\"pod\":{\"name\":\"p\"}}}";

static void expect_found_string(const struct kw_auth_jwt *jwt, const char *sel, const char *want)
{
	char *s = NULL;

	assert_int_equal(kw_auth_jwt_claim_string(jwt, sel, &s), 0);
	assert_string_equal(s, want);
	free(s);
}

void test_claims_find(void **state)
{
	static const char *const missing[] = {"missing",     "/groups/3", "/groups/01",
	                                      "/groups/-",   "/email/x",  "/bad~2",
	                                      "/nested/a/b", "/n/0",      "Email"};
	struct kw_auth_jwt *jwt = verified(claims_doc);
	const json_t *v = NULL;

	assert_int_equal(kw_auth_jwt_claim_find(jwt, "email", &v), 0);
	assert_string_equal(json_string_value(v), "dev@example.com");
	expect_found_string(jwt, "/groups/1", "ops");
	expect_found_string(jwt, "/groups/0", "dev");
	expect_found_string(jwt, "/nested/a~1b/c~0d", "x");
	expect_found_string(jwt, "/kubernetes.io/pod/name", "p");
	for (size_t i = 0; i < KW_ARRAY_LEN(missing); i++)
		assert_int_equal(kw_auth_jwt_claim_find(jwt, missing[i], &v), KW_ERR_NOT_FOUND);
	kw_auth_jwt_free(jwt);
}

void test_claims_string(void **state)
{
	struct kw_auth_jwt *jwt = verified(claims_doc);
	char *s = NULL;

	expect_found_string(jwt, "sub", "repo:acme/app:ref:refs/heads/main");
	expect_found_string(jwt, "n", "42");
	expect_found_string(jwt, "f", "1.5");
	expect_found_string(jwt, "b", "true");
	expect_found_string(jwt, "/groups/2", "7");
	assert_int_equal(kw_auth_jwt_claim_string(jwt, "groups", &s), KW_ERR_INVALID);
	assert_int_equal(kw_auth_jwt_claim_string(jwt, "nothing", &s), KW_ERR_INVALID);
	assert_int_equal(kw_auth_jwt_claim_string(jwt, "nested", &s), KW_ERR_INVALID);
	assert_int_equal(kw_auth_jwt_claim_string(jwt, "none", &s), KW_ERR_NOT_FOUND);
	assert_null(s);
	kw_auth_jwt_free(jwt);
}

static bool match(const struct kw_auth_jwt *jwt, const char *sel, const char *value, bool glob)
{
	bool m = true; /* must be overwritten */
	const char *const values[] = {"no-such-value", value};

	assert_int_equal(kw_auth_jwt_claim_match(jwt, sel, values, 2, glob, &m), 0);
	return m;
}

void test_claims_match(void **state)
{
	struct kw_auth_jwt *jwt = verified(claims_doc);
	const char *const any[] = {"*"};
	bool m = false;

	/* A list claim matches if any element does. */
	assert_true(match(jwt, "groups", "ops", false));
	assert_true(match(jwt, "groups", "7", false));
	assert_false(match(jwt, "groups", "admins", false));
	assert_true(match(jwt, "groups", "o*", true));
	assert_false(match(jwt, "groups", "o*", false));
	assert_true(match(jwt, "sub", "repo:acme/*:ref:refs/heads/main", true));
	assert_false(match(jwt, "sub", "repo:acme/*:ref:refs/heads/dev", true));
	assert_true(match(jwt, "n", "42", false));
	assert_true(match(jwt, "b", "true", false));
	assert_true(match(jwt, "/nested/a~1b/c~0d", "x", false));
	/* Objects and nulls match nothing, not even "*". */
	assert_false(match(jwt, "nested", "*", true));
	assert_false(match(jwt, "nothing", "*", true));
	assert_int_equal(kw_auth_jwt_claim_match(jwt, "missing", any, 1, true, &m),
	                 KW_ERR_NOT_FOUND);
	kw_auth_jwt_free(jwt);
}

/* The Kubernetes claims of a token over payload, or the refusal reason. */
static enum kw_auth_reason k8s_of(const char *payload, struct kw_auth_k8s *k)
{
	struct kw_auth_jwt *jwt = verified(payload);
	enum kw_auth_reason why = KW_AUTH_OK;
	int r = kw_auth_k8s_from_jwt(jwt, k, &why);

	assert_int_equal(r, why == KW_AUTH_OK ? 0 : KW_ERR_AUTH);
	kw_auth_jwt_free(jwt);
	return why;
}

void test_k8s_projected(void **state)
{
	struct kw_auth_k8s k;

	/* Bound to a Secret instead of a pod. */
	assert_int_equal(
	    k8s_of("{\"exp\":1700000600,\"sub\":\"system:serviceaccount:team-a:builder\","
	           "\"kubernetes.io\":{\"namespace\":\"team-a\",\"secret\":{\"name\":\"tok-x\","
	           "\"uid\":\"0a1b\"},\"serviceaccount\":{\"name\":\"builder\",\"uid\":\"9f\"}}}",
	           &k),
	    KW_AUTH_OK);
	assert_string_equal(k.identity, "k8s:team-a/builder");
	assert_string_equal(k.secret_name, "tok-x");
	assert_string_equal(k.pod_name, "");
	assert_string_equal(k.service_account_uid, "9f");
	assert_false(k.legacy);
	/* Service-account names are DNS subdomains: dots are allowed. */
	assert_int_equal(k8s_of("{\"exp\":1700000600,\"sub\":\"system:serviceaccount:ns1:sa.v2\","
	                        "\"kubernetes.io\":{\"namespace\":\"ns1\",\"serviceaccount\":{"
	                        "\"name\":\"sa.v2\"}}}",
	                        &k),
	                 KW_AUTH_OK);
	assert_string_equal(k.identity, "k8s:ns1/sa.v2");
}

void test_k8s_legacy(void **state)
{
	struct kw_auth_k8s k;

	assert_int_equal(
	    k8s_of("{\"iss\":\"kubernetes/serviceaccount\","
	           "\"kubernetes.io/serviceaccount/namespace\":\"default\","
	           "\"kubernetes.io/serviceaccount/secret.name\":\"vault-auth-token-t5pcn\","
	           "\"kubernetes.io/serviceaccount/service-account.name\":\"vault-auth\","
	           "\"kubernetes.io/serviceaccount/service-account.uid\":"
	           "\"d77f89bc-9055-11e7-a068-0800276d99bf\","
	           "\"sub\":\"system:serviceaccount:default:vault-auth\",\"exp\":1700000600}",
	           &k),
	    KW_AUTH_OK);
	assert_true(k.legacy);
	assert_string_equal(k.identity, "k8s:default/vault-auth");
	assert_string_equal(k.secret_name, "vault-auth-token-t5pcn");
	assert_string_equal(k.service_account_uid, "d77f89bc-9055-11e7-a068-0800276d99bf");
}

/* A projected payload for namespace ns, account sa, claiming sub. */
static char *projected(const char *sub, const char *ns, const char *sa)
{
	char *p = NULL;

	assert_true(asprintf(&p,
	                     "{\"exp\":1700000600,\"sub\":\"%s\",\"kubernetes.io\":{\"namespace\":"
	                     "\"%s\",\"serviceaccount\":{\"name\":\"%s\",\"uid\":\"u1\"}}}",
	                     sub, ns, sa) > 0);
	return p;
}

static void k8s_refused(char *payload, enum kw_auth_reason want)
{
	struct kw_auth_k8s k;

	assert_int_equal(k8s_of(payload, &k), want);
	free(payload);
}

void test_k8s_refusals(void **state)
{
	struct kw_auth_k8s k;

	k8s_refused(strdup("{\"exp\":1700000600,\"sub\":\"system:serviceaccount:a:b\"}"),
	            KW_AUTH_K8S_MISSING);
	k8s_refused(strdup("{\"exp\":1700000600,\"sub\":\"system:serviceaccount:a:b\","
	                   "\"kubernetes.io\":{\"namespace\":\"a\",\"serviceaccount\":{\"name\":"
	                   "\"b\"}},\"kubernetes.io/serviceaccount/namespace\":\"a\"}"),
	            KW_AUTH_K8S_INVALID);
	k8s_refused(strdup("{\"exp\":1700000600,\"sub\":\"system:serviceaccount:a:b\","
	                   "\"kubernetes.io\":\"a\"}"),
	            KW_AUTH_K8S_INVALID);
	k8s_refused(strdup("{\"exp\":1700000600,\"sub\":\"system:serviceaccount:a:b\","
	                   "\"kubernetes.io\":{\"namespace\":\"a\"}}"),
	            KW_AUTH_K8S_INVALID);
	/* Names that would bend the identity string, or are not Kubernetes names. */
	k8s_refused(projected("system:serviceaccount:a/b:c", "a/b", "c"), KW_AUTH_K8S_INVALID);
	k8s_refused(projected("system:serviceaccount:a:b:c", "a", "b:c"), KW_AUTH_K8S_INVALID);
	k8s_refused(projected("system:serviceaccount:Prod:api", "Prod", "api"),
	            KW_AUTH_K8S_INVALID);
	k8s_refused(projected("system:serviceaccount:-a:api", "-a", "api"), KW_AUTH_K8S_INVALID);
	k8s_refused(projected("system:serviceaccount:a:api..x", "a", "api..x"),
	            KW_AUTH_K8S_INVALID);
	/* sub must name the same account, exactly. */
	k8s_refused(projected("system:serviceaccount:kube-system:admin", "payments", "api"),
	            KW_AUTH_K8S_SUB_MISMATCH);
	k8s_refused(projected("system:serviceaccount:payments:api", "pay", "api"),
	            KW_AUTH_K8S_SUB_MISMATCH);
	k8s_refused(projected("system:serviceaccount:payments:api:x", "payments", "api"),
	            KW_AUTH_K8S_SUB_MISMATCH);
	k8s_refused(projected("system:serviceaccounts:payments:api", "payments", "api"),
	            KW_AUTH_K8S_SUB_MISMATCH);
	/* Sanity: the same helper with a matching sub passes. */
	{
		char *ok = projected("system:serviceaccount:payments:api", "payments", "api");

		assert_int_equal(k8s_of(ok, &k), KW_AUTH_OK);
		assert_string_equal(k.identity, "k8s:payments/api");
		free(ok);
	}
}
