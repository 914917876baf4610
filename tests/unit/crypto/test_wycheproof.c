/*
 * test_wycheproof.c: Project Wycheproof vectors (KW_VECTORS_DIR/wycheproof,
 * see its README.md) through the public crypto API.
 *
 * "valid" cases must succeed with the expected output, "invalid" ones must
 * fail; "acceptable" ones are counted and skipped. Every file must yield a
 * positive number of checked valid and invalid cases, so a missing file or a
 * loader that skips everything cannot pass. Failures name <file>#<tcId>.
 *
 * Not covered here: aes_wrap_test.json, aes_kwp_test.json and the ECDH files,
 * for algorithms the crypto module does not offer (yet).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto_tests.h"

struct wp_run {
	const char *file;
	const void *cfg; /* what the group function needs besides the JSON */
	unsigned valid, invalid, acceptable, unsupported, failed;
};

typedef void (*wp_group_fn)(struct wp_run *run, json_t *group);

static json_t *wp_load(const char *file)
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

static const char *wp_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (s == NULL)
		fail_msg("missing string field \"%s\"", key);
	return s;
}

static uint8_t *wp_hex(json_t *obj, const char *key, size_t *len)
{
	return t_unhex(wp_str(obj, key), len);
}

static long long wp_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		fail_msg("missing integer field \"%s\"", key);
	return json_integer_value(v);
}

static enum kw_hash wp_hash(json_t *group, const char *key)
{
	static const struct {
		const char *name;
		enum kw_hash h;
	} map[] = {
	    {"SHA-1", KW_HASH_SHA1},        {"SHA-224", KW_HASH_SHA224},
	    {"SHA-256", KW_HASH_SHA256},    {"SHA-384", KW_HASH_SHA384},
	    {"SHA-512", KW_HASH_SHA512},    {"SHA3-224", KW_HASH_SHA3_224},
	    {"SHA3-256", KW_HASH_SHA3_256}, {"SHA3-384", KW_HASH_SHA3_384},
	    {"SHA3-512", KW_HASH_SHA3_512},
	};
	const char *name = wp_str(group, key);

	for (size_t i = 0; i < KW_ARRAY_LEN(map); i++)
		if (strcmp(name, map[i].name) == 0)
			return map[i].h;
	fail_msg("unknown hash \"%s\"", name);
	return KW_HASH_NONE;
}

enum wp_result { WP_VALID, WP_INVALID, WP_ACCEPTABLE };

static enum wp_result wp_result(json_t *test)
{
	const char *r = wp_str(test, "result");

	if (strcmp(r, "valid") == 0)
		return WP_VALID;
	if (strcmp(r, "invalid") == 0)
		return WP_INVALID;
	if (strcmp(r, "acceptable") == 0)
		return WP_ACCEPTABLE;
	fail_msg("unknown result \"%s\"", r);
	return WP_INVALID;
}

/* ok: the operation succeeded and gave the expected output. */
static void wp_check(struct wp_run *run, json_t *test, bool ok)
{
	enum wp_result r = wp_result(test);

	if (r == WP_ACCEPTABLE) {
		run->acceptable++;
		return;
	}
	if (r == WP_VALID)
		run->valid++;
	else
		run->invalid++;
	if (ok != (r == WP_VALID)) {
		run->failed++;
		print_error("%s#%lld (%s): expected %s\n", run->file, wp_int(test, "tcId"),
		            json_string_value(json_object_get(test, "comment")),
		            r == WP_VALID ? "success" : "failure");
	}
}

static void wp_run_file(const char *file, const void *cfg, wp_group_fn fn)
{
	struct wp_run run = {.file = file, .cfg = cfg};
	json_t *root = wp_load(file), *groups = json_object_get(root, "testGroups"), *g;
	size_t i;

	assert_true(json_is_array(groups));
	json_array_foreach(groups, i, g) fn(&run, g);
	json_decref(root);
	print_message("%s: %u valid and %u invalid checked, %u acceptable and %u unsupported "
	              "skipped\n",
	              file, run.valid, run.invalid, run.acceptable, run.unsupported);
	assert_int_equal(run.failed, 0);
	assert_true(run.valid > 0);
	assert_true(run.invalid > 0);
}

