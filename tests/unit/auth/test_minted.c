/*
 * test_minted.c: tokens minted here with OpenSSL in Kubernetes' exact shape
 * (RS256, PS256, ES256, ES384) — valid ones, and one of each way to get a
 * token wrong, each refused with its own reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_tests.h"

static const struct t_key *signers(size_t i)
{
	const struct t_key *all[] = {&t_fx.rs, &t_fx.ps, &t_fx.es256, &t_fx.es384};

	return i < KW_ARRAY_LEN(all) ? all[i] : NULL;
}

/* A token for k with header {alg, kid} over payload, signed as k->alg. */
static char *mint(const struct t_key *k, const char *alg, const char *kid, const char *payload,
                  enum t_sig how)
{
	char *h = t_header(alg, kid), *tok = t_token(h, payload, k, k->alg, how);

	free(h);
	return tok;
}

static char *mint_claims(const struct t_key *k, const struct t_claims *c)
{
	char *p = t_payload(c), *tok = mint(k, k->alg, k->kid, p, T_SIG_OK);

	free(p);
	return tok;
}

/* The default payload with one member replaced (value is JSON text). */
static char *payload_with(const char *name, const char *value)
{
	struct t_claims c;
	char *p, *s;
	json_t *j, *v;

	t_claims_default(&c);
	p = t_payload(&c);
	j = json_loads(p, 0, NULL);
	if (value == NULL) {
		json_object_del(j, name);
	} else {
		v = json_loads(value, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		json_object_set_new(j, name, v);
	}
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	free(p);
	return s;
}

/* Refused with want by both the PEM and the JWKS form of k. */
static void refused_both(const struct t_key *k, const struct kw_auth_jwt_opts *o, const char *tok,
                         int64_t now, enum kw_auth_reason want)
{
	struct kw_auth_keyset *pem = t_keyset_pem(k), *jwks = t_keyset_jwks(k);

	t_expect_refused(pem, o, tok, now, want);
	t_expect_refused(jwks, o, tok, now, want);
	kw_auth_keyset_free(pem);
	kw_auth_keyset_free(jwks);
}

static void valid_with(struct kw_auth_keyset *ks, const struct t_key *k, const char *tok)
{
	struct kw_auth_jwt_opts o;
	struct kw_auth_jwt *jwt;
	enum kw_auth_reason why;
	struct kw_auth_k8s id;

	t_opts(&o);
	jwt = t_expect_valid(ks, &o, tok, T_NOW);
	assert_string_equal(kw_auth_jwt_alg(jwt), k->alg);
	assert_string_equal(kw_auth_jwt_kid(jwt), k->kid);
	assert_string_equal(kw_auth_jwt_key_kid(jwt), k->kid);
	assert_string_equal(kw_auth_jwt_iss(jwt), T_ISS);
	assert_int_equal(kw_auth_jwt_exp(jwt), T_NOW - 10 + 600);
	assert_int_equal(kw_auth_jwt_iat(jwt), T_NOW - 10);
	assert_int_equal(kw_auth_k8s_from_jwt(jwt, &id, &why), 0);
	assert_string_equal(id.identity, "k8s:payments/api");
	assert_string_equal(id.pod_name, "api-57456bb9cb-bwzxh");
	assert_string_equal(id.pod_uid, "989f1a6e-8af7-4740-93d8-206f8daf9a84");
	assert_string_equal(id.node_name, "node-1.example.internal");
	assert_string_equal(id.service_account_uid, "8180de1d-6687-4024-8c6c-bb5d4700897a");
	assert_false(id.legacy);
	kw_auth_jwt_free(jwt);
}

void test_minted_valid(void **state)
{
	for (size_t i = 0; signers(i) != NULL; i++) {
		const struct t_key *k = signers(i);
		struct kw_auth_keyset *pem = t_keyset_pem(k), *jwks = t_keyset_jwks(k);
		char *tok = t_token_default(k);

		valid_with(pem, k, tok);
		valid_with(jwks, k, tok);
		free(tok);
		kw_auth_keyset_free(pem);
		kw_auth_keyset_free(jwks);
	}
}

/* Without a kid every key is tried: a key of the alg's type gives a bad
 * signature, any other type is not allowed for the alg. */
void test_minted_cross_keys(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	for (size_t i = 0; signers(i) != NULL; i++) {
		const struct t_key *k = signers(i);
		char *tok = mint(k, k->alg, "", p, T_SIG_OK);

		for (size_t j = 0; signers(j) != NULL; j++) {
			const struct t_key *other = signers(j);
			bool rsa_pair = k->alg[0] != 'E' && other->alg[0] != 'E';
			struct kw_auth_keyset *ks = t_keyset_pem(other);

			if (i == j) {
				kw_auth_jwt_free(t_expect_valid(ks, &o, tok, T_NOW));
			} else {
				t_expect_refused(ks, &o, tok, T_NOW,
				                 rsa_pair ? KW_AUTH_SIG_INVALID
				                          : KW_AUTH_ALG_KEY_MISMATCH);
			}
			kw_auth_keyset_free(ks);
		}
		free(tok);
	}
	free(p);
}

void test_minted_expired(void **state)
{
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.rs);
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *tok;

	t_opts(&o);
	t_claims_default(&c);
	tok = mint_claims(&t_fx.rs, &c);
	t_expect_refused(ks, &o, tok, c.exp + KW_AUTH_LEEWAY_DEFAULT, KW_AUTH_EXPIRED);
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok, c.exp + KW_AUTH_LEEWAY_DEFAULT - 1));
	/* Without leeway, exp itself is already too late (RFC 7519 4.1.4). */
	o.exp_leeway = 0;
	t_expect_refused(ks, &o, tok, c.exp, KW_AUTH_EXPIRED);
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok, c.exp - 1));
	free(tok);
	kw_auth_keyset_free(ks);
}

