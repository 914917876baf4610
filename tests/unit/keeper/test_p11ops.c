/*
 * Unit tests for the keeper's PKCS#11 operations (p11ops.c) over real IPC,
 * store and crypto: policy refusals, wrong key types and bad input change
 * nothing; derived and unwrapped keys are stored like generated ones; the
 * CKA_ID is stored and bound into the wrapped versions; objects round-trip;
 * and the audit log carries each operation with its input and output digests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../../src/audit/audit.h"
#include "../../../src/crypto/crypto.h"
#include "../../../src/ipc/ipc.h"
#include "../../../src/keeper/keeper.h"

#include "keeper_fx.h"

static const uint8_t sha256_di_prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                           0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                           0x01, 0x05, 0x00, 0x04, 0x20};

static void create(struct fx *f, const char *name, const char *type, unsigned exportable)
{
	struct kw_ipc_msg rep;

	assert_int_equal(call(f, KW_MSG_KEY_CREATE, f->root, &rep, KW_T_NAME, 's', name,
	                      KW_T_KEY_TYPE, 's', type, KW_T_EXPORTABLE, 'u', exportable, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
}

static void sql(const char *db, const char *stmt)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void token_for(struct fx *f, const char *policy, const char *json, char *tok, size_t len)
{
	struct kw_ipc_msg rep;

	assert_int_equal(call(f, KW_MSG_POLICY_PUT, f->root, &rep, KW_T_NAME, 's', policy,
	                      KW_T_POLICY_TEXT, 's', json, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_TOKEN_CREATE, f->root, &rep, KW_T_POLICY, 's', policy, 0),
	                 0);
	snprintf(tok, len, "%s", kw_ipc_str_or(&rep, KW_T_TOKEN, ""));
	kw_ipc_msg_cleanup(&rep);
}

static size_t digestinfo(const char *msg, uint8_t *out)
{
	size_t n = 0;

	memcpy(out, sha256_di_prefix, sizeof(sha256_di_prefix));
	assert_int_equal(kw_hash_digest(KW_HASH_SHA256, (const uint8_t *)msg, strlen(msg),
	                                out + sizeof(sha256_di_prefix), &n),
	                 0);
	return sizeof(sha256_di_prefix) + n;
}

static int key_exists(struct fx *f, const char *name)
{
	return call0(f, KW_MSG_KEY_READ, f->root, name) == 0;
}

static void sign_raw_policy_and_types(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t di[64], other[36] = {1};
	size_t n = digestinfo("hello", di);
	char tok[128];

	init_unseal(f);
	create(f, "rsa", "rsa-2048", 0);
	create(f, "ec", "ecdsa-p256", 0);
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, f->root, &rep, KW_T_NAME, 's', "rsa",
	                      KW_T_INPUT, 'b', di, n, 0),
	                 0);
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_VERSION, 0), 1);
	assert_non_null(kw_ipc_find(&rep, KW_T_SIGNATURE));
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, f->root, &rep, KW_T_NAME, 's', "ec",
	                      KW_T_INPUT, 'b', di, n, 0),
	                 KW_ERR_KEY_TYPE);
	assert_null(kw_ipc_find(&rep, KW_T_SIGNATURE));
	kw_ipc_msg_cleanup(&rep);
	/* A transit grant does not cover keyward/, and bytes that are not a
	 * DigestInfo need the .../any path too. */
	token_for(f, "p",
	          "{\"path\":{\"transit/sign/rsa\":{\"capabilities\":[\"update\"]},"
	          "\"keyward/sign-raw/rsa\":{\"capabilities\":[\"read\"]}}}",
	          tok, sizeof(tok));
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, tok, &rep, KW_T_NAME, 's', "rsa", KW_T_INPUT,
	                      'b', di, n, 0),
	                 KW_ERR_DENIED);
	kw_ipc_msg_cleanup(&rep);
	token_for(f, "q", "{\"path\":{\"keyward/sign-raw/rsa\":{\"capabilities\":[\"update\"]}}}",
	          tok, sizeof(tok));
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, tok, &rep, KW_T_NAME, 's', "rsa", KW_T_INPUT,
	                      'b', di, n, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, tok, &rep, KW_T_NAME, 's', "rsa", KW_T_INPUT,
	                      'b', other, sizeof(other), 0),
	                 KW_ERR_DENIED);
	assert_non_null(strstr(kw_ipc_str_or(&rep, KW_T_ERROR_DETAIL, ""), "/any"));
	kw_ipc_msg_cleanup(&rep);
}

