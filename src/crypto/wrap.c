/*
 * wrap.c: key material wrapped under the root key for the store.
 * AES-256-GCM, random 96-bit nonce, out = nonce || ciphertext || tag; the
 * associated data names the blob's place so a moved or edited row fails.
 */
#include <stdlib.h>

#include "crypto_impl.h"

#define WRAP_OVERHEAD (KW_AEAD_NONCE_BYTES + KW_AEAD_TAG_BYTES)

int kw_wrap(const uint8_t kek[KW_ROOT_KEY_BYTES], const uint8_t *aad, size_t aadlen,
            const uint8_t *pt, size_t ptlen, uint8_t **out, size_t *outlen)
{
	uint8_t *buf;
	int rc;

	if (kek == NULL || (pt == NULL && ptlen > 0))
		return KW_ERR_INVALID;
	if (ptlen > SIZE_MAX - WRAP_OVERHEAD)
		return KW_ERR_TOO_LARGE;
	buf = malloc(ptlen + WRAP_OVERHEAD);
	if (buf == NULL)
		return KW_ERR_NOMEM;
	rc = kw_random(buf, KW_AEAD_NONCE_BYTES);
	if (rc == 0)
		rc = kw_aead_seal_raw(KW_KEY_AES256_GCM96, kek, KW_ROOT_KEY_BYTES, buf,
		                      KW_AEAD_NONCE_BYTES, aad, aadlen, pt, ptlen,
		                      buf + KW_AEAD_NONCE_BYTES, buf + KW_AEAD_NONCE_BYTES + ptlen,
		                      KW_AEAD_TAG_BYTES);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = ptlen + WRAP_OVERHEAD;
	return 0;
}

int kw_unwrap(const uint8_t kek[KW_ROOT_KEY_BYTES], const uint8_t *aad, size_t aadlen,
              const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	size_t ptlen;
	uint8_t *buf;
	int rc;

	if (kek == NULL)
		return KW_ERR_INVALID;
	/* A truncated row is as much an integrity failure as an edited one. */
	if (in == NULL || inlen < WRAP_OVERHEAD)
		return KW_ERR_INTEGRITY;
	ptlen = inlen - WRAP_OVERHEAD;
	buf = kw_secure_alloc(ptlen);
	if (buf == NULL)
		return KW_ERR_NOMEM;
	rc = kw_aead_open_raw(KW_KEY_AES256_GCM96, kek, KW_ROOT_KEY_BYTES, in, KW_AEAD_NONCE_BYTES,
	                      aad, aadlen, in + KW_AEAD_NONCE_BYTES, ptlen,
	                      in + inlen - KW_AEAD_TAG_BYTES, KW_AEAD_TAG_BYTES, buf);
	if (rc != 0) {
		kw_secure_free(buf, ptlen);
		return rc == KW_ERR_DECRYPT ? KW_ERR_INTEGRITY : rc;
	}
	*out = buf;
	*outlen = ptlen;
	return 0;
}
