/*
 * aead.c: AES-GCM and ChaCha20-Poly1305 (raw, and in Vault's
 * nonce || ciphertext || tag layout), and RSA-OAEP encryption.
 *
 * Decryption never hands back plaintext that failed authentication: the
 * caller's buffer is wiped on any failure.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "crypto_impl.h"

#define CHACHA20_POLY1305_KEY_BYTES 32
/* SP 800-38D allows 96..128-bit GCM tags for general use; shorter ones are refused. */
#define GCM_TAG_MIN_BYTES 12
/* OpenSSL 3's GCM keeps the IV in a fixed 1024-bit buffer. */
#define GCM_IV_MAX_BYTES 128

/* The cipher for a key type and raw key length; NULL if they do not fit. */
static const EVP_CIPHER *aead_cipher(enum kw_key_type t, size_t keylen)
{
	switch (t) {
	case KW_KEY_AES128_GCM96:
	case KW_KEY_AES256_GCM96:
		if (keylen == 16)
			return EVP_aes_128_gcm();
		if (keylen == 24)
			return EVP_aes_192_gcm();
		if (keylen == 32)
			return EVP_aes_256_gcm();
		return NULL;
	case KW_KEY_CHACHA20_POLY1305:
		return keylen == CHACHA20_POLY1305_KEY_BYTES ? EVP_chacha20_poly1305() : NULL;
	default:
		return NULL;
	}
}

static int aead_params_check(enum kw_key_type t, size_t ivlen, size_t taglen, size_t aadlen,
                             size_t datalen)
{
	if (!kw_fits_int(aadlen) || !kw_fits_int(datalen))
		return KW_ERR_TOO_LARGE;
	if (t == KW_KEY_CHACHA20_POLY1305)
		return ivlen == KW_AEAD_NONCE_BYTES && taglen == KW_AEAD_TAG_BYTES ? 0
		                                                                   : KW_ERR_INVALID;
	if (ivlen == 0 || taglen < GCM_TAG_MIN_BYTES || taglen > KW_AEAD_TAG_BYTES)
		return KW_ERR_INVALID;
	return ivlen <= GCM_IV_MAX_BYTES ? 0 : KW_ERR_UNSUPPORTED;
}

/* A cipher context keyed for one operation (enc 1 seal, 0 open). */
static int aead_ctx_new(enum kw_key_type t, const uint8_t *key, size_t keylen, const uint8_t *iv,
                        size_t ivlen, int enc, EVP_CIPHER_CTX **out)
{
	const EVP_CIPHER *cipher = aead_cipher(t, keylen);
	EVP_CIPHER_CTX *ctx;

	if (cipher == NULL)
		return KW_ERR_KEY_TYPE;
	if (key == NULL || iv == NULL)
		return KW_ERR_INVALID;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return KW_ERR_NOMEM;
	/* The IV length must be set before the IV itself is given. */
	if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)ivlen, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ERR_clear_error();
		return KW_ERR_CRYPTO;
	}
	*out = ctx;
	return 0;
}

/* Feed AAD (out NULL) or data through ctx. */
static bool aead_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
	int n = 0;

	if (len == 0)
		return true;
	if (EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		return false;
	return out == NULL || (size_t)n == len;
}

int kw_aead_seal_raw(enum kw_key_type t, const uint8_t *key, size_t keylen, const uint8_t *iv,
                     size_t ivlen, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                     size_t ptlen, uint8_t *ct, uint8_t *tag, size_t taglen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t fin[EVP_MAX_BLOCK_LENGTH];
	int n = 0, rc;

	rc = aead_params_check(t, ivlen, taglen, aadlen, ptlen);
	if (rc != 0)
		return rc;
	rc = aead_ctx_new(t, key, keylen, iv, ivlen, 1, &ctx);
	if (rc != 0)
		return rc;
	rc = KW_ERR_CRYPTO;
	if (!aead_update(ctx, NULL, aad, aadlen) || !aead_update(ctx, ct, pt, ptlen))
		goto out;
	/* GCM and ChaCha20-Poly1305 are stream modes: Final writes nothing. */
	if (EVP_CipherFinal_ex(ctx, fin, &n) != 1 || n != 0)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)taglen, tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc != 0) {
		kw_wipe(ct, ptlen);
		ERR_clear_error();
	}
	return rc;
}

int kw_aead_open_raw(enum kw_key_type t, const uint8_t *key, size_t keylen, const uint8_t *iv,
                     size_t ivlen, const uint8_t *aad, size_t aadlen, const uint8_t *ct,
                     size_t ctlen, const uint8_t *tag, size_t taglen, uint8_t *pt)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t tagcopy[KW_AEAD_TAG_BYTES];
	uint8_t fin[EVP_MAX_BLOCK_LENGTH];
	int n = 0, rc;

	rc = aead_params_check(t, ivlen, taglen, aadlen, ctlen);
	if (rc != 0)
		return rc;
	rc = aead_ctx_new(t, key, keylen, iv, ivlen, 0, &ctx);
	if (rc != 0)
		return rc;
	rc = KW_ERR_CRYPTO;
	/* SET_TAG takes a non-const pointer. */
	memcpy(tagcopy, tag, taglen);
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)taglen, tagcopy) != 1)
		goto out;
	if (!aead_update(ctx, NULL, aad, aadlen) || !aead_update(ctx, pt, ct, ctlen))
		goto out;
	/* Final is where the tag is compared (in constant time, by OpenSSL). */
	rc = EVP_CipherFinal_ex(ctx, fin, &n) == 1 && n == 0 ? 0 : KW_ERR_DECRYPT;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc != 0) {
		/* Unauthenticated plaintext must not escape. */
		kw_wipe(pt, ctlen);
		ERR_clear_error();
	}
	return rc;
}

