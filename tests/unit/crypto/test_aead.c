/* test_aead.c: AEAD, RSA-OAEP, root-key wrapping, HMAC and the self-test. */
#include <stdlib.h>
#include <string.h>

#include "crypto_tests.h"

static const enum kw_key_type aead_types[] = {KW_KEY_AES128_GCM96, KW_KEY_AES256_GCM96,
                                              KW_KEY_CHACHA20_POLY1305};

void test_aead_roundtrip(void **state)
{
	static const size_t lens[] = {0, 1, 15, 16, 17, 1000};
	static const uint8_t aad[] = "context";
	uint8_t pt[1000];

	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)i;
	for (size_t t = 0; t < KW_ARRAY_LEN(aead_types); t++) {
		struct kw_key *k = NULL;

		assert_int_equal(kw_key_generate(aead_types[t], 0, &k), 0);
		for (size_t i = 0; i < KW_ARRAY_LEN(lens); i++) {
			uint8_t *ct = NULL, *back = NULL, *ct2 = NULL;
			size_t ctlen = 0, backlen = 0, ct2len = 0;

			assert_int_equal(
			    kw_aead_encrypt(k, pt, lens[i], aad, sizeof(aad), &ct, &ctlen), 0);
			assert_int_equal(ctlen, KW_AEAD_NONCE_BYTES + lens[i] + KW_AEAD_TAG_BYTES);
			assert_int_equal(
			    kw_aead_decrypt(k, ct, ctlen, aad, sizeof(aad), &back, &backlen), 0);
			assert_int_equal(backlen, lens[i]);
			assert_memory_equal(back, pt, lens[i]);
			/* Nonces are random: the same plaintext never encrypts the same way twice.
			 */
			assert_int_equal(
			    kw_aead_encrypt(k, pt, lens[i], aad, sizeof(aad), &ct2, &ct2len), 0);
			assert_memory_not_equal(ct, ct2, KW_AEAD_NONCE_BYTES);
			free(ct);
			free(ct2);
			free(back);
		}
		kw_key_free(k);
	}
}

/* Decrypting in must fail with KW_ERR_DECRYPT and leave the out-parameters alone. */
static void expect_decrypt_fails(const struct kw_key *k, const uint8_t *in, size_t inlen,
                                 const uint8_t *aad, size_t aadlen)
{
	uint8_t *out = NULL;
	size_t outlen = 12345;

	assert_int_equal(kw_aead_decrypt(k, in, inlen, aad, aadlen, &out, &outlen), KW_ERR_DECRYPT);
	assert_null(out);
	assert_int_equal(outlen, 12345);
}

void test_aead_tamper(void **state)
{
	static const uint8_t pt[] = "attack at dawn";
	static const uint8_t aad[] = "aad";

	for (size_t t = 0; t < KW_ARRAY_LEN(aead_types); t++) {
		struct kw_key *k = NULL, *other = NULL;
		uint8_t *ct = NULL;
		size_t ctlen = 0;

		assert_int_equal(kw_key_generate(aead_types[t], 0, &k), 0);
		assert_int_equal(kw_key_generate(aead_types[t], 0, &other), 0);
		assert_int_equal(kw_aead_encrypt(k, pt, sizeof(pt), aad, sizeof(aad), &ct, &ctlen),
		                 0);
		/* Every single bit of nonce, ciphertext and tag is covered. */
		for (size_t i = 0; i < ctlen * 8; i++) {
			ct[i / 8] ^= (uint8_t)(1u << (i % 8));
			expect_decrypt_fails(k, ct, ctlen, aad, sizeof(aad));
			ct[i / 8] ^= (uint8_t)(1u << (i % 8));
		}
		expect_decrypt_fails(k, ct, ctlen, aad, sizeof(aad) - 1);
		expect_decrypt_fails(k, ct, ctlen, NULL, 0);
		expect_decrypt_fails(k, ct, ctlen - 1, aad, sizeof(aad));
		expect_decrypt_fails(k, ct, KW_AEAD_NONCE_BYTES + KW_AEAD_TAG_BYTES - 1, aad,
		                     sizeof(aad));
		expect_decrypt_fails(k, ct, 0, aad, sizeof(aad));
		expect_decrypt_fails(other, ct, ctlen, aad, sizeof(aad));
		free(ct);
		kw_key_free(k);
		kw_key_free(other);
	}
}

