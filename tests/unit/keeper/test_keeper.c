/*
 * Unit tests for the keeper through its only door: IPC messages on a
 * socketpair, with the real store and crypto. Each test starts a fresh
 * keeper on a fresh database in a thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>

#include "../../../src/audit/audit.h"
#include "../../../src/crypto/crypto.h"
#include "../../../src/ipc/ipc.h"
#include "../../../src/keeper/keeper.h"

#include "keeper_fx.h"

static void sealed_until_threshold(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t wrong[SHARE_BYTES];

	assert_int_equal(call(f, KW_MSG_SEAL_STATUS, NULL, &rep, 0), 0);
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_INITIALIZED, 9), 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, "x", NULL), KW_ERR_NOT_INIT);
	/* Vault's validation: threshold 1 of several shares is refused. */
	assert_int_equal(
	    call(f, KW_MSG_INIT, NULL, &rep, KW_T_SHARES, 'u', 3, KW_T_THRESHOLD, 'u', 1, 0),
	    KW_ERR_INVALID);
	kw_ipc_msg_cleanup(&rep);
	init_unseal(f);
	assert_int_equal(call0(f, KW_MSG_SEAL, f->root, NULL), 0);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, f->root, NULL), KW_ERR_SEALED);
	assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b', f->shares[4],
	                      (size_t)SHARE_BYTES, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	/* The same share twice, and a share that is not one of ours. */
	assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b', f->shares[4],
	                      (size_t)SHARE_BYTES, 0),
	                 KW_ERR_BAD_SHARE);
	kw_ipc_msg_cleanup(&rep);
	memcpy(wrong, f->shares[1], SHARE_BYTES);
	wrong[0] ^= 1;
	assert_int_equal(
	    call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b', wrong, (size_t)SHARE_BYTES, 0),
	    KW_ERR_BAD_SHARE);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_SEAL_STATUS, NULL, &rep, 0), 0);
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_PROGRESS, 9), 1);
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_SEALED, 9), 1);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b', f->shares[2],
	                      (size_t)SHARE_BYTES, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b', f->shares[0],
	                      (size_t)SHARE_BYTES, 0),
	                 0);
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_SEALED, 9), 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, f->root, NULL), 0);
}

static void token_required(void **state)
{
	struct fx *f = *state;

	init_unseal(f);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, NULL, NULL), KW_ERR_AUTH);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, "kws.bogus", NULL), KW_ERR_AUTH);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, f->root, NULL), 0);
}

static void sign(struct fx *f, const char *token, const char *key, int want, uint8_t *sig,
                 size_t *siglen)
{
	struct kw_ipc_msg rep;
	const uint8_t *p;
	size_t n;

	assert_int_equal(call(f, KW_MSG_SIGN, token, &rep, KW_T_NAME, 's', key, KW_T_INPUT, 'b',
	                      "msg", (size_t)3, 0),
	                 want);
	if (want == 0 && sig != NULL) {
		assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_SIGNATURE, &p, &n), 0);
		memcpy(sig, p, n);
		*siglen = n;
	}
	if (want != 0)
		assert_non_null(kw_ipc_find(&rep, KW_T_ERROR_DETAIL));
	kw_ipc_msg_cleanup(&rep);
}

static bool verify(struct fx *f, const char *key, uint32_t version, const uint8_t *sig, size_t n,
                   const char *input)
{
	struct kw_ipc_msg rep;
	bool valid;

	assert_int_equal(call(f, KW_MSG_VERIFY, f->root, &rep, KW_T_NAME, 's', key, KW_T_INPUT, 'b',
	                      input, strlen(input), KW_T_VERSION, 'u', version, KW_T_SIGNATURE, 'b',
	                      sig, n, 0),
	                 0);
	valid = kw_ipc_u32_or(&rep, KW_T_VALID, 9) == 1;
	kw_ipc_msg_cleanup(&rep);
	return valid;
}

