/*
 * keyobj.c: struct kw_key — generation, private serialisation (raw bytes or
 * PKCS#8 DER), public-only keys from SubjectPublicKeyInfo, and the public and
 * export text forms Vault's API returns.
 *
 * Symmetric bytes live in the secure heap. Asymmetric keys are EVP_PKEYs,
 * whose private BIGNUMs OpenSSL itself keeps in the secure heap. A key never
 * changes after it is made, so it may be shared between threads.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto_impl.h"

#define ED25519_RAW_BYTES 32

struct kw_key {
	enum kw_key_type type;
	bool has_private;
	uint8_t *raw; /* symmetric: secure heap */
	size_t rawlen;
	EVP_PKEY *pkey; /* asymmetric */
};

static int key_new(enum kw_key_type t, struct kw_key **out)
{
	struct kw_key *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return KW_ERR_NOMEM;
	k->type = t;
	*out = k;
	return 0;
}

void kw_key_free(struct kw_key *k)
{
	if (k == NULL)
		return;
	kw_secure_free(k->raw, k->rawlen);
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum kw_key_type kw_key_type_of(const struct kw_key *k)
{
	return k ? k->type : KW_KEY_NONE;
}

EVP_PKEY *kw_key_pkey(const struct kw_key *k)
{
	return k ? k->pkey : NULL;
}

bool kw_key_has_private(const struct kw_key *k)
{
	return k != NULL && k->has_private;
}

int kw_key_raw(const struct kw_key *k, const uint8_t **p, size_t *len)
{
	if (k == NULL || k->raw == NULL)
		return KW_ERR_KEY_TYPE;
	*p = k->raw;
	*len = k->rawlen;
	return 0;
}

/* Length of a symmetric key of type t; size is the requested HMAC length. */
static int sym_key_len(enum kw_key_type t, size_t size, size_t *len)
{
	switch (t) {
	case KW_KEY_AES128_GCM96:
		*len = 16;
		return 0;
	case KW_KEY_AES256_GCM96:
	case KW_KEY_CHACHA20_POLY1305:
		*len = 32;
		return 0;
	case KW_KEY_HMAC:
		if (size == 0)
			size = KW_HMAC_KEY_DEFAULT_BYTES;
		if (size < KW_HMAC_KEY_MIN_BYTES || size > KW_HMAC_KEY_MAX_BYTES)
			return KW_ERR_INVALID;
		*len = size;
		return 0;
	default:
		return KW_ERR_KEY_TYPE;
	}
}

/* A symmetric key holding a copy of bytes (or fresh random bytes if NULL). */
static int sym_key_make(enum kw_key_type t, const uint8_t *bytes, size_t len, struct kw_key **out)
{
	struct kw_key *k = NULL;
	int rc;

	rc = key_new(t, &k);
	if (rc != 0)
		goto out;
	k->raw = kw_secure_alloc(len);
	if (k->raw == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	k->rawlen = len;
	k->has_private = true;
	if (bytes != NULL)
		memcpy(k->raw, bytes, len);
	else
		rc = kw_random(k->raw, len);
out:
	if (rc != 0) {
		kw_key_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

static int curve_nid(enum kw_key_type t)
{
	switch (t) {
	case KW_KEY_ECDSA_P256:
		return NID_X9_62_prime256v1;
	case KW_KEY_ECDSA_P384:
		return NID_secp384r1;
	case KW_KEY_ECDSA_P521:
		return NID_secp521r1;
	default:
		return NID_undef;
	}
}

static int rsa_bits(enum kw_key_type t)
{
	switch (t) {
	case KW_KEY_RSA_2048:
		return 2048;
	case KW_KEY_RSA_3072:
		return 3072;
	case KW_KEY_RSA_4096:
		return 4096;
	default:
		return 0;
	}
}

static EVP_PKEY *asym_keygen(enum kw_key_type t)
{
	if (kw_key_type_is_ecdsa(t))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(curve_nid(t)));
	if (kw_key_type_is_rsa(t))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits(t));
	if (t == KW_KEY_ED25519)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

/* A new key taking ownership of pkey (freed on failure too). */
static int asym_key_make(enum kw_key_type t, EVP_PKEY *pkey, bool has_private, struct kw_key **out)
{
	struct kw_key *k;
	int rc;

	rc = key_new(t, &k);
	if (rc != 0) {
		EVP_PKEY_free(pkey);
		return rc;
	}
	k->pkey = pkey;
	k->has_private = has_private;
	*out = k;
	return 0;
}

int kw_key_generate(enum kw_key_type t, size_t size, struct kw_key **out)
{
	EVP_PKEY *pkey;
	size_t len;
	int rc;

	if (!kw_key_type_is_asymmetric(t)) {
		rc = sym_key_len(t, size, &len);
		if (rc != 0)
			return rc;
		return sym_key_make(t, NULL, len, out);
	}
	pkey = asym_keygen(t);
	if (pkey == NULL) {
		ERR_clear_error();
		return KW_ERR_CRYPTO;
	}
	return asym_key_make(t, pkey, true, out);
}

/* True if pkey is really a key of type t: algorithm, curve and size. */
static bool pkey_is_type(EVP_PKEY *pkey, enum kw_key_type t)
{
	char group[64];
	size_t glen;

	if (kw_key_type_is_ecdsa(t)) {
		if (!EVP_PKEY_is_a(pkey, "EC") ||
		    EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1)
			return false;
		return OBJ_sn2nid(group) == curve_nid(t);
	}
	if (kw_key_type_is_rsa(t))
		return EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) == rsa_bits(t);
	if (t == KW_KEY_ED25519)
		return EVP_PKEY_is_a(pkey, "ED25519");
	return false;
}

/*
 * Checks that catch a corrupt or hostile EC or Ed25519 key before use: a
 * public point on the curve and not the identity, and a public half that
 * matches the private one. RSA keys are left to OpenSSL's own checks at use
 * (its CRT result is verified before release): SP 800-56B validation would
 * refuse legitimate keys with e = 3 and costs primality tests.
 */
static int pkey_check(EVP_PKEY *pkey, bool has_private)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if (EVP_PKEY_is_a(pkey, "RSA"))
		return 0;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx == NULL)
		return KW_ERR_NOMEM;
	ok = has_private ? EVP_PKEY_pairwise_check(ctx) : EVP_PKEY_public_check(ctx);
	EVP_PKEY_CTX_free(ctx);
	if (ok != 1) {
		ERR_clear_error();
		return KW_ERR_INVALID;
	}
	return 0;
}

