/* test_keys.c: key types, hashes, random bytes and key objects (keyobj.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_tests.h"

static const enum kw_key_type all_types[] = {
    KW_KEY_AES128_GCM96, KW_KEY_AES256_GCM96, KW_KEY_CHACHA20_POLY1305, KW_KEY_HMAC,
    KW_KEY_ECDSA_P256,   KW_KEY_ECDSA_P384,   KW_KEY_ECDSA_P521,        KW_KEY_ED25519,
    KW_KEY_RSA_2048,     KW_KEY_RSA_3072,     KW_KEY_RSA_4096,
};

void test_key_type_names(void **state)
{
	enum kw_key_type t;

	for (size_t i = 0; i < KW_ARRAY_LEN(all_types); i++) {
		const char *name = kw_key_type_name(all_types[i]);

		assert_non_null(name);
		assert_int_equal(kw_key_type_from_name(name, &t), 0);
		assert_int_equal(t, all_types[i]);
		/* Every type is exactly one of: AEAD, HMAC, asymmetric. */
		assert_int_equal(
		    kw_key_type_is_aead(t) + (t == KW_KEY_HMAC) + kw_key_type_is_asymmetric(t), 1);
		assert_int_equal(kw_key_type_can_sign(t), kw_key_type_is_asymmetric(t));
		assert_int_equal(kw_key_type_can_encrypt(t),
		                 kw_key_type_is_aead(t) || kw_key_type_is_rsa(t));
	}
	assert_string_equal(kw_key_type_name(KW_KEY_AES256_GCM96), "aes256-gcm96");
	assert_string_equal(kw_key_type_name(KW_KEY_CHACHA20_POLY1305), "chacha20-poly1305");
	assert_string_equal(kw_key_type_name(KW_KEY_ECDSA_P521), "ecdsa-p521");
	assert_null(kw_key_type_name(KW_KEY_NONE));
	assert_null(kw_key_type_name((enum kw_key_type)(KW_KEY_TYPE_MAX + 1)));
	assert_int_equal(kw_key_type_from_name("aes512-gcm96", &t), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_key_type_from_name("", &t), KW_ERR_UNSUPPORTED);
	assert_true(kw_key_type_is_ecdsa(KW_KEY_ECDSA_P384));
	assert_false(kw_key_type_is_ecdsa(KW_KEY_ED25519));
	assert_true(kw_key_type_is_rsa(KW_KEY_RSA_3072));
	assert_false(kw_key_type_can_encrypt(KW_KEY_ED25519));
	assert_false(kw_key_type_can_sign(KW_KEY_HMAC));
}

void test_hash_names(void **state)
{
	static const struct {
		const char *name;
		enum kw_hash h;
		size_t size;
	} cases[] = {
	    {"sha1", KW_HASH_SHA1, 20},         {"sha2-224", KW_HASH_SHA224, 28},
	    {"sha224", KW_HASH_SHA224, 28},     {"sha2-256", KW_HASH_SHA256, 32},
	    {"sha256", KW_HASH_SHA256, 32},     {"sha2-384", KW_HASH_SHA384, 48},
	    {"sha384", KW_HASH_SHA384, 48},     {"sha2-512", KW_HASH_SHA512, 64},
	    {"sha512", KW_HASH_SHA512, 64},     {"sha3-224", KW_HASH_SHA3_224, 28},
	    {"sha3-256", KW_HASH_SHA3_256, 32}, {"sha3-384", KW_HASH_SHA3_384, 48},
	    {"sha3-512", KW_HASH_SHA3_512, 64},
	};
	enum kw_hash h;

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		assert_int_equal(kw_hash_from_name(cases[i].name, &h), 0);
		assert_int_equal(h, cases[i].h);
		assert_int_equal(kw_hash_size(h), cases[i].size);
	}
	assert_string_equal(kw_hash_name(KW_HASH_SHA256), "sha2-256");
	assert_string_equal(kw_hash_name(KW_HASH_SHA3_384), "sha3-384");
	assert_null(kw_hash_name(KW_HASH_NONE));
	assert_int_equal(kw_hash_size(KW_HASH_NONE), 0);
	assert_int_equal(kw_hash_from_name("md5", &h), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_hash_from_name("SHA2-256", &h), KW_ERR_UNSUPPORTED);
}

