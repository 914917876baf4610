/*
 * sig.c: signatures — ECDSA (DER or JWS r||s), Ed25519, RSA-PSS and
 * RSA PKCS#1 v1.5 — over a message or over a digest the caller made.
 *
 * ECDSA and RSA always sign a digest: we hash the message ourselves unless it
 * came prehashed, so both paths share one EVP_PKEY_sign call. Ed25519 (pure
 * EdDSA) signs the message itself and has no prehashed form here.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "crypto_impl.h"

void kw_sign_params_default(struct kw_sign_params *p)
{
	memset(p, 0, sizeof(*p));
	p->hash = KW_HASH_SHA256;
	p->prehashed = false;
	p->padding = KW_RSA_PSS;
	p->marshal = KW_ECDSA_ASN1;
	p->salt_len = -1;
}

static size_t pkey_bytes(EVP_PKEY *pkey)
{
	return ((size_t)EVP_PKEY_get_bits(pkey) + 7) / 8;
}

/* PSS salt longer than the encoding allows (RFC 8017 9.1.1 step 3). */
static bool pss_salt_too_long(const struct kw_key *k, const struct kw_sign_params *p)
{
	size_t hlen = kw_hash_size(p->hash), emlen = pkey_bytes(kw_key_pkey(k));

	return p->salt_len >= 0 && (size_t)p->salt_len + hlen + 2 > emlen;
}

static int rsa_params_check(const struct kw_key *k, const struct kw_sign_params *p)
{
	if (p->padding == KW_RSA_PKCS1V15)
		return 0;
	if (p->padding != KW_RSA_PSS || p->salt_len < -1 || pss_salt_too_long(k, p))
		return KW_ERR_INVALID;
	return 0;
}

/* Everything a caller can get wrong, checked before the key is touched. */
static int params_check(const struct kw_key *k, const struct kw_sign_params *p, size_t inlen,
                        bool need_private)
{
	enum kw_key_type t = kw_key_type_of(k);

	if (!kw_key_type_can_sign(t) || (need_private && !kw_key_has_private(k)))
		return KW_ERR_KEY_TYPE;
	if (p == NULL)
		return KW_ERR_INVALID;
	if (t == KW_KEY_ED25519)
		return p->prehashed ? KW_ERR_INVALID : 0;
	if (kw_hash_md(p->hash) == NULL)
		return KW_ERR_UNSUPPORTED;
	if (p->prehashed && inlen != kw_hash_size(p->hash))
		return KW_ERR_INVALID;
	if (kw_key_type_is_rsa(t))
		return rsa_params_check(k, p);
	if (p->marshal != KW_ECDSA_ASN1 && p->marshal != KW_ECDSA_JWS)
		return KW_ERR_INVALID;
	return 0;
}

static int digest_input(const struct kw_sign_params *p, const uint8_t *in, size_t inlen,
                        uint8_t dgst[KW_HASH_MAX_BYTES], size_t *dlen)
{
	if (p->prehashed) {
		memcpy(dgst, in, inlen);
		*dlen = inlen;
		return 0;
	}
	return kw_hash_digest(p->hash, in, inlen, dgst, dlen);
}

/*
 * The salt length OpenSSL is told. -1 signs with a hash-sized salt; on verify
 * it accepts any salt, so signatures made elsewhere with another length (Go's
 * and Vault's maximum-length "auto") still verify.
 */
static int pss_saltlen(const struct kw_sign_params *p, bool verify)
{
	if (p->salt_len >= 0)
		return p->salt_len;
	return verify ? RSA_PSS_SALTLEN_AUTO : RSA_PSS_SALTLEN_DIGEST;
}

static bool rsa_ctx_setup(EVP_PKEY_CTX *ctx, const struct kw_sign_params *p, bool verify)
{
	const EVP_MD *md = kw_hash_md(p->hash);

	if (p->padding == KW_RSA_PKCS1V15)
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
	return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, pss_saltlen(p, verify)) == 1 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1;
}