void test_aead_wrong_key_type(void **state)
{
	struct kw_key *k = NULL;
	uint8_t *out = NULL;
	size_t outlen;

	assert_int_equal(kw_key_generate(KW_KEY_HMAC, 0, &k), 0);
	assert_int_equal(kw_aead_encrypt(k, (const uint8_t *)"x", 1, NULL, 0, &out, &outlen),
	                 KW_ERR_KEY_TYPE);
	assert_int_equal(
	    kw_rsa_oaep_encrypt(k, KW_HASH_SHA256, (const uint8_t *)"x", 1, &out, &outlen),
	    KW_ERR_KEY_TYPE);
	kw_key_free(k);
	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &k), 0);
	assert_int_equal(kw_aead_encrypt(k, (const uint8_t *)"x", 1, NULL, 0, &out, &outlen),
	                 KW_ERR_KEY_TYPE);
	kw_key_free(k);
	assert_null(out);
}

void test_aead_raw_params(void **state)
{
	uint8_t key[32] = {0}, iv[16] = {0}, pt[4] = {0}, ct[4], tag[16];

	/* ChaCha20-Poly1305 takes exactly a 12-byte nonce and a 16-byte tag. */
	assert_int_equal(
	    kw_aead_seal_raw(KW_KEY_CHACHA20_POLY1305, key, 32, iv, 8, NULL, 0, pt, 4, ct, tag, 16),
	    KW_ERR_INVALID);
	assert_int_equal(kw_aead_seal_raw(KW_KEY_CHACHA20_POLY1305, key, 32, iv, 12, NULL, 0, pt, 4,
	                                  ct, tag, 12),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_aead_seal_raw(KW_KEY_CHACHA20_POLY1305, key, 16, iv, 12, NULL, 0, pt, 4,
	                                  ct, tag, 16),
	                 KW_ERR_KEY_TYPE);
	/* GCM: any non-empty IV; tags of 12 to 16 bytes; AES key sizes only. */
	assert_int_equal(
	    kw_aead_seal_raw(KW_KEY_AES256_GCM96, key, 32, iv, 16, NULL, 0, pt, 4, ct, tag, 12), 0);
	assert_int_equal(
	    kw_aead_open_raw(KW_KEY_AES256_GCM96, key, 32, iv, 16, NULL, 0, ct, 4, tag, 12, pt), 0);
	assert_int_equal(
	    kw_aead_seal_raw(KW_KEY_AES256_GCM96, key, 32, iv, 0, NULL, 0, pt, 4, ct, tag, 16),
	    KW_ERR_INVALID);
	assert_int_equal(
	    kw_aead_seal_raw(KW_KEY_AES256_GCM96, key, 32, iv, 12, NULL, 0, pt, 4, ct, tag, 8),
	    KW_ERR_INVALID);
	assert_int_equal(
	    kw_aead_seal_raw(KW_KEY_AES128_GCM96, key, 20, iv, 12, NULL, 0, pt, 4, ct, tag, 16),
	    KW_ERR_KEY_TYPE);
	assert_int_equal(
	    kw_aead_seal_raw(KW_KEY_HMAC, key, 32, iv, 12, NULL, 0, pt, 4, ct, tag, 16),
	    KW_ERR_KEY_TYPE);
	/* The type picks the family, the key length the AES variant (AES-192 too). */
	assert_int_equal(
	    kw_aead_seal_raw(KW_KEY_AES128_GCM96, key, 24, iv, 12, NULL, 0, pt, 4, ct, tag, 16), 0);
}

void test_aead_open_raw_wipes(void **state)
{
	uint8_t key[32] = {7}, iv[12] = {0}, pt[64], ct[64], tag[16];

	for (size_t t = 0; t < KW_ARRAY_LEN(aead_types); t++) {
		size_t keylen = aead_types[t] == KW_KEY_AES128_GCM96 ? 16 : 32;

		memset(pt, 0x5a, sizeof(pt));
		assert_int_equal(kw_aead_seal_raw(aead_types[t], key, keylen, iv, sizeof(iv), NULL,
		                                  0, pt, sizeof(pt), ct, tag, sizeof(tag)),
		                 0);
		tag[15] ^= 0x80;
		memset(pt, 0xaa, sizeof(pt));
		assert_int_equal(kw_aead_open_raw(aead_types[t], key, keylen, iv, sizeof(iv), NULL,
		                                  0, ct, sizeof(ct), tag, sizeof(tag), pt),
		                 KW_ERR_DECRYPT);
		/* Plaintext that failed authentication is not left in the caller's buffer. */
		for (size_t i = 0; i < sizeof(pt); i++)
			assert_int_equal(pt[i], 0);
	}
}