int kw_key_encode(const struct kw_key *k, uint8_t **out, size_t *outlen)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	uint8_t *buf = NULL, *p;
	int len = 0;
	int rc;

	if (k == NULL || !k->has_private)
		return KW_ERR_KEY_TYPE;
	if (k->raw != NULL) {
		buf = kw_secure_alloc(k->rawlen);
		if (buf == NULL)
			return KW_ERR_NOMEM;
		memcpy(buf, k->raw, k->rawlen);
		*out = buf;
		*outlen = k->rawlen;
		return 0;
	}
	rc = KW_ERR_CRYPTO;
	p8 = EVP_PKEY2PKCS8(k->pkey);
	if (p8 == NULL)
		goto out;
	len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
	if (len <= 0)
		goto out;
	buf = kw_secure_alloc((size_t)len);
	if (buf == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	p = buf;
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != len)
		goto out;
	rc = 0;
out:
	/* PKCS8_PRIV_KEY_INFO_free clears the key octets before freeing. */
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (rc != 0) {
		kw_secure_free(buf, (size_t)len);
		ERR_clear_error();
		return rc;
	}
	*out = buf;
	*outlen = (size_t)len;
	return 0;
}

/* PKCS#8 PrivateKeyInfo DER, all of it, nothing after it. */
static int pkcs8_parse(const uint8_t *in, size_t len, EVP_PKEY **out)
{
	const uint8_t *p = in;
	PKCS8_PRIV_KEY_INFO *p8;
	EVP_PKEY *pkey = NULL;

	if (!kw_fits_int(len))
		return KW_ERR_INVALID;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	if (p8 != NULL && p == in + len)
		pkey = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (pkey == NULL) {
		ERR_clear_error();
		return KW_ERR_INVALID;
	}
	*out = pkey;
	return 0;
}

