/*
 * mac.c: HMAC over any of keyward's hashes, through EVP_MAC.
 */
#include <openssl/err.h>

#include "crypto_impl.h"

int kw_hmac(enum kw_hash h, const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
            uint8_t *out, size_t *outlen)
{
	const EVP_MD *md = kw_hash_md(h);
	size_t n = 0;

	if (md == NULL)
		return KW_ERR_UNSUPPORTED;
	if ((key == NULL && keylen > 0) || (in == NULL && inlen > 0) || out == NULL)
		return KW_ERR_INVALID;
	/* An empty key is legal HMAC (RFC 2104 pads it); OpenSSL wants a non-NULL pointer. */
	if (EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL,
	              keylen ? key : (const uint8_t *)"", keylen, inlen ? in : (const uint8_t *)"",
	              inlen, out, KW_HASH_MAX_BYTES, &n) == NULL) {
		ERR_clear_error();
		return KW_ERR_CRYPTO;
	}
	*outlen = n;
	return 0;
}