static void create(struct fx *f, const char *name, const char *type, unsigned exportable)
{
	struct kw_ipc_msg rep;

	assert_int_equal(call(f, KW_MSG_KEY_CREATE, f->root, &rep, KW_T_NAME, 's', name,
	                      KW_T_KEY_TYPE, 's', type, KW_T_EXPORTABLE, 'u', exportable, 0),
	                 0);
	assert_string_equal(kw_ipc_str_or(&rep, KW_T_KEY_TYPE, ""), type);
	kw_ipc_msg_cleanup(&rep);
}

static void sign_rotate_verify(void **state)
{
	struct fx *f = *state;
	uint8_t s1[KW_SIG_MAX_BYTES], s2[KW_SIG_MAX_BYTES];
	size_t n1, n2;
	struct kw_ipc_msg rep;

	init_unseal(f);
	create(f, "k", "ecdsa-p256", 0);
	sign(f, f->root, "k", 0, s1, &n1);
	assert_true(verify(f, "k", 1, s1, n1, "msg"));
	assert_false(verify(f, "k", 1, s1, n1, "msh"));
	assert_int_equal(call0(f, KW_MSG_KEY_ROTATE, f->root, "k"), 0);
	sign(f, f->root, "k", 0, s2, &n2);
	assert_true(verify(f, "k", 2, s2, n2, "msg"));
	assert_false(verify(f, "k", 2, s1, n1, "msg")); /* v1's signature is not v2's */
	assert_true(verify(f, "k", 1, s1, n1, "msg"));
	/* Wrong key type for the operation, and an unknown key. */
	create(f, "aes", "aes256-gcm96", 0);
	sign(f, f->root, "aes", KW_ERR_KEY_TYPE, NULL, NULL);
	sign(f, f->root, "nope", KW_ERR_NOT_FOUND, NULL, NULL);
	assert_int_equal(call(f, KW_MSG_ENCRYPT, f->root, &rep, KW_T_NAME, 's', "k", KW_T_PLAINTEXT,
	                      'b', "x", (size_t)1, 0),
	                 KW_ERR_KEY_TYPE);
	kw_ipc_msg_cleanup(&rep);
}

static void encrypt_decrypt_aad(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	uint8_t ct[256];
	const uint8_t *p;
	size_t n;

	init_unseal(f);
	create(f, "e", "chacha20-poly1305", 0);
	assert_int_equal(call(f, KW_MSG_ENCRYPT, f->root, &rep, KW_T_NAME, 's', "e", KW_T_PLAINTEXT,
	                      'b', "secret", (size_t)6, KW_T_AAD, 'b', "ctx", (size_t)3, 0),
	                 0);
	assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_CIPHERTEXT, &p, &n), 0);
	memcpy(ct, p, n);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_DECRYPT, f->root, &rep, KW_T_NAME, 's', "e",
	                      KW_T_CIPHERTEXT, 'b', ct, n, KW_T_VERSION, 'u', 1, KW_T_AAD, 'b',
	                      "ctx", (size_t)3, 0),
	                 0);
	assert_int_equal(kw_ipc_get_bytes(&rep, KW_T_PLAINTEXT, &p, &n), 0);
	assert_memory_equal(p, "secret", 6);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_DECRYPT, f->root, &rep, KW_T_NAME, 's', "e",
	                      KW_T_CIPHERTEXT, 'b', ct, n + 0, KW_T_VERSION, 'u', 1, KW_T_AAD, 'b',
	                      "xtc", (size_t)3, 0),
	                 KW_ERR_DECRYPT);
	assert_null(kw_ipc_find(&rep, KW_T_PLAINTEXT));
	kw_ipc_msg_cleanup(&rep);
}

