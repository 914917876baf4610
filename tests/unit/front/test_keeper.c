/*
 * Unit tests for src/front's handlers, driven through kw_dispatch against a
 * fake keeper: a thread answering canned replies over a real socketpair with
 * the real IPC codec, which also records what the front sent. These pin the
 * front's half of the IPC contract (which fields each handler sends, which
 * it reads back) and the Vault JSON it answers with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "front_test.h"

struct fake {
	int fds[2];
	pthread_t th;
	struct kw_chanpool pool;
	struct kw_ipc_msg first; /* the first request, as received */
	struct kw_ipc_msg last;  /* the last request */
	int nreq;
	bool die;           /* hang up instead of answering */
	uint16_t fail_type; /* answer this type with fail_status */
	int fail_status;
	bool sealed, uninit;
	const char *key_type;
	int nnames;
};

static struct fake fake;

static int put_info(struct kw_ipc_msg *m, uint32_t v, uint64_t created, const char *text)
{
	uint8_t b[256];
	size_t n = strlen(text);

	kw_store_u32(b, v);
	kw_store_u64(b + 4, created);
	memcpy(b + 12, text, n);
	return kw_ipc_put(m, KW_T_VERSION_INFO, b, 12 + n);
}

static int put_item(struct kw_ipc_msg *m, uint32_t v, const char *text)
{
	uint8_t b[64];
	size_t n = strlen(text);

	kw_store_u32(b, v);
	memcpy(b + 4, text, n);
	return kw_ipc_put(m, KW_T_EXPORT_ITEM, b, 4 + n);
}

static int answer_key_info(struct kw_ipc_msg *m)
{
	bool sym = kw_key_type_find(fake.key_type)->curve_name == NULL;
	int err = 0;

	err |= kw_ipc_put_str(m, KW_T_NAME, "k1");
	err |= kw_ipc_put_str(m, KW_T_KEY_TYPE, fake.key_type);
	err |= kw_ipc_put_u32(m, KW_T_LATEST_VERSION, 2);
	err |= kw_ipc_put_u32(m, KW_T_MIN_DECRYPTION_VERSION, 1);
	err |= kw_ipc_put_u32(m, KW_T_MIN_ENCRYPTION_VERSION, 0);
	err |= kw_ipc_put_u32(m, KW_T_MIN_AVAILABLE_VERSION, 0);
	err |= kw_ipc_put_u32(m, KW_T_EXPORTABLE, 1);
	err |= kw_ipc_put_u32(m, KW_T_DELETION_ALLOWED, 0);
	err |= kw_ipc_put_u32(m, KW_T_ALLOW_PLAINTEXT_BACKUP, 0);
	err |= kw_ipc_put_u64(m, KW_T_AUTO_ROTATE_PERIOD, 86400);
	err |= kw_ipc_put_u64(m, KW_T_CREATED, 1700000000);
	err |= put_info(m, 1, 1700000000, sym ? "" : "-----BEGIN PUBLIC KEY-----\nAAA\n");
	err |= put_info(m, 2, 1700003600, sym ? "" : "-----BEGIN PUBLIC KEY-----\nBBB\n");
	return err;
}

static int answer_token_info(struct kw_ipc_msg *m, uint64_t expires)
{
	int err = 0;

	err |= kw_ipc_put_str(m, KW_T_ACCESSOR, "acc1");
	err |= kw_ipc_put_str(m, KW_T_POLICY, "default");
	err |= kw_ipc_put_str(m, KW_T_POLICY, "ops");
	err |= kw_ipc_put_u64(m, KW_T_TTL, 3600);
	err |= kw_ipc_put_u64(m, KW_T_CREATED, 1700000000);
	err |= kw_ipc_put_u64(m, KW_T_EXPIRES, expires);
	err |= kw_ipc_put_str(m, KW_T_DISPLAY_NAME, "token-ops");
	return err;
}

static int answer_names(struct kw_ipc_msg *m)
{
	static const char *const names[] = {"alpha", "beta", "gamma"};
	int err = 0;

	for (int i = 0; i < fake.nnames; i++)
		err |= kw_ipc_put_str(m, KW_T_NAME, names[i]);
	return err;
}

static int answer_seal(struct kw_ipc_msg *m)
{
	int err = 0;

	err |= kw_ipc_put_u32(m, KW_T_INITIALIZED, !fake.uninit);
	err |= kw_ipc_put_u32(m, KW_T_SEALED, fake.sealed);
	err |= kw_ipc_put_u32(m, KW_T_SHARES, 5);
	err |= kw_ipc_put_u32(m, KW_T_THRESHOLD, 3);
	err |= kw_ipc_put_u32(m, KW_T_PROGRESS, 1);
	return err;
}