static void decrypt_errors_say_one_thing(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t junk[256];
	char a[512], b[512];

	init_unseal(f);
	create(f, "rsa", "rsa-2048", 0);
	create(f, "aes", "aes256-gcm96", 0);
	memset(junk, 0x11, sizeof(junk));
	assert_int_equal(call(f, KW_MSG_P11_DECRYPT, f->root, &rep, KW_T_NAME, 's', "rsa",
	                      KW_T_CIPHERTEXT, 'b', junk, sizeof(junk), KW_T_PADDING, 's', "oaep",
	                      0),
	                 KW_ERR_DECRYPT);
	snprintf(a, sizeof(a), "%s", kw_ipc_str_or(&rep, KW_T_ERROR_DETAIL, ""));
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_DECRYPT, f->root, &rep, KW_T_NAME, 's', "rsa",
	                      KW_T_CIPHERTEXT, 'b', junk, (size_t)100, KW_T_PADDING, 's', "oaep",
	                      KW_T_LABEL, 'b', "x", (size_t)1, 0),
	                 KW_ERR_DECRYPT);
	snprintf(b, sizeof(b), "%s", kw_ipc_str_or(&rep, KW_T_ERROR_DETAIL, ""));
	kw_ipc_msg_cleanup(&rep);
	assert_string_equal(a, b);
	/* PKCS#1 v1.5 with a bad padding: a synthetic message, not an error. */
	assert_int_equal(call(f, KW_MSG_P11_DECRYPT, f->root, &rep, KW_T_NAME, 's', "rsa",
	                      KW_T_CIPHERTEXT, 'b', junk, sizeof(junk), KW_T_PADDING, 's',
	                      "pkcs1v15", 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_DECRYPT, f->root, &rep, KW_T_NAME, 's', "aes",
	                      KW_T_CIPHERTEXT, 'b', junk, sizeof(junk), KW_T_PADDING, 's', "oaep",
	                      0),
	                 KW_ERR_KEY_TYPE);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_DECRYPT, f->root, &rep, KW_T_NAME, 's', "rsa",
	                      KW_T_CIPHERTEXT, 'b', junk, sizeof(junk), KW_T_PADDING, 's', "oaep",
	                      KW_T_HASH, 's', "md4", 0),
	                 KW_ERR_UNSUPPORTED);
	kw_ipc_msg_cleanup(&rep);
}

/* Our EC key's public point, from its SubjectPublicKeyInfo (the point is
 * the DER's last 65 bytes for P-256). */
static void ec_point(struct fx *f, const char *name, uint8_t point[65])
{
	struct kw_ipc_msg rep;
	const struct kw_ipc_field *vi;
	const char *pem;
	uint8_t *der = NULL;
	size_t derlen = 0;
	char b64[512] = "";

	assert_int_equal(call(f, KW_MSG_KEY_READ, f->root, &rep, KW_T_NAME, 's', name, 0), 0);
	assert_non_null(vi = kw_ipc_find(&rep, KW_T_VERSION_INFO));
	pem = (const char *)vi->val + 12;
	/* Keep only the base64 lines of the PEM. */
	for (const char *p = strchr(pem, '\n') + 1; *p != '-'; p++)
		if (*p != '\n')
			strncat(b64, p, 1);
	assert_int_equal(kw_base64_decode(b64, strlen(b64), &der, &derlen), 0);
	memcpy(point, der + derlen - 65, 65);
	free(der);
	kw_ipc_msg_cleanup(&rep);
}

