/*
 * test_p11crypto.c: the PKCS#11 primitives (rsaraw.c, ecdh.c, aesmodes.c)
 * against known answers: Wycheproof for AES key wrap (RFC 3394 and 5649),
 * ECDH P-256 (point and SubjectPublicKeyInfo peers), OAEP with labels and
 * deterministic PKCS#1 v1.5 signatures; NIST SP 800-38A for the AES modes;
 * and the behaviour of PKCS#1 v1.5 decryption with implicit rejection.
 *
 * As in test_wycheproof.c, "valid" cases must give the expected output,
 * "invalid" ones must fail, and every file must yield checked cases of
 * both kinds. Failures name <file>#<tcId>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto_tests.h"

struct p11_run {
	const char *file;
	unsigned valid, invalid, failed;
};

static json_t *vec_load(const char *file)
{
	char path[1024];
	json_error_t err;
	json_t *root;

	snprintf(path, sizeof(path), "%s/wycheproof/%s", KW_VECTORS_DIR, file);
	root = json_load_file(path, 0, &err);
	if (root == NULL)
		fail_msg("%s: %s (line %d)", path, err.text, err.line);
	return root;
}

static const char *vstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL)
		fail_msg("missing string field \"%s\"", key);
	return s;
}

static uint8_t *vhex(json_t *o, const char *key, size_t *len)
{
	return t_unhex(vstr(o, key), len);
}

/* Record one case; acceptable ones are not counted. */
static void vcheck(struct p11_run *run, json_t *t, bool ok)
{
	const char *res = vstr(t, "result");
	bool want;

	if (strcmp(res, "acceptable") == 0)
		return;
	want = strcmp(res, "valid") == 0;
	if (want)
		run->valid++;
	else
		run->invalid++;
	if (ok != want) {
		run->failed++;
		print_error("%s#%lld (%s): expected %s\n", run->file,
		            (long long)json_integer_value(json_object_get(t, "tcId")),
		            json_string_value(json_object_get(t, "comment")),
		            want ? "success" : "failure");
	}
}

static void vdone(struct p11_run *run)
{
	print_message("%s: %u valid and %u invalid checked\n", run->file, run->valid, run->invalid);
	assert_int_equal(run->failed, 0);
	assert_true(run->valid > 0);
	assert_true(run->invalid > 0);
}

/* ---- AES key wrap ---- */

static bool wrap_ok(bool pad, json_t *t)
{
	size_t klen, mlen, clen, outlen = 0, ptlen = 0;
	uint8_t *key = vhex(t, "key", &klen), *msg = vhex(t, "msg", &mlen),
	        *ct = vhex(t, "ct", &clen);
	uint8_t *out = NULL, *pt = NULL;
	bool ok;

	ok = kw_aes_key_unwrap(pad, key, klen, ct, clen, &pt, &ptlen) == 0 && ptlen == mlen &&
	     memcmp(pt, msg, mlen) == 0;
	/* A valid case must also wrap to exactly the expected bytes. */
	if (ok)
		ok = kw_aes_key_wrap(pad, key, klen, msg, mlen, &out, &outlen) == 0 &&
		     outlen == clen && memcmp(out, ct, clen) == 0;
	kw_secure_free(pt, ptlen);
	free(out);
	free(key);
	free(msg);
	free(ct);
	return ok;
}

static void wrap_file(const char *file, bool pad)
{
	struct p11_run run = {.file = file};
	json_t *root = vec_load(file), *g, *t;
	size_t i, j;

	json_array_foreach(json_object_get(root, "testGroups"), i, g)
	{
		json_array_foreach(json_object_get(g, "tests"), j, t)
		    vcheck(&run, t, wrap_ok(pad, t));
	}
	json_decref(root);
	vdone(&run);
}

void test_p11_wp_aes_kw(void **state)
{
	(void)state;
	wrap_file("aes_wrap_test.json", false);
}