static int answer_crypto(const struct kw_ipc_msg *q, struct kw_ipc_msg *m)
{
	static const uint8_t sig[] = {0xfb, 0xff, 0xfe};
	uint8_t buf[64];
	int err = 0;

	switch (q->type) {
	case KW_MSG_ENCRYPT:
		err |= kw_ipc_put(m, KW_T_CIPHERTEXT, "abc", 3);
		err |= kw_ipc_put_u32(m, KW_T_VERSION, 3);
		break;
	case KW_MSG_DECRYPT:
		err |= kw_ipc_put(m, KW_T_PLAINTEXT, "hello", 5);
		break;
	case KW_MSG_REWRAP:
		err |= kw_ipc_put(m, KW_T_CIPHERTEXT, "xyz", 3);
		err |= kw_ipc_put_u32(m, KW_T_VERSION, 4);
		break;
	case KW_MSG_DATAKEY:
		err |= kw_ipc_put(m, KW_T_CIPHERTEXT, "dk", 2);
		err |= kw_ipc_put_u32(m, KW_T_VERSION, 1);
		memset(buf, 0x11, 32);
		if (kw_ipc_u32_or(q, KW_T_WITH_PLAINTEXT, 0))
			err |= kw_ipc_put(m, KW_T_PLAINTEXT, buf, 32);
		break;
	case KW_MSG_SIGN:
		err |= kw_ipc_put(m, KW_T_SIGNATURE, sig, sizeof(sig));
		err |= kw_ipc_put_u32(m, KW_T_VERSION, 2);
		break;
	case KW_MSG_VERIFY:
		err |= kw_ipc_put_u32(m, KW_T_VALID, 1);
		break;
	case KW_MSG_HMAC:
		err |= kw_ipc_put(m, KW_T_MAC, "mac", 3);
		err |= kw_ipc_put_u32(m, KW_T_VERSION, 1);
		break;
	case KW_MSG_RANDOM:
		memset(buf, 0xab, sizeof(buf));
		err |= kw_ipc_put(m, KW_T_OUTPUT, buf, kw_ipc_u32_or(q, KW_T_BYTES, 0) % 64);
		break;
	case KW_MSG_HASH:
		err |= kw_ipc_put(m, KW_T_OUTPUT, "\xde\xad\xbe\xef", 4);
		break;
	}
	return err;
}

static int answer(const struct kw_ipc_msg *q, struct kw_ipc_msg *m)
{
	if (q->type == fake.fail_type)
		return kw_ipc_set_error(m, fake.fail_status, "no key named k1");
	switch (q->type) {
	case KW_MSG_SEAL_STATUS:
	case KW_MSG_UNSEAL:
		return answer_seal(m);
	case KW_MSG_INIT:
		return kw_ipc_put(m, KW_T_UNSEAL_KEY, "\x01\x02", 2) |
		       kw_ipc_put(m, KW_T_UNSEAL_KEY, "\xfe\xff", 2) |
		       kw_ipc_put_str(m, KW_T_ROOT_TOKEN, "kw.root");
	case KW_MSG_KEY_READ:
	case KW_MSG_KEY_CONFIG:
	case KW_MSG_KEY_ROTATE:
		return answer_key_info(m);
	case KW_MSG_KEY_LIST:
	case KW_MSG_POLICY_LIST:
		return answer_names(m);
	case KW_MSG_KEY_EXPORT:
		return kw_ipc_put_str(m, KW_T_KEY_TYPE, fake.key_type) |
		       put_item(m, 1, "c2VjcmV0MQ==") | put_item(m, 2, "c2VjcmV0Mg==");
	case KW_MSG_TOKEN_CREATE:
		return kw_ipc_put_str(m, KW_T_TOKEN, "kw.new") | answer_token_info(m, 1700003600);
	case KW_MSG_TOKEN_LOOKUP_SELF:
	case KW_MSG_TOKEN_LOOKUP:
		return answer_token_info(m, 0);
	case KW_MSG_POLICY_GET:
		return kw_ipc_put_str(m, KW_T_NAME, "ops") |
		       kw_ipc_put_str(m, KW_T_POLICY_TEXT, "{\"path\":{}}");
	}
	return answer_crypto(q, m);
}

static void *fake_main(void *arg)
{
	for (;;) {
		struct kw_ipc_msg q, m;

		if (kw_ipc_recv(fake.fds[1], &q) != 0)
			break;
		if (fake.die) {
			kw_ipc_msg_cleanup(&q);
			break;
		}
		kw_ipc_reply_init(&m, &q, 0);
		if (answer(&q, &m) != 0)
			fail_msg("fake keeper could not build its answer");
		kw_ipc_msg_cleanup(&fake.last);
		if (fake.nreq == 0)
			kw_ipc_msg_cleanup(&fake.first);
		if (kw_ipc_decode(&fake.last, q.buf.data, q.buf.len) != 0 ||
		    (fake.nreq == 0 && kw_ipc_decode(&fake.first, q.buf.data, q.buf.len) != 0))
			fail_msg("fake keeper could not copy the request");
		fake.nreq++;
		if (kw_ipc_send(fake.fds[1], &m) != 0)
			break;
		kw_ipc_msg_cleanup(&q);
		kw_ipc_msg_cleanup(&m);
	}
	close(fake.fds[1]);
	return NULL;
}

static int fake_start(void **state)
{
	memset(&fake, 0, sizeof(fake));
	fake.key_type = "aes256-gcm96";
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fake.fds) != 0 ||
	    kw_chanpool_init(&fake.pool, fake.fds, 1) != 0 ||
	    pthread_create(&fake.th, NULL, fake_main, NULL) != 0)
		return -1;
	test_pool = &fake.pool;
	return 0;
}

static int fake_stop(void **state)
{
	shutdown(fake.fds[0], SHUT_RDWR);
	pthread_join(fake.th, NULL);
	close(fake.fds[0]);
	kw_chanpool_cleanup(&fake.pool);
	kw_ipc_msg_cleanup(&fake.last);
	kw_ipc_msg_cleanup(&fake.first);
	test_pool = NULL;
	return 0;
}

static const char *last_str(uint16_t tag)
{
	const char *s = NULL;

	if (kw_ipc_get_str(&fake.last, tag, &s) != 0)
		fail_msg("request has no %s", kw_ipc_tag_name(tag));
	return s;
}