void test_minted_nbf_future(void **state)
{
	struct kw_auth_jwt_opts o;
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.es256);
	struct t_claims c;
	char *tok;

	t_opts(&o);
	t_claims_default(&c);
	c.nbf = T_NOW + 2 * KW_AUTH_LEEWAY_DEFAULT;
	tok = mint_claims(&t_fx.es256, &c);
	t_expect_refused(ks, &o, tok, T_NOW, KW_AUTH_NOT_YET_VALID);
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok, c.nbf - KW_AUTH_LEEWAY_DEFAULT));
	free(tok);
	kw_auth_keyset_free(ks);
}

void test_minted_iat_future(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *tok;

	t_opts(&o);
	t_claims_default(&c);
	c.nbf = T_NOW - 10;
	c.iat = T_NOW + 3600;
	c.exp = T_NOW + 7200;
	tok = mint_claims(&t_fx.rs, &c);
	refused_both(&t_fx.rs, &o, tok, T_NOW, KW_AUTH_ISSUED_IN_FUTURE);
	free(tok);
}

void test_minted_wrong_aud(void **state)
{
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.rs);
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *tok, *p, *tok_str;

	t_opts(&o);
	t_claims_default(&c);
	c.aud = "kubernetes.default.svc";
	tok = mint_claims(&t_fx.rs, &c);
	t_expect_refused(ks, &o, tok, T_NOW, KW_AUTH_AUD_MISMATCH);
	/* With no audience bound the same token is fine. */
	o.naudiences = 0;
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok, T_NOW));
	/* aud may also be a single string (RFC 7519 4.1.3). */
	t_opts(&o);
	p = payload_with("aud", "\"" T_AUD "\"");
	tok_str = mint(&t_fx.rs, "RS256", t_fx.rs.kid, p, T_SIG_OK);
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok_str, T_NOW));
	free(p);
	free(tok);
	free(tok_str);
	kw_auth_keyset_free(ks);
}

