/*
 * mint.c: what the auth tests sign with — fresh RSA and EC keys, their PEM
 * and JWKS forms, and tokens in exactly the shape kube-apiserver issues
 * (header {"alg","kid"}, sorted claims with the nested "kubernetes.io"
 * claim), plus the deliberately wrong signatures the refusal tests need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../../../src/crypto/crypto.h"
#include "auth_tests.h"

static char *b64url(const void *p, size_t n)
{
	char *s = NULL;

	assert_int_equal(kw_base64url_encode(p, n, &s), 0);
	return s;
}

static char *bn_b64url(const BIGNUM *bn)
{
	unsigned char buf[1024];
	int n = BN_bn2bin(bn, buf);

	assert_true(n > 0);
	return b64url(buf, (size_t)n);
}

static char *pubkey_pem(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *s;
	long n;

	assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &p);
	s = strndup(p, (size_t)n);
	BIO_free(bio);
	return s;
}

static json_t *jwk_rsa(EVP_PKEY *pkey)
{
	BIGNUM *n = NULL, *e = NULL;
	char *sn, *se;
	json_t *j;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e), 1);
	sn = bn_b64url(n);
	se = bn_b64url(e);
	j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", sn, "e", se);
	free(sn);
	free(se);
	BN_free(n);
	BN_free(e);
	return j;
}

static json_t *jwk_ec(EVP_PKEY *pkey, const char *crv)
{
	unsigned char pt[1 + 2 * 66];
	size_t len = 0, half;
	char *x, *y;
	json_t *j;

	assert_int_equal(
	    EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len),
	    1);
	assert_int_equal(pt[0], 0x04);
	half = (len - 1) / 2;
	x = b64url(pt + 1, half);
	y = b64url(pt + 1 + half, half);
	j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", crv, "x", x, "y", y);
	free(x);
	free(y);
	return j;
}

void t_key_make(struct t_key *k, const char *type, const char *alg)
{
	unsigned char *der = NULL;
	json_t *jwk, *doc;
	int n;

	memset(k, 0, sizeof(*k));
	if (strcmp(type, "RSA") == 0)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", type);
	assert_non_null(k->pkey);
	k->alg = alg;
	n = i2d_PUBKEY(k->pkey, &der);
	assert_true(n > 0);
	assert_int_equal(kw_auth_kid_derive(der, (size_t)n, k->kid), 0);
	OPENSSL_free(der);
	k->pem = pubkey_pem(k->pkey);
	jwk = strcmp(type, "RSA") == 0 ? jwk_rsa(k->pkey) : jwk_ec(k->pkey, type);
	json_object_set_new(jwk, "kid", json_string(k->kid));
	json_object_set_new(jwk, "use", json_string("sig"));
	json_object_set_new(jwk, "alg", json_string(alg));
	doc = json_pack("{s:[o]}", "keys", jwk);
	k->jwks = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
}

void t_key_cleanup(struct t_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->pem);
	free(k->jwks);
	memset(k, 0, sizeof(*k));
}

struct kw_auth_keyset *t_keyset_pem(const struct t_key *k)
{
	struct kw_auth_keyset *ks = NULL;
	char err[KW_AUTH_ERR_BYTES] = "";

	assert_int_equal(kw_auth_keyset_new(&ks), 0);
	if (kw_auth_keyset_add_pem(ks, k->pem, strlen(k->pem), NULL, err, sizeof(err)) != 0)
		fail_msg("PEM refused: %s", err);
	return ks;
}

struct kw_auth_keyset *t_keyset_jwks(const struct t_key *k)
{
	struct kw_auth_keyset *ks = NULL;
	struct kw_auth_jwks_stats st;
	char err[KW_AUTH_ERR_BYTES] = "";

	assert_int_equal(kw_auth_keyset_new(&ks), 0);
	if (kw_auth_keyset_add_jwks(ks, k->jwks, strlen(k->jwks), &st, err, sizeof(err)) != 0)
		fail_msg("JWKS refused: %s", err);
	assert_int_equal(st.added, 1);
	return ks;
}

static uint8_t *sign_digest(EVP_PKEY *pkey, const char *md, int pss_salt, const char *tbs,
                            size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *sig;
	size_t n = 0;

	assert_int_equal(EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, pkey, NULL), 1);
	if (pss_salt != -100) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt), 1);
	}
	assert_int_equal(EVP_DigestSign(ctx, NULL, &n, (const uint8_t *)tbs, strlen(tbs)), 1);
	sig = malloc(n);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const uint8_t *)tbs, strlen(tbs)), 1);
	EVP_MD_CTX_free(ctx);
	*siglen = n;
	return sig;
}

/* DER ECDSA-Sig-Value to JWS r || s, each half bytes. */
static uint8_t *der_to_raw(const uint8_t *der, size_t len, size_t half)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	uint8_t *raw = malloc(2 * half);

	assert_non_null(es);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)half), (int)half);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + half, (int)half), (int)half);
	ECDSA_SIG_free(es);
	return raw;
}

