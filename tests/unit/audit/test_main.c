/*
 * test_main.c: the audit unit test program — the test table, the group
 * set-up (secure heap) and helpers shared by the other files.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_tests.h"

#if defined(__SANITIZE_ADDRESS__)
#define KW_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KW_TEST_ASAN 1
#endif
#endif

uint8_t *t_unhex(const char *hex, size_t *len)
{
	uint8_t *d = NULL;

	assert_int_equal(kw_hex_decode(hex, strlen(hex), &d, len), 0);
	return d;
}

char *t_tmpdir(void)
{
	char tmpl[] = "/tmp/kw-audit-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	d = strdup(d);
	assert_non_null(d);
	return d;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

void t_rmdir(char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

char *t_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

char *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

void t_write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

struct kw_key *t_fixed_key(void)
{
	/* PKCS#8 wrapping of RFC 8032 §7.1 TEST 1's secret key. */
	static const char pkcs8[] =
	    "302e020100300506032b657004220420"
	    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
	struct kw_key *k = NULL;
	size_t len;
	uint8_t *der = t_unhex(pkcs8, &len);

	assert_int_equal(kw_key_decode(KW_KEY_ED25519, der, len, &k), 0);
	kw_wipe(der, len);
	free(der);
	return k;
}

void t_signer(struct kw_audit_signer *s, struct kw_key *k, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	assert_int_equal(kw_audit_key_public(k, s->public_key), 0);
	s->sign = kw_audit_sign_key;
	s->ctx = k;
}

void t_verifier(struct kw_audit_verifier *v, const struct kw_audit_signer *s)
{
	char *text = NULL;

	assert_int_equal(kw_audit_verifier_encode(s->name, s->public_key, &text), 0);
	assert_int_equal(kw_audit_verifier_decode(text, v), 0);
	free(text);
}

void t_entry(struct kw_audit_entry *e, uint64_t i)
{
	static const char *const ops[] = {"sign", "encrypt", "decrypt", "hmac", "key-create"};
	static const char *const keys[] = {"payments", "app-1", "", "backup"};
	static const char *const subjects[] = {"root", "ci-runner", "alice@example.com"};
	static _Thread_local char paths[5][64]; /* threads call this at once */

	memset(e, 0, sizeof(*e));
	e->index = i;
	e->time_us = 1764338400000000ull + i * 1000;
	e->node_id = "node-a";
	e->auth_method = "token";
	e->subject = subjects[i % 3];
	e->accessor = i % 3 == 0 ? "5f2a7c0e9b1d4a6c8e0f2b4d" : "a1b2c3d4e5f6a7b8c9d0e1f2";
	e->source_addr = "10.0.0.7";
	e->listener_port = 8200;
	e->operation = ops[i % 5];
	snprintf(paths[i % 5], sizeof(paths[0]), "transit/%s/%s", ops[i % 5], keys[i % 4]);
	e->path = paths[i % 5];
	e->key_name = keys[i % 4];
	e->key_version = (uint32_t)(i % 3);
	e->result = i % 7 == 3 ? KW_ERR_DENIED : 0;
	e->has_input_sha256 = i % 2 == 0;
	memset(e->input_sha256, (int)(i & 0xff), sizeof(e->input_sha256));
	e->has_output_sha256 = e->result == 0;
	memset(e->output_sha256, (int)((i >> 8) & 0xff) ^ 0x5a, sizeof(e->output_sha256));
	e->request_id = "3f0c9a1e-2b7d-4c55-9e61-0d8a4b2f7c13";
}

void t_fill_log(const char *dir, uint64_t n, uint64_t seg)
{
	struct kw_audit_log_opts o = {.segment_bytes = seg};
	struct kw_audit_log *l = NULL;

	assert_int_equal(kw_audit_log_open(dir, &o, &l), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct kw_audit_entry e;
		uint64_t idx;

		t_entry(&e, i);
		assert_int_equal(kw_audit_log_append(l, &e, &idx), 0);
		assert_int_equal(idx, i);
	}
	assert_int_equal(kw_audit_log_close(l), 0);
}