static uint32_t last_u32(uint16_t tag)
{
	uint32_t v = 0;

	if (kw_ipc_get_u32(&fake.last, tag, &v) != 0)
		fail_msg("request has no %s", kw_ipc_tag_name(tag));
	return v;
}

static void last_bytes(uint16_t tag, const void *want, size_t n)
{
	const uint8_t *p;
	size_t len;

	if (kw_ipc_get_bytes(&fake.last, tag, &p, &len) != 0)
		fail_msg("request has no %s", kw_ipc_tag_name(tag));
	assert_int_equal(len, n);
	assert_memory_equal(p, want, n);
}

static bool last_has(uint16_t tag)
{
	return kw_ipc_find(&fake.last, tag) != NULL;
}

/* ---- handlers through the fake keeper ---- */

static void k_common_fields(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_GET, "sys/seal-status", NULL, "s.tok", &out), 200);
	assert_int_equal(fake.last.type, KW_MSG_SEAL_STATUS);
	assert_int_equal(strlen(last_str(KW_T_REQ_ID)), 36);
	assert_string_equal(last_str(KW_T_TOKEN), "s.tok");
	assert_string_equal(last_str(KW_T_REMOTE_ADDR), "192.0.2.7");
	assert_int_equal(last_u32(KW_T_LISTENER_PORT), 8200);
	assert_string_equal(jstr(out.json, "type"), "shamir");
	assert_int_equal(jint(out.json, "t"), 3);
	assert_int_equal(jint(out.json, "n"), 5);
	assert_int_equal(jint(out.json, "progress"), 1);
	assert_false(jbool(out.json, "sealed"));
	assert_string_equal(jstr(out.json, "storage_type"), "sqlite");
	kw_resp_cleanup(&out);
	/* No token: no TOKEN field at all. */
	assert_int_equal(run_req(KW_M_GET, "sys/seal-status", NULL, NULL, &out), 200);
	assert_false(last_has(KW_T_TOKEN));
	kw_resp_cleanup(&out);
}

static void k_health_codes(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_GET, "sys/health", NULL, NULL, &out), 200);
	assert_string_equal(jstr(out.json, "version"), KW_FRONT_VERSION);
	assert_false(jbool(out.json, "standby"));
	kw_resp_cleanup(&out);
	fake.sealed = true;
	assert_int_equal(run_req(KW_M_GET, "sys/health", NULL, NULL, &out), 503);
	assert_true(jbool(out.json, "sealed"));
	kw_resp_cleanup(&out);
	fake.uninit = true;
	assert_int_equal(run_req(KW_M_HEAD, "sys/health", NULL, NULL, &out), 501);
	assert_false(jbool(out.json, "initialized"));
	kw_resp_cleanup(&out);
}

static void k_init(void **state)
{
	struct kw_resp out;
	const json_t *keys;

	assert_int_equal(run_req(KW_M_POST, "sys/init",
	                         "{\"secret_shares\":2,\"secret_threshold\":2,"
	                         "\"root_token_pgp_key\":null}",
	                         NULL, &out),
	                 200);
	assert_int_equal(last_u32(KW_T_SHARES), 2);
	assert_int_equal(last_u32(KW_T_THRESHOLD), 2);
	keys = jget(out.json, "keys");
	assert_string_equal(json_string_value(json_array_get(keys, 0)), "0102");
	assert_string_equal(json_string_value(json_array_get(keys, 1)), "feff");
	keys = jget(out.json, "keys_base64");
	assert_string_equal(json_string_value(json_array_get(keys, 1)), "/v8=");
	assert_string_equal(jstr(out.json, "root_token"), "kw.root");
	kw_resp_cleanup(&out);
}

static void k_unseal(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "sys/unseal", "{\"key\":\"0102ff\"}", NULL, &out), 200);
	last_bytes(KW_T_UNSEAL_KEY, "\x01\x02\xff", 3);
	assert_false(last_has(KW_T_RESET));
	assert_int_equal(jint(out.json, "progress"), 1);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "sys/unseal", "{\"reset\":true}", NULL, &out), 200);
	assert_int_equal(last_u32(KW_T_RESET), 1);
	assert_false(last_has(KW_T_UNSEAL_KEY));
	kw_resp_cleanup(&out);
}

static void k_seal(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "sys/seal", NULL, "root", &out), 204);
	assert_null(out.json);
	assert_int_equal(fake.last.type, KW_MSG_SEAL);
}

static void k_encrypt(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k1",
	                         "{\"plaintext\":\"aGVsbG8=\",\"associated_data\":\"YWQ=\","
	                         "\"key_version\":2,\"context\":null}",
	                         "t", &out),
	                 200);
	assert_int_equal(fake.last.type, KW_MSG_ENCRYPT);
	assert_string_equal(last_str(KW_T_NAME), "k1");
	last_bytes(KW_T_PLAINTEXT, "hello", 5);
	last_bytes(KW_T_AAD, "ad", 2);
	assert_int_equal(last_u32(KW_T_VERSION), 2);
	assert_false(last_has(KW_T_PADDING));
	assert_string_equal(jstr(jdata(&out), "ciphertext"), "vault:v3:YWJj");
	assert_int_equal(jint(jdata(&out), "key_version"), 3);
	assert_int_equal(strlen(jstr(out.json, "request_id")), 36);
	assert_true(json_is_null(jget(out.json, "auth")));
	kw_resp_cleanup(&out);
	/* key_version 0 is "latest": nothing sent. */
	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k1",
	                         "{\"plaintext\":\"\",\"key_version\":0}", "t", &out),
	                 200);
	assert_false(last_has(KW_T_VERSION));
	last_bytes(KW_T_PLAINTEXT, "", 0);
	kw_resp_cleanup(&out);
}