void test_hash_digest(void **state)
{
	/* SHA3-512("") and SHA-224("abc") from FIPS 202 / FIPS 180-2 examples. */
	static const char sha3_512_empty[] =
	    "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a6"
	    "15b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26";
	static const char sha224_abc[] = "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7";
	uint8_t md[KW_HASH_MAX_BYTES];
	size_t len = 0, wlen;
	uint8_t *want;

	want = t_unhex(sha3_512_empty, &wlen);
	assert_int_equal(kw_hash_digest(KW_HASH_SHA3_512, NULL, 0, md, &len), 0);
	assert_int_equal(len, wlen);
	assert_memory_equal(md, want, wlen);
	free(want);
	want = t_unhex(sha224_abc, &wlen);
	assert_int_equal(kw_hash_digest(KW_HASH_SHA224, (const uint8_t *)"abc", 3, md, &len), 0);
	assert_int_equal(len, wlen);
	assert_memory_equal(md, want, wlen);
	free(want);
	assert_int_equal(kw_hash_digest(KW_HASH_NONE, (const uint8_t *)"abc", 3, md, &len),
	                 KW_ERR_UNSUPPORTED);
}

void test_random(void **state)
{
	uint8_t a[64] = {0}, b[64] = {0}, zero[64] = {0};

	assert_int_equal(kw_random(a, sizeof(a)), 0);
	assert_int_equal(kw_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(kw_random(a, 0), 0);
}

/* Generate, encode, decode, encode again: the same bytes and the same type. */
static void roundtrip_one(enum kw_key_type t)
{
	struct kw_key *k = NULL, *k2 = NULL;
	uint8_t *enc = NULL, *enc2 = NULL;
	size_t len = 0, len2 = 0;
	const uint8_t *raw;
	size_t rawlen;

	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	assert_int_equal(kw_key_type_of(k), t);
	assert_int_equal(kw_key_encode(k, &enc, &len), 0);
	assert_int_equal(kw_key_decode(t, enc, len, &k2), 0);
	assert_int_equal(kw_key_type_of(k2), t);
	assert_int_equal(kw_key_encode(k2, &enc2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(enc, enc2, len);
	if (kw_key_type_is_asymmetric(t)) {
		assert_int_equal(kw_key_raw(k, &raw, &rawlen), KW_ERR_KEY_TYPE);
		/* PKCS#8 PrivateKeyInfo: a SEQUENCE whose first field is version 0. */
		assert_int_equal(enc[0], 0x30);
	} else {
		assert_int_equal(kw_key_raw(k, &raw, &rawlen), 0);
		assert_int_equal(rawlen, len);
		assert_memory_equal(raw, enc, len);
		assert_int_equal(len, t == KW_KEY_AES128_GCM96 ? 16 : 32);
	}
	kw_secure_free(enc, len);
	kw_secure_free(enc2, len2);
	kw_key_free(k);
	kw_key_free(k2);
}

void test_key_roundtrip(void **state)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(all_types); i++)
		roundtrip_one(all_types[i]);
}

static void encode_fresh(enum kw_key_type t, uint8_t **enc, size_t *len)
{
	struct kw_key *k = NULL;

	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	assert_int_equal(kw_key_encode(k, enc, len), 0);
	kw_key_free(k);
}

static void expect_decode(enum kw_key_type made, enum kw_key_type claimed, int want)
{
	struct kw_key *k = NULL;
	uint8_t *enc;
	size_t len;

	encode_fresh(made, &enc, &len);
	assert_int_equal(kw_key_decode(claimed, enc, len, &k), want);
	assert_null(k);
	kw_secure_free(enc, len);
}

void test_key_decode_checks_type(void **state)
{
	/* The blob must really be the type, curve and size it is stored as. */
	expect_decode(KW_KEY_ECDSA_P384, KW_KEY_ECDSA_P256, KW_ERR_KEY_TYPE);
	expect_decode(KW_KEY_ECDSA_P256, KW_KEY_ECDSA_P521, KW_ERR_KEY_TYPE);
	expect_decode(KW_KEY_ED25519, KW_KEY_ECDSA_P256, KW_ERR_KEY_TYPE);
	expect_decode(KW_KEY_ECDSA_P256, KW_KEY_ED25519, KW_ERR_KEY_TYPE);
	expect_decode(KW_KEY_RSA_2048, KW_KEY_RSA_3072, KW_ERR_KEY_TYPE);
	expect_decode(KW_KEY_RSA_2048, KW_KEY_ECDSA_P256, KW_ERR_KEY_TYPE);
	/* Raw symmetric keys have their type's exact length. */
	expect_decode(KW_KEY_AES128_GCM96, KW_KEY_AES256_GCM96, KW_ERR_INVALID);
	expect_decode(KW_KEY_AES256_GCM96, KW_KEY_AES128_GCM96, KW_ERR_INVALID);
	/* An asymmetric blob is not a symmetric key, nor the other way round. */
	expect_decode(KW_KEY_ED25519, KW_KEY_AES256_GCM96, KW_ERR_INVALID);
	expect_decode(KW_KEY_AES256_GCM96, KW_KEY_ED25519, KW_ERR_INVALID);
}

void test_key_decode_rejects_garbage(void **state)
{
	struct kw_key *k = NULL;
	uint8_t junk[64];
	uint8_t *enc, *longer;
	size_t len;

	memset(junk, 0x41, sizeof(junk));
	assert_int_equal(kw_key_decode(KW_KEY_ECDSA_P256, junk, sizeof(junk), &k), KW_ERR_INVALID);
	assert_int_equal(kw_key_decode(KW_KEY_NONE, junk, 32, &k), KW_ERR_KEY_TYPE);
	encode_fresh(KW_KEY_ECDSA_P256, &enc, &len);
	/* Trailing bytes after the DER are refused, and so is a truncated blob. */
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, enc, len);
	longer[len] = 0;
	assert_int_equal(kw_key_decode(KW_KEY_ECDSA_P256, longer, len + 1, &k), KW_ERR_INVALID);
	assert_int_equal(kw_key_decode(KW_KEY_ECDSA_P256, enc, len - 1, &k), KW_ERR_INVALID);
	assert_null(k);
	free(longer);
	kw_secure_free(enc, len);
}

