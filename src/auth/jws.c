/*
 * jws.c: JWS compact serialization (RFC 7515) — splitting, strict base64url,
 * the JOSE header, the alg table, choosing keys by kid and type, and the
 * signature check — and kw_auth_jwt_verify, which runs them in order and
 * hands the payload to the claims checks in jwt.c.
 *
 * The order is the defence: sizes and syntax first, then the header, then
 * the signature with a key whose type the alg must match; only a payload
 * that verified is ever parsed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "auth_int.h"

/*
 * RFC 7518 section 3.1, restricted to what kube-apiserver and the OIDC
 * issuers we serve emit. HS* is absent on purpose: with a public key as the
 * "secret" anyone could forge (the classic alg confusion).
 */
static const struct auth_alg auth_algs[] = {
    {"RS256", AUTH_KEY_RSA, false, "SHA256", 0},
    {"PS256", AUTH_KEY_RSA, true, "SHA256", 0},
    {"ES256", AUTH_KEY_P256, false, "SHA256", 32},
    {"ES384", AUTH_KEY_P384, false, "SHA384", 48},
};

const struct auth_alg *auth_alg_find(const char *name)
{
	/* alg is case-sensitive (RFC 7515 section 4.1.1). */
	for (size_t i = 0; i < KW_ARRAY_LEN(auth_algs); i++)
		if (strcmp(name, auth_algs[i].name) == 0)
			return &auth_algs[i];
	return NULL;
}

bool auth_key_allows(const struct auth_key *k, const struct auth_alg *a)
{
	return k->kind == a->kind && (k->alg == NULL || strcmp(k->alg, a->name) == 0);
}

/* ---- compact serialization ---- */

struct jws_parts {
	const char *h, *p, *s; /* header, payload, signature (base64url) */
	size_t hlen, plen, slen;
};

static bool b64url_charset(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/*
 * Three parts, the signature possibly empty (so that an unsigned token is
 * refused as alg none, the clearer reason), each in the base64url alphabet
 * without padding (RFC 7515 section 2: no '=', no whitespace).
 */
static int jws_split(const char *tok, size_t len, size_t max, struct jws_parts *jp,
                     enum kw_auth_reason *why)
{
	const char *d1, *d2;

	if (len > max) {
		*why = KW_AUTH_TOO_LARGE;
		return KW_ERR_AUTH;
	}
	d1 = memchr(tok, '.', len);
	d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL) {
		*why = KW_AUTH_MALFORMED;
		return KW_ERR_AUTH;
	}
	jp->h = tok;
	jp->hlen = (size_t)(d1 - tok);
	jp->p = d1 + 1;
	jp->plen = (size_t)(d2 - jp->p);
	jp->s = d2 + 1;
	jp->slen = len - (size_t)(jp->s - tok);
	if (jp->hlen == 0 || jp->plen == 0) {
		*why = KW_AUTH_MALFORMED;
		return KW_ERR_AUTH;
	}
	if (!b64url_charset(jp->h, jp->hlen) || !b64url_charset(jp->p, jp->plen) ||
	    !b64url_charset(jp->s, jp->slen)) {
		*why = KW_AUTH_BAD_BASE64;
		return KW_ERR_AUTH;
	}
	return 0;
}

/* Decode a part already checked for its alphabet; non-canonical tails refused. */
static int part_decode(const char *s, size_t n, uint8_t **out, size_t *outlen,
                       enum kw_auth_reason *why)
{
	int r;

	if (n == 0) {
		*out = NULL;
		*outlen = 0;
		return 0;
	}
	r = kw_base64url_decode(s, n, out, outlen);
	if (r == KW_ERR_BASE64) {
		*why = KW_AUTH_BAD_BASE64;
		return KW_ERR_AUTH;
	}
	return r;
}

static void part_free(uint8_t *p, size_t n)
{
	if (p != NULL)
		kw_wipe(p, n);
	free(p);
}

/* ---- header ---- */

static int header_fields(const json_t *h, struct kw_auth_jwt *jwt, enum kw_auth_reason *why)
{
	const json_t *alg = json_object_get(h, "alg"), *kid = json_object_get(h, "kid");

	*why = KW_AUTH_BAD_HEADER;
	if (!json_is_string(alg) || (kid != NULL && !json_is_string(kid)))
		return KW_ERR_AUTH;
	if (kid != NULL && json_string_length(kid) > KW_AUTH_KID_MAX)
		return KW_ERR_AUTH;
	/* RFC 7515 4.1.11: we understand no extension, so crit is refused. */
	if (json_object_get(h, "crit") != NULL) {
		*why = KW_AUTH_CRIT;
		return KW_ERR_AUTH;
	}
	*why = KW_AUTH_OK;
	jwt->alg = kw_strdup(json_string_value(alg));
	jwt->kid = kw_strdup(kid != NULL ? json_string_value(kid) : "");
	return jwt->alg != NULL && jwt->kid != NULL ? 0 : KW_ERR_NOMEM;
}