static void k_batch_partial(void **state)
{
	const char *body = "{\"batch_input\":[{\"plaintext\":\"aGk=\",\"reference\":\"r1\"},"
	                   "{\"plaintext\":\"!!\",\"reference\":\"r2\"}]}";
	struct kw_resp out;
	const json_t *res;

	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k1", body, "t", &out), 400);
	res = jget(jdata(&out), "batch_results");
	assert_int_equal(json_array_size(res), 2);
	assert_string_equal(jstr(json_array_get(res, 0), "ciphertext"), "vault:v3:YWJj");
	assert_string_equal(jstr(json_array_get(res, 0), "reference"), "r1");
	assert_non_null(strstr(jstr(json_array_get(res, 1), "error"), "plaintext"));
	assert_string_equal(jstr(json_array_get(res, 1), "reference"), "r2");
	assert_int_equal(fake.nreq, 1); /* the bad item never reached the keeper */
	kw_resp_cleanup(&out);
}

static void k_batch_partial_code(void **state)
{
	const char *body = "{\"partial_failure_response_code\":207,\"batch_input\":"
	                   "[{\"plaintext\":\"aGk=\"},{\"plaintext\":\"!!\"}]}";
	const char *all_bad = "{\"partial_failure_response_code\":207,\"batch_input\":"
	                      "[{\"plaintext\":\"!!\"}]}";
	const char *all_good = "{\"batch_input\":[{\"plaintext\":\"aGk=\"},{\"plaintext\":\"\"}]}";
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k1", body, "t", &out), 207);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k1", all_bad, "t", &out), 400);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k1", all_good, "t", &out), 200);
	assert_int_equal(json_array_size(jget(jdata(&out), "batch_results")), 2);
	kw_resp_cleanup(&out);
}

/* A whole-request failure from the keeper is not an item error. */
static void k_batch_denied(void **state)
{
	const char *body = "{\"batch_input\":[{\"plaintext\":\"aGk=\"},{\"plaintext\":\"aGk=\"}]}";
	struct kw_resp out;

	fake.fail_type = KW_MSG_ENCRYPT;
	fake.fail_status = KW_ERR_DENIED;
	assert_int_equal(run_req(KW_M_POST, "transit/encrypt/k1", body, "t", &out), 403);
	assert_string_equal(err_code(&out), "permission_denied");
	assert_int_equal(fake.nreq, 1);
	kw_resp_cleanup(&out);
	/* A keeper-side item error (bad ciphertext) stays in its slot. */
	fake.fail_type = KW_MSG_DECRYPT;
	fake.fail_status = KW_ERR_DECRYPT;
	assert_int_equal(run_req(KW_M_POST, "transit/decrypt/k1",
	                         "{\"batch_input\":[{\"ciphertext\":\"vault:v1:YWJj\"}]}", "t",
	                         &out),
	                 400);
	assert_string_equal(jstr(json_array_get(jget(jdata(&out), "batch_results"), 0), "code"),
	                    "decryption_failed");
	kw_resp_cleanup(&out);
}

static void k_decrypt(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/decrypt/k1",
	                         "{\"ciphertext\":\"vault:v7:YWJj\"}", "t", &out),
	                 200);
	last_bytes(KW_T_CIPHERTEXT, "abc", 3);
	assert_int_equal(last_u32(KW_T_VERSION), 7);
	assert_string_equal(jstr(jdata(&out), "plaintext"), "aGVsbG8=");
	kw_resp_cleanup(&out);
}

static void k_rewrap(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/rewrap/k1",
	                         "{\"ciphertext\":\"vault:v1:YWJj\",\"key_version\":4}", "t", &out),
	                 200);
	assert_int_equal(last_u32(KW_T_VERSION), 1);
	assert_int_equal(last_u32(KW_T_TARGET_VERSION), 4);
	assert_string_equal(jstr(jdata(&out), "ciphertext"), "vault:v4:eHl6");
	kw_resp_cleanup(&out);
}

static void k_datakey(void **state)
{
	struct kw_resp out;

	assert_int_equal(
	    run_req(KW_M_POST, "transit/datakey/plaintext/k1", "{\"bits\":128}", "t", &out), 200);
	assert_int_equal(last_u32(KW_T_BITS), 128);
	assert_int_equal(last_u32(KW_T_WITH_PLAINTEXT), 1);
	assert_string_equal(jstr(jdata(&out), "ciphertext"), "vault:v1:ZGs=");
	assert_int_equal(strlen(jstr(jdata(&out), "plaintext")), 44);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "transit/datakey/wrapped/k1", NULL, "t", &out), 200);
	assert_int_equal(last_u32(KW_T_BITS), 256);
	assert_int_equal(last_u32(KW_T_WITH_PLAINTEXT), 0);
	assert_null(json_object_get(jdata(&out), "plaintext"));
	kw_resp_cleanup(&out);
}

