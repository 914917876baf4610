/* test_sig.c: signatures — every signing type, both encodings, prehashed input, misuse. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_tests.h"

static const uint8_t msg[] = "sign me, then check me";

/* Sign msg with p, check it verifies, and that a flipped bit in msg or sig does not. */
static void sign_verify(const struct kw_key *k, const struct kw_sign_params *p)
{
	uint8_t *sig = NULL;
	size_t siglen = 0;
	uint8_t other[sizeof(msg)];
	bool valid = false;

	assert_int_equal(kw_sign(k, p, msg, sizeof(msg), &sig, &siglen), 0);
	assert_true(siglen > 0 && siglen <= KW_SIG_MAX_BYTES);
	assert_int_equal(kw_verify(k, p, msg, sizeof(msg), sig, siglen, &valid), 0);
	assert_true(valid);
	memcpy(other, msg, sizeof(msg));
	other[3] ^= 0x10;
	assert_int_equal(kw_verify(k, p, other, sizeof(other), sig, siglen, &valid), 0);
	assert_false(valid);
	sig[siglen / 2] ^= 0x01;
	assert_int_equal(kw_verify(k, p, msg, sizeof(msg), sig, siglen, &valid), 0);
	assert_false(valid);
	free(sig);
}

static const enum kw_hash sig_hashes[] = {
    KW_HASH_SHA1,     KW_HASH_SHA224,   KW_HASH_SHA256,   KW_HASH_SHA384,   KW_HASH_SHA512,
    KW_HASH_SHA3_224, KW_HASH_SHA3_256, KW_HASH_SHA3_384, KW_HASH_SHA3_512,
};

static void ecdsa_all(enum kw_key_type t)
{
	struct kw_sign_params p;
	struct kw_key *k = NULL;

	kw_sign_params_default(&p);
	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	for (size_t i = 0; i < KW_ARRAY_LEN(sig_hashes); i++) {
		p.hash = sig_hashes[i];
		p.marshal = KW_ECDSA_ASN1;
		sign_verify(k, &p);
		p.marshal = KW_ECDSA_JWS;
		sign_verify(k, &p);
	}
	kw_key_free(k);
}

static void rsa_all(enum kw_key_type t, bool all_hashes)
{
	struct kw_sign_params p;
	struct kw_key *k = NULL;

	kw_sign_params_default(&p);
	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	for (size_t i = 0; i < KW_ARRAY_LEN(sig_hashes); i++) {
		if (!all_hashes && sig_hashes[i] != KW_HASH_SHA256)
			continue;
		p.hash = sig_hashes[i];
		p.padding = KW_RSA_PSS;
		sign_verify(k, &p);
		p.padding = KW_RSA_PKCS1V15;
		sign_verify(k, &p);
	}
	kw_key_free(k);
}

void test_sign_roundtrip(void **state)
{
	struct kw_sign_params p;
	struct kw_key *k = NULL;

	ecdsa_all(KW_KEY_ECDSA_P256);
	ecdsa_all(KW_KEY_ECDSA_P384);
	ecdsa_all(KW_KEY_ECDSA_P521);
	rsa_all(KW_KEY_RSA_2048, true);
	rsa_all(KW_KEY_RSA_3072, false);
	rsa_all(KW_KEY_RSA_4096, false);
	/* Ed25519 ignores the hash: any value signs the same way. */
	kw_sign_params_default(&p);
	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &k), 0);
	sign_verify(k, &p);
	p.hash = KW_HASH_NONE;
	sign_verify(k, &p);
	kw_key_free(k);
}

/*
 * A signature over a caller-made digest is a signature over the message:
 * it verifies in message form, and for deterministic PKCS#1 v1.5 it is
 * byte-for-byte the same.
 */
static void prehashed_matches(enum kw_key_type t, enum kw_hash h, enum kw_rsa_padding pad)
{
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	uint8_t dgst[KW_HASH_MAX_BYTES];
	uint8_t *sig1 = NULL, *sig2 = NULL;
	size_t dlen, len1, len2;
	bool valid = false;

	kw_sign_params_default(&p);
	p.hash = h;
	p.padding = pad;
	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	assert_int_equal(kw_hash_digest(h, msg, sizeof(msg), dgst, &dlen), 0);
	p.prehashed = true;
	assert_int_equal(kw_sign(k, &p, dgst, dlen, &sig1, &len1), 0);
	assert_int_equal(kw_verify(k, &p, dgst, dlen, sig1, len1, &valid), 0);
	assert_true(valid);
	p.prehashed = false;
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), sig1, len1, &valid), 0);
	assert_true(valid);
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig2, &len2), 0);
	p.prehashed = true;
	assert_int_equal(kw_verify(k, &p, dgst, dlen, sig2, len2, &valid), 0);
	assert_true(valid);
	if (kw_key_type_is_rsa(t) && pad == KW_RSA_PKCS1V15) {
		assert_int_equal(len1, len2);
		assert_memory_equal(sig1, sig2, len1);
	}
	free(sig1);
	free(sig2);
	kw_key_free(k);
}