void test_minted_wrong_iss(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *tok;

	t_opts(&o);
	t_claims_default(&c);
	c.iss = "https://evil.example";
	tok = mint_claims(&t_fx.ps, &c);
	refused_both(&t_fx.ps, &o, tok, T_NOW, KW_AUTH_ISS_MISMATCH);
	free(tok);
}

void test_minted_unknown_kid(void **state)
{
	struct kw_auth_keyset *jwks = t_keyset_jwks(&t_fx.rs), *pem = t_keyset_pem(&t_fx.rs);
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p, *stranger, *renamed;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	stranger = mint(&t_fx.stranger, "RS256", "unknown-kid-1", p, T_SIG_OK);
	t_expect_refused(jwks, &o, stranger, T_NOW, KW_AUTH_KID_UNKNOWN);
	t_expect_refused(pem, &o, stranger, T_NOW, KW_AUTH_KID_UNKNOWN);
	/* The right key under another kid: a JWKS key is bound to its kid; a
	 * PEM key is static (Vault's pem_keys, managed clusters' own kids). */
	renamed = mint(&t_fx.rs, "RS256", "rotated-away", p, T_SIG_OK);
	t_expect_refused(jwks, &o, renamed, T_NOW, KW_AUTH_KID_UNKNOWN);
	kw_auth_jwt_free(t_expect_valid(pem, &o, renamed, T_NOW));
	free(p);
	free(stranger);
	free(renamed);
	kw_auth_keyset_free(jwks);
	kw_auth_keyset_free(pem);
}

void test_minted_alg_none(void **state)
{
	static const char *const spellings[] = {"none", "None", "NONE"};
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	for (size_t i = 0; i < KW_ARRAY_LEN(spellings); i++) {
		char *unsigned_tok = mint(&t_fx.rs, spellings[i], t_fx.rs.kid, p, T_SIG_NONE);
		char *signed_tok = mint(&t_fx.rs, spellings[i], t_fx.rs.kid, p, T_SIG_OK);

		refused_both(&t_fx.rs, &o, unsigned_tok, T_NOW, KW_AUTH_ALG_NONE);
		refused_both(&t_fx.rs, &o, signed_tok, T_NOW, KW_AUTH_ALG_NONE);
		free(unsigned_tok);
		free(signed_tok);
	}
	free(p);
}

void test_minted_hs256_public_key(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p, *tok;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	/* The alg-confusion forgery: the verifier's own public key as HMAC key. */
	tok = mint(&t_fx.rs, "HS256", t_fx.rs.kid, p, T_SIG_HMAC_PEM);
	refused_both(&t_fx.rs, &o, tok, T_NOW, KW_AUTH_ALG_NOT_ALLOWED);
	free(p);
	free(tok);
}

void test_minted_rs256_on_ec_key(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p, *tok, *es_on_rsa;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	/* Header names the EC key but says RS256; signed by an RSA key. */
	tok = mint(&t_fx.rs, "RS256", t_fx.es256.kid, p, T_SIG_OK);
	refused_both(&t_fx.es256, &o, tok, T_NOW, KW_AUTH_ALG_KEY_MISMATCH);
	/* And the other way round, and across curves. */
	es_on_rsa = mint(&t_fx.es256, "ES256", t_fx.rs.kid, p, T_SIG_OK);
	refused_both(&t_fx.rs, &o, es_on_rsa, T_NOW, KW_AUTH_ALG_KEY_MISMATCH);
	free(tok);
	tok = mint(&t_fx.es256, "ES256", t_fx.es384.kid, p, T_SIG_OK);
	refused_both(&t_fx.es384, &o, tok, T_NOW, KW_AUTH_ALG_KEY_MISMATCH);
	free(p);
	free(tok);
	free(es_on_rsa);
}

/* tok with its part i (0 header, 1 payload, 2 signature) replaced. */
static char *part_replace(const char *tok, int i, const char *with)
{
	const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
	char *out = NULL;

	if (i == 0)
		assert_true(asprintf(&out, "%s%s", with, d1) > 0);
	else if (i == 1)
		assert_true(asprintf(&out, "%.*s.%s%s", (int)(d1 - tok), tok, with, d2) > 0);
	else
		assert_true(asprintf(&out, "%.*s.%s", (int)(d2 - tok), tok, with) > 0);
	return out;
}

