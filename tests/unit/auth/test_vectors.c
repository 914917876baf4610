/*
 * test_vectors.c: the real kube-apiserver tokens of shared/vectors/k8s-tokens,
 * driven by its manifest.json — each verifies with its own key (PEM and,
 * where given, JWKS) at a clock inside its validity and with no other key;
 * expired ones fail as expired at the real clock; the synthetic negative
 * token fails with every key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_tests.h"

#define SUB_PREFIX "system:serviceaccount:"

static json_t *manifest_tokens(json_t **doc)
{
	char path[1024];
	json_error_t jerr;
	json_t *tokens;

	snprintf(path, sizeof(path), "%s/k8s-tokens/manifest.json", KW_VECTORS_DIR);
	*doc = json_load_file(path, 0, &jerr);
	if (*doc == NULL)
		fail_msg("manifest: %s", jerr.text);
	tokens = json_object_get(*doc, "tokens");
	assert_true(json_is_array(tokens));
	assert_true(json_array_size(tokens) >= 9);
	return tokens;
}

static const char *field(const json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name)); /* NULL if absent or null */
}

static struct kw_auth_keyset *keyset_file(const char *rel)
{
	struct kw_auth_keyset *ks = NULL;
	char err[KW_AUTH_ERR_BYTES] = "";
	size_t len;
	char *text = t_vector_read(rel, &len);
	int r;

	assert_int_equal(kw_auth_keyset_new(&ks), 0);
	if (strstr(rel, ".json") != NULL)
		r = kw_auth_keyset_add_jwks(ks, text, len, NULL, err, sizeof(err));
	else
		r = kw_auth_keyset_add_pem(ks, text, len, NULL, err, sizeof(err));
	if (r != 0)
		fail_msg("%s refused: %s", rel, err);
	free(text);
	return ks;
}

/* A clock inside the token's validity, and options binding its iss and aud. */
static int64_t token_clock(const json_t *claims, struct kw_auth_jwt_opts *o, const char **iss,
                           const char **aud)
{
	const json_t *a = json_object_get(claims, "aud");

	kw_auth_jwt_opts_init(o);
	*iss = field(claims, "iss");
	o->issuers = iss;
	o->nissuers = *iss != NULL;
	*aud = json_is_array(a) ? json_string_value(json_array_get(a, 0)) : NULL;
	o->audiences = aud;
	o->naudiences = *aud != NULL;
	o->allow_missing_exp = json_object_get(claims, "exp") == NULL;
	if (json_object_get(claims, "iat") == NULL)
		return T_NOW; /* legacy: no times at all */
	return json_integer_value(json_object_get(claims, "iat")) + 1;
}

/* The Kubernetes identity must be the one sub names, with the pod if bound. */
static void check_identity(const struct kw_auth_jwt *jwt, const json_t *claims)
{
	const char *sub = field(claims, "sub");
	const json_t *pod = json_object_get(json_object_get(claims, "kubernetes.io"), "pod");
	enum kw_auth_reason why;
	struct kw_auth_k8s k;
	char want[512];
	const char *ns = sub + strlen(SUB_PREFIX), *colon = strchr(ns, ':');

	assert_string_equal(kw_auth_jwt_sub(jwt), sub);
	assert_int_equal(kw_auth_k8s_from_jwt(jwt, &k, &why), 0);
	snprintf(want, sizeof(want), "k8s:%.*s/%s", (int)(colon - ns), ns, colon + 1);
	assert_string_equal(k.identity, want);
	assert_int_equal(k.legacy, json_object_get(claims, "kubernetes.io") == NULL);
	if (pod != NULL)
		assert_string_equal(k.pod_name, field(pod, "name"));
}

static void verify_with(const char *keyfile, const json_t *t, bool by_jwks)
{
	const json_t *claims = json_object_get(t, "claims"), *hdr = json_object_get(t, "header");
	struct kw_auth_keyset *ks = keyset_file(keyfile);
	struct kw_auth_jwt_opts o;
	const char *iss, *aud;
	int64_t now = token_clock(claims, &o, &iss, &aud);
	char *tok = t_vector_read(field(t, "file"), NULL);
	struct kw_auth_jwt *jwt = t_expect_valid(ks, &o, tok, now);

	check_identity(jwt, claims);
	assert_string_equal(kw_auth_jwt_alg(jwt), field(hdr, "alg"));
	/* Through a JWKS the kid picked the key; a PEM key carries its derived kid. */
	if (by_jwks)
		assert_string_equal(kw_auth_jwt_key_kid(jwt), field(hdr, "kid"));
	else
		assert_string_equal(kw_auth_jwt_key_kid(jwt), kw_auth_keyset_kid(ks, 0));
	kw_auth_jwt_free(jwt);
	kw_auth_keyset_free(ks);
	free(tok);
}