static void k_sign(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/sign/k1/sha2-384",
	                         "{\"input\":\"aGk=\",\"hash_algorithm\":\"sha2-256\","
	                         "\"prehashed\":false,\"signature_algorithm\":\"pss\","
	                         "\"salt_length\":\"hash\"}",
	                         "t", &out),
	                 200);
	last_bytes(KW_T_INPUT, "hi", 2);
	assert_string_equal(last_str(KW_T_HASH), "sha2-384"); /* the path wins */
	assert_string_equal(last_str(KW_T_SIG_ALG), "pss");
	assert_int_equal(last_u32(KW_T_PREHASHED), 0);
	assert_int_equal(last_u32(KW_T_SALT_LEN), KW_SALT_LEN_HASH);
	assert_string_equal(jstr(jdata(&out), "signature"), "vault:v2:+//+");
	assert_int_equal(jint(jdata(&out), "key_version"), 2);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "transit/sign/k1",
	                         "{\"input\":\"aGk=\",\"marshaling_algorithm\":\"jws\","
	                         "\"salt_length\":\"auto\"}",
	                         "t", &out),
	                 200);
	assert_string_equal(last_str(KW_T_MARSHAL), "jws");
	assert_false(last_has(KW_T_SALT_LEN));
	assert_false(last_has(KW_T_HASH));
	assert_string_equal(jstr(jdata(&out), "signature"), "vault:v2:-__-");
	kw_resp_cleanup(&out);
}

static void k_verify(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/verify/k1",
	                         "{\"input\":\"aGk=\",\"signature\":\"vault:v2:-__-\","
	                         "\"marshaling_algorithm\":\"jws\",\"salt_length\":32}",
	                         "t", &out),
	                 200);
	last_bytes(KW_T_SIGNATURE, "\xfb\xff\xfe", 3);
	assert_int_equal(last_u32(KW_T_VERSION), 2);
	assert_int_equal(last_u32(KW_T_SALT_LEN), 32);
	assert_false(last_has(KW_T_MAC));
	assert_true(jbool(jdata(&out), "valid"));
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "transit/verify/k1",
	                         "{\"input\":\"aGk=\",\"hmac\":\"vault:v1:bWFj\"}", "t", &out),
	                 200);
	last_bytes(KW_T_MAC, "mac", 3);
	assert_false(last_has(KW_T_SIGNATURE));
	kw_resp_cleanup(&out);
}

static void k_hmac(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/hmac/k1",
	                         "{\"input\":\"aGk=\",\"algorithm\":\"sha2-512\"}", "t", &out),
	                 200);
	assert_string_equal(last_str(KW_T_HASH), "sha2-512");
	assert_string_equal(jstr(jdata(&out), "hmac"), "vault:v1:bWFj");
	assert_null(json_object_get(jdata(&out), "key_version"));
	kw_resp_cleanup(&out);
}

static void k_random_hash(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/random/4", "{\"format\":\"hex\"}", "t", &out),
	                 200);
	assert_int_equal(last_u32(KW_T_BYTES), 4);
	assert_string_equal(jstr(jdata(&out), "random_bytes"), "abababab");
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "sys/tools/random", NULL, "t", &out), 200);
	assert_int_equal(last_u32(KW_T_BYTES), KW_RANDOM_BYTES_DEFAULT);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "transit/hash", "{\"input\":\"aGk=\"}", "t", &out),
	                 200);
	assert_string_equal(last_str(KW_T_HASH), "sha2-256");
	assert_string_equal(jstr(jdata(&out), "sum"), "deadbeef");
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "sys/tools/hash/sha2-512",
	                         "{\"input\":\"aGk=\",\"format\":\"base64\"}", "t", &out),
	                 200);
	assert_string_equal(last_str(KW_T_HASH), "sha2-512");
	assert_string_equal(jstr(jdata(&out), "sum"), "3q2+7w==");
	kw_resp_cleanup(&out);
}

static void k_key_read_asym(void **state)
{
	struct kw_resp out;
	const json_t *d, *v1;

	fake.key_type = "ecdsa-p256";
	assert_int_equal(run_req(KW_M_GET, "transit/keys/k1", NULL, "t", &out), 200);
	assert_string_equal(last_str(KW_T_NAME), "k1");
	d = jdata(&out);
	assert_string_equal(jstr(d, "type"), "ecdsa-p256");
	assert_int_equal(jint(d, "latest_version"), 2);
	assert_int_equal(jint(d, "min_decryption_version"), 1);
	assert_int_equal(jint(d, "auto_rotate_period"), 86400);
	assert_true(jbool(d, "exportable"));
	assert_true(jbool(d, "supports_signing"));
	assert_false(jbool(d, "supports_encryption"));
	assert_false(jbool(d, "derived"));
	v1 = jget(jget(d, "keys"), "1");
	assert_string_equal(jstr(v1, "name"), "P-256");
	assert_string_equal(jstr(v1, "public_key"), "-----BEGIN PUBLIC KEY-----\nAAA\n");
	assert_string_equal(jstr(v1, "creation_time"), "2023-11-14T22:13:20Z");
	kw_resp_cleanup(&out);
}

static void k_key_read_sym(void **state)
{
	struct kw_resp out;
	const json_t *d;

	assert_int_equal(run_req(KW_M_GET, "transit/keys/k1", NULL, "t", &out), 200);
	d = jdata(&out);
	assert_true(jbool(d, "supports_encryption"));
	assert_true(jbool(d, "supports_decryption"));
	assert_false(jbool(d, "supports_signing"));
	assert_int_equal(jint(jget(d, "keys"), "2"), 1700003600);
	kw_resp_cleanup(&out);
}

static void k_key_create(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/keys/k1",
	                         "{\"type\":\"ecdsa-p384\",\"exportable\":true,"
	                         "\"auto_rotate_period\":\"24h\",\"derived\":false}",
	                         "t", &out),
	                 200);
	/* Create, then a read for the answer. */
	assert_int_equal(fake.nreq, 2);
	assert_int_equal(fake.last.type, KW_MSG_KEY_READ);
	assert_string_equal(jstr(jdata(&out), "name"), "k1");
	kw_resp_cleanup(&out);
}