int kw_key_decode(enum kw_key_type t, const uint8_t *in, size_t len, struct kw_key **out)
{
	EVP_PKEY *pkey = NULL;
	size_t want;
	int rc;

	if (in == NULL)
		return KW_ERR_INVALID;
	if (!kw_key_type_is_asymmetric(t)) {
		/* HMAC keys may be any length in range; the others are fixed. */
		rc = sym_key_len(t, t == KW_KEY_HMAC ? len : 0, &want);
		if (rc != 0)
			return rc;
		if (len != want)
			return KW_ERR_INVALID;
		return sym_key_make(t, in, len, out);
	}
	rc = pkcs8_parse(in, len, &pkey);
	if (rc != 0)
		return rc;
	if (!pkey_is_type(pkey, t)) {
		rc = KW_ERR_KEY_TYPE;
		goto out;
	}
	rc = pkey_check(pkey, true);
out:
	if (rc != 0) {
		EVP_PKEY_free(pkey);
		return rc;
	}
	return asym_key_make(t, pkey, true, out);
}

int kw_key_from_public_der(enum kw_key_type t, const uint8_t *der, size_t len, struct kw_key **out)
{
	const uint8_t *p = der;
	EVP_PKEY *pkey;
	int rc;

	if (!kw_key_type_is_asymmetric(t))
		return KW_ERR_KEY_TYPE;
	if (der == NULL || !kw_fits_int(len))
		return KW_ERR_INVALID;
	pkey = d2i_PUBKEY(NULL, &p, (long)len);
	if (pkey == NULL || p != der + len) {
		rc = KW_ERR_INVALID;
		goto out;
	}
	if (!pkey_is_type(pkey, t)) {
		rc = KW_ERR_KEY_TYPE;
		goto out;
	}
	rc = pkey_check(pkey, false);
out:
	if (rc != 0) {
		EVP_PKEY_free(pkey);
		ERR_clear_error();
		return rc;
	}
	return asym_key_make(t, pkey, false, out);
}

int kw_key_public_der(const struct kw_key *k, uint8_t **out, size_t *outlen)
{
	uint8_t *buf = NULL, *p;
	int len, rc = KW_ERR_CRYPTO;

	if (k == NULL || k->pkey == NULL)
		return KW_ERR_KEY_TYPE;
	len = i2d_PUBKEY(k->pkey, NULL);
	if (len <= 0)
		goto out;
	buf = malloc((size_t)len);
	if (buf == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	p = buf;
	if (i2d_PUBKEY(k->pkey, &p) != len)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		free(buf);
		ERR_clear_error();
		return rc;
	}
	*out = buf;
	*outlen = (size_t)len;
	return 0;
}

/* The contents of a memory BIO as a NUL-terminated string in secure or plain memory. */
static int bio_to_string(BIO *bio, bool secure, char **out, size_t *outlen)
{
	BUF_MEM *mem = NULL;
	char *s;

	if (BIO_get_mem_ptr(bio, &mem) != 1 || mem == NULL)
		return KW_ERR_CRYPTO;
	s = secure ? kw_secure_alloc(mem->length + 1) : malloc(mem->length + 1);
	if (s == NULL)
		return KW_ERR_NOMEM;
	memcpy(s, mem->data, mem->length);
	s[mem->length] = '\0';
	*out = s;
	*outlen = mem->length;
	return 0;
}