static void derive_two_sides_agree(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t pa[65], pb[65], ct[64];
	const uint8_t *p;
	size_t n;

	init_unseal(f);
	create(f, "alice", "ecdsa-p256", 0);
	create(f, "bob", "ecdsa-p256", 0);
	ec_point(f, "alice", pa);
	ec_point(f, "bob", pb);
	/* Alice with Bob's point and Bob with Alice's make the same key: what
	 * one encrypts, the other decrypts. */
	assert_int_equal(call(f, KW_MSG_P11_DERIVE, f->root, &rep, KW_T_NAME, 's', "alice",
	                      KW_T_INPUT, 'b', pb, sizeof(pb), KW_T_DERIVED_NAME, 's', "ab",
	                      KW_T_KEY_TYPE, 's', "aes256-gcm96", KW_T_KDF, 's', "sha256",
	                      KW_T_PKCS11_ID, 'b', "\x01\x02", (size_t)2, 0),
	                 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_NAME, ""), "ab");
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_EXPORTABLE, 9), 0);
	assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_PKCS11_ID, &p, &n), 0);
	assert_int_equal(n, 2);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_DERIVE, f->root, &rep, KW_T_NAME, 's', "bob",
	                      KW_T_INPUT, 'b', pa, sizeof(pa), KW_T_DERIVED_NAME, 's', "ba",
	                      KW_T_KEY_TYPE, 's', "aes256-gcm96", KW_T_KDF, 's', "sha256", 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_ENCRYPT, f->root, &rep, KW_T_NAME, 's', "ab",
	                      KW_T_PLAINTEXT, 'b', "agreed", (size_t)6, 0),
	                 0);
	assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_CIPHERTEXT, &p, &n), 0);
	assert_true(n <= sizeof(ct));
	memcpy(ct, p, n);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_DECRYPT, f->root, &rep, KW_T_NAME, 's', "ba",
	                      KW_T_CIPHERTEXT, 'b', ct, n, KW_T_VERSION, 'u', 1, 0),
	                 0);
	assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_PLAINTEXT, &p, &n), 0);
	assert_memory_equal(p, "agreed", 6);
	kw_ipc_msg_cleanup(&rep);
}

static void derive_refusals_change_nothing(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t pb[65];
	char tok[128];

	init_unseal(f);
	create(f, "alice", "ecdsa-p256", 0);
	create(f, "bob", "ecdsa-p256", 0);
	create(f, "rsa", "rsa-2048", 0);
	ec_point(f, "bob", pb);
	assert_int_equal(call(f, KW_MSG_P11_DERIVE, f->root, &rep, KW_T_NAME, 's', "rsa",
	                      KW_T_INPUT, 'b', pb, sizeof(pb), KW_T_DERIVED_NAME, 's', "n",
	                      KW_T_KEY_TYPE, 's', "aes256-gcm96", 0),
	                 KW_ERR_KEY_TYPE);
	kw_ipc_msg_cleanup(&rep);
	pb[40] ^= 1; /* off the curve */
	assert_int_equal(call(f, KW_MSG_P11_DERIVE, f->root, &rep, KW_T_NAME, 's', "alice",
	                      KW_T_INPUT, 'b', pb, sizeof(pb), KW_T_DERIVED_NAME, 's', "n",
	                      KW_T_KEY_TYPE, 's', "aes256-gcm96", 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	pb[40] ^= 1;
	assert_int_equal(call(f, KW_MSG_P11_DERIVE, f->root, &rep, KW_T_NAME, 's', "alice",
	                      KW_T_INPUT, 'b', pb, sizeof(pb), KW_T_DERIVED_NAME, 's', "n",
	                      KW_T_KEY_TYPE, 's', "ed25519", 0),
	                 KW_ERR_UNSUPPORTED);
	kw_ipc_msg_cleanup(&rep);
	token_for(f, "d", "{\"path\":{\"keyward/derive/alice\":{\"capabilities\":[\"update\"]}}}",
	          tok, sizeof(tok));
	assert_int_equal(call(f, KW_MSG_P11_DERIVE, tok, &rep, KW_T_NAME, 's', "alice", KW_T_INPUT,
	                      'b', pb, sizeof(pb), KW_T_DERIVED_NAME, 's', "n", KW_T_KEY_TYPE, 's',
	                      "aes256-gcm96", 0),
	                 KW_ERR_DENIED);
	kw_ipc_msg_cleanup(&rep);
	assert_false(key_exists(f, "n"));
	/* Deriving over an existing key is refused and leaves it as it was. */
	assert_int_equal(call(f, KW_MSG_P11_DERIVE, f->root, &rep, KW_T_NAME, 's', "alice",
	                      KW_T_INPUT, 'b', pb, sizeof(pb), KW_T_DERIVED_NAME, 's', "rsa",
	                      KW_T_KEY_TYPE, 's', "aes256-gcm96", 0),
	                 KW_ERR_EXISTS);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_KEY_READ, f->root, &rep, KW_T_NAME, 's', "rsa", 0), 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_KEY_TYPE, ""), "rsa-2048");
	kw_ipc_msg_cleanup(&rep);
}