/* Every test of a group, for skipping it whole. */
static unsigned wp_count(json_t *group)
{
	return (unsigned)json_array_size(json_object_get(group, "tests"));
}

/* ---- AES-GCM ---- */

struct wp_gcm_cfg {
	bool iv96; /* the 12-byte-IV groups, or all the others */
};

static bool gcm_open_ok(json_t *t, const uint8_t *key, size_t keylen)
{
	size_t ivlen, aadlen, msglen, ctlen, taglen;
	uint8_t *iv = wp_hex(t, "iv", &ivlen), *aad = wp_hex(t, "aad", &aadlen);
	uint8_t *msg = wp_hex(t, "msg", &msglen), *ct = wp_hex(t, "ct", &ctlen);
	uint8_t *tag = wp_hex(t, "tag", &taglen);
	uint8_t *pt = malloc(ctlen + 1);
	enum kw_key_type type = keylen == 16 ? KW_KEY_AES128_GCM96 : KW_KEY_AES256_GCM96;
	bool ok;

	assert_non_null(pt);
	ok = kw_aead_open_raw(type, key, keylen, iv, ivlen, aad, aadlen, ct, ctlen, tag, taglen,
	                      pt) == 0 &&
	     ctlen == msglen && memcmp(pt, msg, msglen) == 0;
	free(iv);
	free(aad);
	free(msg);
	free(ct);
	free(tag);
	free(pt);
	return ok;
}

static bool gcm_seal_ok(json_t *t, const uint8_t *key, size_t keylen)
{
	size_t ivlen, aadlen, msglen, ctlen, taglen;
	uint8_t *iv = wp_hex(t, "iv", &ivlen), *aad = wp_hex(t, "aad", &aadlen);
	uint8_t *msg = wp_hex(t, "msg", &msglen), *ct = wp_hex(t, "ct", &ctlen);
	uint8_t *tag = wp_hex(t, "tag", &taglen);
	uint8_t *out = malloc(msglen + 1), outtag[KW_AEAD_TAG_BYTES];
	enum kw_key_type type = keylen == 16 ? KW_KEY_AES128_GCM96 : KW_KEY_AES256_GCM96;
	bool ok;

	assert_non_null(out);
	ok = taglen <= sizeof(outtag) &&
	     kw_aead_seal_raw(type, key, keylen, iv, ivlen, aad, aadlen, msg, msglen, out, outtag,
	                      taglen) == 0 &&
	     msglen == ctlen && memcmp(out, ct, ctlen) == 0 && memcmp(outtag, tag, taglen) == 0;
	free(iv);
	free(aad);
	free(msg);
	free(ct);
	free(tag);
	free(out);
	return ok;
}

static void wp_gcm_refused(struct wp_run *run, json_t *g)
{
	uint8_t key[32] = {0}, tag[KW_AEAD_TAG_BYTES] = {0}, pt[1];
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(g, "tests"), i, t)
	{
		size_t ivlen;
		uint8_t *iv = wp_hex(t, "iv", &ivlen);

		assert_int_equal(kw_aead_open_raw(KW_KEY_AES256_GCM96, key, sizeof(key), iv, ivlen,
		                                  NULL, 0, NULL, 0, tag, sizeof(tag), pt),
		                 KW_ERR_UNSUPPORTED);
		run->unsupported++;
		free(iv);
	}
}

