/* audit_tests.h: the audit test program's test functions and shared helpers. */
#ifndef KW_AUDIT_TESTS_H
#define KW_AUDIT_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/audit/audit_int.h"
#include "../../../src/crypto/crypto.h"

/* A test registered under its path name ("/audit/entry-roundtrip"). */
#define KW_TEST(path, fn)                                                                          \
	{                                                                                          \
		path, fn, NULL, NULL, NULL                                                         \
	}
#define GOLDEN_DIR KW_SOURCE_DIR "/tests/unit/audit/golden"

/* test_main.c helpers */
uint8_t *t_unhex(const char *hex, size_t *len);
char *t_tmpdir(void);                            /* fresh directory under /tmp */
void t_rmdir(char *path);                        /* removes it recursively, frees path */
char *t_path(const char *dir, const char *name); /* malloc'd dir/name */
char *t_read_file(const char *path, size_t *len);
void t_write_file(const char *path, const void *p, size_t len);
/* The RFC 8032 §7.1 TEST 1 key (a fixed Ed25519 key for golden files). */
struct kw_key *t_fixed_key(void);
void t_signer(struct kw_audit_signer *s, struct kw_key *k, const char *name);
void t_verifier(struct kw_audit_verifier *v, const struct kw_audit_signer *s);
/* A sample entry, varying with i; strings live in static storage. */
void t_entry(struct kw_audit_entry *e, uint64_t i);
/* A log in dir with n sample entries (segment size seg, 0 = default). */
void t_fill_log(const char *dir, uint64_t n, uint64_t seg);

/* test_entry.c */
void test_entry_roundtrip(void **state);
void test_entry_golden(void **state);
void test_entry_json_golden(void **state);
void test_entry_defaults(void **state);
void test_entry_decode_rejects(void **state);
void test_entry_decode_every_mutation(void **state);
void test_entry_encode_rejects(void **state);

/* test_merkle.c */
void test_merkle_rfc6962_roots(void **state);
void test_merkle_rfc6962_inclusion(void **state);
void test_merkle_rfc6962_consistency(void **state);
void test_merkle_random_trees(void **state);
void test_merkle_proof_tamper(void **state);
void test_merkle_bad_lengths(void **state);
void test_merkle_consistency_edges(void **state);
void test_merkle_large_tree(void **state);

/* test_note.c */
void test_note_go_vector(void **state);
void test_note_verifier_key_roundtrip(void **state);
void test_note_verifier_key_rejects(void **state);
void test_note_checkpoint_golden(void **state);
void test_note_checkpoint_rejects(void **state);
void test_note_wrong_key(void **state);
void test_note_other_signatures(void **state);
void test_note_signer_mismatch(void **state);

/* test_log.c */
void test_log_append_read(void **state);
void test_log_reopen(void **state);
void test_log_rotation(void **state);
void test_log_proofs_match_memory(void **state);
void test_log_torn_tail(void **state);
void test_log_torn_segment_header(void **state);
void test_log_rebuild_caches(void **state);
void test_log_damaged_cache(void **state);
void test_log_group_commit(void **state);
void test_log_commit_async(void **state);
void test_log_commit_async_failure(void **state);
void test_log_write_failure(void **state);
void test_log_sync_failure(void **state);
void test_log_disk_full(void **state);
void test_log_exclusive(void **state);
void test_log_read_only(void **state);
void test_log_search(void **state);
void test_log_checkpoint(void **state);
void test_log_damaged_sealed_record(void **state);
void test_log_damage_under_checkpoint(void **state);
void test_log_damaged_checkpoint_record(void **state);
void test_log_short_sealed_segment(void **state);

/* test_check.c */
void test_check_clean(void **state);
void test_check_flipped_byte(void **state);
void test_check_forged_edit(void **state);
void test_check_deleted_entry(void **state);
void test_check_swapped_entries(void **state);
void test_check_inserted_entry(void **state);
void test_check_truncated_tail(void **state);
void test_check_replaced_signature(void **state);
void test_check_wrong_origin(void **state);
void test_check_torn_tail_reported(void **state);
void test_check_stream(void **state);
void test_check_no_checkpoint(void **state);

#endif