static void cipher_ecb_is_its_own_grant(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t blk[16] = {0};
	char tok[128];

	init_unseal(f);
	create(f, "aes", "aes128-gcm96", 0);
	create(f, "h", "hmac", 0);
	token_for(f, "c",
	          "{\"path\":{\"keyward/cipher/aes\":{\"capabilities\":[\"update\"]},"
	          "\"keyward/cipher/h\":{\"capabilities\":[\"update\"]}}}",
	          tok, sizeof(tok));
	assert_int_equal(call(f, KW_MSG_P11_CIPHER, tok, &rep, KW_T_NAME, 's', "aes",
	                      KW_T_OPERATION, 's', "encrypt", KW_T_MODE, 's', "cbc", KW_T_IV, 'b',
	                      blk, sizeof(blk), KW_T_INPUT, 'b', blk, sizeof(blk), 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_CIPHER, tok, &rep, KW_T_NAME, 's', "aes",
	                      KW_T_OPERATION, 's', "encrypt", KW_T_MODE, 's', "ecb", KW_T_INPUT,
	                      'b', blk, sizeof(blk), 0),
	                 KW_ERR_DENIED);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_CIPHER, tok, &rep, KW_T_NAME, 's', "h", KW_T_OPERATION,
	                      's', "encrypt", KW_T_MODE, 's', "cbc", KW_T_IV, 'b', blk, sizeof(blk),
	                      KW_T_INPUT, 'b', blk, sizeof(blk), 0),
	                 KW_ERR_KEY_TYPE);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_CIPHER, f->root, &rep, KW_T_NAME, 's', "aes",
	                      KW_T_OPERATION, 's', "encrypt", KW_T_MODE, 's', "gcm", KW_T_TAG_BITS,
	                      'u', 64, KW_T_INPUT, 'b', blk, sizeof(blk), 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	/* GCM without an IV: one is made and returned with the output. */
	assert_int_equal(call(f, KW_MSG_P11_CIPHER, f->root, &rep, KW_T_NAME, 's', "aes",
	                      KW_T_OPERATION, 's', "encrypt", KW_T_MODE, 's', "gcm", KW_T_INPUT,
	                      'b', blk, sizeof(blk), 0),
	                 0);
	assert_int_equal(kw_ipc_find(&rep, KW_T_IV)->len, 12);
	assert_int_equal(kw_ipc_find(&rep, KW_T_OUTPUT)->len, 32);
	kw_ipc_msg_cleanup(&rep);
}

static void wrap_needs_exportable(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t wrapped[64];
	const struct kw_ipc_field *out;

	init_unseal(f);
	create(f, "kek", "aes256-gcm96", 0);
	create(f, "locked", "hmac", 0);
	create(f, "open", "aes128-gcm96", 1);
	assert_int_equal(call(f, KW_MSG_P11_WRAP, f->root, &rep, KW_T_NAME, 's', "kek",
	                      KW_T_TARGET_KEY, 's', "locked", 0),
	                 KW_ERR_NOT_EXPORTABLE);
	assert_null(kw_ipc_find(&rep, KW_T_OUTPUT));
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_WRAP, f->root, &rep, KW_T_NAME, 's', "kek",
	                      KW_T_TARGET_KEY, 's', "open", KW_T_MODE, 's', "kw", 0),
	                 0);
	assert_non_null(out = kw_ipc_find(&rep, KW_T_OUTPUT));
	assert_int_equal(out->len, 24);
	memcpy(wrapped, out->val, out->len);
	kw_ipc_msg_cleanup(&rep);
	/* Unwrapped: a new key, never exportable, that encrypts like the original. */
	assert_int_equal(call(f, KW_MSG_P11_UNWRAP, f->root, &rep, KW_T_NAME, 's', "kek",
	                      KW_T_CIPHERTEXT, 'b', wrapped, (size_t)24, KW_T_MODE, 's', "kw",
	                      KW_T_DERIVED_NAME, 's', "copy", KW_T_KEY_TYPE, 's', "aes128-gcm96",
	                      0),
	                 0);
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_EXPORTABLE, 9), 0);
	kw_ipc_msg_cleanup(&rep);
	wrapped[3] ^= 1;
	assert_int_equal(call(f, KW_MSG_P11_UNWRAP, f->root, &rep, KW_T_NAME, 's', "kek",
	                      KW_T_CIPHERTEXT, 'b', wrapped, (size_t)24, KW_T_MODE, 's', "kw",
	                      KW_T_DERIVED_NAME, 's', "bad", KW_T_KEY_TYPE, 's', "aes128-gcm96", 0),
	                 KW_ERR_DECRYPT);
	kw_ipc_msg_cleanup(&rep);
	assert_false(key_exists(f, "bad"));
}

