/*
 * rsaraw.c: the RSA operations PKCS#11 needs beyond Vault's — PKCS#1 v1.5
 * signing of a DigestInfo the caller built (CKM_RSA_PKCS, TLS 1.2), the
 * DigestInfo shape check the keeper applies first, and decryption with
 * OAEP (any hash, MGF1 hash and label) or PKCS#1 v1.5.
 *
 * PKCS#1 v1.5 decryption is the classic padding oracle (Bleichenbacher 1998,
 * Marvin 2023). OpenSSL 3.0 has no implicit rejection, so it is done here:
 * the private operation runs without padding and the padding check, the
 * choice between the real and a synthetic message and the final shift are
 * branch-free over secret data (draft-irtf-cfrg-rsa-guidance, section 7).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "crypto_impl.h"

#define PKCS1_OVERHEAD  11 /* 00 01|02 PS(>= 8) 00 */
#define PKCS1_PS_MIN    8
#define IR_HASH_BYTES   32 /* implicit rejection uses SHA-256 throughout */
#define IR_LENGTHS      128
#define NIST_HASH_ARC_0 0x60

/* ---- DigestInfo ---- */

/* DigestInfo ::= SEQUENCE { SEQUENCE { OID 2.16.840.1.101.3.4.2.<arc>,
 * NULL }, OCTET STRING digest } for the NIST hashes; SHA-1 has its own OID. */
static const struct {
	enum kw_hash h;
	uint8_t arc; /* 0 = SHA-1 */
} di_hashes[] = {
    {KW_HASH_SHA1, 0},     {KW_HASH_SHA224, 4},   {KW_HASH_SHA256, 1},
    {KW_HASH_SHA384, 2},   {KW_HASH_SHA512, 3},   {KW_HASH_SHA3_224, 7},
    {KW_HASH_SHA3_256, 8}, {KW_HASH_SHA3_384, 9}, {KW_HASH_SHA3_512, 10},
};

static size_t di_prefix(uint8_t arc, size_t dlen, uint8_t *p)
{
	static const uint8_t sha1_oid[] = {0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a};
	static const uint8_t nist_oid[] = {
	    0x06, 0x09, NIST_HASH_ARC_0, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02};
	size_t n = 0, oidlen = arc == 0 ? sizeof(sha1_oid) : sizeof(nist_oid) + 1;

	p[n++] = 0x30;
	p[n++] = (uint8_t)(2 + oidlen + 2 + 2 + dlen);
	p[n++] = 0x30;
	p[n++] = (uint8_t)(oidlen + 2);
	if (arc == 0) {
		memcpy(p + n, sha1_oid, sizeof(sha1_oid));
		n += sizeof(sha1_oid);
	} else {
		memcpy(p + n, nist_oid, sizeof(nist_oid));
		n += sizeof(nist_oid);
		p[n++] = arc;
	}
	p[n++] = 0x05; /* NULL parameters, as RFC 8017 9.2 note 1 requires */
	p[n++] = 0x00;
	p[n++] = 0x04;
	p[n++] = (uint8_t)dlen;
	return n;
}

bool kw_rsa_digestinfo_check(const uint8_t *in, size_t inlen, enum kw_hash *h)
{
	uint8_t prefix[32];

	if (in == NULL)
		return false;
	for (size_t i = 0; i < KW_ARRAY_LEN(di_hashes); i++) {
		size_t dlen = kw_hash_size(di_hashes[i].h);
		size_t n = di_prefix(di_hashes[i].arc, dlen, prefix);

		if (inlen == n + dlen && memcmp(in, prefix, n) == 0) {
			if (h != NULL)
				*h = di_hashes[i].h;
			return true;
		}
	}
	return false;
}

/* ---- signing ---- */

static int rsa_private_check(const struct kw_key *k)
{
	if (k == NULL || !kw_key_type_is_rsa(kw_key_type_of(k)) || !kw_key_has_private(k))
		return KW_ERR_KEY_TYPE;
	return 0;
}

int kw_rsa_sign_pkcs1_raw(const struct kw_key *k, const uint8_t *in, size_t inlen, uint8_t **out,
                          size_t *outlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *sig = NULL;
	size_t len;
	int rc;

	if ((rc = rsa_private_check(k)) != 0)
		return rc;
	len = (size_t)EVP_PKEY_get_size(kw_key_pkey(k));
	if (in == NULL || inlen == 0 || inlen > len - PKCS1_OVERHEAD)
		return KW_ERR_INVALID;
	rc = KW_ERR_NOMEM;
	if ((sig = malloc(len)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kw_key_pkey(k), NULL)) == NULL)
		goto out;
	rc = KW_ERR_CRYPTO;
	/* No digest set: OpenSSL pads and signs the bytes as given. */
	if (EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_sign(ctx, sig, &len, in, inlen) != 1)
		goto out;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (rc != 0) {
		free(sig);
		return rc;
	}
	*out = sig;
	*outlen = len;
	return 0;
}

/* ---- OAEP ---- */