void test_p11_wp_aes_kwp(void **state)
{
	(void)state;
	wrap_file("aes_kwp_test.json", true);
}

/* ---- ECDH ---- */

/* A P-256 private key from its scalar, as the PKCS#8 kw_key_decode takes:
 * the public point is computed here so the pairwise check can run. */
static struct kw_key *ec_key_from_scalar(const char *hex)
{
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pt = EC_POINT_new(grp);
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pkey = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	uint8_t pub[65], *der = NULL;
	struct kw_key *k = NULL;
	int derlen;

	assert_true(BN_hex2bn(&d, hex) > 0);
	assert_int_equal(EC_POINT_mul(grp, pt, d, NULL, NULL, NULL), 1);
	assert_int_equal(
	    EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), NULL),
	    sizeof(pub));
	assert_int_equal(
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d), 1);
	assert_int_equal(
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)), 1);
	assert_non_null(params = OSSL_PARAM_BLD_to_param(b));
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params), 1);
	assert_non_null(p8 = EVP_PKEY2PKCS8(pkey));
	assert_true((derlen = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) > 0);
	assert_int_equal(kw_key_decode(KW_KEY_ECDSA_P256, der, (size_t)derlen, &k), 0);
	OPENSSL_clear_free(der, (size_t)derlen);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	BN_clear_free(d);
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	return k;
}

static bool ecdh_ok(json_t *t)
{
	size_t publen, sharedlen, zlen = 0;
	uint8_t *pub = vhex(t, "public", &publen), *shared = vhex(t, "shared", &sharedlen),
	        *z = NULL;
	struct kw_key *k = ec_key_from_scalar(vstr(t, "private"));
	bool ok;

	ok = kw_ecdh_derive(k, pub, publen, &z, &zlen) == 0 && zlen == sharedlen &&
	     memcmp(z, shared, zlen) == 0;
	kw_secure_free(z, zlen);
	kw_key_free(k);
	free(pub);
	free(shared);
	return ok;
}

static void ecdh_file(const char *file)
{
	struct p11_run run = {.file = file};
	json_t *root = vec_load(file), *g, *t;
	size_t i, j;

	json_array_foreach(json_object_get(root, "testGroups"), i, g)
	{
		assert_string_equal(vstr(g, "curve"), "secp256r1");
		json_array_foreach(json_object_get(g, "tests"), j, t) vcheck(&run, t, ecdh_ok(t));
	}
	json_decref(root);
	vdone(&run);
}

void test_p11_wp_ecdh_point(void **state)
{
	(void)state;
	ecdh_file("ecdh_secp256r1_ecpoint_test.json");
}

void test_p11_wp_ecdh_spki(void **state)
{
	(void)state;
	ecdh_file("ecdh_secp256r1_test.json");
}

void test_p11_ecdh_misuse(void **state)
{
	struct kw_key *rsa = NULL, *p384 = NULL, *p256 = NULL;
	uint8_t *pub = NULL, *z = NULL, point[1 + 96];
	size_t publen = 0, zlen = 0;

	(void)state;
	assert_int_equal(kw_key_generate(KW_KEY_RSA_2048, 0, &rsa), 0);
	assert_int_equal(kw_key_generate(KW_KEY_ECDSA_P384, 0, &p384), 0);
	assert_int_equal(kw_key_generate(KW_KEY_ECDSA_P256, 0, &p256), 0);
	assert_int_equal(kw_key_public_der(p384, &pub, &publen), 0);
	assert_int_equal(kw_ecdh_derive(rsa, pub, publen, &z, &zlen), KW_ERR_KEY_TYPE);
	/* A P-384 peer for a P-256 key, as SPKI or as a bare point. */
	assert_int_equal(kw_ecdh_derive(p256, pub, publen, &z, &zlen), KW_ERR_INVALID);
	memcpy(point, pub + publen - sizeof(point), sizeof(point));
	assert_int_equal(point[0], 0x04);
	assert_int_equal(kw_ecdh_derive(p256, point, sizeof(point), &z, &zlen), KW_ERR_INVALID);
	assert_int_equal(kw_ecdh_derive(p256, NULL, 0, &z, &zlen), KW_ERR_INVALID);
	assert_null(z);
	free(pub);
	kw_key_free(rsa);
	kw_key_free(p384);
	kw_key_free(p256);
}

