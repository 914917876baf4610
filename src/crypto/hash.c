/*
 * hash.c: one-shot message digests and random bytes. The only part of the
 * module the front needs (hashing public data for the audit log).
 */
#include <openssl/rand.h>

#include "crypto_impl.h"

int kw_hash_digest(enum kw_hash h, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	const EVP_MD *md = kw_hash_md(h);
	unsigned int n = 0;

	if (md == NULL)
		return KW_ERR_UNSUPPORTED;
	if (in == NULL && len > 0)
		return KW_ERR_INVALID;
	/* EVP_Digest takes size_t, so no length limit applies here. */
	if (EVP_Digest(len ? in : (const uint8_t *)"", len, out, &n, md, NULL) != 1)
		return KW_ERR_CRYPTO;
	*outlen = n;
	return 0;
}

int kw_random(uint8_t *out, size_t len)
{
	/* RAND_priv_bytes takes an int: fill large requests in chunks. */
	while (len > 0) {
		size_t n = len > (size_t)INT_MAX ? (size_t)INT_MAX : len;

		if (RAND_priv_bytes(out, (int)n) != 1)
			return KW_ERR_CRYPTO;
		out += n;
		len -= n;
	}
	return 0;
}