static int oaep_decrypt(const struct kw_key *k, const struct kw_rsa_dec_params *p,
                        const uint8_t *in, size_t inlen, uint8_t *buf, size_t *len)
{
	const EVP_MD *md = kw_hash_md(p->hash == KW_HASH_NONE ? KW_HASH_SHA256 : p->hash);
	const EVP_MD *mgf = p->mgf1_hash == KW_HASH_NONE ? md : kw_hash_md(p->mgf1_hash);
	EVP_PKEY_CTX *ctx;
	uint8_t *label = NULL;
	int rc = KW_ERR_DECRYPT;

	if (md == NULL || mgf == NULL)
		return KW_ERR_UNSUPPORTED;
	if (p->labellen > KW_OAEP_LABEL_MAX || (p->labellen > 0 && p->label == NULL))
		return KW_ERR_INVALID;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kw_key_pkey(k), NULL)) == NULL)
		return KW_ERR_NOMEM;
	if (EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf) != 1) {
		rc = KW_ERR_CRYPTO;
		goto out;
	}
	if (p->labellen > 0) {
		/* set0 takes ownership of an OPENSSL_malloc'd copy. */
		if ((label = OPENSSL_memdup(p->label, p->labellen)) == NULL) {
			rc = KW_ERR_NOMEM;
			goto out;
		}
		if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)p->labellen) != 1) {
			OPENSSL_free(label);
			rc = KW_ERR_CRYPTO;
			goto out;
		}
	}
	/* One error for every failure: which check failed must not leak. */
	if (EVP_PKEY_decrypt(ctx, buf, len, in, inlen) == 1)
		rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* ---- PKCS#1 v1.5 with implicit rejection ---- */

/* Constant-time helpers: all-ones (~0) for true, 0 for false. */
static inline unsigned ct_is_zero(unsigned a)
{
	return 0u - ((~a & (a - 1)) >> (sizeof(unsigned) * 8 - 1));
}
static inline unsigned ct_eq(unsigned a, unsigned b)
{
	return ct_is_zero(a ^ b);
}
static inline unsigned ct_lt(unsigned a, unsigned b) /* a, b < 2^31 */
{
	return 0u - ((a - b) >> (sizeof(unsigned) * 8 - 1));
}
static inline unsigned ct_sel(unsigned mask, unsigned a, unsigned b)
{
	return (mask & a) | (~mask & b);
}

/* PRF(key, label, bits) = HMAC(key, BE16(i) || label || BE16(bits)) for
 * i = 0, 1, ... concatenated and cut to bits / 8 bytes. */
static int ir_prf(const uint8_t key[IR_HASH_BYTES], const char *label, size_t outlen, uint8_t *out)
{
	uint8_t block[KW_HASH_MAX_BYTES], msg[2 + 16 + 2];
	size_t done = 0, lablen = strlen(label);
	int rc = 0;

	if (lablen > 16)
		return KW_ERR_INTERNAL;
	memcpy(msg + 2, label, lablen);
	kw_store_u16(msg + 2 + lablen, (uint16_t)(outlen * 8));
	for (uint16_t i = 0; done < outlen && rc == 0; i++) {
		size_t n = 0, take;

		kw_store_u16(msg, i);
		rc = kw_hmac(KW_HASH_SHA256, key, IR_HASH_BYTES, msg, lablen + 4, block, &n);
		if (rc == 0) {
			take = outlen - done < n ? outlen - done : n;
			memcpy(out + done, block, take);
			done += take;
		}
	}
	OPENSSL_cleanse(block, sizeof(block));
	return rc;
}

/* The key derivation key: HMAC-SHA256(SHA256(d as k bytes), ciphertext). */
static int ir_kdk(const struct kw_key *k, size_t modlen, const uint8_t *c, uint8_t *kdk)
{
	BIGNUM *d = NULL;
	uint8_t *dbytes = kw_secure_alloc(modlen), dh[IR_HASH_BYTES];
	size_t n = 0;
	int rc = KW_ERR_CRYPTO;

	if (dbytes == NULL)
		return KW_ERR_NOMEM;
	if (EVP_PKEY_get_bn_param(kw_key_pkey(k), OSSL_PKEY_PARAM_RSA_D, &d) != 1 ||
	    BN_bn2binpad(d, dbytes, (int)modlen) < 0 ||
	    EVP_Digest(dbytes, modlen, dh, NULL, EVP_sha256(), NULL) != 1 ||
	    kw_hmac(KW_HASH_SHA256, dh, sizeof(dh), c, modlen, kdk, &n) != 0 || n != IR_HASH_BYTES)
		goto out;
	rc = 0;
out:
	BN_clear_free(d);
	kw_secure_free(dbytes, modlen);
	OPENSSL_cleanse(dh, sizeof(dh));
	return rc;
}

/* The synthetic message for this ciphertext: syn (modlen bytes) and the
 * length of its tail that would be returned. */