static void policy_denial_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	char tok[128];

	init_unseal(f);
	create(f, "app-1", "ed25519", 0);
	create(f, "db-1", "ed25519", 0);
	assert_int_equal(
	    call(f, KW_MSG_POLICY_PUT, f->root, &rep, KW_T_NAME, 's', "signer", KW_T_POLICY_TEXT,
	         's', "{\"path\":{\"transit/sign/app-*\":{\"capabilities\":[\"update\"]}}}", 0),
	    0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_TOKEN_CREATE, f->root, &rep, KW_T_POLICY, 's', "signer", 0),
	                 0);
	snprintf(tok, sizeof(tok), "%s", kw_ipc_str_or(&rep, KW_T_TOKEN, ""));
	kw_ipc_msg_cleanup(&rep);
	sign(f, tok, "app-1", 0, NULL, NULL);
	sign(f, tok, "db-1", KW_ERR_DENIED, NULL, NULL);
	assert_int_equal(call0(f, KW_MSG_KEY_ROTATE, tok, "app-1"), KW_ERR_DENIED);
	assert_int_equal(call0(f, KW_MSG_KEY_LIST, tok, NULL), KW_ERR_DENIED);
	/* The denied rotate changed nothing. */
	assert_int_equal(call(f, KW_MSG_KEY_READ, f->root, &rep, KW_T_NAME, 's', "app-1", 0), 0);
	assert_int_equal(kw_ipc_u32_or(&rep, KW_T_LATEST_VERSION, 0), 1);
	kw_ipc_msg_cleanup(&rep);
	/* A token cannot grant what it does not hold. */
	assert_int_equal(call(f, KW_MSG_TOKEN_CREATE, tok, &rep, KW_T_POLICY, 's', "root", 0),
	                 KW_ERR_DENIED);
	kw_ipc_msg_cleanup(&rep);
	/* Malformed policies are refused with a reason. */
	assert_int_equal(call(f, KW_MSG_POLICY_PUT, f->root, &rep, KW_T_NAME, 's', "bad",
	                      KW_T_POLICY_TEXT, 's', "path \"x\" { capabilities = [\"read\"] }", 0),
	                 KW_ERR_INVALID);
	assert_non_null(strstr(kw_ipc_str_or(&rep, KW_T_ERROR_DETAIL, ""), "JSON"));
	kw_ipc_msg_cleanup(&rep);
}

static void export_is_one_way(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;

	init_unseal(f);
	create(f, "x", "ecdsa-p384", 1);
	create(f, "n", "ecdsa-p384", 0);
	assert_int_equal(call(f, KW_MSG_KEY_EXPORT, f->root, &rep, KW_T_NAME, 's', "n",
	                      KW_T_EXPORT_TYPE, 's', "signing-key", 0),
	                 KW_ERR_NOT_EXPORTABLE);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_KEY_EXPORT, f->root, &rep, KW_T_NAME, 's', "n",
	                      KW_T_EXPORT_TYPE, 's', "public-key", 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_KEY_EXPORT, f->root, &rep, KW_T_NAME, 's', "x",
	                      KW_T_EXPORT_TYPE, 's', "signing-key", 0),
	                 0);
	assert_non_null(kw_ipc_find(&rep, KW_T_EXPORT_ITEM));
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_KEY_CONFIG, f->root, &rep, KW_T_NAME, 's', "x",
	                      KW_T_EXPORTABLE, 'u', 0, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_KEY_CONFIG, f->root, &rep, KW_T_NAME, 's', "n",
	                      KW_T_EXPORTABLE, 'u', 1, 0),
	                 KW_ERR_NOT_EXPORTABLE);
	kw_ipc_msg_cleanup(&rep);
	/* Re-wrapped with the new associated data: still loads after a seal. */
	assert_int_equal(call0(f, KW_MSG_SEAL, f->root, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b',
		                      f->shares[i], (size_t)SHARE_BYTES, 0),
		                 0);
		kw_ipc_msg_cleanup(&rep);
	}
	sign(f, f->root, "x", 0, NULL, NULL);
	assert_int_equal(call(f, KW_MSG_KEY_EXPORT, f->root, &rep, KW_T_NAME, 's', "x",
	                      KW_T_EXPORT_TYPE, 's', "signing-key", 0),
	                 KW_ERR_NOT_EXPORTABLE);
	kw_ipc_msg_cleanup(&rep);
}