/* Standard padded base64 of in, into secure memory (it may be key bytes). */
static int base64_secure(const uint8_t *in, size_t len, char **out, size_t *outlen)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	char *s;
	int n;

	if (!kw_fits_int(len) || !kw_fits_int(cap))
		return KW_ERR_TOO_LARGE;
	s = kw_secure_alloc(cap);
	if (s == NULL)
		return KW_ERR_NOMEM;
	n = EVP_EncodeBlock((unsigned char *)s, in, (int)len);
	if (n < 0) {
		kw_secure_free(s, cap);
		return KW_ERR_CRYPTO;
	}
	*out = s;
	*outlen = (size_t)n;
	return 0;
}

static int ed25519_public_text(EVP_PKEY *pkey, char **out)
{
	uint8_t pub[ED25519_RAW_BYTES];
	size_t len = sizeof(pub);

	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 || len != sizeof(pub)) {
		ERR_clear_error();
		return KW_ERR_CRYPTO;
	}
	return kw_base64_encode(pub, len, out);
}

int kw_key_public_text(const struct kw_key *k, char **out)
{
	BIO *bio = NULL;
	size_t len;
	int rc;

	if (k == NULL || k->pkey == NULL)
		return KW_ERR_KEY_TYPE;
	if (k->type == KW_KEY_ED25519)
		return ed25519_public_text(k->pkey, out);
	rc = KW_ERR_CRYPTO;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		goto out;
	if (PEM_write_bio_PUBKEY(bio, k->pkey) != 1)
		goto out;
	rc = bio_to_string(bio, false, out, &len);
out:
	BIO_free(bio);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

/* Ed25519 as Vault exports it: base64 of seed || public key. */
static int ed25519_export_text(EVP_PKEY *pkey, char **out, size_t *outlen)
{
	uint8_t *both = kw_secure_alloc(2 * ED25519_RAW_BYTES);
	size_t slen = ED25519_RAW_BYTES, plen = ED25519_RAW_BYTES;
	int rc = KW_ERR_CRYPTO;

	if (both == NULL)
		return KW_ERR_NOMEM;
	if (EVP_PKEY_get_raw_private_key(pkey, both, &slen) != 1 || slen != ED25519_RAW_BYTES)
		goto out;
	if (EVP_PKEY_get_raw_public_key(pkey, both + slen, &plen) != 1 || plen != ED25519_RAW_BYTES)
		goto out;
	rc = base64_secure(both, 2 * ED25519_RAW_BYTES, out, outlen);
out:
	kw_secure_free(both, 2 * ED25519_RAW_BYTES);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

/* "EC PRIVATE KEY" (SEC 1) or "RSA PRIVATE KEY" (PKCS#1) PEM, via a secure-heap BIO. */
static int traditional_pem_export(EVP_PKEY *pkey, char **out, size_t *outlen)
{
	OSSL_ENCODER_CTX *ectx = NULL;
	BIO *bio = NULL;
	int rc = KW_ERR_CRYPTO;

	ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM",
	                                     "type-specific", NULL);
	if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0)
		goto out;
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		goto out;
	if (OSSL_ENCODER_to_bio(ectx, bio) != 1)
		goto out;
	rc = bio_to_string(bio, true, out, outlen);
out:
	/* A secmem BIO lives in the secure heap and is cleared when freed. */
	BIO_free(bio);
	OSSL_ENCODER_CTX_free(ectx);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int kw_key_export_text(const struct kw_key *k, char **out, size_t *outlen)
{
	if (k == NULL || !k->has_private)
		return KW_ERR_KEY_TYPE;
	if (k->raw != NULL)
		return base64_secure(k->raw, k->rawlen, out, outlen);
	if (k->type == KW_KEY_ED25519)
		return ed25519_export_text(k->pkey, out, outlen);
	return traditional_pem_export(k->pkey, out, outlen);
}