static void wp_gcm_group(struct wp_run *run, json_t *g)
{
	const struct wp_gcm_cfg *cfg = run->cfg;
	json_t *t;
	size_t i;

	if ((wp_int(g, "ivSize") == 96) != cfg->iv96)
		return;
	if (wp_int(g, "tagSize") != 8 * KW_AEAD_TAG_BYTES) {
		run->unsupported += wp_count(g);
		return;
	}
	/* OpenSSL 3 caps GCM IVs at 1024 bits; longer ones must be refused cleanly. */
	if (wp_int(g, "ivSize") > 1024) {
		wp_gcm_refused(run, g);
		return;
	}
	json_array_foreach(json_object_get(g, "tests"), i, t)
	{
		size_t keylen;
		uint8_t *key = wp_hex(t, "key", &keylen);
		bool ok = gcm_open_ok(t, key, keylen);

		/* A valid case must also seal to exactly the expected ct and tag. */
		if (ok && wp_result(t) == WP_VALID)
			ok = gcm_seal_ok(t, key, keylen);
		wp_check(run, t, ok);
		free(key);
	}
}

void test_wp_aes_gcm(void **state)
{
	static const struct wp_gcm_cfg cfg = {.iv96 = true};

	wp_run_file("aes_gcm_test.json", &cfg, wp_gcm_group);
}

/* IVs other than 96 bits go through GHASH; kw_aead_*_raw accepts any non-empty IV. */
void test_wp_aes_gcm_other_iv(void **state)
{
	static const struct wp_gcm_cfg cfg = {.iv96 = false};

	wp_run_file("aes_gcm_test.json", &cfg, wp_gcm_group);
}

/* ---- HMAC ---- */

static void wp_hmac_group(struct wp_run *run, json_t *g)
{
	const enum kw_hash *h = run->cfg;
	json_t *t;
	size_t i;

	/* Only full-length tags: kw_hmac has no truncated form. */
	if ((size_t)wp_int(g, "tagSize") != 8 * kw_hash_size(*h)) {
		run->unsupported += wp_count(g);
		return;
	}
	json_array_foreach(json_object_get(g, "tests"), i, t)
	{
		size_t keylen, msglen, taglen, maclen = 0;
		uint8_t *key = wp_hex(t, "key", &keylen), *msg = wp_hex(t, "msg", &msglen);
		uint8_t *tag = wp_hex(t, "tag", &taglen);
		uint8_t mac[KW_HASH_MAX_BYTES];
		bool ok;

		ok = kw_hmac(*h, key, keylen, msg, msglen, mac, &maclen) == 0 && maclen == taglen &&
		     kw_ct_equal(mac, tag, taglen);
		wp_check(run, t, ok);
		free(key);
		free(msg);
		free(tag);
	}
}

void test_wp_hmac_sha256(void **state)
{
	static const enum kw_hash h = KW_HASH_SHA256;

	wp_run_file("hmac_sha256_test.json", &h, wp_hmac_group);
}

void test_wp_hmac_sha384(void **state)
{
	static const enum kw_hash h = KW_HASH_SHA384;

	wp_run_file("hmac_sha384_test.json", &h, wp_hmac_group);
}

void test_wp_hmac_sha512(void **state)
{
	static const enum kw_hash h = KW_HASH_SHA512;

	wp_run_file("hmac_sha512_test.json", &h, wp_hmac_group);
}

/* ---- signature verification ---- */

struct wp_sig_cfg {
	enum kw_key_type type;
	enum kw_rsa_padding padding;
	enum kw_ecdsa_marshal marshal;
};

/* The group's parameters: hash from "sha", PSS salt and MGF1 hash as stated. */
static void wp_sig_params(const struct wp_sig_cfg *cfg, json_t *g, struct kw_sign_params *p)
{
	kw_sign_params_default(p);
	p->padding = cfg->padding;
	p->marshal = cfg->marshal;
	if (cfg->type == KW_KEY_ED25519)
		return;
	p->hash = wp_hash(g, "sha");
	if (kw_key_type_is_rsa(cfg->type) && cfg->padding == KW_RSA_PSS) {
		/* kw_sign uses MGF1 with the signature hash; the file must agree. */
		assert_string_equal(wp_str(g, "mgf"), "MGF1");
		assert_int_equal(wp_hash(g, "mgfSha"), p->hash);
		p->salt_len = (int)wp_int(g, "sLen");
	}
}