void test_rsa_oaep_roundtrip(void **state)
{
	static const uint8_t msg[] = "a data key, say";
	uint8_t big[256] = {0};
	struct kw_key *k = NULL, *pub = NULL;
	uint8_t *der = NULL, *ct = NULL, *pt = NULL;
	size_t derlen, ctlen = 0, ptlen = 0;

	assert_int_equal(kw_key_generate(KW_KEY_RSA_2048, 0, &k), 0);
	assert_int_equal(kw_key_public_der(k, &der, &derlen), 0);
	assert_int_equal(kw_key_from_public_der(KW_KEY_RSA_2048, der, derlen, &pub), 0);
	/* Encrypt with the public half, decrypt with the private one. */
	assert_int_equal(kw_rsa_oaep_encrypt(pub, KW_HASH_SHA256, msg, sizeof(msg), &ct, &ctlen),
	                 0);
	assert_int_equal(ctlen, 256);
	assert_int_equal(kw_rsa_oaep_decrypt(k, KW_HASH_SHA256, ct, ctlen, &pt, &ptlen), 0);
	assert_int_equal(ptlen, sizeof(msg));
	assert_memory_equal(pt, msg, sizeof(msg));
	free(pt);
	pt = NULL;
	/* A public-only key cannot decrypt; another hash or a changed byte fails. */
	assert_int_equal(kw_rsa_oaep_decrypt(pub, KW_HASH_SHA256, ct, ctlen, &pt, &ptlen),
	                 KW_ERR_KEY_TYPE);
	assert_int_equal(kw_rsa_oaep_decrypt(k, KW_HASH_SHA1, ct, ctlen, &pt, &ptlen),
	                 KW_ERR_DECRYPT);
	ct[100] ^= 1;
	assert_int_equal(kw_rsa_oaep_decrypt(k, KW_HASH_SHA256, ct, ctlen, &pt, &ptlen),
	                 KW_ERR_DECRYPT);
	assert_int_equal(kw_rsa_oaep_decrypt(k, KW_HASH_SHA256, ct, ctlen - 1, &pt, &ptlen),
	                 KW_ERR_DECRYPT);
	assert_null(pt);
	free(ct);
	ct = NULL;
	/* 2048-bit OAEP-SHA-256 carries at most 256 - 2 * 32 - 2 = 190 bytes. */
	assert_int_equal(kw_rsa_oaep_encrypt(k, KW_HASH_SHA256, big, 190, &ct, &ctlen), 0);
	free(ct);
	ct = NULL;
	assert_int_equal(kw_rsa_oaep_encrypt(k, KW_HASH_SHA256, big, 191, &ct, &ctlen),
	                 KW_ERR_INVALID);
	assert_null(ct);
	free(der);
	kw_key_free(pub);
	kw_key_free(k);
}

static const uint8_t kek[KW_ROOT_KEY_BYTES] = {0x42, 0x13, 0x37};
static const uint8_t wrap_aad[] = "keys/payments/ecdsa-p256/3";
static const uint8_t wrap_pt[] = "pretend this is a PKCS#8 blob";

static void wrap_sample(uint8_t **blob, size_t *len)
{
	assert_int_equal(
	    kw_wrap(kek, wrap_aad, sizeof(wrap_aad), wrap_pt, sizeof(wrap_pt), blob, len), 0);
	assert_int_equal(*len, KW_AEAD_NONCE_BYTES + sizeof(wrap_pt) + KW_AEAD_TAG_BYTES);
}

static void expect_unwrap_fails(const uint8_t *k, const uint8_t *aad, size_t aadlen,
                                const uint8_t *blob, size_t len)
{
	uint8_t *out = NULL;
	size_t outlen = 0;

	assert_int_equal(kw_unwrap(k, aad, aadlen, blob, len, &out, &outlen), KW_ERR_INTEGRITY);
	assert_null(out);
}