/* A sign or verify context over a digest of p->hash (ECDSA, RSA). */
static int digest_ctx_new(const struct kw_key *k, const struct kw_sign_params *p, bool verify,
                          EVP_PKEY_CTX **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kw_key_pkey(k), NULL);
	bool ok;

	if (ctx == NULL)
		return KW_ERR_NOMEM;
	ok = (verify ? EVP_PKEY_verify_init(ctx) : EVP_PKEY_sign_init(ctx)) == 1;
	/* Padding before md: PSS-only digests are checked against the padding. */
	if (ok && kw_key_type_is_rsa(kw_key_type_of(k)))
		ok = rsa_ctx_setup(ctx, p, verify);
	ok = ok && EVP_PKEY_CTX_set_signature_md(ctx, kw_hash_md(p->hash)) == 1;
	if (!ok) {
		EVP_PKEY_CTX_free(ctx);
		ERR_clear_error();
		return KW_ERR_CRYPTO;
	}
	*out = ctx;
	return 0;
}

/* DER ECDSA-Sig-Value to fixed-width r || s, each n bytes (RFC 7518 3.4). */
static int ecdsa_der_to_jws(const uint8_t *der, size_t derlen, size_t n, uint8_t *raw)
{
	const uint8_t *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int rc = KW_ERR_CRYPTO;

	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (sig == NULL)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, (int)n) < 0 || BN_bn2binpad(s, raw + n, (int)n) < 0)
		goto out;
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

/* r || s (2n bytes, checked by the caller) back to DER for OpenSSL. */
static int ecdsa_jws_to_der(const uint8_t *raw, size_t n, uint8_t **der, size_t *derlen)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	uint8_t *buf = NULL;
	int len, rc = KW_ERR_CRYPTO;

	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, (int)n, NULL);
	s = BN_bin2bn(raw + n, (int)n, NULL);
	if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by sig now */
	len = i2d_ECDSA_SIG(sig, &buf);
	if (len <= 0)
		goto out;
	*der = buf;
	*derlen = (size_t)len;
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

static int ed25519_sign(const struct kw_key *k, const uint8_t *in, size_t inlen, uint8_t **out,
                        size_t *outlen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int rc = KW_ERR_CRYPTO;

	if (mctx == NULL)
		return KW_ERR_NOMEM;
	if (EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, kw_key_pkey(k), NULL) != 1 ||
	    EVP_DigestSign(mctx, NULL, &siglen, in, inlen) != 1)
		goto out;
	sig = malloc(siglen);
	if (sig == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestSign(mctx, sig, &siglen, inlen ? in : (const uint8_t *)"", inlen) != 1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	if (rc != 0) {
		free(sig);
		ERR_clear_error();
		return rc;
	}
	*out = sig;
	*outlen = siglen;
	return 0;
}

static int ed25519_verify(const struct kw_key *k, const uint8_t *in, size_t inlen,
                          const uint8_t *sig, size_t siglen, bool *valid)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int ok;

	if (mctx == NULL)
		return KW_ERR_NOMEM;
	if (EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, NULL, kw_key_pkey(k), NULL) != 1) {
		EVP_MD_CTX_free(mctx);
		ERR_clear_error();
		return KW_ERR_CRYPTO;
	}
	ok = sig != NULL &&
	     EVP_DigestVerify(mctx, sig, siglen, inlen ? in : (const uint8_t *)"", inlen) == 1;
	EVP_MD_CTX_free(mctx);
	ERR_clear_error();
	*valid = ok;
	return 0;
}