static void sql(const char *db, const char *stmt)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* An edited row, or a store flipped to exportable, fails to unwrap. */
static void tampered_rows_fail_closed(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;

	init_unseal(f);
	create(f, "good", "ed25519", 0);
	create(f, "edited", "ed25519", 0);
	create(f, "flipped", "ed25519", 0);
	keeper_stop(f);
	/* Change byte 21 to a value it does not have. */
	sql(f->db, "UPDATE key_versions SET wrapped = CAST(substr(wrapped, 1, 20) || "
	           "CASE WHEN substr(wrapped, 21, 1) = x'00' THEN x'01' ELSE x'00' END || "
	           "substr(wrapped, 22) AS BLOB) WHERE name = 'edited'");
	sql(f->db, "UPDATE keys SET exportable = 1 WHERE name = 'flipped'");
	keeper_start(f);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(call(f, KW_MSG_UNSEAL, NULL, &rep, KW_T_UNSEAL_KEY, 'b',
		                      f->shares[i], (size_t)SHARE_BYTES, 0),
		                 0);
		kw_ipc_msg_cleanup(&rep);
	}
	sign(f, f->root, "good", 0, NULL, NULL);
	sign(f, f->root, "edited", KW_ERR_INTEGRITY, NULL, NULL);
	sign(f, f->root, "flipped", KW_ERR_INTEGRITY, NULL, NULL);
	assert_int_equal(call(f, KW_MSG_KEY_EXPORT, f->root, &rep, KW_T_NAME, 's', "flipped",
	                      KW_T_EXPORT_TYPE, 's', "signing-key", 0),
	                 KW_ERR_INTEGRITY);
	kw_ipc_msg_cleanup(&rep);
}

static void delete_needs_permission(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;

	init_unseal(f);
	create(f, "d", "hmac", 0);
	assert_int_equal(call0(f, KW_MSG_KEY_DELETE, f->root, "d"), KW_ERR_DELETE_DENIED);
	assert_int_equal(call(f, KW_MSG_KEY_CONFIG, f->root, &rep, KW_T_NAME, 's', "d",
	                      KW_T_DELETION_ALLOWED, 'u', 1, 0),
	                 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call0(f, KW_MSG_KEY_DELETE, f->root, "d"), 0);
	assert_int_equal(call0(f, KW_MSG_KEY_READ, f->root, "d"), KW_ERR_NOT_FOUND);
}

/* A failed self-test: the keeper runs, but refuses to init or unseal and
 * names the test. */
static void selftest_failure_refuses(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;

	keeper_stop(f);
	setenv("KEYWARD_SELFTEST_FAIL", "aes256-gcm", 1);
	keeper_start(f);
	assert_int_equal(call(f, KW_MSG_SEAL_STATUS, NULL, &rep, 0), 0);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(
	    call(f, KW_MSG_INIT, NULL, &rep, KW_T_SHARES, 'u', 1, KW_T_THRESHOLD, 'u', 1, 0),
	    KW_ERR_SELFTEST);
	assert_non_null(strstr(kw_ipc_str_or(&rep, KW_T_ERROR_DETAIL, ""), "aes256-gcm"));
	kw_ipc_msg_cleanup(&rep);
	keeper_stop(f);
	unsetenv("KEYWARD_SELFTEST_FAIL");
	keeper_start(f);
	init_unseal(f);
}

/* Every logged request also goes to the sink as one JSON line. */
static void audit_sink_json_lines(void **state)
{
	struct fx *f = *state;
	char path[160], line[4096];
	int lines = 0, signs = 0;
	FILE *in;

	keeper_stop(f);
	snprintf(path, sizeof(path), "%s/sink.jsonl", f->dir);
	snprintf(f->conf.audit_sink, sizeof(f->conf.audit_sink), "%s", path);
	keeper_start(f);
	init_unseal(f);
	create(f, "s", "ed25519", 0);
	sign(f, f->root, "s", 0, NULL, NULL);
	sign(f, "kws.bogus", "s", KW_ERR_AUTH, NULL, NULL);
	keeper_stop(f);
	f->conf.audit_sink[0] = '\0';
	keeper_start(f);
	assert_non_null(in = fopen(path, "r"));
	while (fgets(line, sizeof(line), in) != NULL) {
		json_error_t err;
		json_t *j = json_loads(line, 0, &err);

		assert_non_null(j);
		assert_true(json_is_integer(json_object_get(j, "index")));
		if (strcmp(json_string_value(json_object_get(j, "operation")), "sign") == 0)
			signs++;
		json_decref(j);
		lines++;
	}
	fclose(in);
	/* init, 3 unseals, create, 2 signs (one denied). */
	assert_int_equal(lines, 7);
	assert_int_equal(signs, 2);
}