int kw_aead_encrypt(const struct kw_key *k, const uint8_t *pt, size_t ptlen, const uint8_t *aad,
                    size_t aadlen, uint8_t **out, size_t *outlen)
{
	const uint8_t *key;
	size_t keylen, total;
	uint8_t *buf;
	int rc;

	if (k == NULL || !kw_key_type_is_aead(kw_key_type_of(k)))
		return KW_ERR_KEY_TYPE;
	rc = kw_key_raw(k, &key, &keylen);
	if (rc != 0)
		return rc;
	if (ptlen > SIZE_MAX - KW_AEAD_NONCE_BYTES - KW_AEAD_TAG_BYTES)
		return KW_ERR_TOO_LARGE;
	total = KW_AEAD_NONCE_BYTES + ptlen + KW_AEAD_TAG_BYTES;
	buf = malloc(total);
	if (buf == NULL)
		return KW_ERR_NOMEM;
	/* 96-bit random nonces, as Vault: the caller rotates keys long before collisions matter. */
	rc = kw_random(buf, KW_AEAD_NONCE_BYTES);
	if (rc == 0)
		rc = kw_aead_seal_raw(kw_key_type_of(k), key, keylen, buf, KW_AEAD_NONCE_BYTES, aad,
		                      aadlen, pt, ptlen, buf + KW_AEAD_NONCE_BYTES,
		                      buf + KW_AEAD_NONCE_BYTES + ptlen, KW_AEAD_TAG_BYTES);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = total;
	return 0;
}

int kw_aead_decrypt(const struct kw_key *k, const uint8_t *in, size_t inlen, const uint8_t *aad,
                    size_t aadlen, uint8_t **out, size_t *outlen)
{
	const uint8_t *key;
	size_t keylen, ptlen;
	uint8_t *buf;
	int rc;

	if (k == NULL || !kw_key_type_is_aead(kw_key_type_of(k)))
		return KW_ERR_KEY_TYPE;
	rc = kw_key_raw(k, &key, &keylen);
	if (rc != 0)
		return rc;
	if (in == NULL || inlen < KW_AEAD_NONCE_BYTES + KW_AEAD_TAG_BYTES)
		return KW_ERR_DECRYPT;
	ptlen = inlen - KW_AEAD_NONCE_BYTES - KW_AEAD_TAG_BYTES;
	buf = malloc(ptlen ? ptlen : 1);
	if (buf == NULL)
		return KW_ERR_NOMEM;
	rc = kw_aead_open_raw(kw_key_type_of(k), key, keylen, in, KW_AEAD_NONCE_BYTES, aad, aadlen,
	                      in + KW_AEAD_NONCE_BYTES, ptlen, in + inlen - KW_AEAD_TAG_BYTES,
	                      KW_AEAD_TAG_BYTES, buf);
	if (rc != 0) {
		/* open_raw already wiped buf. */
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = ptlen;
	return 0;
}

/* ---- RSA-OAEP ---- */

/* A context for OAEP with h as both the label hash and the MGF1 hash. */
static int oaep_ctx_new(const struct kw_key *k, enum kw_hash h, bool decrypt, EVP_PKEY_CTX **out)
{
	const EVP_MD *md;
	EVP_PKEY_CTX *ctx;
	int ok;

	if (k == NULL || !kw_key_type_is_rsa(kw_key_type_of(k)))
		return KW_ERR_KEY_TYPE;
	if (decrypt && !kw_key_has_private(k))
		return KW_ERR_KEY_TYPE;
	/* Vault's only OAEP hash is SHA-256; NONE means that default. */
	md = kw_hash_md(h == KW_HASH_NONE ? KW_HASH_SHA256 : h);
	if (md == NULL)
		return KW_ERR_UNSUPPORTED;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kw_key_pkey(k), NULL);
	if (ctx == NULL)
		return KW_ERR_NOMEM;
	ok = decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx);
	if (ok != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1) {
		EVP_PKEY_CTX_free(ctx);
		ERR_clear_error();
		return KW_ERR_CRYPTO;
	}
	*out = ctx;
	return 0;
}

int kw_rsa_oaep_encrypt(const struct kw_key *k, enum kw_hash h, const uint8_t *pt, size_t ptlen,
                        uint8_t **out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	rc = oaep_ctx_new(k, h, false, &ctx);
	if (rc != 0)
		return rc;
	len = (size_t)EVP_PKEY_get_size(kw_key_pkey(k));
	buf = malloc(len);
	if (buf == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	/* The only failure with a valid key is a message too long for the modulus. */
	if (EVP_PKEY_encrypt(ctx, buf, &len, ptlen ? pt : (const uint8_t *)"", ptlen) != 1)
		rc = KW_ERR_INVALID;
out:
	EVP_PKEY_CTX_free(ctx);
	if (rc != 0) {
		free(buf);
		ERR_clear_error();
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int kw_rsa_oaep_decrypt(const struct kw_key *k, enum kw_hash h, const uint8_t *in, size_t inlen,
                        uint8_t **out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t cap, len;
	int rc;

	rc = oaep_ctx_new(k, h, true, &ctx);
	if (rc != 0)
		return rc;
	cap = (size_t)EVP_PKEY_get_size(kw_key_pkey(k));
	buf = malloc(cap);
	if (buf == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	len = cap;
	/* One error for every padding failure: which check failed must not leak. */
	if (in == NULL || inlen == 0 || EVP_PKEY_decrypt(ctx, buf, &len, in, inlen) != 1)
		rc = KW_ERR_DECRYPT;
out:
	EVP_PKEY_CTX_free(ctx);
	if (rc != 0) {
		if (buf != NULL)
			kw_wipe(buf, cap);
		free(buf);
		ERR_clear_error();
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}