static void pkcs11_id_is_bound(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	const uint8_t *p;
	size_t n;
	uint8_t di[80] = {0}; /* room for an over-long id, too */
	size_t dn = digestinfo("x", di);

	init_unseal(f);
	assert_int_equal(call(f, KW_MSG_KEY_CREATE, f->root, &rep, KW_T_NAME, 's', "idk",
	                      KW_T_KEY_TYPE, 's', "rsa-2048", KW_T_PKCS11_ID, 'b', "\xaa\xbb",
	                      (size_t)2, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	create(f, "plain", "rsa-2048", 0);
	assert_int_equal(call(f, KW_MSG_KEY_CREATE, f->root, &rep, KW_T_NAME, 's', "long",
	                      KW_T_KEY_TYPE, 's', "aes256-gcm96", KW_T_PKCS11_ID, 'b', di,
	                      (size_t)65, 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	assert_false(key_exists(f, "long"));
	/* After a restart the id comes from the store, and editing it there
	 * makes the key fail its integrity check. */
	keeper_stop(f);
	sql(f->db, "UPDATE keys SET pkcs11_id = x'aabc' WHERE name = 'idk'");
	sql(f->db, "UPDATE keys SET pkcs11_id = x'01' WHERE name = 'plain'");
	keeper_start(f);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b',
		                      f->shares[i], (size_t)SHARE_BYTES, 0),
		                 0);
		kw_ipc_msg_cleanup(&rep);
	}
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, f->root, &rep, KW_T_NAME, 's', "idk",
	                      KW_T_INPUT, 'b', di, dn, 0),
	                 KW_ERR_INTEGRITY);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, f->root, &rep, KW_T_NAME, 's', "plain",
	                      KW_T_INPUT, 'b', di, dn, 0),
	                 KW_ERR_INTEGRITY);
	kw_ipc_msg_cleanup(&rep);
	keeper_stop(f);
	sql(f->db, "UPDATE keys SET pkcs11_id = x'aabb' WHERE name = 'idk'");
	keeper_start(f);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b',
		                      f->shares[i], (size_t)SHARE_BYTES, 0),
		                 0);
		kw_ipc_msg_cleanup(&rep);
	}
	assert_int_equal(call(f, KW_MSG_KEY_READ, f->root, &rep, KW_T_NAME, 's', "idk", 0), 0);
	assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_PKCS11_ID, &p, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "\xaa\xbb", 2);
	kw_ipc_msg_cleanup(&rep);
}

static void objects_round_trip(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	const uint8_t *p;
	size_t n;
	char tok[128];
	static uint8_t big[64 * 1024 + 1];

	init_unseal(f);
	assert_int_equal(call(f, KW_MSG_P11_OBJECT_PUT, f->root, &rep, KW_T_NAME, 's', "cert",
	                      KW_T_OBJ_CLASS, 's', "certificate", KW_T_OBJ_KEY, 's', "k",
	                      KW_T_OBJ_ID, 'b', "\x01", (size_t)1, KW_T_OBJ_LABEL, 's', "lbl",
	                      KW_T_INPUT, 'b', "DER", (size_t)3, KW_T_OBJ_ATTRS, 's',
	                      "{\"a\":\"b\"}", 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_OBJECT_GET, f->root, &rep, KW_T_NAME, 's', "cert", 0),
	                 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_OBJ_CLASS, ""), "certificate");
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_OBJ_KEY, ""), "k");
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_OBJ_LABEL, ""), "lbl");
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_OBJ_ATTRS, ""), "{\"a\":\"b\"}");
	assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_OUTPUT, &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "DER", 3);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_OBJECT_PUT, f->root, &rep, KW_T_NAME, 's', "cert",
	                      KW_T_OBJ_CLASS, 's', "secret", 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_P11_OBJECT_PUT, f->root, &rep, KW_T_NAME, 's', "cert",
	                      KW_T_OBJ_CLASS, 's', "data", KW_T_INPUT, 'b', big, sizeof(big), 0),
	                 KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	/* Refused writes left the object as it was. */
	assert_int_equal(call(f, KW_MSG_P11_OBJECT_GET, f->root, &rep, KW_T_NAME, 's', "cert", 0),
	                 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_OBJ_CLASS, ""), "certificate");
	kw_ipc_msg_cleanup(&rep);
	token_for(f, "r", "{\"path\":{\"keyward/objects/*\":{\"capabilities\":[\"read\"]}}}", tok,
	          sizeof(tok));
	assert_int_equal(call0(f, KW_MSG_P11_OBJECT_GET, tok, "cert"), 0);
	assert_int_equal(call0(f, KW_MSG_P11_OBJECT_DELETE, tok, "cert"), KW_ERR_DENIED);
	assert_int_equal(call0(f, KW_MSG_P11_OBJECT_LIST, tok, NULL), KW_ERR_DENIED);
	assert_int_equal(call(f, KW_MSG_P11_OBJECT_LIST, f->root, &rep, 0), 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_NAME, ""), "cert");
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call0(f, KW_MSG_P11_OBJECT_DELETE, f->root, "cert"), 0);
	assert_int_equal(call0(f, KW_MSG_P11_OBJECT_GET, f->root, "cert"), KW_ERR_NOT_FOUND);
}

