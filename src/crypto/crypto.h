/*
 * crypto: every algorithm keyward offers, over OpenSSL 3 EVP, and nothing
 * else. One file per family (aead.c, sig.c, mac.c, hash.c, keyobj.c, wrap.c,
 * shamir.c, kat.c).
 *
 * Runs in the keeper (all of it) and in tests; the front links only what it
 * needs for public data (kw_hash_*). Never logs.
 *
 * Secrets: a struct kw_key holds private material — symmetric bytes in the
 * secure heap, asymmetric keys as EVP_PKEY whose private BIGNUMs OpenSSL keeps
 * in the secure heap once kw_secure_heap_init() ran. Serialised private keys
 * come back in kw_secure_alloc() memory; callers free them with
 * kw_secure_free(). Error paths wipe every temporary.
 *
 * Threads: a struct kw_key is immutable after creation and may be used by
 * several threads at once (OpenSSL 3 EVP_PKEY is safe for concurrent
 * sign/verify with a fresh EVP_PKEY_CTX per call).
 */
#ifndef KW_CRYPTO_H
#define KW_CRYPTO_H

#include "../common/common.h"

/* Key types, with Vault's names. Values are stable: they are stored. */
enum kw_key_type {
	KW_KEY_NONE = 0,
	KW_KEY_AES128_GCM96 = 1,
	KW_KEY_AES256_GCM96 = 2,
	KW_KEY_CHACHA20_POLY1305 = 3,
	KW_KEY_HMAC = 4,
	KW_KEY_ECDSA_P256 = 5,
	KW_KEY_ECDSA_P384 = 6,
	KW_KEY_ECDSA_P521 = 7,
	KW_KEY_ED25519 = 8,
	KW_KEY_RSA_2048 = 9,
	KW_KEY_RSA_3072 = 10,
	KW_KEY_RSA_4096 = 11,
};
#define KW_KEY_TYPE_MAX 11

const char *kw_key_type_name(enum kw_key_type t); /* "aes256-gcm96"; NULL if invalid */
int kw_key_type_from_name(const char *name, enum kw_key_type *out) KW_MUST_CHECK;
bool kw_key_type_is_aead(enum kw_key_type t);       /* aes*, chacha20 */
bool kw_key_type_is_asymmetric(enum kw_key_type t); /* ecdsa*, ed25519, rsa* */
bool kw_key_type_can_sign(enum kw_key_type t);      /* ecdsa*, ed25519, rsa* */
bool kw_key_type_can_encrypt(enum kw_key_type t);   /* aead types and rsa* (OAEP) */
bool kw_key_type_is_rsa(enum kw_key_type t);
bool kw_key_type_is_ecdsa(enum kw_key_type t);

/* Hashes, with Vault's names ("sha2-256", "sha3-384", "sha1"). */
enum kw_hash {
	KW_HASH_NONE = 0,
	KW_HASH_SHA1,
	KW_HASH_SHA224,
	KW_HASH_SHA256,
	KW_HASH_SHA384,
	KW_HASH_SHA512,
	KW_HASH_SHA3_224,
	KW_HASH_SHA3_256,
	KW_HASH_SHA3_384,
	KW_HASH_SHA3_512,
};
#define KW_HASH_MAX_BYTES 64
const char *kw_hash_name(enum kw_hash h);
/* Accepts Vault names, also "sha256", "sha384", "sha512", "sha224". */
int kw_hash_from_name(const char *name, enum kw_hash *out) KW_MUST_CHECK;
size_t kw_hash_size(enum kw_hash h);
int kw_hash_digest(enum kw_hash h, const uint8_t *in, size_t len, uint8_t *out,
                   size_t *outlen) KW_MUST_CHECK;

/* Random bytes from OpenSSL's private DRBG. */
int kw_random(uint8_t *out, size_t len) KW_MUST_CHECK;

/* ---- key objects (keyobj.c) ---- */
struct kw_key;

#define KW_HMAC_KEY_DEFAULT_BYTES 32
#define KW_HMAC_KEY_MIN_BYTES     32
#define KW_HMAC_KEY_MAX_BYTES     512
#define KW_AEAD_NONCE_BYTES       12
#define KW_AEAD_TAG_BYTES         16

/* Generate a fresh key. size is the HMAC key length in bytes for KW_KEY_HMAC
 * (0 = default); ignored for other types. */