void test_vectors_verify_own_key(void **state)
{
	json_t *doc, *tokens = manifest_tokens(&doc), *t;
	size_t i, pem = 0, jwks = 0;

	json_array_foreach(tokens, i, t)
	{
		if (strcmp(field(t, "expected_signature"), "valid") != 0)
			continue;
		verify_with(field(t, "key"), t, false);
		pem++;
		if (field(t, "jwks") != NULL) {
			verify_with(field(t, "jwks"), t, true);
			jwks++;
		}
	}
	assert_int_equal(pem, 8);
	assert_int_equal(jwks, 3);
	json_decref(doc);
}

static bool own_key(const json_t *t, const char *keyfile)
{
	return (field(t, "key") != NULL && strcmp(field(t, "key"), keyfile) == 0) ||
	       (field(t, "jwks") != NULL && strcmp(field(t, "jwks"), keyfile) == 0);
}

/* Every PEM and JWKS file the manifest names, once each. */
static size_t key_files(const json_t *tokens, const char **out, size_t max)
{
	const json_t *t;
	size_t i, n = 0;

	json_array_foreach(tokens, i, t)
	{
		const char *f[2] = {field(t, "key"), field(t, "jwks")};

		for (int j = 0; j < 2; j++) {
			bool seen = f[j] == NULL;

			for (size_t k = 0; k < n && !seen; k++)
				seen = strcmp(out[k], f[j]) == 0;
			if (!seen && n < max)
				out[n++] = f[j];
		}
	}
	return n;
}

/* Refused, and refused by the signature step rather than by a claim. */
static void expect_key_refusal(const char *keyfile, const json_t *t)
{
	struct kw_auth_keyset *ks = keyset_file(keyfile);
	struct kw_auth_jwt_opts o;
	struct kw_auth_jwt *jwt = NULL;
	enum kw_auth_reason why;
	const char *iss, *aud;
	int64_t now = token_clock(json_object_get(t, "claims"), &o, &iss, &aud);
	size_t len;
	char *tok = t_vector_read(field(t, "file"), &len);

	assert_int_equal(kw_auth_jwt_verify(ks, &o, tok, len, now, &jwt, &why), KW_ERR_AUTH);
	assert_null(jwt);
	assert_true(why == KW_AUTH_KID_UNKNOWN || why == KW_AUTH_ALG_KEY_MISMATCH ||
	            why == KW_AUTH_SIG_LENGTH || why == KW_AUTH_SIG_INVALID);
	kw_auth_keyset_free(ks);
	free(tok);
}

void test_vectors_fail_other_keys(void **state)
{
	json_t *doc, *tokens = manifest_tokens(&doc), *t;
	const char *files[32];
	size_t nfiles = key_files(tokens, files, 32), i, tried = 0;

	assert_int_equal(nfiles, 7); /* 5 PEM keys, 2 JWKS */
	json_array_foreach(tokens, i, t)
	{
		for (size_t k = 0; k < nfiles; k++) {
			if (own_key(t, files[k]))
				continue;
			expect_key_refusal(files[k], t);
			tried++;
		}
	}
	assert_true(tried >= 50);
	json_decref(doc);
}

void test_vectors_expired_at_real_clock(void **state)
{
	json_t *doc, *tokens = manifest_tokens(&doc), *t;
	int64_t now = kw_now();
	size_t i, expired = 0;

	json_array_foreach(tokens, i, t)
	{
		const json_t *claims = json_object_get(t, "claims");
		struct kw_auth_keyset *ks;
		struct kw_auth_jwt_opts o;
		const char *iss, *aud;
		char *tok;

		if (json_object_get(claims, "exp") == NULL)
			continue;
		ks = keyset_file(field(t, "key"));
		token_clock(claims, &o, &iss, &aud);
		tok = t_vector_read(field(t, "file"), NULL);
		if (json_integer_value(json_object_get(claims, "exp")) + o.exp_leeway <= now) {
			t_expect_refused(ks, &o, tok, now, KW_AUTH_EXPIRED);
			expired++;
		} else {
			kw_auth_jwt_free(t_expect_valid(ks, &o, tok, now));
		}
		kw_auth_keyset_free(ks);
		free(tok);
	}
	/* Both 2018 minikube tokens, the 10-minute 2020 one and the EKS token
	 * of November 2025; the 2030 token is checked as valid until then. */
	assert_true(expired >= 4);
	json_decref(doc);
}

