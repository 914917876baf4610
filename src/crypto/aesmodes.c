/*
 * aesmodes.c: AES in the classic modes PKCS#11 offers (CBC, CBC with PKCS#7
 * padding, CTR, ECB) and AES key wrap (RFC 3394 and, with padding, RFC
 * 5649), all one-shot over OpenSSL EVP.
 *
 * These are raw primitives with caller-chosen IVs; the keeper decides who
 * may use them (ECB sits behind its own policy path). Unwrapped key bytes go
 * to secure memory.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "crypto_impl.h"

#define KW_SEMIBLOCK_BYTES 8
#define KW_WRAP_MIN_BYTES  16 /* RFC 3394: at least two 64-bit blocks */

static const char *mode_cipher_name(enum kw_aes_mode mode, size_t keylen)
{
	static const char *const names[][3] = {
	    [KW_AES_CBC] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
	    [KW_AES_CBC_PAD] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
	    [KW_AES_CTR] = {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"},
	    [KW_AES_ECB] = {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"},
	};
	size_t i = keylen == 16 ? 0 : keylen == 24 ? 1 : keylen == 32 ? 2 : 3;

	if (mode < KW_AES_CBC || mode > KW_AES_ECB || i > 2)
		return NULL;
	return names[mode][i];
}

static int mode_check(enum kw_aes_mode mode, bool encrypt, size_t ivlen, size_t inlen)
{
	bool blocks = inlen % KW_AES_BLOCK_BYTES == 0;

	if (!kw_fits_int(inlen) || inlen > SIZE_MAX - KW_AES_BLOCK_BYTES)
		return KW_ERR_TOO_LARGE;
	if (mode == KW_AES_ECB ? ivlen != 0 : ivlen != KW_AES_BLOCK_BYTES)
		return KW_ERR_INVALID;
	if ((mode == KW_AES_CBC || mode == KW_AES_ECB) && !blocks)
		return KW_ERR_INVALID;
	/* A padded ciphertext is whole blocks, at least one. */
	if (mode == KW_AES_CBC_PAD && !encrypt && (!blocks || inlen == 0))
		return KW_ERR_INVALID;
	return 0;
}

int kw_aes_cipher(enum kw_aes_mode mode, bool encrypt, const uint8_t *key, size_t keylen,
                  const uint8_t *iv, size_t ivlen, const uint8_t *in, size_t inlen, uint8_t *out,
                  size_t *outlen)
{
	const char *name = mode_cipher_name(mode, keylen);
	EVP_CIPHER *c = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n1 = 0, n2 = 0, rc;

	if (name == NULL || key == NULL || out == NULL || outlen == NULL || (iv == NULL && ivlen) ||
	    (in == NULL && inlen))
		return KW_ERR_INVALID;
	if ((rc = mode_check(mode, encrypt, ivlen, inlen)) != 0)
		return rc;
	rc = KW_ERR_NOMEM;
	if ((c = EVP_CIPHER_fetch(NULL, name, NULL)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	rc = KW_ERR_CRYPTO;
	if (EVP_CipherInit_ex2(ctx, c, key, ivlen ? iv : NULL, encrypt ? 1 : 0, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, mode == KW_AES_CBC_PAD) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, out, &n1, in ? in : (const uint8_t *)"", (int)inlen) != 1)
		goto out;
	/* Only a bad PKCS#7 padding fails here; all such cases read alike. */
	if (EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1) {
		rc = KW_ERR_DECRYPT;
		kw_wipe(out, (size_t)n1);
		goto out;
	}
	*outlen = (size_t)n1 + (size_t)n2;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	ERR_clear_error();
	return rc;
}

static const char *wrap_cipher_name(bool pad, size_t keklen)
{
	if (keklen == 16)
		return pad ? "AES-128-WRAP-PAD" : "AES-128-WRAP";
	if (keklen == 24)
		return pad ? "AES-192-WRAP-PAD" : "AES-192-WRAP";
	if (keklen == 32)
		return pad ? "AES-256-WRAP-PAD" : "AES-256-WRAP";
	return NULL;
}

/* One wrap or unwrap into out (capacity cap). */
static int wrap_run(bool pad, bool wrap, const uint8_t *kek, size_t keklen, const uint8_t *in,
                    size_t inlen, uint8_t *out, size_t *outlen)
{
	const char *name = wrap_cipher_name(pad, keklen);
	EVP_CIPHER *c = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n1 = 0, n2 = 0, rc = KW_ERR_NOMEM;

	if (name == NULL)
		return KW_ERR_INVALID;
	if ((c = EVP_CIPHER_fetch(NULL, name, NULL)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	rc = KW_ERR_CRYPTO;
	if (EVP_CipherInit_ex2(ctx, c, kek, NULL, wrap ? 1 : 0, NULL) != 1)
		goto out;
	rc = wrap ? KW_ERR_CRYPTO : KW_ERR_DECRYPT;
	if (EVP_CipherUpdate(ctx, out, &n1, in, (int)inlen) != 1 || n1 < 0 ||
	    EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1)
		goto out;
	*outlen = (size_t)n1 + (size_t)n2;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	ERR_clear_error();
	return rc;
}

int kw_aes_key_wrap(bool pad, const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
                    uint8_t **out, size_t *outlen)
{
	size_t cap, len = 0;
	uint8_t *buf;
	int rc;

	if (kek == NULL || in == NULL || !kw_fits_int(inlen) || inlen > INT32_MAX - 16)
		return KW_ERR_INVALID;
	if (pad ? inlen == 0 : inlen < KW_WRAP_MIN_BYTES || inlen % KW_SEMIBLOCK_BYTES != 0)
		return KW_ERR_INVALID;
	cap = (inlen + KW_SEMIBLOCK_BYTES - 1) / KW_SEMIBLOCK_BYTES * KW_SEMIBLOCK_BYTES +
	      2 * KW_SEMIBLOCK_BYTES;
	if ((buf = malloc(cap)) == NULL)
		return KW_ERR_NOMEM;
	if ((rc = wrap_run(pad, true, kek, keklen, in, inlen, buf, &len)) != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int kw_aes_key_unwrap(bool pad, const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
                      uint8_t **out, size_t *outlen)
{
	size_t len = 0;
	uint8_t *buf;
	int rc;

	if (kek == NULL || !kw_fits_int(inlen))
		return KW_ERR_INVALID;
	if (wrap_cipher_name(pad, keklen) == NULL)
		return KW_ERR_INVALID;
	/* Shorter than IV + one block, or not whole semiblocks: cannot be ours. */
	if (in == NULL || inlen < (pad ? 2 : 3) * KW_SEMIBLOCK_BYTES ||
	    inlen % KW_SEMIBLOCK_BYTES != 0)
		return KW_ERR_DECRYPT;
	if ((buf = kw_secure_alloc(inlen)) == NULL)
		return KW_ERR_NOMEM;
	if ((rc = wrap_run(pad, false, kek, keklen, in, inlen, buf, &len)) != 0) {
		kw_secure_free(buf, inlen);
		return rc;
	}
	if (len < inlen)
		kw_wipe(buf + len, inlen - len);
	/* Callers free with the length they get: copy to an exact-size block. */
	if (len != inlen) {
		uint8_t *exact = kw_secure_alloc(len ? len : 1);
		if (exact == NULL) {
			kw_secure_free(buf, inlen);
			return KW_ERR_NOMEM;
		}
		memcpy(exact, buf, len);
		kw_secure_free(buf, inlen);
		buf = exact;
	}
	*out = buf;
	*outlen = len;
	return 0;
}