static int jws_header(const struct jws_parts *jp, struct kw_auth_jwt *jwt, enum kw_auth_reason *why)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	json_t *h = NULL;
	bool dup = false;
	int r;

	r = part_decode(jp->h, jp->hlen, &raw, &rawlen, why);
	if (r != 0)
		goto out;
	r = auth_json_object(raw, rawlen, &h, &dup);
	if (r == KW_ERR_INVALID) {
		*why = dup ? KW_AUTH_DUPLICATE_KEY : KW_AUTH_BAD_HEADER;
		r = KW_ERR_AUTH;
	}
	if (r != 0)
		goto out;
	r = header_fields(h, jwt, why);
out:
	json_decref(h);
	part_free(raw, rawlen);
	return r;
}

/* The header's alg, if we accept it at all (before any key is looked at). */
static int alg_accept(const char *name, const struct auth_alg **out, enum kw_auth_reason *why)
{
	const struct auth_alg *a = auth_alg_find(name);

	if (a == NULL) {
		/* "none" in any case: RFC 7518 3.6 tokens, and their spelling variants. */
		*why = strcasecmp(name, "none") == 0 ? KW_AUTH_ALG_NONE : KW_AUTH_ALG_NOT_ALLOWED;
		return KW_ERR_AUTH;
	}
	*out = a;
	return 0;
}

/* ---- signature ---- */

/* JWS ECDSA is r || s, each exactly half (RFC 7518 3.4); OpenSSL wants DER. */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t half, unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
	int n, ret = KW_ERR_NOMEM;

	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by es now */
	n = i2d_ECDSA_SIG(es, der);
	if (n <= 0)
		goto out;
	*derlen = (size_t)n;
	ret = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ret;
}

static bool sig_length_ok(const struct auth_key *k, const struct auth_alg *a, size_t siglen)
{
	/* RFC 8017 8.2.2 step 1: an RSA signature is exactly the modulus size. */
	if (a->ec_half == 0)
		return siglen == (size_t)EVP_PKEY_get_size(k->pkey);
	return siglen == 2 * a->ec_half;
}

static bool digest_verify(EVP_PKEY *pkey, const struct auth_alg *a, const uint8_t *tbs,
                          size_t tbslen, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (md == NULL || EVP_DigestVerifyInit_ex(md, &pctx, a->md, NULL, NULL, pkey, NULL) != 1)
		goto out;
	/* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash. */
	if (a->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	               EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, a->md, NULL) != 1 ||
	               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	ok = EVP_DigestVerify(md, sig, siglen, tbs, tbslen) == 1;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	return ok;
}

static int key_verify(const struct auth_key *k, const struct auth_alg *a, const uint8_t *tbs,
                      size_t tbslen, const uint8_t *sig, size_t siglen, bool *valid)
{
	unsigned char *der = NULL;
	size_t derlen = 0;
	int r;

	if (a->ec_half == 0) {
		*valid = digest_verify(k->pkey, a, tbs, tbslen, sig, siglen);
		return 0;
	}
	r = ecdsa_raw_to_der(sig, a->ec_half, &der, &derlen);
	if (r != 0)
		return r;
	*valid = digest_verify(k->pkey, a, tbs, tbslen, der, derlen);
	OPENSSL_free(der);
	return 0;
}

/* Why no candidate could even try: a DER ECDSA signature, or a bad length. */
static enum kw_auth_reason sig_shape_reason(const struct auth_alg *a, const uint8_t *sig,
                                            size_t siglen)
{
	const unsigned char *p = sig;
	ECDSA_SIG *es;
	bool der;

	if (a->ec_half == 0 || siglen == 0)
		return KW_AUTH_SIG_LENGTH;
	es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
	der = es != NULL && p == sig + siglen;
	ECDSA_SIG_free(es);
	ERR_clear_error();
	return der ? KW_AUTH_SIG_DER : KW_AUTH_SIG_LENGTH;
}

/*
 * Try the keys the kid names (every key when kid is empty) plus the static
 * PEM keys, and of those only keys whose type and curve the alg needs. The
 * reason on failure is the first check that left no key: the kid, then the
 * type, then the length, then the signature.
 */
