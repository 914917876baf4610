/*
 * store: durable state of the keeper — seal metadata, keys and their wrapped
 * versions, tokens (hashed) and ACL policies. sqlite.c is the embedded
 * backend (WAL, synchronous=FULL); a PostgreSQL backend implements the same
 * struct kw_store_ops later without touching the keeper.
 *
 * Runs only in the keeper. The store never sees a secret in the clear: key
 * versions arrive already wrapped under the root key, tokens as SHA-256
 * digests. It does not interpret blobs; integrity is the keeper's business
 * (the wrap's associated data binds name, type and version).
 *
 * Threads: one struct kw_store may be used from several keeper threads; the
 * backend serialises with its own lock. Every write is one transaction: it
 * happens whole or not at all.
 *
 * Errors: KW_ERR_NOT_FOUND, KW_ERR_EXISTS, KW_ERR_STORE (with a log line
 * naming the table and the backend's message, never a value).
 */
#ifndef KW_STORE_H
#define KW_STORE_H

#include "../common/common.h"

#define KW_ACCESSOR_BYTES 24
#define KW_TOKEN_HASH_BYTES 32

struct kw_store;

/* Key metadata: one row per key. */
struct kw_store_key {
	char name[KW_NAME_MAX + 1];
	int type; /* enum kw_key_type, stored as its number */
	uint32_t latest_version;
	uint32_t min_decryption_version;
	uint32_t min_encryption_version; /* 0 = latest */
	uint32_t min_available_version;
	bool exportable;
	bool deletion_allowed;
	bool allow_plaintext_backup;
	int64_t auto_rotate_period; /* seconds, 0 = off */
	int64_t created;            /* unix seconds */
};

/* One version of a key: material wrapped under the root key. */
struct kw_store_version {
	uint32_t version;
	int64_t created;
	uint8_t *wrapped; /* owned; freed by kw_store_versions_free */
	size_t wrapped_len;
};

/* A token, stored by the SHA-256 of its secret. */
struct kw_store_token {
	uint8_t hash[KW_TOKEN_HASH_BYTES];
	char accessor[2 * KW_ACCESSOR_BYTES + 1];
	char display_name[KW_NAME_MAX + 1];
	char *policies; /* comma-separated policy names, owned */
	char *meta;     /* JSON object text of identity metadata, owned, may be NULL */
	int64_t created;
	int64_t expires; /* unix seconds, 0 = never */
	int64_t ttl;     /* seconds it was created with, 0 = none */
};

/* Open "sqlite:/path/to/file.db" or a bare path (SQLite). Creates the
 * database and runs pending schema migrations. */
int kw_store_open(const char *url, struct kw_store **out) KW_MUST_CHECK;
void kw_store_close(struct kw_store *s);
/* The schema version after migrations (for tests and logs). */
int kw_store_schema_version(struct kw_store *s);

/* Small named values: seal configuration, wrapped root key, node id. */
int kw_store_meta_get(struct kw_store *s, const char *name, uint8_t **val,
		      size_t *len) KW_MUST_CHECK;
int kw_store_meta_put(struct kw_store *s, const char *name, const uint8_t *val,
		      size_t len) KW_MUST_CHECK;

/* Keys. create inserts the key and its first version in one transaction. */
int kw_store_key_create(struct kw_store *s, const struct kw_store_key *k,
			const struct kw_store_version *v) KW_MUST_CHECK;
int kw_store_key_load(struct kw_store *s, const char *name,
		      struct kw_store_key *out) KW_MUST_CHECK;
/* Update the metadata of an existing key (config). */
int kw_store_key_update(struct kw_store *s, const struct kw_store_key *k) KW_MUST_CHECK;
/* Rotate: update metadata (latest_version already bumped) and insert v, atomically. */
int kw_store_key_add_version(struct kw_store *s, const struct kw_store_key *k,
			     const struct kw_store_version *v) KW_MUST_CHECK;
/* Replace the metadata and every version's wrapped blob at once (the keeper
 * wraps again when the associated data changes, e.g. exportable cleared).
 * vs must name exactly the key's existing versions. */
int kw_store_key_rewrap(struct kw_store *s, const struct kw_store_key *k,
			const struct kw_store_version *vs, size_t n) KW_MUST_CHECK;
/* All versions of a key in ascending order; *vs malloc'd. */
int kw_store_key_versions(struct kw_store *s, const char *name, struct kw_store_version **vs,
			  size_t *n) KW_MUST_CHECK;
void kw_store_versions_free(struct kw_store_version *vs, size_t n);
/* Delete a key and all its versions. */
int kw_store_key_delete(struct kw_store *s, const char *name) KW_MUST_CHECK;
/* Names in ascending order; free with kw_store_names_free. */
int kw_store_key_list(struct kw_store *s, char ***names, size_t *n) KW_MUST_CHECK;
void kw_store_names_free(char **names, size_t n);

/* Tokens. */
int kw_store_token_put(struct kw_store *s, const struct kw_store_token *t) KW_MUST_CHECK;
int kw_store_token_get(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES],
		       struct kw_store_token *out) KW_MUST_CHECK;
int kw_store_token_get_by_accessor(struct kw_store *s, const char *accessor,
				   struct kw_store_token *out) KW_MUST_CHECK;
int kw_store_token_delete(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES]) KW_MUST_CHECK;
/* Remove tokens whose expires is set and <= now; returns the count via *n. */
int kw_store_token_purge_expired(struct kw_store *s, int64_t now, size_t *n) KW_MUST_CHECK;
void kw_store_token_cleanup(struct kw_store_token *t); /* frees owned strings */

/* ACL policies, stored as their JSON text. */
int kw_store_policy_put(struct kw_store *s, const char *name, const char *json) KW_MUST_CHECK;
int kw_store_policy_get(struct kw_store *s, const char *name, char **json) KW_MUST_CHECK;
int kw_store_policy_delete(struct kw_store *s, const char *name) KW_MUST_CHECK;
int kw_store_policy_list(struct kw_store *s, char ***names, size_t *n) KW_MUST_CHECK;

#endif