static int ir_synthetic(const uint8_t kdk[IR_HASH_BYTES], size_t modlen, uint8_t *syn,
                        unsigned *synlen)
{
	uint8_t lens[IR_LENGTHS * 2];
	unsigned max = (unsigned)(modlen - 2 - PKCS1_PS_MIN), mask = 1, len = 0;
	int rc;

	if ((rc = ir_prf(kdk, "message", modlen, syn)) != 0 ||
	    (rc = ir_prf(kdk, "length", sizeof(lens), lens)) != 0)
		return rc;
	while (mask < max)
		mask = (mask << 1) | 1;
	/* The last candidate below max wins; the loop runs over all of them. */
	for (size_t i = 0; i < IR_LENGTHS; i++) {
		unsigned cand = kw_load_u16(lens + 2 * i) & mask;
		len = ct_sel(ct_lt(cand, max), cand, len);
	}
	*synlen = len;
	OPENSSL_cleanse(lens, sizeof(lens));
	return 0;
}

/* em = 00 02 PS 00 M with |PS| >= 8, checked without branches: *good is the
 * mask, *msgoff where M starts. */
static void pkcs1_type2_check(const uint8_t *em, size_t modlen, unsigned *good, unsigned *msgoff)
{
	unsigned found = 0, zero_at = 0;

	*good = ct_is_zero(em[0]) & ct_eq(em[1], 2);
	for (size_t i = 2; i < modlen; i++) {
		unsigned z = ct_is_zero(em[i]);
		zero_at = ct_sel(~found & z, (unsigned)i, zero_at);
		found |= z;
	}
	*good &= found & ~ct_lt(zero_at, 2 + PKCS1_PS_MIN);
	*msgoff = zero_at + 1;
}

/* Shift buf left by off (secret, < len) in log(len) passes of masked moves. */
static void ct_shift_left(uint8_t *buf, size_t len, unsigned off)
{
	for (size_t step = 1; step < len; step <<= 1) {
		unsigned m = 0u - ((off & step) != 0); /* off's bit, as a mask */
		for (size_t i = 0; i + step < len; i++)
			buf[i] = (uint8_t)ct_sel(m, buf[i + step], buf[i]);
	}
}

static int pkcs1_decrypt(const struct kw_key *k, const uint8_t *in, size_t inlen, uint8_t *buf,
                         size_t *outlen)
{
	size_t modlen = (size_t)EVP_PKEY_get_size(kw_key_pkey(k)), len = modlen;
	uint8_t *em = kw_secure_alloc(modlen), *syn = kw_secure_alloc(modlen), kdk[IR_HASH_BYTES];
	unsigned good, msgoff, synlen, off;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = KW_ERR_NOMEM;

	if (em == NULL || syn == NULL)
		goto out;
	/* Public facts only: the length and c < n decide these errors. */
	rc = KW_ERR_DECRYPT;
	if (inlen != modlen)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kw_key_pkey(k), NULL)) == NULL ||
	    EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1 ||
	    EVP_PKEY_decrypt(ctx, em, &len, in, inlen) != 1 || len != modlen)
		goto out;
	if ((rc = ir_kdk(k, modlen, in, kdk)) != 0 ||
	    (rc = ir_synthetic(kdk, modlen, syn, &synlen)) != 0)
		goto out;
	pkcs1_type2_check(em, modlen, &good, &msgoff);
	for (size_t i = 0; i < modlen; i++)
		buf[i] = (uint8_t)ct_sel(good, em[i], syn[i]);
	off = ct_sel(good, msgoff, (unsigned)(modlen - synlen));
	ct_shift_left(buf, modlen, off);
	*outlen = modlen - off; /* the result's length is public, as it is returned */
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	kw_secure_free(em, modlen);
	kw_secure_free(syn, modlen);
	OPENSSL_cleanse(kdk, sizeof(kdk));
	return rc;
}

int kw_rsa_decrypt(const struct kw_key *k, const struct kw_rsa_dec_params *p, const uint8_t *in,
                   size_t inlen, uint8_t **out, size_t *outlen)
{
	uint8_t *buf;
	size_t cap, len;
	int rc;

	if (p == NULL)
		return KW_ERR_INVALID;
	if ((rc = rsa_private_check(k)) != 0)
		return rc;
	if (in == NULL || inlen == 0 || !kw_fits_int(inlen))
		return KW_ERR_DECRYPT;
	cap = (size_t)EVP_PKEY_get_size(kw_key_pkey(k));
	if ((buf = malloc(cap)) == NULL)
		return KW_ERR_NOMEM;
	len = cap;
	if (p->padding == KW_RSA_DEC_OAEP)
		rc = oaep_decrypt(k, p, in, inlen, buf, &len);
	else if (p->padding == KW_RSA_DEC_PKCS1V15)
		rc = pkcs1_decrypt(k, in, inlen, buf, &len);
	else
		rc = KW_ERR_UNSUPPORTED;
	if (rc != 0) {
		kw_wipe(buf, cap);
		free(buf);
		return rc;
	}
	/* Move the message to the front and wipe the rest of the buffer. */
	kw_wipe(buf + len, cap - len);
	*out = buf;
	*outlen = len;
	return 0;
}