void test_wrap_roundtrip(void **state)
{
	uint8_t *blob = NULL, *out = NULL;
	size_t len = 0, outlen = 0;

	wrap_sample(&blob, &len);
	assert_int_equal(kw_unwrap(kek, wrap_aad, sizeof(wrap_aad), blob, len, &out, &outlen), 0);
	assert_int_equal(outlen, sizeof(wrap_pt));
	assert_memory_equal(out, wrap_pt, outlen);
	kw_secure_free(out, outlen);
	free(blob);
}

void test_wrap_wrong_aad(void **state)
{
	static const uint8_t moved[] = "keys/payments/ecdsa-p256/4";
	uint8_t *blob = NULL;
	size_t len = 0;

	wrap_sample(&blob, &len);
	expect_unwrap_fails(kek, moved, sizeof(moved), blob, len);
	expect_unwrap_fails(kek, wrap_aad, sizeof(wrap_aad) - 1, blob, len);
	expect_unwrap_fails(kek, NULL, 0, blob, len);
	free(blob);
}

void test_wrap_tamper(void **state)
{
	uint8_t other[KW_ROOT_KEY_BYTES] = {0x42, 0x13, 0x38};
	uint8_t *blob = NULL;
	size_t len = 0;

	wrap_sample(&blob, &len);
	for (size_t i = 0; i < len; i++) {
		blob[i] ^= 0x80;
		expect_unwrap_fails(kek, wrap_aad, sizeof(wrap_aad), blob, len);
		blob[i] ^= 0x80;
	}
	expect_unwrap_fails(kek, wrap_aad, sizeof(wrap_aad), blob, len - 1);
	expect_unwrap_fails(kek, wrap_aad, sizeof(wrap_aad), blob, 10);
	expect_unwrap_fails(other, wrap_aad, sizeof(wrap_aad), blob, len);
	free(blob);
}

static void expect_hmac(enum kw_hash h, const uint8_t *key, size_t keylen, const char *msg,
                        const char *want_hex)
{
	uint8_t mac[KW_HASH_MAX_BYTES];
	size_t len = 0, wlen;
	uint8_t *want = t_unhex(want_hex, &wlen);

	assert_int_equal(kw_hmac(h, key, keylen, (const uint8_t *)msg, strlen(msg), mac, &len), 0);
	assert_int_equal(len, wlen);
	assert_memory_equal(mac, want, wlen);
	free(want);
}

void test_hmac_vectors(void **state)
{
	uint8_t k0b[20], kaa[131];
	uint8_t mac[KW_HASH_MAX_BYTES];
	size_t len;

	memset(k0b, 0x0b, sizeof(k0b));
	memset(kaa, 0xaa, sizeof(kaa));
	/* RFC 4231 test cases 1 and 6. */
	expect_hmac(KW_HASH_SHA256, k0b, sizeof(k0b), "Hi There",
	            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	expect_hmac(KW_HASH_SHA384, k0b, sizeof(k0b), "Hi There",
	            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec6"
	            "82aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6");
	expect_hmac(KW_HASH_SHA512, k0b, sizeof(k0b), "Hi There",
	            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
	expect_hmac(KW_HASH_SHA256, kaa, sizeof(kaa),
	            "Test Using Larger Than Block-Size Key - Hash Key First",
	            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	/* An empty key and message are legal HMAC inputs. */
	expect_hmac(KW_HASH_SHA256, NULL, 0, "",
	            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	expect_hmac(KW_HASH_SHA3_256, (const uint8_t *)"key", 3,
	            "The quick brown fox jumps over the lazy dog",
	            "8c6e0683409427f8931711b10ca92a506eb1fafa48fadd66d76126f47ac2c333");
	assert_int_equal(kw_hmac(KW_HASH_NONE, k0b, sizeof(k0b), k0b, 1, mac, &len),
	                 KW_ERR_UNSUPPORTED);
}

void test_selftest(void **state)
{
	const char *failed = NULL;

	assert_int_equal(kw_crypto_selftest(&failed), 0);
	assert_null(failed);
}