/* The audit messages: a signed checkpoint that verifies with the verifier
 * key the keeper gives out, over a log holding every request so far. */
static void audit_checkpoint_and_entries(void **state)
{
	struct fx *f = *state;
	struct kw_ipc_msg rep;
	struct kw_audit_verifier v;
	struct kw_audit_checkpoint cp;
	const char *note, *verifier;
	const struct kw_ipc_field *e;
	size_t pos = 0, n = 0;

	init_unseal(f);
	create(f, "a", "ed25519", 0);
	sign(f, f->root, "a", 0, NULL, NULL);
	assert_int_equal(call(f, KW_MSG_AUDIT_CHECKPOINT, f->root, &rep, 0), 0);
	assert_int_equal(kw_ipc_get_str(&rep, KW_T_CHECKPOINT, &note), 0);
	assert_int_equal(kw_ipc_get_str(&rep, KW_T_VERIFIER, &verifier), 0);
	assert_non_null(strstr(kw_ipc_str_or(&rep, KW_T_PUBLIC_KEY, ""), "BEGIN PUBLIC KEY"));
	assert_int_equal(kw_audit_verifier_decode(verifier, &v), 0);
	assert_int_equal(kw_audit_checkpoint_open(note, strlen(note), &v, &cp), 0);
	/* init, 3 unseals, create, sign: durable before their replies. */
	assert_true(cp.size >= 6);
	kw_ipc_msg_cleanup(&rep);
	assert_int_equal(call(f, KW_MSG_AUDIT_ENTRIES, f->root, &rep, 0), 0);
	while ((e = kw_ipc_next(&rep, KW_T_ENTRY, &pos)) != NULL) {
		struct kw_audit_entry *d;
		assert_true(e->len > 8);
		assert_int_equal(kw_load_u64(e->val), n);
		assert_int_equal(kw_audit_entry_decode(e->val + 8, e->len - 8, &d), 0);
		kw_audit_entry_free(d);
		n++;
	}
	assert_true(n >= 6);
	kw_ipc_msg_cleanup(&rep);
	/* Reading the audit log needs sudo: a plain token is refused. */
	assert_int_equal(call(f, KW_MSG_AUDIT_CHECKPOINT, "kws.nobody", &rep, 0), KW_ERR_AUTH);
	kw_ipc_msg_cleanup(&rep);
}

/* Inside the boundary a malformed frame is fatal: the keeper exits. */
static void malformed_frame_stops_keeper(void **state)
{
	char dir[] = "/tmp/kw-keeper-fatal-XXXXXX";
	uint8_t junk[16] = {0, 0, 0, 4, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
	int sv[2], status;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kw_keeper_conf c = {0};
		close(sv[0]);
		snprintf(c.store_url, sizeof(c.store_url), "%s/k.db", dir);
		_exit(kw_keeper_run(&c, &sv[1], 1) == 0 ? 0 : 3);
	}
	close(sv[1]);
	assert_int_equal(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	close(sv[0]);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

#define T(name, fn)                                                                                \
	{                                                                                          \
		"/keeper/" name, fn, setup, teardown, NULL                                         \
	}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T("sealed-until-threshold", sealed_until_threshold),
	    T("token-required", token_required),
	    T("sign-rotate-verify", sign_rotate_verify),
	    T("encrypt-decrypt-aad", encrypt_decrypt_aad),
	    T("policy-denial-changes-nothing", policy_denial_changes_nothing),
	    T("export-is-one-way", export_is_one_way),
	    T("tampered-rows-fail-closed", tampered_rows_fail_closed),
	    T("delete-needs-permission", delete_needs_permission),
	    T("selftest-failure-refuses", selftest_failure_refuses),
	    T("audit-sink-json-lines", audit_sink_json_lines),
	    T("audit-checkpoint-and-entries", audit_checkpoint_and_entries),
	    {"/keeper/malformed-frame-stops-keeper", malformed_frame_stops_keeper, NULL, NULL,
	     NULL},
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("/keeper", tests, NULL, NULL);
}