void test_vectors_negative_token(void **state)
{
	json_t *doc, *tokens = manifest_tokens(&doc), *t;
	const char *files[32];
	size_t nfiles = key_files(tokens, files, 32), i;
	const json_t *neg = NULL;

	json_array_foreach(tokens, i, t)
	{
		if (json_is_null(json_object_get(t, "key")))
			neg = t;
	}
	assert_non_null(neg);
	for (size_t k = 0; k < nfiles; k++)
		expect_key_refusal(files[k], neg);
	/* Its 128-byte signature cannot come from the 2048-bit key whose
	 * claims it borrows. */
	{
		struct kw_auth_keyset *ks =
		    keyset_file("minikube-2017-legacy/minikube-apiserver-pubkey.pem");
		struct kw_auth_jwt_opts o;
		char *tok = t_vector_read(field(neg, "file"), NULL);

		kw_auth_jwt_opts_init(&o);
		o.allow_missing_exp = true;
		t_expect_refused(ks, &o, tok, T_NOW, KW_AUTH_SIG_LENGTH);
		kw_auth_keyset_free(ks);
		free(tok);
	}
	json_decref(doc);
}

void test_vectors_legacy_needs_opt_in(void **state)
{
	struct kw_auth_keyset *ks =
	    keyset_file("minikube-2017-legacy/minikube-apiserver-pubkey.pem");
	struct kw_auth_jwt_opts o;
	char *tok = t_vector_read("minikube-2017-legacy/legacy-default-vault-auth.jwt", NULL);

	kw_auth_jwt_opts_init(&o);
	t_expect_refused(ks, &o, tok, T_NOW, KW_AUTH_EXP_MISSING);
	o.allow_missing_exp = true;
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok, T_NOW));
	kw_auth_keyset_free(ks);
	free(tok);
}

void test_vectors_derived_kid(void **state)
{
	static const char want[] = "pJcxkJ4q0O1tOt0Z37VB6-x6Mw8xFZSxM9roPtMQq0A";
	struct kw_auth_keyset *pem = keyset_file("minikube-2020-projected/sa.pub.pem");
	struct kw_auth_keyset *jwks = keyset_file("minikube-2020-projected/jwks.derived.json");
	struct kw_auth_keyset *eks = keyset_file("eks-2025-projected/jwks.json");

	assert_int_equal(kw_auth_keyset_count(pem), 1);
	assert_string_equal(kw_auth_keyset_kid(pem, 0), want);
	assert_string_equal(kw_auth_keyset_kid(jwks, 0), want);
	assert_null(kw_auth_keyset_kid(pem, 1));
	assert_int_equal(kw_auth_keyset_count(eks), 13);
	assert_true(kw_auth_keyset_has_kid(eks, "e3b1d185e0d794058a6346c32b2575ac0efb622e"));
	assert_false(kw_auth_keyset_has_kid(eks, want));
	kw_auth_keyset_free(pem);
	kw_auth_keyset_free(jwks);
	kw_auth_keyset_free(eks);
}

void test_vectors_cert_key(void **state)
{
	struct kw_auth_keyset *cert =
	    keyset_file("minikube-2017-legacy/minikube-apiserver-cert.pem");
	struct kw_auth_keyset *spki =
	    keyset_file("minikube-2017-legacy/minikube-apiserver-pubkey.pem");
	struct kw_auth_jwt_opts o;
	char *tok = t_vector_read("minikube-2017-legacy/legacy-default-vault-invalid.jwt", NULL);
	char *other =
	    t_vector_read("minikube-2018-projected/projected-default-default-exp2020.jwt", NULL);

	/* The certificate's key is the SPKI's key: same derived kid, same result,
	 * although the certificate itself expired in 2018. */
	assert_string_equal(kw_auth_keyset_kid(cert, 0), kw_auth_keyset_kid(spki, 0));
	kw_auth_jwt_opts_init(&o);
	o.allow_missing_exp = true;
	kw_auth_jwt_free(t_expect_valid(cert, &o, tok, T_NOW));
	t_expect_refused(cert, &o, other, INT64_C(1539981600), KW_AUTH_SIG_INVALID);
	kw_auth_keyset_free(cert);
	kw_auth_keyset_free(spki);
	free(tok);
	free(other);
}