static uint8_t *sig_of(const char *tok, size_t *n)
{
	const char *s = strrchr(tok, '.') + 1;
	uint8_t *sig = NULL;

	assert_int_equal(kw_base64url_decode(s, strlen(s), &sig, n), 0);
	return sig;
}

static char *with_sig(const char *tok, const uint8_t *sig, size_t n)
{
	char *s = NULL, *out;

	assert_int_equal(kw_base64url_encode(sig, n, &s), 0);
	out = part_replace(tok, 2, s);
	free(s);
	return out;
}

void test_minted_payload_edited(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;

	t_opts(&o);
	t_claims_default(&c);
	c.ns = "kube-system";
	c.sa = "admin";
	for (size_t i = 0; signers(i) != NULL; i++) {
		const struct t_key *k = signers(i);
		char *tok = t_token_default(k), *p = t_payload(&c), *p64 = NULL, *edited;

		assert_int_equal(kw_base64url_encode((const uint8_t *)p, strlen(p), &p64), 0);
		edited = part_replace(tok, 1, p64);
		refused_both(k, &o, edited, T_NOW, KW_AUTH_SIG_INVALID);
		free(tok);
		free(p);
		free(p64);
		free(edited);
	}
}

void test_minted_signature_truncated(void **state)
{
	struct kw_auth_jwt_opts o;

	t_opts(&o);
	for (size_t i = 0; signers(i) != NULL; i++) {
		const struct t_key *k = signers(i);
		char *tok = t_token_default(k), *cut, *gone;
		size_t n;
		uint8_t *sig = sig_of(tok, &n);

		cut = with_sig(tok, sig, n - 1);
		refused_both(k, &o, cut, T_NOW, KW_AUTH_SIG_LENGTH);
		gone = part_replace(tok, 2, "");
		refused_both(k, &o, gone, T_NOW, KW_AUTH_SIG_LENGTH);
		free(sig);
		free(tok);
		free(cut);
		free(gone);
	}
}

void test_minted_too_large(void **state)
{
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.es384);
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *pad = malloc(64 * 1024 + 1), *tok;

	memset(pad, 'a', 64 * 1024);
	pad[64 * 1024] = '\0';
	t_opts(&o);
	t_claims_default(&c);
	c.pad = pad;
	tok = mint_claims(&t_fx.es384, &c);
	assert_true(strlen(tok) > 64 * 1024);
	t_expect_refused(ks, &o, tok, T_NOW, KW_AUTH_TOO_LARGE);
	/* The size alone refused it: a larger limit lets the same token in. */
	o.max_token_bytes = 128 * 1024;
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok, T_NOW));
	free(pad);
	free(tok);
	kw_auth_keyset_free(ks);
}

static char b64url_flip_low_bit(char c)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *p = strchr(alpha, c);

	assert_non_null(p);
	return alpha[(p - alpha) ^ 1];
}

void test_minted_bad_base64url(void **state)
{
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.rs);
	struct kw_auth_jwt_opts o;
	char *tok = t_token_default(&t_fx.rs);
	const char *d1 = strchr(tok, '.');
	char *bad[5] = {NULL};
	size_t n = strlen(tok);

	t_opts(&o);
	/* Padding on the header. */
	assert_true(asprintf(&bad[0], "%.*s==%s", (int)(d1 - tok), tok, d1) > 0);
	/* The standard alphabet's '+' and '/' in the payload. */
	bad[1] = strdup(tok);
	bad[1][d1 - tok + 1] = '+';
	bad[2] = strdup(tok);
	bad[2][d1 - tok + 2] = '/';
	/* Whitespace. */
	assert_true(asprintf(&bad[3], "%.*s %s", (int)(d1 - tok + 5), tok, d1 + 5) > 0);
	/* Non-zero unused bits in the last signature character (342 chars
	 * for 256 bytes leave 4 unused bits): a second spelling of one value. */
	bad[4] = strdup(tok);
	bad[4][n - 1] = b64url_flip_low_bit(bad[4][n - 1]);
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		t_expect_refused(ks, &o, bad[i], T_NOW, KW_AUTH_BAD_BASE64);
		free(bad[i]);
	}
	free(tok);
	kw_auth_keyset_free(ks);
}

