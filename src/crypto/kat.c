/*
 * kat.c: power-up self-tests. Known answers from published vectors for the
 * hashes, HMAC, both AEADs and Ed25519; pairwise consistency for freshly
 * generated ECDSA and RSA keys; round trips for wrapping and Shamir. Each
 * AEAD and signature test also checks that a tampered input is refused, so
 * a primitive that accepts everything cannot pass.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto_impl.h"

/* Hex of one vector, decoded on the stack. */
#define KAT_MAX_BYTES 128

struct kat_bytes {
	uint8_t b[KAT_MAX_BYTES];
	size_t len;
};

static int unhex(const char *hex, struct kat_bytes *out)
{
	uint8_t *d;
	size_t len;
	int rc;

	rc = kw_hex_decode(hex, strlen(hex), &d, &len);
	if (rc != 0)
		return rc;
	if (len > sizeof(out->b)) {
		free(d);
		return KW_ERR_INTERNAL;
	}
	memcpy(out->b, d, len);
	out->len = len;
	free(d);
	return 0;
}

static bool bytes_equal(const uint8_t *a, size_t alen, const struct kat_bytes *b)
{
	return alen == b->len && memcmp(a, b->b, alen) == 0;
}

static const uint8_t abc[] = {'a', 'b', 'c'};

static int kat_hash(enum kw_hash h, const char *want_hex)
{
	uint8_t md[KW_HASH_MAX_BYTES];
	struct kat_bytes want;
	size_t len;
	int rc;

	rc = unhex(want_hex, &want);
	if (rc == 0)
		rc = kw_hash_digest(h, abc, sizeof(abc), md, &len);
	if (rc == 0 && !bytes_equal(md, len, &want))
		rc = KW_ERR_SELFTEST;
	return rc;
}