void test_p11_x963_kdf(void **state)
{
	/* SEC1 X9.63 KDF, SHA-256, as in NIST CAVS (ansx963_2001.rsp, first
	 * SHA-256 case without shared info). */
	size_t zlen, wantlen;
	uint8_t *z = t_unhex("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08", &zlen);
	uint8_t *want = t_unhex("443024c3dae66b95e6f5670601558f71", &wantlen);
	uint8_t out[16];

	(void)state;
	assert_int_equal(kw_x963_kdf(KW_HASH_SHA256, z, zlen, NULL, 0, out, sizeof(out)), 0);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(kw_x963_kdf(KW_HASH_NONE, z, zlen, NULL, 0, out, sizeof(out)),
	                 KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_x963_kdf(KW_HASH_SHA256, NULL, 0, NULL, 0, out, sizeof(out)),
	                 KW_ERR_INVALID);
	free(z);
	free(want);
}

/* ---- RSA ---- */

static enum kw_hash vhash(json_t *g, const char *key)
{
	static const struct {
		const char *name;
		enum kw_hash h;
	} map[] = {{"SHA-1", KW_HASH_SHA1},
	           {"SHA-224", KW_HASH_SHA224},
	           {"SHA-256", KW_HASH_SHA256},
	           {"SHA-384", KW_HASH_SHA384},
	           {"SHA-512", KW_HASH_SHA512}};
	const char *name = vstr(g, key);

	for (size_t i = 0; i < KW_ARRAY_LEN(map); i++)
		if (strcmp(name, map[i].name) == 0)
			return map[i].h;
	return KW_HASH_NONE;
}

/* Every case, labelled ones included, through kw_rsa_decrypt. */
void test_p11_wp_oaep_label(void **state)
{
	struct p11_run run = {.file = "rsa_oaep_2048_sha256_mgf1sha256_test.json"};
	json_t *root = vec_load(run.file), *g, *t;
	size_t i, j;

	(void)state;
	json_array_foreach(json_object_get(root, "testGroups"), i, g)
	{
		size_t derlen;
		uint8_t *der = vhex(g, "privateKeyPkcs8", &derlen);
		struct kw_rsa_dec_params p = {.padding = KW_RSA_DEC_OAEP};
		struct kw_key *k = NULL;

		p.hash = vhash(g, "sha");
		p.mgf1_hash = vhash(g, "mgfSha");
		assert_int_equal(kw_key_decode(KW_KEY_RSA_2048, der, derlen, &k), 0);
		json_array_foreach(json_object_get(g, "tests"), j, t)
		{
			size_t mlen, clen, llen, ptlen = 0;
			uint8_t *msg = vhex(t, "msg", &mlen), *ct = vhex(t, "ct", &clen);
			uint8_t *label = vhex(t, "label", &llen), *pt = NULL;

			p.label = label;
			p.labellen = llen;
			vcheck(&run, t,
			       kw_rsa_decrypt(k, &p, ct, clen, &pt, &ptlen) == 0 && ptlen == mlen &&
			           memcmp(pt, msg, mlen) == 0);
			free(msg);
			free(ct);
			free(label);
			free(pt);
		}
		kw_key_free(k);
		free(der);
	}
	json_decref(root);
	vdone(&run);
}

/* The DigestInfo of msg under h, built from kw_hash_digest and the prefix
 * the check accepts (found by trying every hash's encoding length). */