void test_sign_prehashed(void **state)
{
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	uint8_t dgst[KW_HASH_MAX_BYTES] = {0};
	uint8_t *sig = NULL;
	size_t siglen;
	bool valid;

	prehashed_matches(KW_KEY_ECDSA_P256, KW_HASH_SHA256, KW_RSA_PSS);
	prehashed_matches(KW_KEY_ECDSA_P384, KW_HASH_SHA512, KW_RSA_PSS);
	prehashed_matches(KW_KEY_RSA_2048, KW_HASH_SHA256, KW_RSA_PKCS1V15);
	prehashed_matches(KW_KEY_RSA_2048, KW_HASH_SHA384, KW_RSA_PSS);
	prehashed_matches(KW_KEY_RSA_2048, KW_HASH_SHA1, KW_RSA_PKCS1V15);
	/* The digest must be exactly the hash's size. */
	kw_sign_params_default(&p);
	p.prehashed = true;
	assert_int_equal(kw_key_generate(KW_KEY_ECDSA_P256, 0, &k), 0);
	assert_int_equal(kw_sign(k, &p, dgst, 31, &sig, &siglen), KW_ERR_INVALID);
	assert_int_equal(kw_sign(k, &p, dgst, 33, &sig, &siglen), KW_ERR_INVALID);
	assert_int_equal(kw_verify(k, &p, dgst, 48, dgst, 64, &valid), KW_ERR_INVALID);
	kw_key_free(k);
	/* Pure Ed25519 has no prehashed form. */
	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &k), 0);
	assert_int_equal(kw_sign(k, &p, dgst, 32, &sig, &siglen), KW_ERR_INVALID);
	assert_int_equal(kw_verify(k, &p, dgst, 32, dgst, 64, &valid), KW_ERR_INVALID);
	assert_null(sig);
	kw_key_free(k);
}

void test_sign_misuse(void **state)
{
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	uint8_t *sig = NULL;
	size_t siglen;
	bool valid = true;

	kw_sign_params_default(&p);
	assert_int_equal(p.hash, KW_HASH_SHA256);
	assert_false(p.prehashed);
	assert_int_equal(p.padding, KW_RSA_PSS);
	assert_int_equal(p.marshal, KW_ECDSA_ASN1);
	assert_int_equal(p.salt_len, -1);
	/* Keys that cannot sign. */
	assert_int_equal(kw_key_generate(KW_KEY_AES256_GCM96, 0, &k), 0);
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen), KW_ERR_KEY_TYPE);
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), msg, 8, &valid), KW_ERR_KEY_TYPE);
	kw_key_free(k);
	assert_int_equal(kw_key_generate(KW_KEY_HMAC, 0, &k), 0);
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen), KW_ERR_KEY_TYPE);
	kw_key_free(k);
	/* No hash for ECDSA; an unknown marshaling. */
	assert_int_equal(kw_key_generate(KW_KEY_ECDSA_P256, 0, &k), 0);
	p.hash = KW_HASH_NONE;
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen), KW_ERR_UNSUPPORTED);
	p.hash = KW_HASH_SHA256;
	p.marshal = (enum kw_ecdsa_marshal)7;
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen), KW_ERR_INVALID);
	kw_key_free(k);
	/* An empty or missing signature is just not valid. */
	kw_sign_params_default(&p);
	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &k), 0);
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), NULL, 0, &valid), 0);
	assert_false(valid);
	kw_key_free(k);
	assert_null(sig);
}

static size_t sig_len(const struct kw_key *k, const struct kw_sign_params *p, uint8_t **sig)
{
	size_t len = 0;

	assert_int_equal(kw_sign(k, p, msg, sizeof(msg), sig, &len), 0);
	return len;
}