/* FIPS 180-2 / FIPS 202 examples: the digest of "abc". */
static int kat_sha1(void)
{
	return kat_hash(KW_HASH_SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static int kat_sha256(void)
{
	return kat_hash(KW_HASH_SHA256,
	                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static int kat_sha384(void)
{
	return kat_hash(KW_HASH_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
	                                "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
}

static int kat_sha512(void)
{
	return kat_hash(KW_HASH_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea2"
	                                "0a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
	                                "454d4423643ce80e2a9ac94fa54ca49f");
}

static int kat_sha3_256(void)
{
	return kat_hash(KW_HASH_SHA3_256,
	                "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
}

/* RFC 4231 test case 2. */
static int kat_hmac_sha256(void)
{
	static const char key[] = "Jefe", msg[] = "what do ya want for nothing?";
	uint8_t mac[KW_HASH_MAX_BYTES];
	struct kat_bytes want;
	size_t len;
	int rc;

	rc = unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", &want);
	if (rc == 0)
		rc = kw_hmac(KW_HASH_SHA256, (const uint8_t *)key, strlen(key),
		             (const uint8_t *)msg, strlen(msg), mac, &len);
	if (rc == 0 && !bytes_equal(mac, len, &want))
		rc = KW_ERR_SELFTEST;
	return rc;
}

struct aead_vector {
	enum kw_key_type type;
	const char *key, *iv, *aad, *pt, *ct, *tag;
};

/* Seal must give the expected ct and tag; open must give pt back and refuse a bad tag. */
static int kat_aead_vector(const struct aead_vector *v)
{
	struct kat_bytes key, iv, aad, pt, ct, tag;
	uint8_t out[KAT_MAX_BYTES], otag[KW_AEAD_TAG_BYTES];
	int rc;

	if ((rc = unhex(v->key, &key)) != 0 || (rc = unhex(v->iv, &iv)) != 0 ||
	    (rc = unhex(v->aad, &aad)) != 0 || (rc = unhex(v->pt, &pt)) != 0 ||
	    (rc = unhex(v->ct, &ct)) != 0 || (rc = unhex(v->tag, &tag)) != 0)
		return rc;
	rc = kw_aead_seal_raw(v->type, key.b, key.len, iv.b, iv.len, aad.b, aad.len, pt.b, pt.len,
	                      out, otag, sizeof(otag));
	if (rc != 0)
		return rc;
	if (!bytes_equal(out, pt.len, &ct) || !bytes_equal(otag, sizeof(otag), &tag))
		return KW_ERR_SELFTEST;
	rc = kw_aead_open_raw(v->type, key.b, key.len, iv.b, iv.len, aad.b, aad.len, ct.b, ct.len,
	                      tag.b, tag.len, out);
	if (rc != 0 || !bytes_equal(out, ct.len, &pt))
		return KW_ERR_SELFTEST;
	tag.b[0] ^= 0x01;
	rc = kw_aead_open_raw(v->type, key.b, key.len, iv.b, iv.len, aad.b, aad.len, ct.b, ct.len,
	                      tag.b, tag.len, out);
	return rc == KW_ERR_DECRYPT ? 0 : KW_ERR_SELFTEST;
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 2. */
static int kat_aes128_gcm(void)
{
	static const struct aead_vector v = {
	    .type = KW_KEY_AES128_GCM96,
	    .key = "00000000000000000000000000000000",
	    .iv = "000000000000000000000000",
	    .aad = "",
	    .pt = "00000000000000000000000000000000",
	    .ct = "0388dace60b6a392f328c2b971b2fe78",
	    .tag = "ab6e47d42cec13bdf53a67b21257bddf",
	};
	return kat_aead_vector(&v);
}

/* Same paper, test case 14. */
static int kat_aes256_gcm(void)
{
	static const struct aead_vector v = {
	    .type = KW_KEY_AES256_GCM96,
	    .key = "0000000000000000000000000000000000000000000000000000000000000000",
	    .iv = "000000000000000000000000",
	    .aad = "",
	    .pt = "00000000000000000000000000000000",
	    .ct = "cea7403d4d606b6e074ec5d3baf39d18",
	    .tag = "d0d1c8a799996bf0265b98b5d48ab919",
	};
	return kat_aead_vector(&v);
}

/* RFC 8439 section 2.8.2. */
static int kat_chacha20_poly1305(void)
{
	static const struct aead_vector v = {
	    .type = KW_KEY_CHACHA20_POLY1305,
	    .key = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
	    .iv = "070000004041424344454647",
	    .aad = "50515253c0c1c2c3c4c5c6c7",
	    .pt = "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
	          "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
	          "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
	          "637265656e20776f756c642062652069742e",
	    .ct = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	          "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	          "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	          "3ff4def08e4b7a9de576d26586cec64b6116",
	    .tag = "1ae10b594f09e26a7e902ecbd0600691",
	};
	return kat_aead_vector(&v);
}

/* Verify sig over msg, and that a changed message does not verify. */
static int verify_and_tamper(const struct kw_key *k, const struct kw_sign_params *p,
                             const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	uint8_t other[KAT_MAX_BYTES];
	bool valid = false;
	int rc;

	if (len == 0 || len > sizeof(other))
		return KW_ERR_INTERNAL;
	rc = kw_verify(k, p, msg, len, sig, siglen, &valid);
	if (rc != 0 || !valid)
		return KW_ERR_SELFTEST;
	memcpy(other, msg, len);
	other[0] ^= 0x01;
	rc = kw_verify(k, p, other, len, sig, siglen, &valid);
	if (rc != 0 || valid)
		return KW_ERR_SELFTEST;
	return 0;
}

/* RFC 8032 section 7.1, TEST 2 (one-byte message), through PKCS#8 decode. */
static int kat_ed25519(void)
{
	static const char pkcs8[] =
	    "302e020100300506032b6570042204204ccd089b28ff96da9db6c346ec114e0f"
	    "5b8a319f35aba624da8cf6ed4fb8a6fb";
	static const char want_sig[] =
	    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
	static const uint8_t msg[] = {0x72};
	struct kw_sign_params p;
	struct kat_bytes der, want;
	struct kw_key *k = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int rc;

	if ((rc = unhex(pkcs8, &der)) != 0 || (rc = unhex(want_sig, &want)) != 0)
		return rc;
	kw_sign_params_default(&p);
	rc = kw_key_decode(KW_KEY_ED25519, der.b, der.len, &k);
	kw_wipe(der.b, sizeof(der.b));
	if (rc != 0)
		goto out;
	rc = kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen);
	if (rc != 0)
		goto out;
	rc = bytes_equal(sig, siglen, &want) ? 0 : KW_ERR_SELFTEST;
	if (rc == 0)
		rc = verify_and_tamper(k, &p, msg, sizeof(msg), sig, siglen);
out:
	free(sig);
	kw_key_free(k);
	return rc;
}

/* Sign with a fresh key of type t and verify (FIPS 140 pairwise consistency). */
static int pairwise_sign(enum kw_key_type t, const struct kw_sign_params *p)
{
	static const uint8_t msg[] = "keyward pairwise consistency";
	struct kw_key *k = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int rc;

	rc = kw_key_generate(t, 0, &k);
	if (rc == 0)
		rc = kw_sign(k, p, msg, sizeof(msg), &sig, &siglen);
	if (rc == 0)
		rc = verify_and_tamper(k, p, msg, sizeof(msg), sig, siglen);
	free(sig);
	kw_key_free(k);
	return rc;
}

static int kat_ecdsa_p256(void)
{
	struct kw_sign_params p;
	int rc;

	kw_sign_params_default(&p);
	rc = pairwise_sign(KW_KEY_ECDSA_P256, &p);
	if (rc != 0)
		return rc;
	p.marshal = KW_ECDSA_JWS;
	return pairwise_sign(KW_KEY_ECDSA_P256, &p);
}

static int kat_ecdsa_p384(void)
{
	struct kw_sign_params p;

	kw_sign_params_default(&p);
	p.hash = KW_HASH_SHA384;
	return pairwise_sign(KW_KEY_ECDSA_P384, &p);
}

static int kat_ecdsa_p521(void)
{
	struct kw_sign_params p;

	kw_sign_params_default(&p);
	p.hash = KW_HASH_SHA512;
	return pairwise_sign(KW_KEY_ECDSA_P521, &p);
}

/* RSA-2048: PSS and PKCS#1 v1.5 signatures, and an OAEP round trip, with one fresh key. */
static int kat_rsa(void)
{
	static const uint8_t msg[] = "keyward pairwise consistency";
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	uint8_t *sig = NULL, *ct = NULL, *pt = NULL;
	size_t siglen = 0, ctlen = 0, ptlen = 0;
	int rc;

	kw_sign_params_default(&p);
	rc = kw_key_generate(KW_KEY_RSA_2048, 0, &k);
	if (rc != 0)
		goto out;
	rc = kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen);
	if (rc == 0)
		rc = verify_and_tamper(k, &p, msg, sizeof(msg), sig, siglen);
	free(sig);
	sig = NULL;
	p.padding = KW_RSA_PKCS1V15;
	if (rc == 0)
		rc = kw_sign(k, &p, msg, sizeof(msg), &sig, &siglen);
	if (rc == 0)
		rc = verify_and_tamper(k, &p, msg, sizeof(msg), sig, siglen);
	if (rc == 0)
		rc = kw_rsa_oaep_encrypt(k, KW_HASH_SHA256, msg, sizeof(msg), &ct, &ctlen);
	if (rc == 0)
		rc = kw_rsa_oaep_decrypt(k, KW_HASH_SHA256, ct, ctlen, &pt, &ptlen);
	if (rc == 0 && (ptlen != sizeof(msg) || memcmp(pt, msg, ptlen) != 0))
		rc = KW_ERR_SELFTEST;
out:
	free(sig);
	free(ct);
	free(pt);
	kw_key_free(k);
	return rc;
}

/* Wrap then unwrap; the same blob under other associated data must not unwrap. */
static int kat_wrap(void)
{
	static const uint8_t kek[KW_ROOT_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t secret[] = "wrapped key material";
	uint8_t *blob = NULL, *pt = NULL;
	size_t bloblen = 0, ptlen = 0;
	int rc;

	rc = kw_wrap(kek, (const uint8_t *)"a", 1, secret, sizeof(secret), &blob, &bloblen);
	if (rc != 0)
		return rc;
	rc = kw_unwrap(kek, (const uint8_t *)"a", 1, blob, bloblen, &pt, &ptlen);
	if (rc == 0 && (ptlen != sizeof(secret) || memcmp(pt, secret, ptlen) != 0))
		rc = KW_ERR_SELFTEST;
	kw_secure_free(pt, ptlen);
	pt = NULL;
	if (rc == 0 &&
	    kw_unwrap(kek, (const uint8_t *)"b", 1, blob, bloblen, &pt, &ptlen) != KW_ERR_INTEGRITY)
		rc = KW_ERR_SELFTEST;
	kw_secure_free(pt, ptlen);
	free(blob);
	return rc;
}

/* Split 3-of-5 and recover from two different triples. */
static int kat_shamir(void)
{
	static const uint8_t secret[] = "shamir self-test secret";
	const size_t sharelen = sizeof(secret) + 1;
	uint8_t got[sizeof(secret)];
	const uint8_t *a[3], *b[3];
	uint8_t *shares = NULL;
	int rc;

	rc = kw_shamir_split(secret, sizeof(secret), 5, 3, &shares);
	if (rc != 0)
		return rc;
	a[0] = shares;
	a[1] = shares + 2 * sharelen;
	a[2] = shares + 4 * sharelen;
	b[0] = shares + 3 * sharelen;
	b[1] = shares + 1 * sharelen;
	b[2] = shares;
	rc = kw_shamir_combine(a, 3, sharelen, got);
	if (rc == 0 && memcmp(got, secret, sizeof(secret)) != 0)
		rc = KW_ERR_SELFTEST;
	if (rc == 0)
		rc = kw_shamir_combine(b, 3, sharelen, got);
	if (rc == 0 && memcmp(got, secret, sizeof(secret)) != 0)
		rc = KW_ERR_SELFTEST;
	kw_secure_free(shares, 5 * sharelen);
	return rc;
}

/* The DRBG answers and does not repeat itself. */
static int kat_random(void)
{
	uint8_t a[32], b[32];
	int rc;

	rc = kw_random(a, sizeof(a));
	if (rc == 0)
		rc = kw_random(b, sizeof(b));
	if (rc == 0 && memcmp(a, b, sizeof(a)) == 0)
		rc = KW_ERR_SELFTEST;
	return rc;
}

static const struct {
	const char *name;
	int (*run)(void);
} kats[] = {
    {"sha1", kat_sha1},
    {"sha2-256", kat_sha256},
    {"sha2-384", kat_sha384},
    {"sha2-512", kat_sha512},
    {"sha3-256", kat_sha3_256},
    {"hmac-sha2-256", kat_hmac_sha256},
    {"aes128-gcm", kat_aes128_gcm},
    {"aes256-gcm", kat_aes256_gcm},
    {"chacha20-poly1305", kat_chacha20_poly1305},
    {"ed25519", kat_ed25519},
    {"ecdsa-p256-pairwise", kat_ecdsa_p256},
    {"ecdsa-p384-pairwise", kat_ecdsa_p384},
    {"ecdsa-p521-pairwise", kat_ecdsa_p521},
    {"rsa-2048-pairwise", kat_rsa},
    {"wrap", kat_wrap},
    {"shamir", kat_shamir},
    {"random", kat_random},
};

/*
 * KEYWARD_SELFTEST_FAIL=<name> makes that test report failure after it ran,
 * so the refusal path (no init, no unseal, the test named) can be tested on
 * a real daemon. It can only make keyward refuse to work, never the reverse.
 */
int kw_crypto_selftest(const char **failed)
{
	const char *force = getenv("KEYWARD_SELFTEST_FAIL");

	for (size_t i = 0; i < KW_ARRAY_LEN(kats); i++) {
		int rc = kats[i].run();

		if (rc != 0 || (force != NULL && strcmp(force, kats[i].name) == 0)) {
			*failed = kats[i].name;
			return KW_ERR_SELFTEST;
		}
	}
	return 0;
}