static size_t digestinfo(enum kw_hash h, const uint8_t *msg, size_t mlen, uint8_t *out)
{
	static const char *const prefix[] = {
	    [KW_HASH_SHA1] = "3021300906052b0e03021a05000414",
	    [KW_HASH_SHA224] = "302d300d06096086480165030402040500041c",
	    [KW_HASH_SHA256] = "3031300d060960864801650304020105000420",
	    [KW_HASH_SHA384] = "3041300d060960864801650304020205000430",
	    [KW_HASH_SHA512] = "3051300d060960864801650304020305000440",
	};
	size_t plen, dlen;
	uint8_t *p = t_unhex(prefix[h], &plen);

	memcpy(out, p, plen);
	assert_int_equal(kw_hash_digest(h, msg, mlen, out + plen, &dlen), 0);
	free(p);
	return plen + dlen;
}

/* Deterministic signatures: signing the DigestInfo must give exactly the
 * expected bytes; the negative half is the shape check refusing a
 * DigestInfo with its digest cut short. */
void test_p11_wp_pkcs1_sign_raw(void **state)
{
	struct p11_run run = {.file = "rsa_pkcs1_2048_sig_gen_test.json"};
	json_t *root = vec_load(run.file), *g, *t;
	size_t i, j;

	(void)state;
	json_array_foreach(json_object_get(root, "testGroups"), i, g)
	{
		enum kw_hash h = vhash(g, "sha");
		struct kw_key *k = NULL;
		size_t derlen;
		uint8_t *der;

		if (json_integer_value(json_object_get(g, "keySize")) != 2048 || h == KW_HASH_NONE)
			continue;
		der = vhex(g, "privateKeyPkcs8", &derlen);
		assert_int_equal(kw_key_decode(KW_KEY_RSA_2048, der, derlen, &k), 0);
		json_array_foreach(json_object_get(g, "tests"), j, t)
		{
			size_t mlen, slen, dilen, outlen = 0;
			uint8_t *msg = vhex(t, "msg", &mlen), *sig = vhex(t, "sig", &slen),
			        *out = NULL;
			uint8_t di[128];
			enum kw_hash got = KW_HASH_NONE;

			if (strcmp(vstr(t, "result"), "valid") != 0) {
				free(msg);
				free(sig);
				continue;
			}
			dilen = digestinfo(h, msg, mlen, di);
			vcheck(&run, t,
			       kw_rsa_digestinfo_check(di, dilen, &got) && got == h &&
			           kw_rsa_sign_pkcs1_raw(k, di, dilen, &out, &outlen) == 0 &&
			           outlen == slen && memcmp(out, sig, slen) == 0);
			run.invalid++;
			if (kw_rsa_digestinfo_check(di, dilen - 1, NULL)) {
				run.failed++;
				print_error("%s: a truncated DigestInfo passed the check\n",
				            run.file);
			}
			free(msg);
			free(sig);
			free(out);
		}
		kw_key_free(k);
		free(der);
	}
	json_decref(root);
	vdone(&run);
}

void test_p11_digestinfo_check(void **state)
{
	uint8_t di[128];
	size_t n = digestinfo(KW_HASH_SHA256, (const uint8_t *)"abc", 3, di);
	enum kw_hash h = KW_HASH_NONE;

	(void)state;
	assert_true(kw_rsa_digestinfo_check(di, n, &h));
	assert_int_equal(h, KW_HASH_SHA256);
	di[5] ^= 1; /* the OID */
	assert_false(kw_rsa_digestinfo_check(di, n, NULL));
	di[5] ^= 1;
	assert_false(kw_rsa_digestinfo_check(di, n + 1, NULL));
	assert_false(kw_rsa_digestinfo_check(di + 1, n - 1, NULL));
	assert_false(kw_rsa_digestinfo_check(NULL, 0, NULL));
	n = digestinfo(KW_HASH_SHA1, (const uint8_t *)"abc", 3, di);
	assert_true(kw_rsa_digestinfo_check(di, n, &h));
	assert_int_equal(h, KW_HASH_SHA1);
}