static void wp_sig_group(struct wp_run *run, json_t *g)
{
	const struct wp_sig_cfg *cfg = run->cfg;
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	size_t derlen, i;
	uint8_t *der = wp_hex(g, "publicKeyDer", &derlen);
	json_t *t;
	int rc;

	wp_sig_params(cfg, g, &p);
	rc = kw_key_from_public_der(cfg->type, der, derlen, &k);
	if (rc != 0)
		print_error("%s: a group's public key did not load (%d)\n", run->file, rc);
	json_array_foreach(json_object_get(g, "tests"), i, t)
	{
		size_t msglen, siglen;
		uint8_t *msg = wp_hex(t, "msg", &msglen), *sig = wp_hex(t, "sig", &siglen);
		bool valid = false;
		bool ok =
		    rc == 0 && kw_verify(k, &p, msg, msglen, sig, siglen, &valid) == 0 && valid;

		wp_check(run, t, ok);
		free(msg);
		free(sig);
	}
	kw_key_free(k);
	free(der);
}

void test_wp_ecdsa_p256_der(void **state)
{
	static const struct wp_sig_cfg cfg = {.type = KW_KEY_ECDSA_P256, .marshal = KW_ECDSA_ASN1};

	wp_run_file("ecdsa_secp256r1_sha256_test.json", &cfg, wp_sig_group);
}

void test_wp_ecdsa_p256_p1363(void **state)
{
	static const struct wp_sig_cfg cfg = {.type = KW_KEY_ECDSA_P256, .marshal = KW_ECDSA_JWS};

	wp_run_file("ecdsa_secp256r1_sha256_p1363_test.json", &cfg, wp_sig_group);
}

void test_wp_ecdsa_p384_der(void **state)
{
	static const struct wp_sig_cfg cfg = {.type = KW_KEY_ECDSA_P384, .marshal = KW_ECDSA_ASN1};

	wp_run_file("ecdsa_secp384r1_sha384_test.json", &cfg, wp_sig_group);
}

void test_wp_ecdsa_p384_p1363(void **state)
{
	static const struct wp_sig_cfg cfg = {.type = KW_KEY_ECDSA_P384, .marshal = KW_ECDSA_JWS};

	wp_run_file("ecdsa_secp384r1_sha384_p1363_test.json", &cfg, wp_sig_group);
}

void test_wp_ed25519(void **state)
{
	static const struct wp_sig_cfg cfg = {.type = KW_KEY_ED25519};

	wp_run_file("ed25519_test.json", &cfg, wp_sig_group);
}

void test_wp_rsa_pkcs1_verify(void **state)
{
	static const struct wp_sig_cfg cfg = {.type = KW_KEY_RSA_2048, .padding = KW_RSA_PKCS1V15};

	wp_run_file("rsa_signature_2048_sha256_test.json", &cfg, wp_sig_group);
}

void test_wp_rsa_pss_verify(void **state)
{
	static const struct wp_sig_cfg cfg = {.type = KW_KEY_RSA_2048, .padding = KW_RSA_PSS};

	wp_run_file("rsa_pss_2048_sha256_mgf1_32_test.json", &cfg, wp_sig_group);
}

/* ---- RSA-OAEP decryption ---- */

static void wp_oaep_group(struct wp_run *run, json_t *g)
{
	struct kw_key *k = NULL;
	size_t derlen, i;
	uint8_t *der = wp_hex(g, "privateKeyPkcs8", &derlen);
	enum kw_hash h = wp_hash(g, "sha");
	json_t *t;

	assert_string_equal(wp_str(g, "mgf"), "MGF1");
	assert_int_equal(wp_hash(g, "mgfSha"), h);
	assert_int_equal(kw_key_decode(KW_KEY_RSA_2048, der, derlen, &k), 0);
	json_array_foreach(json_object_get(g, "tests"), i, t)
	{
		size_t msglen, ctlen, ptlen = 0;
		uint8_t *msg, *ct, *pt = NULL;
		bool ok;

		/* kw_rsa_oaep_decrypt has no label parameter: labelled cases are out of reach. */
		if (strlen(wp_str(t, "label")) != 0) {
			run->unsupported++;
			continue;
		}
		msg = wp_hex(t, "msg", &msglen);
		ct = wp_hex(t, "ct", &ctlen);
		ok = kw_rsa_oaep_decrypt(k, h, ct, ctlen, &pt, &ptlen) == 0 && ptlen == msglen &&
		     memcmp(pt, msg, msglen) == 0;
		wp_check(run, t, ok);
		free(msg);
		free(ct);
		free(pt);
	}
	kw_key_free(k);
	kw_wipe(der, derlen);
	free(der);
}