void test_hmac_key_sizes(void **state)
{
	struct kw_key *k = NULL;
	const uint8_t *raw;
	size_t len;
	uint8_t bytes[KW_HMAC_KEY_MAX_BYTES + 1] = {0};

	assert_int_equal(kw_key_generate(KW_KEY_HMAC, 0, &k), 0);
	assert_int_equal(kw_key_raw(k, &raw, &len), 0);
	assert_int_equal(len, KW_HMAC_KEY_DEFAULT_BYTES);
	kw_key_free(k);
	assert_int_equal(kw_key_generate(KW_KEY_HMAC, 64, &k), 0);
	assert_int_equal(kw_key_raw(k, &raw, &len), 0);
	assert_int_equal(len, 64);
	kw_key_free(k);
	k = NULL;
	assert_int_equal(kw_key_generate(KW_KEY_HMAC, KW_HMAC_KEY_MIN_BYTES - 1, &k),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_key_generate(KW_KEY_HMAC, KW_HMAC_KEY_MAX_BYTES + 1, &k),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_key_decode(KW_KEY_HMAC, bytes, KW_HMAC_KEY_MAX_BYTES, &k), 0);
	kw_key_free(k);
	k = NULL;
	assert_int_equal(kw_key_decode(KW_KEY_HMAC, bytes, KW_HMAC_KEY_MAX_BYTES + 1, &k),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_key_decode(KW_KEY_HMAC, bytes, 16, &k), KW_ERR_INVALID);
	assert_null(k);
}