void test_minted_duplicate_keys(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p, *dup, *tok, *h = NULL, *htok;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	/* A second sub: one parser might read the first, another the last. */
	assert_true(
	    asprintf(&dup, "{\"sub\":\"system:serviceaccount:kube-system:admin\",%s", p + 1) > 0);
	tok = mint(&t_fx.es256, "ES256", t_fx.es256.kid, dup, T_SIG_OK);
	refused_both(&t_fx.es256, &o, tok, T_NOW, KW_AUTH_DUPLICATE_KEY);
	/* Inside the nested kubernetes.io claim too. */
	free(dup);
	dup = strdup(p);
	{
		char *ns = strstr(dup, "\"namespace\":\"payments\"");
		char *fixed = NULL;

		assert_non_null(ns);
		assert_true(asprintf(&fixed, "%.*s\"namespace\":\"kube-system\",%s",
		                     (int)(ns - dup), dup, ns) > 0);
		free(tok);
		tok = mint(&t_fx.es256, "ES256", t_fx.es256.kid, fixed, T_SIG_OK);
		refused_both(&t_fx.es256, &o, tok, T_NOW, KW_AUTH_DUPLICATE_KEY);
		free(fixed);
	}
	/* And in the header. */
	assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"%s\"}",
	                     t_fx.es256.kid) > 0);
	htok = t_token(h, p, &t_fx.es256, "ES256", T_SIG_OK);
	refused_both(&t_fx.es256, &o, htok, T_NOW, KW_AUTH_DUPLICATE_KEY);
	free(p);
	free(dup);
	free(tok);
	free(h);
	free(htok);
}

void test_minted_sub_not_string(void **state)
{
	static const char *const subs[] = {"42", "null", "[\"system:serviceaccount:a:b\"]",
	                                   "{\"name\":\"x\"}", NULL};
	struct kw_auth_jwt_opts o;

	t_opts(&o);
	for (size_t i = 0; i < KW_ARRAY_LEN(subs); i++) {
		char *p = payload_with("sub", subs[i]);
		char *tok = mint(&t_fx.ps, "PS256", t_fx.ps.kid, p, T_SIG_OK);

		refused_both(&t_fx.ps, &o, tok, T_NOW, KW_AUTH_SUB_NOT_STRING);
		free(p);
		free(tok);
	}
}

void test_minted_es256_der(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	for (size_t i = 2; i < 4; i++) {
		const struct t_key *k = signers(i);
		char *tok = mint(k, k->alg, k->kid, p, T_SIG_DER);

		refused_both(k, &o, tok, T_NOW, KW_AUTH_SIG_DER);
		free(tok);
	}
	free(p);
}

static void header_refused(const char *header, enum kw_auth_reason want)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p, *tok;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	tok = t_token(header, p, &t_fx.rs, "RS256", T_SIG_OK);
	refused_both(&t_fx.rs, &o, tok, T_NOW, want);
	free(p);
	free(tok);
}