void test_wp_rsa_oaep_decrypt(void **state)
{
	wp_run_file("rsa_oaep_2048_sha256_mgf1sha256_test.json", NULL, wp_oaep_group);
}

/* ---- RSA PKCS#1 v1.5 signing (deterministic) ---- */

/*
 * This file has only valid and acceptable cases. Each valid one is signed
 * (message and prehashed forms must give exactly the expected signature)
 * and, as the negative half, the expected signature must not verify over a
 * changed message; that negative check is what counts as "invalid" here.
 */
static bool pkcs1_sign_ok(const struct kw_key *k, enum kw_hash h, json_t *t, bool *rejected)
{
	struct kw_sign_params p;
	size_t msglen, siglen, len1 = 0, len2 = 0, dlen;
	uint8_t *msg = wp_hex(t, "msg", &msglen), *sig = wp_hex(t, "sig", &siglen);
	uint8_t *sig1 = NULL, *sig2 = NULL, dgst[KW_HASH_MAX_BYTES];
	uint8_t *other = malloc(msglen + 1);
	bool ok, valid = true;

	assert_non_null(other);
	kw_sign_params_default(&p);
	p.hash = h;
	p.padding = KW_RSA_PKCS1V15;
	ok = kw_sign(k, &p, msg, msglen, &sig1, &len1) == 0 && len1 == siglen &&
	     memcmp(sig1, sig, siglen) == 0;
	assert_int_equal(kw_hash_digest(h, msg, msglen, dgst, &dlen), 0);
	p.prehashed = true;
	ok = ok && kw_sign(k, &p, dgst, dlen, &sig2, &len2) == 0 && len2 == siglen &&
	     memcmp(sig2, sig, siglen) == 0;
	p.prehashed = false;
	memcpy(other, msg, msglen);
	other[msglen] = 0x01;
	*rejected = kw_verify(k, &p, other, msglen + 1, sig, siglen, &valid) == 0 && !valid;
	free(msg);
	free(sig);
	free(sig1);
	free(sig2);
	free(other);
	return ok;
}

static void wp_pkcs1_sign_group(struct wp_run *run, json_t *g)
{
	struct kw_key *k = NULL;
	size_t derlen, i;
	uint8_t *der;
	enum kw_hash h = wp_hash(g, "sha");
	json_t *t;

	if (wp_int(g, "keySize") != 2048) {
		run->unsupported += wp_count(g);
		return;
	}
	der = wp_hex(g, "privateKeyPkcs8", &derlen);
	assert_int_equal(kw_key_decode(KW_KEY_RSA_2048, der, derlen, &k), 0);
	json_array_foreach(json_object_get(g, "tests"), i, t)
	{
		bool rejected = false;

		if (wp_result(t) != WP_VALID) {
			wp_check(run, t, false);
			continue;
		}
		wp_check(run, t, pkcs1_sign_ok(k, h, t, &rejected));
		run->invalid++;
		if (!rejected) {
			run->failed++;
			print_error("%s#%lld: signature verified over a changed message\n",
			            run->file, wp_int(t, "tcId"));
		}
	}
	kw_key_free(k);
	kw_wipe(der, derlen);
	free(der);
}

void test_wp_rsa_pkcs1_sign(void **state)
{
	wp_run_file("rsa_pkcs1_2048_sig_gen_test.json", NULL, wp_pkcs1_sign_group);
}
