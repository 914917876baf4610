/*
 * crypto_impl.h: what the files of src/crypto share with each other and with
 * nobody else. Other modules include crypto.h only.
 */
#ifndef KW_CRYPTO_IMPL_H
#define KW_CRYPTO_IMPL_H

#include <limits.h>

#include <openssl/evp.h>

#include "crypto.h"

/* The EVP digest for h; NULL for KW_HASH_NONE or an out-of-range value. */
const EVP_MD *kw_hash_md(enum kw_hash h);

/* The key's EVP_PKEY (borrowed); NULL for symmetric keys. */
EVP_PKEY *kw_key_pkey(const struct kw_key *k);
/* False for keys made by kw_key_from_public_der(). */
bool kw_key_has_private(const struct kw_key *k);

/* EVP takes int lengths; everything we pass through it is checked first. */
static inline bool kw_fits_int(size_t n)
{
	return n <= (size_t)INT_MAX;
}

#endif