void test_minted_header_checks(void **state)
{
	struct kw_auth_keyset *empty = NULL;
	struct kw_auth_jwt_opts o;
	char *tok = t_token_default(&t_fx.rs), *four = NULL;

	header_refused("{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", KW_AUTH_CRIT);
	header_refused("{\"alg\":\"ES512\"}", KW_AUTH_ALG_NOT_ALLOWED);
	header_refused("{\"alg\":\"rs256\"}", KW_AUTH_ALG_NOT_ALLOWED);
	header_refused("{\"alg\":\"RS384\"}", KW_AUTH_ALG_NOT_ALLOWED);
	header_refused("{\"alg\":\"RS256\",\"kid\":7}", KW_AUTH_BAD_HEADER);
	header_refused("{\"kid\":\"x\"}", KW_AUTH_BAD_HEADER);
	header_refused("[\"RS256\"]", KW_AUTH_BAD_HEADER);
	header_refused("{\"alg\":\"RS256\"", KW_AUTH_BAD_HEADER);
	t_opts(&o);
	assert_true(asprintf(&four, "%s.e30", tok) > 0);
	refused_both(&t_fx.rs, &o, four, T_NOW, KW_AUTH_MALFORMED);
	*strrchr(tok, '.') = '\0';
	refused_both(&t_fx.rs, &o, tok, T_NOW, KW_AUTH_MALFORMED);
	refused_both(&t_fx.rs, &o, "", T_NOW, KW_AUTH_MALFORMED);
	refused_both(&t_fx.rs, &o, ".e30.AAAA", T_NOW, KW_AUTH_MALFORMED);
	free(tok);
	tok = t_token_default(&t_fx.rs);
	assert_int_equal(kw_auth_keyset_new(&empty), 0);
	t_expect_refused(empty, &o, tok, T_NOW, KW_AUTH_NO_KEYS);
	kw_auth_keyset_free(empty);
	free(four);
	free(tok);
}

static void payload_refused(const char *payload, enum kw_auth_reason want)
{
	struct kw_auth_jwt_opts o;
	char *tok = mint(&t_fx.es384, "ES384", t_fx.es384.kid, payload, T_SIG_OK);

	t_opts(&o);
	refused_both(&t_fx.es384, &o, tok, T_NOW, want);
	free(tok);
}

static void claim_refused(const char *name, const char *value, enum kw_auth_reason want)
{
	char *p = payload_with(name, value);

	payload_refused(p, want);
	free(p);
}

void test_minted_claim_types(void **state)
{
	struct kw_auth_keyset *ks = t_keyset_pem(&t_fx.es384);
	struct kw_auth_jwt_opts o;
	char *p, *tok;

	payload_refused("[1,2]", KW_AUTH_BAD_PAYLOAD);
	payload_refused("not json", KW_AUTH_BAD_PAYLOAD);
	claim_refused("exp", "\"1700000590\"", KW_AUTH_BAD_TIME);
	claim_refused("exp", "-1", KW_AUTH_BAD_TIME);
	claim_refused("nbf", "true", KW_AUTH_BAD_TIME);
	claim_refused("iat", "1e300", KW_AUTH_BAD_TIME);
	claim_refused("exp", NULL, KW_AUTH_EXP_MISSING);
	claim_refused("iss", "7", KW_AUTH_BAD_CLAIM);
	claim_refused("iss", NULL, KW_AUTH_ISS_MISMATCH);
	claim_refused("aud", "7", KW_AUTH_BAD_CLAIM);
	claim_refused("aud", "[\"keyward\",7]", KW_AUTH_BAD_CLAIM);
	claim_refused("aud", "[]", KW_AUTH_AUD_MISMATCH);
	claim_refused("aud", NULL, KW_AUTH_AUD_MISMATCH);
	/* A real NumericDate is fine (RFC 7519 section 2 allows fractions). */
	t_opts(&o);
	p = payload_with("exp", "1700000590.5");
	tok = mint(&t_fx.es384, "ES384", t_fx.es384.kid, p, T_SIG_OK);
	kw_auth_jwt_free(t_expect_valid(ks, &o, tok, T_NOW));
	free(p);
	free(tok);
	kw_auth_keyset_free(ks);
}