void test_p11_sign_raw_misuse(void **state)
{
	struct kw_key *rsa = NULL, *ec = NULL;
	uint8_t big[256] = {0}, *sig = NULL;
	size_t siglen = 0;

	(void)state;
	assert_int_equal(kw_key_generate(KW_KEY_RSA_2048, 0, &rsa), 0);
	assert_int_equal(kw_key_generate(KW_KEY_ECDSA_P256, 0, &ec), 0);
	assert_int_equal(kw_rsa_sign_pkcs1_raw(ec, big, 32, &sig, &siglen), KW_ERR_KEY_TYPE);
	/* k - 11 bytes fit the padding; one more does not. */
	assert_int_equal(kw_rsa_sign_pkcs1_raw(rsa, big, 246, &sig, &siglen), KW_ERR_INVALID);
	assert_int_equal(kw_rsa_sign_pkcs1_raw(rsa, big, 245, &sig, &siglen), 0);
	assert_int_equal(siglen, 256);
	free(sig);
	kw_key_free(rsa);
	kw_key_free(ec);
}

/* PKCS#1 v1.5 encryption with the public half, through OpenSSL directly. */
static size_t pkcs1_encrypt(const struct kw_key *k, const uint8_t *m, size_t mlen, uint8_t *out)
{
	uint8_t *der = NULL;
	const uint8_t *p;
	size_t derlen = 0, outlen = 256;
	EVP_PKEY *pub;
	EVP_PKEY_CTX *ctx;

	assert_int_equal(kw_key_public_der(k, &der, &derlen), 0);
	p = der;
	assert_non_null(pub = d2i_PUBKEY(NULL, &p, (long)derlen));
	assert_non_null(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL));
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_encrypt(ctx, out, &outlen, m, mlen), 1);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	free(der);
	return outlen;
}