static void jws_one(enum kw_key_type t, enum kw_hash h, size_t n)
{
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	uint8_t *sig = NULL, *der = NULL, *longer;
	size_t len, derlen;
	bool valid = true;

	kw_sign_params_default(&p);
	p.hash = h;
	p.marshal = KW_ECDSA_JWS;
	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	len = sig_len(k, &p, &sig);
	assert_int_equal(len, 2 * n);
	/* One byte more or less is a malformed, hence invalid, JWS signature. */
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), sig, len - 1, &valid), 0);
	assert_false(valid);
	longer = calloc(1, len + 1);
	assert_non_null(longer);
	memcpy(longer, sig, len);
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), longer, len + 1, &valid), 0);
	assert_false(valid);
	memmove(longer + 1, longer, len);
	longer[0] = 0;
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), longer, len + 1, &valid), 0);
	assert_false(valid);
	/* The two encodings are not interchangeable. */
	p.marshal = KW_ECDSA_ASN1;
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), sig, len, &valid), 0);
	assert_false(valid);
	derlen = sig_len(k, &p, &der);
	assert_int_equal(der[0], 0x30);
	p.marshal = KW_ECDSA_JWS;
	if (derlen != 2 * n) {
		assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), der, derlen, &valid), 0);
		assert_false(valid);
	}
	free(longer);
	free(sig);
	free(der);
	kw_key_free(k);
}

void test_ecdsa_jws_format(void **state)
{
	jws_one(KW_KEY_ECDSA_P256, KW_HASH_SHA256, 32);
	jws_one(KW_KEY_ECDSA_P384, KW_HASH_SHA384, 48);
	jws_one(KW_KEY_ECDSA_P521, KW_HASH_SHA512, 66);
}

static bool verify_with_salt(const struct kw_key *k, int salt, const uint8_t *sig, size_t len)
{
	struct kw_sign_params p;
	bool valid = false;

	kw_sign_params_default(&p);
	p.salt_len = salt;
	assert_int_equal(kw_verify(k, &p, msg, sizeof(msg), sig, len, &valid), 0);
	return valid;
}

void test_rsa_pss_salt(void **state)
{
	/* 2048-bit PSS with SHA-256: the salt is at most 256 - 32 - 2 bytes. */
	const int max_salt = 256 - 32 - 2;
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	uint8_t *sig = NULL;
	size_t len;

	kw_sign_params_default(&p);
	assert_int_equal(kw_key_generate(KW_KEY_RSA_2048, 0, &k), 0);
	/* -1 signs with a hash-length salt, which verifies as 32 and as "auto". */
	len = sig_len(k, &p, &sig);
	assert_true(verify_with_salt(k, 32, sig, len));
	assert_true(verify_with_salt(k, -1, sig, len));
	assert_false(verify_with_salt(k, 20, sig, len));
	free(sig);
	/* Salts made elsewhere (none, or Go's maximum) verify with -1. */
	p.salt_len = 0;
	len = sig_len(k, &p, &sig);
	assert_true(verify_with_salt(k, -1, sig, len));
	assert_true(verify_with_salt(k, 0, sig, len));
	free(sig);
	p.salt_len = max_salt;
	len = sig_len(k, &p, &sig);
	assert_true(verify_with_salt(k, -1, sig, len));
	assert_false(verify_with_salt(k, 32, sig, len));
	free(sig);
	sig = NULL;
	p.salt_len = max_salt + 1;
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig, &len), KW_ERR_INVALID);
	p.salt_len = -2;
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig, &len), KW_ERR_INVALID);
	assert_null(sig);
	kw_key_free(k);
}

#define THREADS 4
#define ROUNDS  25

struct thread_arg {
	const struct kw_key *k;
	int failures;
};

static void *sign_loop(void *argp)
{
	struct thread_arg *arg = argp;
	struct kw_sign_params p;

	kw_sign_params_default(&p);
	for (int i = 0; i < ROUNDS; i++) {
		uint8_t *sig = NULL;
		size_t len = 0;
		bool valid = false;

		if (kw_sign(arg->k, &p, msg, sizeof(msg), &sig, &len) != 0 ||
		    kw_verify(arg->k, &p, msg, sizeof(msg), sig, len, &valid) != 0 || !valid)
			arg->failures++;
		free(sig);
	}
	return NULL;
}

/* One key, several threads signing and verifying at once (crypto.h's promise). */
void test_sign_concurrent(void **state)
{
	static const enum kw_key_type types[] = {KW_KEY_ECDSA_P256, KW_KEY_ED25519};

	for (size_t t = 0; t < KW_ARRAY_LEN(types); t++) {
		struct thread_arg args[THREADS];
		pthread_t th[THREADS];
		struct kw_key *k = NULL;

		assert_int_equal(kw_key_generate(types[t], 0, &k), 0);
		for (int i = 0; i < THREADS; i++) {
			args[i].k = k;
			args[i].failures = 0;
			assert_int_equal(pthread_create(&th[i], NULL, sign_loop, &args[i]), 0);
		}
		for (int i = 0; i < THREADS; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			assert_int_equal(args[i].failures, 0);
		}
		kw_key_free(k);
	}
}
