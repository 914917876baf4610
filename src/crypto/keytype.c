/*
 * keytype.c: key type and hash names (Vault's spellings), the predicates
 * over key types, and the enum-to-EVP_MD mapping.
 */
#include <string.h>

#include "crypto_impl.h"

static const char *const key_type_names[KW_KEY_TYPE_MAX + 1] = {
    [KW_KEY_AES128_GCM96] = "aes128-gcm96",
    [KW_KEY_AES256_GCM96] = "aes256-gcm96",
    [KW_KEY_CHACHA20_POLY1305] = "chacha20-poly1305",
    [KW_KEY_HMAC] = "hmac",
    [KW_KEY_ECDSA_P256] = "ecdsa-p256",
    [KW_KEY_ECDSA_P384] = "ecdsa-p384",
    [KW_KEY_ECDSA_P521] = "ecdsa-p521",
    [KW_KEY_ED25519] = "ed25519",
    [KW_KEY_RSA_2048] = "rsa-2048",
    [KW_KEY_RSA_3072] = "rsa-3072",
    [KW_KEY_RSA_4096] = "rsa-4096",
};

const char *kw_key_type_name(enum kw_key_type t)
{
	if ((int)t <= KW_KEY_NONE || (int)t > KW_KEY_TYPE_MAX)
		return NULL;
	return key_type_names[t];
}

int kw_key_type_from_name(const char *name, enum kw_key_type *out)
{
	if (name == NULL)
		return KW_ERR_INVALID;
	for (int t = KW_KEY_NONE + 1; t <= KW_KEY_TYPE_MAX; t++) {
		if (strcmp(name, key_type_names[t]) == 0) {
			*out = (enum kw_key_type)t;
			return 0;
		}
	}
	return KW_ERR_UNSUPPORTED;
}

bool kw_key_type_is_aead(enum kw_key_type t)
{
	return t == KW_KEY_AES128_GCM96 || t == KW_KEY_AES256_GCM96 ||
	       t == KW_KEY_CHACHA20_POLY1305;
}

bool kw_key_type_is_rsa(enum kw_key_type t)
{
	return t == KW_KEY_RSA_2048 || t == KW_KEY_RSA_3072 || t == KW_KEY_RSA_4096;
}

bool kw_key_type_is_ecdsa(enum kw_key_type t)
{
	return t == KW_KEY_ECDSA_P256 || t == KW_KEY_ECDSA_P384 || t == KW_KEY_ECDSA_P521;
}

bool kw_key_type_is_asymmetric(enum kw_key_type t)
{
	return kw_key_type_is_ecdsa(t) || kw_key_type_is_rsa(t) || t == KW_KEY_ED25519;
}

bool kw_key_type_can_sign(enum kw_key_type t)
{
	return kw_key_type_is_asymmetric(t);
}

bool kw_key_type_can_encrypt(enum kw_key_type t)
{
	return kw_key_type_is_aead(t) || kw_key_type_is_rsa(t);
}

struct hash_info {
	const char *name;  /* Vault's name */
	const char *alias; /* the short spelling some clients send, or NULL */
	size_t size;
	const EVP_MD *(*md)(void);
};

static const struct hash_info hashes[] = {
    [KW_HASH_SHA1] = {"sha1", NULL, 20, EVP_sha1},
    [KW_HASH_SHA224] = {"sha2-224", "sha224", 28, EVP_sha224},
    [KW_HASH_SHA256] = {"sha2-256", "sha256", 32, EVP_sha256},
    [KW_HASH_SHA384] = {"sha2-384", "sha384", 48, EVP_sha384},
    [KW_HASH_SHA512] = {"sha2-512", "sha512", 64, EVP_sha512},
    [KW_HASH_SHA3_224] = {"sha3-224", NULL, 28, EVP_sha3_224},
    [KW_HASH_SHA3_256] = {"sha3-256", NULL, 32, EVP_sha3_256},
    [KW_HASH_SHA3_384] = {"sha3-384", NULL, 48, EVP_sha3_384},
    [KW_HASH_SHA3_512] = {"sha3-512", NULL, 64, EVP_sha3_512},
};

static const struct hash_info *hash_find(enum kw_hash h)
{
	if ((int)h <= KW_HASH_NONE || (size_t)h >= KW_ARRAY_LEN(hashes))
		return NULL;
	return &hashes[h];
}

const char *kw_hash_name(enum kw_hash h)
{
	const struct hash_info *hi = hash_find(h);

	return hi ? hi->name : NULL;
}

int kw_hash_from_name(const char *name, enum kw_hash *out)
{
	if (name == NULL)
		return KW_ERR_INVALID;
	for (size_t h = KW_HASH_NONE + 1; h < KW_ARRAY_LEN(hashes); h++) {
		const struct hash_info *hi = &hashes[h];

		if (strcmp(name, hi->name) == 0 || (hi->alias && strcmp(name, hi->alias) == 0)) {
			*out = (enum kw_hash)h;
			return 0;
		}
	}
	return KW_ERR_UNSUPPORTED;
}

size_t kw_hash_size(enum kw_hash h)
{
	const struct hash_info *hi = hash_find(h);

	return hi ? hi->size : 0;
}

const EVP_MD *kw_hash_md(enum kw_hash h)
{
	const struct hash_info *hi = hash_find(h);

	return hi ? hi->md() : NULL;
}