void test_p11_pkcs1_implicit_rejection(void **state)
{
	struct kw_rsa_dec_params p = {.padding = KW_RSA_DEC_PKCS1V15};
	struct kw_key *k = NULL;
	uint8_t ct[256], bad[256], *a = NULL, *b = NULL, *c = NULL;
	size_t clen, alen = 0, blen = 0, cl = 0;
	const uint8_t msg[] = "premaster secret, 48 bytes long, for TLS RSA kx";

	(void)state;
	assert_int_equal(kw_key_generate(KW_KEY_RSA_2048, 0, &k), 0);
	clen = pkcs1_encrypt(k, msg, sizeof(msg), ct);
	assert_int_equal(kw_rsa_decrypt(k, &p, ct, clen, &a, &alen), 0);
	assert_int_equal(alen, sizeof(msg));
	assert_memory_equal(a, msg, sizeof(msg));
	free(a);
	a = NULL;
	/* A broken padding decrypts "successfully" to the same synthetic
	 * message every time, and a different one for another ciphertext. */
	memcpy(bad, ct, sizeof(bad));
	bad[100] ^= 0x40;
	assert_int_equal(kw_rsa_decrypt(k, &p, bad, clen, &a, &alen), 0);
	assert_int_equal(kw_rsa_decrypt(k, &p, bad, clen, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_true(alen <= 256 - 11);
	assert_memory_equal(a, b, alen);
	bad[101] ^= 0x40;
	assert_int_equal(kw_rsa_decrypt(k, &p, bad, clen, &c, &cl), 0);
	assert_false(cl == alen && memcmp(a, c, cl) == 0);
	/* Only public facts fail: the length. */
	assert_int_equal(kw_rsa_decrypt(k, &p, ct, clen - 1, &b, &blen), KW_ERR_DECRYPT);
	free(a);
	free(b);
	free(c);
	kw_key_free(k);
}

/* ---- AES modes: NIST SP 800-38A F.1.1, F.2.1, F.5.1 (first block) ---- */

#define SP_KEY "2b7e151628aed2a6abf7158809cf4f3c"
#define SP_PT  "6bc1bee22e409f96e93d7e117393172a"
#define SP_IV  "000102030405060708090a0b0c0d0e0f"
#define SP_CTR "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

static void mode_kat(enum kw_aes_mode mode, const char *ivhex, const char *cthex)
{
	size_t klen, ptlen, ivlen = 0, ctlen, outlen = 0;
	uint8_t *key = t_unhex(SP_KEY, &klen), *pt = t_unhex(SP_PT, &ptlen);
	uint8_t *iv = ivhex ? t_unhex(ivhex, &ivlen) : NULL, *ct = t_unhex(cthex, &ctlen);
	uint8_t out[64];

	assert_int_equal(kw_aes_cipher(mode, true, key, klen, iv, ivlen, pt, ptlen, out, &outlen),
	                 0);
	assert_int_equal(outlen, ctlen);
	assert_memory_equal(out, ct, ctlen);
	assert_int_equal(kw_aes_cipher(mode, false, key, klen, iv, ivlen, ct, ctlen, out, &outlen),
	                 0);
	assert_memory_equal(out, pt, ptlen);
	free(key);
	free(pt);
	free(iv);
	free(ct);
}

void test_p11_aes_modes_kat(void **state)
{
	(void)state;
	mode_kat(KW_AES_ECB, NULL, "3ad77bb40d7a3660a89ecaf32466ef97");
	mode_kat(KW_AES_CBC, SP_IV, "7649abac8119b246cee98e9b12e9197d");
	mode_kat(KW_AES_CTR, SP_CTR, "874d6191b620e3261bef6864990db6ce");
}

void test_p11_aes_cbc_pad(void **state)
{
	uint8_t key[32] = {1}, iv[16] = {2}, in[48], out[64], back[64];
	size_t outlen = 0, backlen = 0;

	(void)state;
	memset(in, 0x5a, sizeof(in));
	for (size_t n = 0; n <= 32; n += 16) {
		assert_int_equal(kw_aes_cipher(KW_AES_CBC_PAD, true, key, sizeof(key), iv, 16, in,
		                               n, out, &outlen),
		                 0);
		assert_int_equal(outlen, n + 16); /* a whole block of padding */
		assert_int_equal(kw_aes_cipher(KW_AES_CBC_PAD, false, key, sizeof(key), iv, 16, out,
		                               outlen, back, &backlen),
		                 0);
		assert_int_equal(backlen, n);
		assert_memory_equal(back, in, n);
	}
	assert_int_equal(
	    kw_aes_cipher(KW_AES_CBC_PAD, true, key, sizeof(key), iv, 16, in, 5, out, &outlen), 0);
	assert_int_equal(outlen, 16);
	out[15] ^= 0x55; /* the last block's padding, almost surely broken */
	assert_int_equal(
	    kw_aes_cipher(KW_AES_CBC_PAD, false, key, sizeof(key), iv, 16, out, 16, back, &backlen),
	    KW_ERR_DECRYPT);
}

void test_p11_aes_mode_misuse(void **state)
{
	uint8_t key[16] = {0}, iv[16] = {0}, in[32] = {0}, out[64];
	size_t outlen = 0;

	(void)state;
	assert_int_equal(kw_aes_cipher(KW_AES_CBC, true, key, 16, iv, 16, in, 15, out, &outlen),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_aes_cipher(KW_AES_ECB, true, key, 16, iv, 16, in, 16, out, &outlen),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_aes_cipher(KW_AES_CTR, true, key, 16, iv, 12, in, 16, out, &outlen),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_aes_cipher(KW_AES_CBC, true, key, 15, iv, 16, in, 16, out, &outlen),
	                 KW_ERR_INVALID);
	assert_int_equal(kw_aes_cipher(KW_AES_CBC_PAD, false, key, 16, iv, 16, in, 0, out, &outlen),
	                 KW_ERR_INVALID);
	/* CTR takes any length. */
	assert_int_equal(kw_aes_cipher(KW_AES_CTR, true, key, 16, iv, 16, in, 7, out, &outlen), 0);
	assert_int_equal(outlen, 7);
}