static int keyset_verify(const struct kw_auth_keyset *ks, const struct auth_alg *a, const char *kid,
                         const uint8_t *tbs, size_t tbslen, const uint8_t *sig, size_t siglen,
                         const struct auth_key **used, enum kw_auth_reason *why)
{
	bool have_kid = kid[0] != '\0';
	size_t by_alg = 0, by_len = 0;
	int r;

	for (size_t i = 0; i < ks->nkeys; i++) {
		const struct auth_key *k = &ks->keys[i];
		bool valid = false;

		if (have_kid && !k->is_static && strcmp(k->kid, kid) != 0)
			continue;
		if (!auth_key_allows(k, a))
			continue;
		by_alg++;
		if (!sig_length_ok(k, a, siglen))
			continue;
		by_len++;
		r = key_verify(k, a, tbs, tbslen, sig, siglen, &valid);
		if (r != 0)
			return r;
		if (valid) {
			*used = k;
			return 0;
		}
	}
	if (ks->nkeys == 0)
		*why = KW_AUTH_NO_KEYS;
	else if (have_kid && !kw_auth_keyset_has_kid(ks, kid))
		*why = KW_AUTH_KID_UNKNOWN;
	else if (by_alg == 0)
		*why = KW_AUTH_ALG_KEY_MISMATCH;
	else if (by_len == 0)
		*why = sig_shape_reason(a, sig, siglen);
	else
		*why = KW_AUTH_SIG_INVALID;
	return KW_ERR_AUTH;
}

static int jws_signature_check(const struct kw_auth_keyset *ks, const struct jws_parts *jp,
                               struct kw_auth_jwt *jwt, enum kw_auth_reason *why)
{
	const struct auth_alg *a = NULL;
	const struct auth_key *used = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	/* The signing input is the ASCII "header.payload" exactly as sent. */
	size_t tbslen = jp->hlen + 1 + jp->plen;
	int r;

	r = alg_accept(jwt->alg, &a, why);
	if (r != 0)
		goto out;
	r = part_decode(jp->s, jp->slen, &sig, &siglen, why);
	if (r != 0)
		goto out;
	r = keyset_verify(ks, a, jwt->kid, (const uint8_t *)jp->h, tbslen, sig, siglen, &used, why);
	if (r != 0)
		goto out;
	jwt->key_kid = kw_strdup(used->kid);
	if (jwt->key_kid == NULL)
		r = KW_ERR_NOMEM;
out:
	part_free(sig, siglen);
	return r;
}

static int jws_payload(const struct jws_parts *jp, struct kw_auth_jwt *jwt,
                       enum kw_auth_reason *why)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	bool dup = false;
	int r;

	r = part_decode(jp->p, jp->plen, &raw, &rawlen, why);
	if (r != 0)
		goto out;
	r = auth_json_object(raw, rawlen, &jwt->claims, &dup);
	if (r == KW_ERR_INVALID) {
		*why = dup ? KW_AUTH_DUPLICATE_KEY : KW_AUTH_BAD_PAYLOAD;
		r = KW_ERR_AUTH;
	}
out:
	part_free(raw, rawlen);
	return r;
}

int kw_auth_jwt_verify(const struct kw_auth_keyset *ks, const struct kw_auth_jwt_opts *o,
                       const char *token, size_t len, int64_t now, struct kw_auth_jwt **out,
                       enum kw_auth_reason *why)
{
	struct kw_auth_jwt *jwt = NULL;
	struct jws_parts jp;
	int r = KW_ERR_INVALID;

	*why = KW_AUTH_OK;
	if (ks == NULL || o == NULL || token == NULL || out == NULL ||
	    auth_jwt_opts_check(o) != 0 || now < 0 || now > AUTH_TIME_MAX)
		goto out;
	jwt = calloc(1, sizeof(*jwt));
	if (jwt == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	r = jws_split(token, len, o->max_token_bytes ? o->max_token_bytes : KW_AUTH_TOKEN_MAX, &jp,
	              why);
	if (r == 0)
		r = jws_header(&jp, jwt, why);
	if (r == 0)
		r = jws_signature_check(ks, &jp, jwt, why);
	if (r == 0)
		r = jws_payload(&jp, jwt, why);
	if (r == 0)
		r = auth_claims_check(o, jwt, now, why);
	if (r != 0)
		goto out;
	*out = jwt;
	jwt = NULL;
out:
	kw_auth_jwt_free(jwt);
	return r;
}