static void verify_only_one(enum kw_key_type t)
{
	static const uint8_t msg[] = "verify-only";
	struct kw_sign_params p;
	struct kw_key *k = NULL, *pub = NULL, *wrong = NULL;
	uint8_t *der = NULL, *sig = NULL, *enc = NULL, *longer;
	size_t derlen, siglen, enclen;
	char *text = NULL;
	bool valid = false;

	kw_sign_params_default(&p);
	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	assert_int_equal(kw_key_public_der(k, &der, &derlen), 0);
	assert_int_equal(kw_key_from_public_der(t, der, derlen, &pub), 0);
	assert_int_equal(kw_key_type_of(pub), t);
	assert_int_equal(kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen), 0);
	assert_int_equal(kw_verify(pub, &p, msg, sizeof(msg), sig, siglen, &valid), 0);
	assert_true(valid);
	free(sig);
	sig = NULL;
	/* No private half: no signing, no serialising, no export. */
	assert_int_equal(kw_sign(pub, &p, msg, sizeof(msg), &sig, &siglen), KW_ERR_KEY_TYPE);
	assert_int_equal(kw_key_encode(pub, &enc, &enclen), KW_ERR_KEY_TYPE);
	assert_int_equal(kw_key_export_text(pub, &text, &enclen), KW_ERR_KEY_TYPE);
	assert_null(sig);
	/* Its public forms still work. */
	assert_int_equal(kw_key_public_text(pub, &text), 0);
	free(text);
	/* The DER must be of the stated type, with nothing after it. */
	assert_int_equal(
	    kw_key_from_public_der(t == KW_KEY_ED25519 ? KW_KEY_ECDSA_P256 : KW_KEY_ED25519, der,
	                           derlen, &wrong),
	    KW_ERR_KEY_TYPE);
	assert_int_equal(kw_key_from_public_der(KW_KEY_AES256_GCM96, der, derlen, &wrong),
	                 KW_ERR_KEY_TYPE);
	longer = malloc(derlen + 1);
	assert_non_null(longer);
	memcpy(longer, der, derlen);
	longer[derlen] = 0;
	assert_int_equal(kw_key_from_public_der(t, longer, derlen + 1, &wrong), KW_ERR_INVALID);
	assert_null(wrong);
	free(longer);
	free(der);
	kw_key_free(pub);
	kw_key_free(k);
}

void test_public_der_verify_only(void **state)
{
	verify_only_one(KW_KEY_ECDSA_P256);
	verify_only_one(KW_KEY_ECDSA_P521);
	verify_only_one(KW_KEY_ED25519);
	verify_only_one(KW_KEY_RSA_2048);
}

static void expect_pem_public(enum kw_key_type t)
{
	static const char head[] = "-----BEGIN PUBLIC KEY-----\n";
	static const char tail[] = "-----END PUBLIC KEY-----\n";
	struct kw_key *k = NULL;
	char *text = NULL;
	size_t n;

	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	assert_int_equal(kw_key_public_text(k, &text), 0);
	n = strlen(text);
	assert_true(n > sizeof(head) + sizeof(tail));
	assert_memory_equal(text, head, strlen(head));
	assert_string_equal(text + n - strlen(tail), tail);
	free(text);
	kw_key_free(k);
}