static void k_key_create_fields(void **state)
{
	const struct kw_ipc_msg *c = &fake.first;
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/keys/k1",
	                         "{\"type\":\"hmac\",\"key_size\":64,\"exportable\":true,"
	                         "\"allow_plaintext_backup\":false,\"auto_rotate_period\":7200}",
	                         "t", &out),
	                 200);
	assert_int_equal(c->type, KW_MSG_KEY_CREATE);
	assert_string_equal(kw_ipc_str_or(c, KW_T_NAME, ""), "k1");
	assert_string_equal(kw_ipc_str_or(c, KW_T_KEY_TYPE, ""), "hmac");
	assert_int_equal(kw_ipc_u32_or(c, KW_T_KEY_SIZE, 0), 64);
	assert_int_equal(kw_ipc_u32_or(c, KW_T_EXPORTABLE, 9), 1);
	assert_int_equal(kw_ipc_u32_or(c, KW_T_ALLOW_PLAINTEXT_BACKUP, 9), 0);
	assert_int_equal(kw_ipc_u64_or(c, KW_T_AUTO_ROTATE_PERIOD, 0), 7200);
	kw_resp_cleanup(&out);
}

static void k_key_create_defaults(void **state)
{
	const struct kw_ipc_msg *c = &fake.first;
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/keys/k2", NULL, "t", &out), 200);
	assert_string_equal(kw_ipc_str_or(c, KW_T_KEY_TYPE, ""), "aes256-gcm96");
	assert_null(kw_ipc_find(c, KW_T_EXPORTABLE));
	assert_null(kw_ipc_find(c, KW_T_KEY_SIZE));
	assert_null(kw_ipc_find(c, KW_T_AUTO_ROTATE_PERIOD));
	kw_resp_cleanup(&out);
	/* A failed create answers its error, and no read follows. */
	fake.nreq = 0;
	fake.fail_type = KW_MSG_KEY_CREATE;
	fake.fail_status = KW_ERR_EXISTS;
	assert_int_equal(run_req(KW_M_POST, "transit/keys/k2", NULL, "t", &out), 400);
	assert_string_equal(err_code(&out), "already_exists");
	assert_int_equal(fake.nreq, 1);
	kw_resp_cleanup(&out);
}

static void k_key_config(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "transit/keys/k1/config",
	                         "{\"deletion_allowed\":true,\"min_decryption_version\":2}", "t",
	                         &out),
	                 200);
	assert_int_equal(fake.last.type, KW_MSG_KEY_CONFIG);
	assert_int_equal(last_u32(KW_T_DELETION_ALLOWED), 1);
	assert_int_equal(last_u32(KW_T_MIN_DECRYPTION_VERSION), 2);
	assert_false(last_has(KW_T_MIN_ENCRYPTION_VERSION));
	assert_false(last_has(KW_T_EXPORTABLE));
	assert_false(last_has(KW_T_AUTO_ROTATE_PERIOD));
	assert_int_equal(jint(jdata(&out), "latest_version"), 2);
	kw_resp_cleanup(&out);
}

static void k_key_list_delete(void **state)
{
	struct kw_resp out;

	fake.nnames = 2;
	assert_int_equal(run_req(KW_M_LIST, "transit/keys", NULL, "t", &out), 200);
	assert_int_equal(json_array_size(jget(jdata(&out), "keys")), 2);
	kw_resp_cleanup(&out);
	fake.nnames = 0;
	assert_int_equal(run_req(KW_M_LIST, "transit/keys", NULL, "t", &out), 404);
	assert_int_equal(json_array_size(jget(out.json, "errors")), 0);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_DELETE, "transit/keys/k1", NULL, "t", &out), 204);
	assert_int_equal(fake.last.type, KW_MSG_KEY_DELETE);
}

static void k_export(void **state)
{
	struct kw_resp out;
	const json_t *keys;

	assert_int_equal(run_req(KW_M_GET, "transit/export/encryption-key/k1", NULL, "t", &out),
	                 200);
	assert_string_equal(last_str(KW_T_EXPORT_TYPE), "encryption-key");
	assert_false(last_has(KW_T_VERSION));
	keys = jget(jdata(&out), "keys");
	assert_string_equal(jstr(keys, "1"), "c2VjcmV0MQ==");
	assert_string_equal(jstr(keys, "2"), "c2VjcmV0Mg==");
	assert_string_equal(jstr(jdata(&out), "name"), "k1");
	kw_resp_cleanup(&out);
	assert_int_equal(
	    run_req(KW_M_GET, "transit/export/encryption-key/k1/latest", NULL, "t", &out), 200);
	assert_int_equal(fake.nreq, 3); /* a read resolved "latest" */
	assert_int_equal(last_u32(KW_T_VERSION), 2);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_GET, "transit/export/hmac-key/k1/1", NULL, "t", &out), 200);
	assert_int_equal(last_u32(KW_T_VERSION), 1);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_GET, "transit/export/backup/k1", NULL, "t", &out), 400);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_GET, "transit/export/public-key/k1/0", NULL, "t", &out), 400);
	kw_resp_cleanup(&out);
}