/* The newest audit entry, decoded. */
static struct kw_audit_entry *last_entry(struct fx *f)
{
	struct kw_audit_entry *e = NULL;
	struct kw_ipc_msg rep;
	const struct kw_ipc_field *fl = NULL, *it;
	size_t pos = 0;

	assert_int_equal(
	    call(f, KW_MSG_AUDIT_ENTRIES, f->root, &rep, KW_T_START, 'q', (uint64_t)0, 0), 0);
	while ((it = kw_ipc_next(&rep, KW_T_ENTRY, &pos)) != NULL)
		fl = it;
	assert_non_null(fl);
	assert_int_equal(kw_audit_entry_decode(fl->val + 8, fl->len - 8, &e), 0);
	kw_ipc_msg_cleanup(&rep);
	return e;
}

static void audit_has_digests(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	struct kw_audit_entry *e;
	uint8_t di[64], want[32], sig[256];
	size_t dn = digestinfo("audited", di), wl = 0, siglen;

	init_unseal(f);
	create(f, "rsa", "rsa-2048", 0);
	assert_int_equal(call(f, KW_MSG_P11_SIGN_RAW, f->root, &rep, KW_T_NAME, 's', "rsa",
	                      KW_T_INPUT, 'b', di, dn, 0),
	                 0);
	siglen = kw_ipc_find(&rep, KW_T_SIGNATURE)->len;
	memcpy(sig, kw_ipc_find(&rep, KW_T_SIGNATURE)->val, siglen);
	kw_ipc_msg_cleanup(&rep);
	/* The audit read itself is logged after it answers: the entry before
	 * the read is ours, and the read's page ends with it. */
	e = last_entry(f);
	assert_string_equal(e->operation, "p11-sign-raw");
	assert_string_equal(e->path, "keyward/sign-raw/rsa");
	assert_int_equal(e->key_version, 1);
	assert_true(e->has_input_sha256);
	assert_int_equal(kw_hash_digest(KW_HASH_SHA256, di, dn, want, &wl), 0);
	assert_memory_equal(e->input_sha256, want, 32);
	assert_true(e->has_output_sha256);
	assert_int_equal(kw_hash_digest(KW_HASH_SHA256, sig, siglen, want, &wl), 0);
	assert_memory_equal(e->output_sha256, want, 32);
	kw_audit_entry_free(e);
}

#define T(name, fn)                                                                                \
	{                                                                                          \
		"/keeper/p11/" name, fn, setup, teardown, NULL                                     \
	}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T("sign-raw-policy-and-types", sign_raw_policy_and_types),
	    T("decrypt-errors-say-one-thing", decrypt_errors_say_one_thing),
	    T("derive-two-sides-agree", derive_two_sides_agree),
	    T("derive-refusals-change-nothing", derive_refusals_change_nothing),
	    T("cipher-ecb-is-its-own-grant", cipher_ecb_is_its_own_grant),
	    T("wrap-needs-exportable", wrap_needs_exportable),
	    T("pkcs11-id-is-bound", pkcs11_id_is_bound),
	    T("objects-round-trip", objects_round_trip),
	    T("audit-has-digests", audit_has_digests),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("/keeper/p11", tests, NULL, NULL);
}