void test_public_text(void **state)
{
	struct kw_key *k = NULL;
	uint8_t *raw = NULL, *der = NULL;
	size_t rawlen, derlen;
	char *text = NULL;

	expect_pem_public(KW_KEY_ECDSA_P256);
	expect_pem_public(KW_KEY_ECDSA_P384);
	expect_pem_public(KW_KEY_RSA_2048);
	/* Ed25519: base64 of the 32 raw bytes, which end the SPKI DER. */
	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &k), 0);
	assert_int_equal(kw_key_public_text(k, &text), 0);
	assert_int_equal(kw_base64_decode(text, strlen(text), &raw, &rawlen), 0);
	assert_int_equal(rawlen, 32);
	assert_int_equal(kw_key_public_der(k, &der, &derlen), 0);
	assert_int_equal(derlen, 44);
	assert_memory_equal(der + derlen - 32, raw, 32);
	free(text);
	free(raw);
	free(der);
	kw_key_free(k);
	/* Symmetric keys have no public form. */
	assert_int_equal(kw_key_generate(KW_KEY_AES256_GCM96, 0, &k), 0);
	assert_int_equal(kw_key_public_text(k, &text), KW_ERR_KEY_TYPE);
	assert_int_equal(kw_key_public_der(k, &der, &derlen), KW_ERR_KEY_TYPE);
	kw_key_free(k);
}

/* Export text, with its length and the secure-heap size rule. */
static char *export_of(const struct kw_key *k, size_t *len)
{
	char *text = NULL;

	assert_int_equal(kw_key_export_text(k, &text, len), 0);
	assert_int_equal(strlen(text), *len);
	return text;
}

static void expect_pem_private(enum kw_key_type t, const char *label)
{
	char head[64];
	struct kw_key *k = NULL;
	size_t len;
	char *text;

	snprintf(head, sizeof(head), "-----BEGIN %s-----\n", label);
	assert_int_equal(kw_key_generate(t, 0, &k), 0);
	text = export_of(k, &len);
	assert_memory_equal(text, head, strlen(head));
	assert_non_null(strstr(text, "-----END "));
	kw_secure_free(text, len + 1);
	kw_key_free(k);
}

void test_export_text(void **state)
{
	static const uint8_t aes[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	static const char *ed_pkcs8 = "302e020100300506032b6570042204209d61b19deffd5a60ba844af4"
	                              "92ec2cc44449c5697b326919703bac031cae7f60";
	static const char *ed_both =
	    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
	struct kw_key *k = NULL;
	uint8_t *der, *want, *got;
	size_t len, derlen, wantlen, gotlen;
	char *text;

	expect_pem_private(KW_KEY_ECDSA_P256, "EC PRIVATE KEY");
	expect_pem_private(KW_KEY_ECDSA_P521, "EC PRIVATE KEY");
	expect_pem_private(KW_KEY_RSA_2048, "RSA PRIVATE KEY");
	/* Symmetric: base64 of the raw bytes. */
	assert_int_equal(kw_key_decode(KW_KEY_AES256_GCM96, aes, sizeof(aes), &k), 0);
	text = export_of(k, &len);
	assert_int_equal(kw_base64_decode(text, len, &got, &gotlen), 0);
	assert_int_equal(gotlen, sizeof(aes));
	assert_memory_equal(got, aes, sizeof(aes));
	free(got);
	kw_secure_free(text, len + 1);
	kw_key_free(k);
	/* Ed25519: base64 of seed || public key (RFC 8032 7.1 TEST 1). */
	der = t_unhex(ed_pkcs8, &derlen);
	want = t_unhex(ed_both, &wantlen);
	assert_int_equal(kw_key_decode(KW_KEY_ED25519, der, derlen, &k), 0);
	text = export_of(k, &len);
	assert_int_equal(kw_base64_decode(text, len, &got, &gotlen), 0);
	assert_int_equal(gotlen, wantlen);
	assert_memory_equal(got, want, wantlen);
	free(got);
	free(want);
	free(der);
	kw_secure_free(text, len + 1);
	kw_key_free(k);
}