static void k_keeper_error(void **state)
{
	struct kw_resp out;

	fake.fail_type = KW_MSG_ENCRYPT;
	fake.fail_status = KW_ERR_NOT_FOUND;
	assert_int_equal(
	    run_req(KW_M_POST, "transit/encrypt/k1", "{\"plaintext\":\"aGk=\"}", "t", &out), 404);
	assert_string_equal(err_code(&out), "not_found");
	assert_string_equal(err_text(&out), "no key named k1");
	kw_resp_cleanup(&out);
	fake.fail_status = KW_ERR_DENIED;
	assert_int_equal(
	    run_req(KW_M_POST, "transit/encrypt/k1", "{\"plaintext\":\"aGk=\"}", "t", &out), 403);
	assert_string_equal(err_code(&out), "permission_denied");
	kw_resp_cleanup(&out);
	/* A status outside the table is the keeper's bug: internal. */
	fake.fail_status = -12345;
	assert_int_equal(
	    run_req(KW_M_POST, "transit/encrypt/k1", "{\"plaintext\":\"aGk=\"}", "t", &out), 500);
	assert_string_equal(err_code(&out), "internal");
	kw_resp_cleanup(&out);
}

static void k_keeper_dies(void **state)
{
	struct kw_resp out;

	fake.die = true;
	assert_int_equal(run_req(KW_M_GET, "sys/seal-status", NULL, NULL, &out), 503);
	assert_string_equal(err_code(&out), "unavailable");
	kw_resp_cleanup(&out);
	assert_true(fake.pool.failed);
	assert_int_equal(
	    run_req(KW_M_POST, "transit/encrypt/k1", "{\"plaintext\":\"aGk=\"}", "t", &out), 503);
	kw_resp_cleanup(&out);
}

/* Vault's comma-separated form, with spaces around the names. */
static void k_token_create_string(void **state)
{
	const struct kw_ipc_field *fl;
	struct kw_resp out;
	size_t pos = 0;

	assert_int_equal(run_req(KW_M_POST, "auth/token/create",
	                         "{\"policies\":\"ops, default,\",\"meta\":{\"a\":\"b\"},"
	                         "\"renewable\":null}",
	                         "root", &out),
	                 200);
	fl = kw_ipc_next(&fake.last, KW_T_POLICY, &pos);
	assert_string_equal((const char *)fl->val, "ops");
	fl = kw_ipc_next(&fake.last, KW_T_POLICY, &pos);
	assert_string_equal((const char *)fl->val, "default");
	assert_null(kw_ipc_next(&fake.last, KW_T_POLICY, &pos));
	assert_false(last_has(KW_T_TTL));
	kw_resp_cleanup(&out);
}

static void k_token_create_shape(void **state)
{
	struct kw_resp out;
	const json_t *auth;
	const struct kw_ipc_field *fl;
	size_t pos = 0;

	assert_int_equal(run_req(KW_M_POST, "auth/token/create",
	                         "{\"policies\":[\"ops\",\"default\"],\"ttl\":\"1h\","
	                         "\"display_name\":\"ci\",\"no_default_policy\":true}",
	                         "root", &out),
	                 200);
	fl = kw_ipc_next(&fake.last, KW_T_POLICY, &pos);
	assert_string_equal((const char *)fl->val, "ops");
	fl = kw_ipc_next(&fake.last, KW_T_POLICY, &pos);
	assert_string_equal((const char *)fl->val, "default");
	assert_int_equal(kw_ipc_u64_or(&fake.last, KW_T_TTL, 0), 3600);
	assert_string_equal(last_str(KW_T_DISPLAY_NAME), "ci");
	assert_int_equal(last_u32(KW_T_NO_DEFAULT_POLICY), 1);
	assert_true(json_is_null(jget(out.json, "data")));
	auth = jget(out.json, "auth");
	assert_string_equal(jstr(auth, "client_token"), "kw.new");
	assert_string_equal(jstr(auth, "accessor"), "acc1");
	assert_int_equal(json_array_size(jget(auth, "policies")), 2);
	assert_int_equal(json_array_size(jget(auth, "token_policies")), 2);
	assert_int_equal(jint(auth, "lease_duration"), 3600);
	assert_string_equal(jstr(auth, "token_type"), "service");
	kw_resp_cleanup(&out);
}

static void k_token_lookup(void **state)
{
	struct kw_resp out;
	const json_t *d;

	assert_int_equal(run_req(KW_M_GET, "auth/token/lookup-self", NULL, "s.me", &out), 200);
	assert_int_equal(fake.last.type, KW_MSG_TOKEN_LOOKUP_SELF);
	d = jdata(&out);
	assert_string_equal(jstr(d, "id"), "s.me");
	assert_string_equal(jstr(d, "accessor"), "acc1");
	assert_true(json_is_null(jget(d, "expire_time")));
	assert_int_equal(jint(d, "ttl"), 0);
	assert_int_equal(jint(d, "creation_ttl"), 3600);
	assert_int_equal(json_array_size(jget(d, "policies")), 2);
	kw_resp_cleanup(&out);
	assert_int_equal(
	    run_req(KW_M_POST, "auth/token/lookup", "{\"token\":\"s.other\"}", "s.me", &out), 200);
	assert_string_equal(last_str(KW_T_TARGET_TOKEN), "s.other");
	assert_string_equal(jstr(jdata(&out), "id"), "s.other");
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_POST, "auth/token/lookup-accessor", "{\"accessor\":\"acc1\"}",
	                         "s.me", &out),
	                 200);
	assert_int_equal(fake.last.type, KW_MSG_TOKEN_LOOKUP);
	assert_string_equal(last_str(KW_T_ACCESSOR), "acc1");
	assert_false(last_has(KW_T_TARGET_TOKEN));
	assert_null(json_object_get(jdata(&out), "id"));
	kw_resp_cleanup(&out);
}

