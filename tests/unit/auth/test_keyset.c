/*
 * test_keyset.c: loading keys — JWKS entries counted, skipped or refused
 * with a sentence naming the entry; PEM blocks that are not usable public
 * keys refused; a shared set frozen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "auth_tests.h"

/* The one JWK of k's JWKS, as JSON text without the {"keys":[...]} around it. */
static char *jwk_of(const struct t_key *k, const char *set, const char *value)
{
	json_t *doc = json_loads(k->jwks, 0, NULL), *jwk;
	char *s;

	assert_non_null(doc);
	jwk = json_array_get(json_object_get(doc, "keys"), 0);
	if (set != NULL) {
		if (value == NULL)
			json_object_del(jwk, set);
		else
			json_object_set_new(jwk, set, json_loads(value, JSON_DECODE_ANY, NULL));
	}
	s = json_dumps(jwk, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static int load_jwks(struct kw_auth_keyset *ks, const char *doc, struct kw_auth_jwks_stats *st,
                     char *err)
{
	return kw_auth_keyset_add_jwks(ks, doc, strlen(doc), st, err, KW_AUTH_ERR_BYTES);
}

void test_keyset_jwks_stats(void **state)
{
	struct kw_auth_keyset *ks = NULL;
	struct kw_auth_jwks_stats st = {0};
	char err[KW_AUTH_ERR_BYTES] = "", *doc = NULL;
	char *rsa = jwk_of(&t_fx.rs, NULL, NULL), *ec = jwk_of(&t_fx.es256, NULL, NULL);
	char *enc = jwk_of(&t_fx.ps, "use", "\"enc\"");
	char *k1 = jwk_of(&t_fx.es256, "crv", "\"secp256k1\"");

	assert_true(asprintf(&doc,
	                     "{\"keys\":[%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"},"
	                     "%s,{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},%s,%s]}",
	                     rsa, ec, enc, k1) > 0);
	assert_int_equal(kw_auth_keyset_new(&ks), 0);
	assert_int_equal(load_jwks(ks, doc, &st, err), 0);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.unknown_kty, 2);
	assert_int_equal(st.not_for_sig, 2);
	assert_int_equal(kw_auth_keyset_count(ks), 2);
	assert_string_equal(kw_auth_keyset_kid(ks, 0), t_fx.rs.kid);
	assert_string_equal(kw_auth_keyset_kid(ks, 1), t_fx.es256.kid);
	kw_auth_keyset_free(ks);
	free(doc);
	free(rsa);
	free(ec);
	free(enc);
	free(k1);
}

struct bad_jwk {
	const char *member, *value; /* replaced in the RS256 or ES256 key's JWK */
	bool ec;
	const char *says; /* expected in the error sentence */
};

void test_keyset_jwks_malformed(void **state)
{
	static const struct bad_jwk bad[] = {
	    {"kty", NULL, false, "kty"},
	    {"kty", "7", false, "kty"},
	    {"n", NULL, false, "RSA n or e"},
	    {"e", "\"AQAB=\"", false, "RSA n or e"},
	    {"n", "\"a+b/\"", false, "RSA n or e"},
	    {"e", "\"AQABAQABAQAB\"", false, "out of range"},
	    {"n", "\"AQAB\"", false, "out of range"},
	    {"kid", "7", false, "kid"},
	    {"use", "[]", false, "use"},
	    {"x", NULL, true, "EC x or y"},
	    {"x", "\"AAAA\"", true, "wrong length"},
	    {"y", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"", true, "not on the curve"},
	    {"crv", "1", true, "crv"},
	};
	struct kw_auth_keyset *ks = NULL;
	char err[KW_AUTH_ERR_BYTES];
	char *good = jwk_of(&t_fx.rs, NULL, NULL);

	assert_int_equal(kw_auth_keyset_new(&ks), 0);
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		char *jwk = jwk_of(bad[i].ec ? &t_fx.es256 : &t_fx.rs, bad[i].member, bad[i].value);
		char *doc = NULL;

		/* A good key first: the load is all or nothing. */
		assert_true(asprintf(&doc, "{\"keys\":[%s,%s]}", good, jwk) > 0);
		err[0] = '\0';
		assert_int_equal(load_jwks(ks, doc, NULL, err), KW_ERR_INVALID);
		if (strstr(err, "keys[1]") == NULL || strstr(err, bad[i].says) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad[i].says);
		assert_int_equal(kw_auth_keyset_count(ks), 0);
		free(jwk);
		free(doc);
	}
	assert_int_equal(load_jwks(ks, "{\"keys\":[7]}", NULL, err), KW_ERR_INVALID);
	assert_int_equal(load_jwks(ks, "[]", NULL, err), KW_ERR_INVALID);
	assert_int_equal(load_jwks(ks, "{\"keys\":{}}", NULL, err), KW_ERR_INVALID);
	assert_non_null(strstr(err, "keys"));
	assert_int_equal(load_jwks(ks, "{\"keys\":[],\"keys\":[]}", NULL, err), KW_ERR_INVALID);
	assert_non_null(strstr(err, "duplicate"));
	assert_int_equal(kw_auth_keyset_count(ks), 0);
	free(good);
	kw_auth_keyset_free(ks);
}