int kw_key_generate(enum kw_key_type t, size_t size, struct kw_key **out) KW_MUST_CHECK;
/*
 * Private serialisation, the bytes that get wrapped and stored: raw key bytes
 * for symmetric types, PKCS#8 DER for asymmetric ones. Output in secure memory.
 */
int kw_key_encode(const struct kw_key *k, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
int kw_key_decode(enum kw_key_type t, const uint8_t *in, size_t len,
                  struct kw_key **out) KW_MUST_CHECK;
/* A public-only key (can verify, cannot sign) from SubjectPublicKeyInfo DER. */
int kw_key_from_public_der(enum kw_key_type t, const uint8_t *der, size_t len,
                           struct kw_key **out) KW_MUST_CHECK;
void kw_key_free(struct kw_key *k);
enum kw_key_type kw_key_type_of(const struct kw_key *k);
/* Symmetric key bytes (secure memory, owned by the key). KW_ERR_KEY_TYPE if asymmetric. */
int kw_key_raw(const struct kw_key *k, const uint8_t **p, size_t *len) KW_MUST_CHECK;
/*
 * Public key text as Vault returns it from keys/:name: PEM SubjectPublicKeyInfo
 * for ECDSA and RSA, standard base64 of the 32 raw bytes for Ed25519.
 * KW_ERR_KEY_TYPE for symmetric keys. Result malloc'd.
 */
int kw_key_public_text(const struct kw_key *k, char **out) KW_MUST_CHECK;
/* SubjectPublicKeyInfo DER, malloc'd. */
int kw_key_public_der(const struct kw_key *k, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
/*
 * Export text as Vault's export endpoint returns it (for exportable keys
 * only; the caller enforces that): base64 raw bytes for symmetric keys,
 * PEM private key ("EC PRIVATE KEY" / "RSA PRIVATE KEY") for ECDSA and RSA,
 * base64 of seed||public (64 bytes) for Ed25519. Output in secure memory,
 * NUL-terminated; *outlen excludes the NUL. Free with kw_secure_free(p, len+1).
 */
int kw_key_export_text(const struct kw_key *k, char **out, size_t *outlen) KW_MUST_CHECK;

/* ---- AEAD (aead.c): aes*-gcm96 and chacha20-poly1305 keys ---- */
/*
 * Vault's layout: out = nonce(12) || ciphertext || tag(16), nonce random.
 * Output malloc'd (it is ciphertext, public).
 */
int kw_aead_encrypt(const struct kw_key *k, const uint8_t *pt, size_t ptlen, const uint8_t *aad,
                    size_t aadlen, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
/* KW_ERR_DECRYPT on a bad tag or short input. Output plaintext malloc'd;
 * the caller wipes it before freeing. */
int kw_aead_decrypt(const struct kw_key *k, const uint8_t *in, size_t inlen, const uint8_t *aad,
                    size_t aadlen, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
/*
 * Raw primitives for tests and for wrapping: explicit IV and tag, any IV
 * length OpenSSL accepts for GCM (12 for ChaCha20-Poly1305). The type selects
 * the cipher (AES by key length 16/24/32, or ChaCha20-Poly1305).
 */
int kw_aead_seal_raw(enum kw_key_type t, const uint8_t *key, size_t keylen, const uint8_t *iv,
                     size_t ivlen, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                     size_t ptlen, uint8_t *ct, uint8_t *tag, size_t taglen) KW_MUST_CHECK;
int kw_aead_open_raw(enum kw_key_type t, const uint8_t *key, size_t keylen, const uint8_t *iv,
                     size_t ivlen, const uint8_t *aad, size_t aadlen, const uint8_t *ct,
                     size_t ctlen, const uint8_t *tag, size_t taglen, uint8_t *pt) KW_MUST_CHECK;

/* ---- RSA encryption (aead.c): OAEP with SHA-256 (Vault's default) ---- */
int kw_rsa_oaep_encrypt(const struct kw_key *k, enum kw_hash h, const uint8_t *pt, size_t ptlen,
                        uint8_t **out, size_t *outlen) KW_MUST_CHECK;
int kw_rsa_oaep_decrypt(const struct kw_key *k, enum kw_hash h, const uint8_t *in, size_t inlen,
                        uint8_t **out, size_t *outlen) KW_MUST_CHECK;

/* ---- wrapping under the root key (wrap.c) ---- */
#define KW_ROOT_KEY_BYTES 32
/*
 * AES-256-GCM with a random nonce; out = nonce || ct || tag. The associated
 * data binds the blob to its place (key name, type, version), so a row moved
 * or edited in the store fails to unwrap with KW_ERR_INTEGRITY. Unwrapped
 * output is in secure memory (free with kw_secure_free(p, len)).
 */
int kw_wrap(const uint8_t kek[KW_ROOT_KEY_BYTES], const uint8_t *aad, size_t aadlen,
            const uint8_t *pt, size_t ptlen, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
int kw_unwrap(const uint8_t kek[KW_ROOT_KEY_BYTES], const uint8_t *aad, size_t aadlen,
              const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen) KW_MUST_CHECK;

/* ---- signatures (sig.c) ---- */
enum kw_rsa_padding { KW_RSA_PSS = 0, KW_RSA_PKCS1V15 = 1 };
enum kw_ecdsa_marshal { KW_ECDSA_ASN1 = 0, KW_ECDSA_JWS = 1 }; /* DER, or raw r||s */
#define KW_SIG_MAX_BYTES 1024

struct kw_sign_params {
	enum kw_hash hash;             /* ignored for Ed25519 */
	bool prehashed;                /* input is already a digest of hash's size */
	enum kw_rsa_padding padding;   /* RSA only */
	enum kw_ecdsa_marshal marshal; /* ECDSA only */
	int salt_len;                  /* RSA-PSS: -1 = hash length (Vault's "auto" on sign) */
};
/* Defaults as Vault: sha2-256, not prehashed, PSS, ASN.1, salt = hash length. */
void kw_sign_params_default(struct kw_sign_params *p);
/*
 * Sign in with k. KW_ERR_KEY_TYPE for a key that cannot sign; KW_ERR_INVALID
 * when prehashed input has the wrong length, or prehashed with Ed25519.
 * out malloc'd.
 */
int kw_sign(const struct kw_key *k, const struct kw_sign_params *p, const uint8_t *in, size_t inlen,
            uint8_t **out, size_t *outlen) KW_MUST_CHECK;
/* *valid false for a well-formed but wrong signature; errors only for misuse. */
int kw_verify(const struct kw_key *k, const struct kw_sign_params *p, const uint8_t *in,
              size_t inlen, const uint8_t *sig, size_t siglen, bool *valid) KW_MUST_CHECK;

/* ---- MAC (mac.c) ---- */
int kw_hmac(enum kw_hash h, const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
            uint8_t *out, size_t *outlen) KW_MUST_CHECK;

/* ---- Shamir secret sharing over GF(2^8) (shamir.c), Vault's share layout ---- */
#define KW_SHAMIR_SHARES_MAX 255
/*
 * Split secret into n shares, any t of which recover it (2 <= t <= n <= 255,
 * or t == n == 1 where the share is the secret with an x byte). Each share is
 * secretlen + 1 bytes: the y values followed by the x coordinate (as Vault).
 * shares is n * (secretlen + 1) bytes in secure memory.
 */
int kw_shamir_split(const uint8_t *secret, size_t secretlen, unsigned n, unsigned t,
                    uint8_t **shares) KW_MUST_CHECK;
/* Combine count shares of sharelen bytes each; distinct x required.
 * secret_out has sharelen - 1 bytes. */
int kw_shamir_combine(const uint8_t *const *shares, unsigned count, size_t sharelen,
                      uint8_t *secret_out) KW_MUST_CHECK;

/* ---- power-up self-tests (kat.c) ---- */
/* Known-answer tests for every algorithm above. On failure returns
 * KW_ERR_SELFTEST and sets *failed to the test's name. The environment
 * variable KEYWARD_SELFTEST_FAIL=<name> forces that test to fail (for
 * testing the refusal path; it can only stop keyward from working). */
int kw_crypto_selftest(const char **failed) KW_MUST_CHECK;

/* ---- PKCS#11 primitives (rsaraw.c, ecdh.c, aesmodes.c) ---- */

/*
 * RSA PKCS#1 v1.5 signature (type-1 padding, RFC 8017 8.2.1 step 2 onwards)
 * over exactly in, which the caller has checked (a DigestInfo for
 * CKM_RSA_PKCS and TLS 1.2). KW_ERR_INVALID when in does not fit the
 * modulus (more than its size - 11 bytes). out malloc'd.
 */
int kw_rsa_sign_pkcs1_raw(const struct kw_key *k, const uint8_t *in, size_t inlen, uint8_t **out,
                          size_t *outlen) KW_MUST_CHECK;
/* Is in a DER DigestInfo (RFC 8017 9.2, NULL parameters) of SHA-1, SHA-224,
 * SHA-256, SHA-384, SHA-512 or SHA3-*, with a digest of the right length?
 * Sets *h (may be NULL). */
bool kw_rsa_digestinfo_check(const uint8_t *in, size_t inlen, enum kw_hash *h);

enum kw_rsa_dec_padding { KW_RSA_DEC_OAEP = 0, KW_RSA_DEC_PKCS1V15 = 1 };
#define KW_OAEP_LABEL_MAX 4096
struct kw_rsa_dec_params {
	enum kw_rsa_dec_padding padding;
	enum kw_hash hash, mgf1_hash; /* OAEP; NONE = SHA-256, mgf1 NONE = hash */
	const uint8_t *label;         /* OAEP; may be NULL */
	size_t labellen;
};
/*
 * RSA decryption. OAEP: KW_ERR_DECRYPT for every failure. PKCS#1 v1.5 uses
 * implicit rejection (draft-irtf-cfrg-rsa-guidance): a malformed padding
 * yields a deterministic pseudo-random message instead of an error, in
 * constant time, so no padding oracle exists (Bleichenbacher, Marvin). The
 * only v1.5 errors are a ciphertext of the wrong length or value >= n.
 * Output malloc'd; the caller wipes it before freeing.
 */
int kw_rsa_decrypt(const struct kw_key *k, const struct kw_rsa_dec_params *p, const uint8_t *in,
                   size_t inlen, uint8_t **out, size_t *outlen) KW_MUST_CHECK;

/*
 * ECDH (SP 800-56A, cofactor 1 curves) of an ecdsa-p256/p384/p521 private
 * key with a peer public key given as an uncompressed SEC1 point or as
 * SubjectPublicKeyInfo DER on the same curve. The peer point is validated
 * (on the curve, not infinity). KW_ERR_INVALID for a peer key that does not
 * parse or is on another curve, KW_ERR_KEY_TYPE for a non-EC key. The
 * shared secret (x coordinate, field size bytes) is in secure memory; free
 * with kw_secure_free(p, len).
 */
int kw_ecdh_derive(const struct kw_key *k, const uint8_t *peer, size_t peerlen, uint8_t **secret,
                   size_t *secretlen) KW_MUST_CHECK;
/* ANSI X9.63 KDF (SEC1 3.6.1) with hash h, as PKCS#11 CKD_SHA*_KDF. */
int kw_x963_kdf(enum kw_hash h, const uint8_t *z, size_t zlen, const uint8_t *info, size_t infolen,
                uint8_t *out, size_t outlen) KW_MUST_CHECK;

enum kw_aes_mode {
	KW_AES_CBC = 1, /* no padding: input a multiple of 16 */
	KW_AES_CBC_PAD, /* PKCS#7 padding */
	KW_AES_CTR,     /* 16-byte initial counter block, 128-bit big-endian counter */
	KW_AES_ECB,     /* no padding */
};
#define KW_AES_BLOCK_BYTES 16
/*
 * One-shot AES in mode with a 16/24/32-byte key. iv is 16 bytes (none for
 * ECB). out must hold inlen + 16 bytes; *outlen is set. KW_ERR_INVALID for
 * a bad key, IV or input length; CBC-PAD decryption with bad padding is
 * KW_ERR_DECRYPT.
 */
int kw_aes_cipher(enum kw_aes_mode mode, bool encrypt, const uint8_t *key, size_t keylen,
                  const uint8_t *iv, size_t ivlen, const uint8_t *in, size_t inlen, uint8_t *out,
                  size_t *outlen) KW_MUST_CHECK;

/*
 * AES key wrap: RFC 3394 (pad false: input a multiple of 8, at least 16
 * bytes) or RFC 5649 (pad true: 1 byte or more), default IVs. Wrap output is
 * inlen + 8 (rounded up to 8 with padding), malloc'd. Unwrap output is in
 * secure memory (free with kw_secure_free(p, len)); KW_ERR_DECRYPT when the
 * integrity check fails or the length is impossible.
 */
int kw_aes_key_wrap(bool pad, const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
                    uint8_t **out, size_t *outlen) KW_MUST_CHECK;
int kw_aes_key_unwrap(bool pad, const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
                      uint8_t **out, size_t *outlen) KW_MUST_CHECK;

#endif