/* ECDSA or RSA signature over dgst, in the marshaling p asks for. */
static int digest_sign(const struct kw_key *k, const struct kw_sign_params *p, const uint8_t *dgst,
                       size_t dlen, uint8_t **out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	bool jws = kw_key_type_is_ecdsa(kw_key_type_of(k)) && p->marshal == KW_ECDSA_JWS;
	size_t n = pkey_bytes(kw_key_pkey(k));
	uint8_t *sig = NULL, *raw = NULL;
	size_t siglen;
	int rc;

	rc = digest_ctx_new(k, p, false, &ctx);
	if (rc != 0)
		return rc;
	rc = KW_ERR_CRYPTO;
	if (EVP_PKEY_sign(ctx, NULL, &siglen, dgst, dlen) != 1)
		goto out;
	sig = malloc(siglen);
	if (sig == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_sign(ctx, sig, &siglen, dgst, dlen) != 1)
		goto out;
	if (jws) {
		raw = malloc(2 * n);
		if (raw == NULL) {
			rc = KW_ERR_NOMEM;
			goto out;
		}
		rc = ecdsa_der_to_jws(sig, siglen, n, raw);
		if (rc != 0)
			goto out;
		free(sig);
		sig = raw;
		raw = NULL;
		siglen = 2 * n;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	free(raw);
	if (rc != 0) {
		free(sig);
		ERR_clear_error();
		return rc;
	}
	*out = sig;
	*outlen = siglen;
	return 0;
}

static int digest_verify(const struct kw_key *k, const struct kw_sign_params *p,
                         const uint8_t *dgst, size_t dlen, const uint8_t *sig, size_t siglen,
                         bool *valid)
{
	EVP_PKEY_CTX *ctx = NULL;
	enum kw_key_type t = kw_key_type_of(k);
	size_t n = pkey_bytes(kw_key_pkey(k));
	bool jws = kw_key_type_is_ecdsa(t) && p->marshal == KW_ECDSA_JWS;
	uint8_t *der = NULL;
	int rc;

	/*
	 * Wrong sizes are invalid signatures, not errors. RFC 8017 8.1.2 and
	 * 8.2.2 step 1: an RSA signature is exactly k bytes; JWS r || s is
	 * exactly twice the curve size (RFC 7518 3.4).
	 */
	if (sig == NULL || siglen == 0 || (kw_key_type_is_rsa(t) && siglen != n) ||
	    (jws && siglen != 2 * n)) {
		*valid = false;
		return 0;
	}
	if (jws) {
		rc = ecdsa_jws_to_der(sig, n, &der, &siglen);
		if (rc != 0)
			return rc;
		sig = der;
	}
	rc = digest_ctx_new(k, p, true, &ctx);
	if (rc == 0) {
		/* Malformed and wrong signatures alike are just "not valid". */
		*valid = EVP_PKEY_verify(ctx, sig, siglen, dgst, dlen) == 1;
		ERR_clear_error();
	}
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return rc;
}

int kw_sign(const struct kw_key *k, const struct kw_sign_params *p, const uint8_t *in, size_t inlen,
            uint8_t **out, size_t *outlen)
{
	uint8_t dgst[KW_HASH_MAX_BYTES];
	size_t dlen;
	int rc;

	rc = params_check(k, p, inlen, true);
	if (rc != 0)
		return rc;
	if (in == NULL && inlen > 0)
		return KW_ERR_INVALID;
	if (kw_key_type_of(k) == KW_KEY_ED25519)
		return ed25519_sign(k, in, inlen, out, outlen);
	rc = digest_input(p, in, inlen, dgst, &dlen);
	if (rc == 0)
		rc = digest_sign(k, p, dgst, dlen, out, outlen);
	return rc;
}

int kw_verify(const struct kw_key *k, const struct kw_sign_params *p, const uint8_t *in,
              size_t inlen, const uint8_t *sig, size_t siglen, bool *valid)
{
	uint8_t dgst[KW_HASH_MAX_BYTES];
	size_t dlen;
	int rc;

	rc = params_check(k, p, inlen, false);
	if (rc != 0)
		return rc;
	if (in == NULL && inlen > 0)
		return KW_ERR_INVALID;
	if (kw_key_type_of(k) == KW_KEY_ED25519)
		return ed25519_verify(k, in, inlen, sig, siglen, valid);
	rc = digest_input(p, in, inlen, dgst, &dlen);
	if (rc == 0)
		rc = digest_verify(k, p, dgst, dlen, sig, siglen, valid);
	return rc;
}