void test_minted_pss_salt(void **state)
{
	struct kw_auth_jwt_opts o;
	struct t_claims c;
	char *p, *tok;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	/* RFC 7518 3.5: the salt is as long as the hash; any other is refused. */
	tok = mint(&t_fx.ps, "PS256", t_fx.ps.kid, p, T_SIG_PSS_SALT0);
	refused_both(&t_fx.ps, &o, tok, T_NOW, KW_AUTH_SIG_INVALID);
	free(p);
	free(tok);
}

void test_minted_key_alg_restricts(void **state)
{
	struct kw_auth_keyset *jwks = t_keyset_jwks(&t_fx.rs), *pem = t_keyset_pem(&t_fx.rs);
	struct kw_auth_jwt_opts o;
	struct t_key as_ps = t_fx.rs;
	struct t_claims c;
	char *p, *tok;

	t_opts(&o);
	t_claims_default(&c);
	p = t_payload(&c);
	/* The RS256 key's JWKS entry says "alg":"RS256": PS256 with the same
	 * key is refused there, accepted by the PEM form (no alg given). */
	as_ps.alg = "PS256";
	tok = mint(&as_ps, "PS256", t_fx.rs.kid, p, T_SIG_OK);
	t_expect_refused(jwks, &o, tok, T_NOW, KW_AUTH_ALG_KEY_MISMATCH);
	kw_auth_jwt_free(t_expect_valid(pem, &o, tok, T_NOW));
	free(p);
	free(tok);
	kw_auth_keyset_free(jwks);
	kw_auth_keyset_free(pem);
}

void test_minted_reasons_distinct(void **state)
{
	size_t n = (size_t)KW_AUTH_K8S_SUB_MISMATCH + 1;

	for (size_t i = 0; i < n; i++) {
		assert_true(strlen(kw_auth_reason_code(i)) > 0);
		assert_true(strlen(kw_auth_reason_str(i)) > 0);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(kw_auth_reason_code(i), kw_auth_reason_code(j));
			assert_string_not_equal(kw_auth_reason_str(i), kw_auth_reason_str(j));
		}
	}
	assert_string_equal(kw_auth_reason_code(n), "unknown");
	assert_string_equal(kw_auth_reason_str(KW_AUTH_EXPIRED), "token expired");
	assert_string_equal(kw_auth_reason_str(KW_AUTH_AUD_MISMATCH), "audience mismatch");
	assert_string_equal(kw_auth_reason_str(KW_AUTH_SIG_INVALID), "signature invalid");
	assert_string_equal(kw_auth_reason_str(KW_AUTH_ALG_KEY_MISMATCH),
	                    "alg not allowed for this key");
}

/* Refused with KW_ERR_AUTH: any change to a signed token's text changes the
 * signing input, the signature, or makes the encoding invalid. */
static void expect_any_refusal(const struct kw_auth_keyset *ks, const char *tok, size_t len)
{
	struct kw_auth_jwt_opts o;
	struct kw_auth_jwt *jwt = NULL;
	enum kw_auth_reason why = KW_AUTH_OK;

	t_opts(&o);
	assert_int_equal(kw_auth_jwt_verify(ks, &o, tok, len, T_NOW, &jwt, &why), KW_ERR_AUTH);
	assert_null(jwt);
	assert_int_not_equal(why, KW_AUTH_OK);
}

void test_minted_mutations(void **state)
{
	static const char subst[] = {'A', 'f', '0', '-', '_', '.', '=', '+', ' ', '\0'};

	for (size_t k = 0; k < 3; k++) {
		const struct t_key *key = signers(k == 0 ? 0 : k + 1);
		struct kw_auth_keyset *ks = t_keyset_jwks(key);
		char *tok = t_token_default(key), *mut = strdup(tok);
		size_t n = strlen(tok);

		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < sizeof(subst); j++) {
				if (subst[j] == tok[i])
					continue;
				mut[i] = subst[j];
				expect_any_refusal(ks, mut, n);
			}
			mut[i] = tok[i];
			expect_any_refusal(ks, tok, i); /* every proper prefix */
		}
		free(mut);
		free(tok);
		kw_auth_keyset_free(ks);
	}
}