static uint8_t *sign_as(const struct t_key *k, const char *alg, enum t_sig how, const char *tbs,
                        size_t *siglen)
{
	bool b384 = strstr(alg, "384") != NULL, b512 = strstr(alg, "512") != NULL;
	const char *md = b512 ? "SHA512" : b384 ? "SHA384" : "SHA256";
	size_t half = b512 ? 66 : b384 ? 48 : 32, n = 0;
	uint8_t *der, *raw;

	switch (how) {
	case T_SIG_NONE:
		*siglen = 0;
		return NULL;
	case T_SIG_HMAC_PEM:
		raw = malloc(KW_HASH_MAX_BYTES);
		*siglen = KW_HASH_MAX_BYTES;
		assert_int_equal(kw_hmac(KW_HASH_SHA256, (const uint8_t *)k->pem, strlen(k->pem),
		                         (const uint8_t *)tbs, strlen(tbs), raw, siglen),
		                 0);
		return raw;
	case T_SIG_PSS_SALT0:
		return sign_digest(k->pkey, md, 0, tbs, siglen);
	default:
		break;
	}
	if (alg[0] == 'P')
		return sign_digest(k->pkey, md, RSA_PSS_SALTLEN_DIGEST, tbs, siglen);
	if (alg[0] == 'R')
		return sign_digest(k->pkey, md, -100, tbs, siglen);
	der = sign_digest(k->pkey, md, -100, tbs, &n);
	if (how == T_SIG_DER) {
		*siglen = n;
		return der;
	}
	raw = der_to_raw(der, n, half);
	free(der);
	*siglen = 2 * half;
	return raw;
}

char *t_token(const char *header, const char *payload, const struct t_key *k, const char *alg,
              enum t_sig how)
{
	char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
	char *tbs = NULL, *s, *tok = NULL;
	uint8_t *sig;
	size_t siglen = 0;

	assert_true(asprintf(&tbs, "%s.%s", h, p) > 0);
	sig = sign_as(k, alg, how, tbs, &siglen);
	s = siglen > 0 ? b64url(sig, siglen) : strdup("");
	assert_true(asprintf(&tok, "%s.%s", tbs, s) > 0);
	free(h);
	free(p);
	free(tbs);
	free(sig);
	free(s);
	return tok;
}

char *t_header(const char *alg, const char *kid)
{
	char *h = NULL;

	assert_true(asprintf(&h, "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid) > 0);
	return h;
}

void t_claims_default(struct t_claims *c)
{
	memset(c, 0, sizeof(*c));
	c->iat = T_NOW - 10;
	c->nbf = c->iat;
	c->exp = c->iat + 600;
	c->iss = T_ISS;
	c->aud = T_AUD;
	c->ns = "payments";
	c->sa = "api";
}

char *t_payload(const struct t_claims *c)
{
	char sub[256];
	json_t *k8s, *root;
	char *s;

	snprintf(sub, sizeof(sub), "system:serviceaccount:%s:%s", c->ns, c->sa);
	k8s = json_pack(
	    "{s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "namespace", c->ns, "node", "name",
	    "node-1.example.internal", "uid", "ceb6b98b-f46f-448d-8a2d-4e036c36a243", "pod", "name",
	    "api-57456bb9cb-bwzxh", "uid", "989f1a6e-8af7-4740-93d8-206f8daf9a84", "serviceaccount",
	    "name", c->sa, "uid", "8180de1d-6687-4024-8c6c-bb5d4700897a");
	root = json_pack("{s:[s], s:I, s:I, s:s, s:s, s:o, s:I, s:s}", "aud", c->aud, "exp",
	                 (json_int_t)c->exp, "iat", (json_int_t)c->iat, "iss", c->iss, "jti",
	                 "1b20f55e-e39a-4010-96e3-5bba8e300ae7", "kubernetes.io", k8s, "nbf",
	                 (json_int_t)c->nbf, "sub", sub);
	assert_non_null(root);
	if (c->pad != NULL)
		json_object_set_new(root, "pad", json_string(c->pad));
	s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	return s;
}

char *t_token_default(const struct t_key *k)
{
	struct t_claims c;
	char *h = t_header(k->alg, k->kid), *p, *tok;

	t_claims_default(&c);
	p = t_payload(&c);
	tok = t_token(h, p, k, k->alg, T_SIG_OK);
	free(h);
	free(p);
	return tok;
}

void t_opts(struct kw_auth_jwt_opts *o)
{
	static const char *const iss[] = {T_ISS};
	static const char *const aud[] = {T_AUD};

	kw_auth_jwt_opts_init(o);
	o->issuers = iss;
	o->nissuers = 1;
	o->audiences = aud;
	o->naudiences = 1;
}

void t_expect_refused(const struct kw_auth_keyset *ks, const struct kw_auth_jwt_opts *o,
                      const char *token, int64_t now, enum kw_auth_reason want)
{
	struct kw_auth_jwt *jwt = NULL;
	enum kw_auth_reason why = KW_AUTH_OK;
	int r = kw_auth_jwt_verify(ks, o, token, strlen(token), now, &jwt, &why);

	if (r != KW_ERR_AUTH || why != want)
		print_error("got %d (%s), want %s\n", r, kw_auth_reason_code(why),
		            kw_auth_reason_code(want));
	assert_int_equal(r, KW_ERR_AUTH);
	assert_int_equal(why, want);
	assert_null(jwt);
}

struct kw_auth_jwt *t_expect_valid(const struct kw_auth_keyset *ks,
                                   const struct kw_auth_jwt_opts *o, const char *token, int64_t now)
{
	struct kw_auth_jwt *jwt = NULL;
	enum kw_auth_reason why = KW_AUTH_OK;
	int r = kw_auth_jwt_verify(ks, o, token, strlen(token), now, &jwt, &why);

	if (r != 0)
		print_error("refused: %d (%s)\n", r, kw_auth_reason_code(why));
	assert_int_equal(r, 0);
	assert_int_equal(why, KW_AUTH_OK);
	assert_non_null(jwt);
	return jwt;
}

char *t_vector_read(const char *rel, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/k8s-tokens/%s", KW_VECTORS_DIR, rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}