static int group_setup(void **state)
{
	/* Run as the keeper does, with the secure heap — except under ASan,
	 * which cannot see into that arena. */
#ifndef KW_TEST_ASAN
	if (kw_secure_heap_init(1 << 20) != 0)
		return -1;
#endif
	kw_log_set_level(KW_LOG_ERR);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    KW_TEST("/audit/entry-roundtrip", test_entry_roundtrip),
	    KW_TEST("/audit/entry-golden", test_entry_golden),
	    KW_TEST("/audit/entry-json-golden", test_entry_json_golden),
	    KW_TEST("/audit/entry-defaults", test_entry_defaults),
	    KW_TEST("/audit/entry-decode-rejects", test_entry_decode_rejects),
	    KW_TEST("/audit/entry-decode-every-mutation", test_entry_decode_every_mutation),
	    KW_TEST("/audit/entry-encode-rejects", test_entry_encode_rejects),
	    KW_TEST("/audit/merkle-rfc6962-roots", test_merkle_rfc6962_roots),
	    KW_TEST("/audit/merkle-rfc6962-inclusion", test_merkle_rfc6962_inclusion),
	    KW_TEST("/audit/merkle-rfc6962-consistency", test_merkle_rfc6962_consistency),
	    KW_TEST("/audit/merkle-random-trees", test_merkle_random_trees),
	    KW_TEST("/audit/merkle-proof-tamper", test_merkle_proof_tamper),
	    KW_TEST("/audit/merkle-bad-lengths", test_merkle_bad_lengths),
	    KW_TEST("/audit/merkle-consistency-edges", test_merkle_consistency_edges),
	    KW_TEST("/audit/merkle-large-tree", test_merkle_large_tree),
	    KW_TEST("/audit/note-go-vector", test_note_go_vector),
	    KW_TEST("/audit/note-verifier-key-roundtrip", test_note_verifier_key_roundtrip),
	    KW_TEST("/audit/note-verifier-key-rejects", test_note_verifier_key_rejects),
	    KW_TEST("/audit/note-checkpoint-golden", test_note_checkpoint_golden),
	    KW_TEST("/audit/note-checkpoint-rejects", test_note_checkpoint_rejects),
	    KW_TEST("/audit/note-wrong-key", test_note_wrong_key),
	    KW_TEST("/audit/note-other-signatures", test_note_other_signatures),
	    KW_TEST("/audit/note-signer-mismatch", test_note_signer_mismatch),
	    KW_TEST("/audit/log-append-read", test_log_append_read),
	    KW_TEST("/audit/log-reopen", test_log_reopen),
	    KW_TEST("/audit/log-rotation", test_log_rotation),
	    KW_TEST("/audit/log-proofs-match-memory", test_log_proofs_match_memory),
	    KW_TEST("/audit/log-torn-tail", test_log_torn_tail),
	    KW_TEST("/audit/log-torn-segment-header", test_log_torn_segment_header),
	    KW_TEST("/audit/log-rebuild-caches", test_log_rebuild_caches),
	    KW_TEST("/audit/log-damaged-cache", test_log_damaged_cache),
	    KW_TEST("/audit/log-group-commit", test_log_group_commit),
	    KW_TEST("/audit/log-write-failure", test_log_write_failure),
	    KW_TEST("/audit/log-commit-async", test_log_commit_async),
	    KW_TEST("/audit/log-commit-async-failure", test_log_commit_async_failure),
	    KW_TEST("/audit/log-sync-failure", test_log_sync_failure),
	    KW_TEST("/audit/log-disk-full", test_log_disk_full),
	    KW_TEST("/audit/log-exclusive", test_log_exclusive),
	    KW_TEST("/audit/log-read-only", test_log_read_only),
	    KW_TEST("/audit/log-search", test_log_search),
	    KW_TEST("/audit/log-checkpoint", test_log_checkpoint),
	    KW_TEST("/audit/log-damaged-sealed-record", test_log_damaged_sealed_record),
	    KW_TEST("/audit/log-damage-under-checkpoint", test_log_damage_under_checkpoint),
	    KW_TEST("/audit/log-damaged-checkpoint-record", test_log_damaged_checkpoint_record),
	    KW_TEST("/audit/log-short-sealed-segment", test_log_short_sealed_segment),
	    KW_TEST("/audit/check-clean", test_check_clean),
	    KW_TEST("/audit/check-flipped-byte", test_check_flipped_byte),
	    KW_TEST("/audit/check-forged-edit", test_check_forged_edit),
	    KW_TEST("/audit/check-deleted-entry", test_check_deleted_entry),
	    KW_TEST("/audit/check-swapped-entries", test_check_swapped_entries),
	    KW_TEST("/audit/check-inserted-entry", test_check_inserted_entry),
	    KW_TEST("/audit/check-truncated-tail", test_check_truncated_tail),
	    KW_TEST("/audit/check-replaced-signature", test_check_replaced_signature),
	    KW_TEST("/audit/check-wrong-origin", test_check_wrong_origin),
	    KW_TEST("/audit/check-torn-tail-reported", test_check_torn_tail_reported),
	    KW_TEST("/audit/check-stream", test_check_stream),
	    KW_TEST("/audit/check-no-checkpoint", test_check_no_checkpoint),
	};
	/* Run one test (or a glob of them) by path: test_audit '/audit/log-*'. */
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("audit", tests, group_setup, NULL);
}