static void k_token_revoke(void **state)
{
	struct kw_resp out;

	assert_int_equal(
	    run_req(KW_M_POST, "auth/token/revoke", "{\"token\":\"s.x\"}", "s.me", &out), 204);
	assert_int_equal(fake.last.type, KW_MSG_TOKEN_REVOKE);
	assert_string_equal(last_str(KW_T_TARGET_TOKEN), "s.x");
	assert_int_equal(
	    run_req(KW_M_POST, "auth/token/revoke-accessor", "{\"accessor\":\"a\"}", "s.me", &out),
	    204);
	assert_string_equal(last_str(KW_T_ACCESSOR), "a");
	assert_int_equal(run_req(KW_M_POST, "auth/token/revoke-self", NULL, "s.me", &out), 204);
	assert_int_equal(fake.last.type, KW_MSG_TOKEN_REVOKE_SELF);
}

static void k_policies(void **state)
{
	struct kw_resp out;

	assert_int_equal(run_req(KW_M_POST, "sys/policies/acl/ops",
	                         "{\"policy\":\"{\\\"path\\\":{}}\"}", "root", &out),
	                 204);
	assert_string_equal(last_str(KW_T_NAME), "ops");
	assert_string_equal(last_str(KW_T_POLICY_TEXT), "{\"path\":{}}");
	/* Legacy: a JSON object is sent as its text. */
	assert_int_equal(
	    run_req(KW_M_POST, "sys/policy/ops",
	            "{\"policy\":{\"path\":{\"transit/*\":{\"capabilities\":[\"read\"]}}}}", "root",
	            &out),
	    204);
	assert_string_equal(last_str(KW_T_POLICY_TEXT),
	                    "{\"path\":{\"transit/*\":{\"capabilities\":[\"read\"]}}}");
	assert_int_equal(run_req(KW_M_GET, "sys/policies/acl/ops", NULL, "root", &out), 200);
	assert_string_equal(jstr(jdata(&out), "policy"), "{\"path\":{}}");
	assert_string_equal(jstr(jdata(&out), "name"), "ops");
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_GET, "sys/policy/ops", NULL, "root", &out), 200);
	assert_string_equal(jstr(out.json, "rules"), "{\"path\":{}}");
	assert_string_equal(jstr(jdata(&out), "rules"), "{\"path\":{}}");
	kw_resp_cleanup(&out);
	fake.nnames = 3;
	assert_int_equal(run_req(KW_M_GET, "sys/policy", NULL, "root", &out), 200);
	assert_int_equal(json_array_size(jget(out.json, "policies")), 3);
	assert_int_equal(json_array_size(jget(jdata(&out), "keys")), 3);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_LIST, "sys/policies/acl", NULL, "root", &out), 200);
	assert_int_equal(json_array_size(jget(jdata(&out), "keys")), 3);
	kw_resp_cleanup(&out);
	assert_int_equal(run_req(KW_M_DELETE, "sys/policies/acl/ops", NULL, "root", &out), 204);
	assert_int_equal(fake.last.type, KW_MSG_POLICY_DELETE);
}

#define TK(name, fn)                                                                               \
	{                                                                                          \
		name, fn, fake_start, fake_stop, NULL                                              \
	}

int front_keeper_tests(void)
{
	const struct CMUnitTest tests[] = {
	    TK("/front/keeper/common-fields", k_common_fields),
	    TK("/front/keeper/health-codes", k_health_codes),
	    TK("/front/keeper/init", k_init),
	    TK("/front/keeper/unseal", k_unseal),
	    TK("/front/keeper/seal", k_seal),
	    TK("/front/keeper/encrypt", k_encrypt),
	    TK("/front/keeper/batch-partial", k_batch_partial),
	    TK("/front/keeper/batch-partial-code", k_batch_partial_code),
	    TK("/front/keeper/batch-denied", k_batch_denied),
	    TK("/front/keeper/decrypt", k_decrypt),
	    TK("/front/keeper/rewrap", k_rewrap),
	    TK("/front/keeper/datakey", k_datakey),
	    TK("/front/keeper/sign", k_sign),
	    TK("/front/keeper/verify", k_verify),
	    TK("/front/keeper/hmac", k_hmac),
	    TK("/front/keeper/random-hash", k_random_hash),
	    TK("/front/keeper/key-read-asymmetric", k_key_read_asym),
	    TK("/front/keeper/key-read-symmetric", k_key_read_sym),
	    TK("/front/keeper/key-create", k_key_create),
	    TK("/front/keeper/key-create-fields", k_key_create_fields),
	    TK("/front/keeper/key-create-defaults", k_key_create_defaults),
	    TK("/front/keeper/key-config", k_key_config),
	    TK("/front/keeper/key-list-delete", k_key_list_delete),
	    TK("/front/keeper/export", k_export),
	    TK("/front/keeper/error-detail", k_keeper_error),
	    TK("/front/keeper/dies", k_keeper_dies),
	    TK("/front/keeper/token-create-string", k_token_create_string),
	    TK("/front/keeper/token-create", k_token_create_shape),
	    TK("/front/keeper/token-lookup", k_token_lookup),
	    TK("/front/keeper/token-revoke", k_token_revoke),
	    TK("/front/keeper/policies", k_policies),
	};

	return cmocka_run_group_tests_name("/front/keeper", tests, NULL, NULL);
}