static char *pem_of(EVP_PKEY *pkey, bool private_key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *s;
	long n;

	if (private_key)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &p);
	s = strndup(p, (size_t)n);
	BIO_free(bio);
	return s;
}

static void pem_refused(const char *pem, int want, const char *says)
{
	struct kw_auth_keyset *ks = NULL;
	char err[KW_AUTH_ERR_BYTES] = "";

	assert_int_equal(kw_auth_keyset_new(&ks), 0);
	assert_int_equal(kw_auth_keyset_add_pem(ks, pem, strlen(pem), NULL, err, sizeof(err)),
	                 want);
	if (strstr(err, says) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, says);
	assert_int_equal(kw_auth_keyset_count(ks), 0);
	kw_auth_keyset_free(ks);
}

void test_keyset_pem_refusals(void **state)
{
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	char *priv = pem_of(t_fx.es256.pkey, true), *weak = pem_of(small, false);
	char *edp = pem_of(ed, false), *k1p = pem_of(k1, false), *two = NULL, *broken;
	struct kw_auth_keyset *ks = NULL;
	char err[KW_AUTH_ERR_BYTES] = "";

	pem_refused(priv, KW_ERR_UNSUPPORTED, "private key");
	pem_refused(weak, KW_ERR_UNSUPPORTED, "RSA key size");
	pem_refused(edp, KW_ERR_UNSUPPORTED, "neither RSA nor EC");
	pem_refused(k1p, KW_ERR_UNSUPPORTED, "P-256, P-384 or P-521");
	pem_refused("not a key", KW_ERR_INVALID, "no PEM block");
	broken = strdup(t_fx.rs.pem);
	broken[40] = '*';
	pem_refused(broken, KW_ERR_INVALID, "does not decode");
	/* A good block then a bad one: nothing is added. */
	assert_true(asprintf(&two, "%s%s", t_fx.rs.pem, priv) > 0);
	pem_refused(two, KW_ERR_UNSUPPORTED, "PEM block 2");
	free(two);
	/* Several blocks, and an explicit kid. */
	assert_true(asprintf(&two, "%s\n%s", t_fx.rs.pem, t_fx.es384.pem) > 0);
	assert_int_equal(kw_auth_keyset_new(&ks), 0);
	assert_int_equal(
	    kw_auth_keyset_add_pem(ks, two, strlen(two), "cluster-1", err, sizeof(err)), 0);
	assert_int_equal(kw_auth_keyset_count(ks), 2);
	assert_string_equal(kw_auth_keyset_kid(ks, 1), "cluster-1");
	kw_auth_keyset_free(ks);
	free(two);
	free(broken);
	free(priv);
	free(weak);
	free(edp);
	free(k1p);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(k1);
}

void test_keyset_shared_is_frozen(void **state)
{
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.rs), *ref;
	char err[KW_AUTH_ERR_BYTES] = "";
	const char *pem = t_fx.es256.pem;

	ref = kw_auth_keyset_ref(ks);
	assert_ptr_equal(ref, ks);
	assert_int_equal(kw_auth_keyset_add_pem(ks, pem, strlen(pem), NULL, err, sizeof(err)),
	                 KW_ERR_INVALID);
	assert_non_null(strstr(err, "shared"));
	assert_int_equal(kw_auth_keyset_add_jwks(ks, t_fx.es256.jwks, strlen(t_fx.es256.jwks), NULL,
	                                         err, sizeof(err)),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_auth_keyset_count(ks), 1);
	/* Back to one owner, it may grow again. */
	kw_auth_keyset_free(ref);
	assert_int_equal(kw_auth_keyset_add_pem(ks, pem, strlen(pem), NULL, err, sizeof(err)), 0);
	assert_int_equal(kw_auth_keyset_count(ks), 2);
	kw_auth_keyset_free(ks);
}

void test_keyset_p521_loads_es512_refused(void **state)
{
	struct t_key k;
	struct kw_auth_keyset *ks;
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p, *h, *tok;

	/* P-521 keys appear in real JWKS and must not break the load, but
	 * ES512 is not among the algs keyward accepts. */
	t_key_make(&k, "P-521", "ES512");
	ks = t_keyset_jwks(&k);
	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	h = t_header("ES512", k.kid);
	tok = t_token(h, p, &k, "ES512", T_SIG_OK);
	t_expect_refused(ks, &o, tok, T_NOW, KW_AUTH_ALG_NOT_ALLOWED);
	free(p);
	free(h);
	free(tok);
	kw_auth_keyset_free(ks);
	t_key_cleanup(&k);
}
