/*
 * store: durable state of the keeper — seal metadata, keys and their wrapped
 * versions, tokens (hashed), ACL policies, and auth mounts with their
 * configuration and roles. sqlite.c is the embedded backend (WAL,
 * synchronous=FULL); a PostgreSQL backend implements the same struct
 * kw_store_ops later without touching the keeper.
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

#define KW_ACCESSOR_BYTES   24
#define KW_TOKEN_HASH_BYTES 32
/* A token's display name holds a login's caller id ("spiffe://td/ns/..."),
 * so it is longer than an object name. */
#define KW_STORE_DISPLAY_NAME_MAX 512
#define KW_STORE_AUTH_TYPE_MAX    31
#define KW_STORE_AUTH_DESC_MAX    1024
/* JSON texts: a config holds PEM keys and CA bundles, a role a few lists. */
#define KW_STORE_AUTH_CONFIG_MAX (1024 * 1024)
#define KW_STORE_AUTH_ROLE_MAX   (64 * 1024)
/* PKCS#11 CKA_ID of a key, and one stored PKCS#11 object (encoded by the
 * keeper; the store does not read it). */
#define KW_STORE_PKCS11_ID_MAX 64
#define KW_STORE_OBJECT_MAX    (96 * 1024)

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
	/* PKCS#11 CKA_ID, set at creation (0 bytes = none). The keeper binds
	 * it into the versions' associated data, so an edited column fails. */
	uint8_t pkcs11_id[KW_STORE_PKCS11_ID_MAX];
	size_t pkcs11_id_len;
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
	char display_name[KW_STORE_DISPLAY_NAME_MAX + 1];
	char *policies; /* comma-separated policy names, owned */
	char *meta;     /* JSON object text of identity metadata, owned, may be NULL */
	int64_t created;
	int64_t expires; /* unix seconds, 0 = never */
	int64_t ttl;     /* seconds it was created with, 0 = none */
	/* The auth mount that issued it ("" = none): disabling the mount
	 * deletes it. A mount that does not exist is refused (NOT_FOUND). */
	char mount[KW_NAME_MAX + 1];
};

/* An auth mount ("auth/<path>/..."). The store does not read the JSON. */
struct kw_store_auth_mount {
	char path[KW_NAME_MAX + 1];
	char type[KW_STORE_AUTH_TYPE_MAX + 1];
	char *description; /* owned; "" allowed, NULL writes "" */
	char *config;      /* JSON object text, owned; NULL writes "{}" */
	int64_t created;   /* unix seconds */
};

/* A role of a mount (a cert mount's "certs" entry too). */
struct kw_store_auth_role {
	char name[KW_NAME_MAX + 1];
	char *body; /* JSON object text, owned */
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
int kw_store_key_load(struct kw_store *s, const char *name, struct kw_store_key *out) KW_MUST_CHECK;
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

/* PKCS#11 objects (certificates, data objects) by name: an opaque blob of
 * at most KW_STORE_OBJECT_MAX bytes. put inserts or replaces. */
int kw_store_object_put(struct kw_store *s, const char *name, const uint8_t *blob,
                        size_t len) KW_MUST_CHECK;
int kw_store_object_get(struct kw_store *s, const char *name, uint8_t **blob,
                        size_t *len) KW_MUST_CHECK;
int kw_store_object_delete(struct kw_store *s, const char *name) KW_MUST_CHECK;
int kw_store_object_list(struct kw_store *s, char ***names, size_t *n) KW_MUST_CHECK;

/* Tokens. */
int kw_store_token_put(struct kw_store *s, const struct kw_store_token *t) KW_MUST_CHECK;
int kw_store_token_get(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES],
                       struct kw_store_token *out) KW_MUST_CHECK;
int kw_store_token_get_by_accessor(struct kw_store *s, const char *accessor,
                                   struct kw_store_token *out) KW_MUST_CHECK;
int kw_store_token_delete(struct kw_store *s,
                          const uint8_t hash[KW_TOKEN_HASH_BYTES]) KW_MUST_CHECK;
/* Remove tokens whose expires is set and <= now; returns the count via *n. */
int kw_store_token_purge_expired(struct kw_store *s, int64_t now, size_t *n) KW_MUST_CHECK;
void kw_store_token_cleanup(struct kw_store_token *t); /* frees owned strings */

/* ACL policies, stored as their JSON text. */
int kw_store_policy_put(struct kw_store *s, const char *name, const char *json) KW_MUST_CHECK;
int kw_store_policy_get(struct kw_store *s, const char *name, char **json) KW_MUST_CHECK;
int kw_store_policy_delete(struct kw_store *s, const char *name) KW_MUST_CHECK;
int kw_store_policy_list(struct kw_store *s, char ***names, size_t *n) KW_MUST_CHECK;

/*
 * Auth mounts and roles. Texts are bounded (KW_STORE_AUTH_*_MAX; longer is
 * KW_ERR_INVALID). create: KW_ERR_EXISTS if the path is taken. Role writes
 * on a mount that does not exist: KW_ERR_NOT_FOUND.
 */
int kw_store_auth_mount_create(struct kw_store *s,
                               const struct kw_store_auth_mount *m) KW_MUST_CHECK;
int kw_store_auth_mount_load(struct kw_store *s, const char *path,
                             struct kw_store_auth_mount *out) KW_MUST_CHECK;
/* Every mount in path order; free with kw_store_auth_mounts_free. */
int kw_store_auth_mount_list(struct kw_store *s, struct kw_store_auth_mount **ms,
                             size_t *n) KW_MUST_CHECK;
int kw_store_auth_mount_config_put(struct kw_store *s, const char *path,
                                   const char *json) KW_MUST_CHECK;
/* One transaction: the mount's roles, every token it issued, the mount.
 * *revoked (may be NULL) says how many tokens went. */
int kw_store_auth_mount_delete(struct kw_store *s, const char *path, size_t *revoked) KW_MUST_CHECK;
void kw_store_auth_mount_cleanup(struct kw_store_auth_mount *m); /* frees owned strings */
void kw_store_auth_mounts_free(struct kw_store_auth_mount *ms, size_t n);

int kw_store_auth_role_put(struct kw_store *s, const char *mount, const char *name,
                           const char *json) KW_MUST_CHECK;
int kw_store_auth_role_get(struct kw_store *s, const char *mount, const char *name,
                           char **json) KW_MUST_CHECK;
int kw_store_auth_role_delete(struct kw_store *s, const char *mount,
                              const char *name) KW_MUST_CHECK;
/* Names in ascending order (none for an unknown mount); kw_store_names_free. */
int kw_store_auth_role_list(struct kw_store *s, const char *mount, char ***names,
                            size_t *n) KW_MUST_CHECK;
/* Names and bodies in name order; free with kw_store_auth_roles_free. */
int kw_store_auth_role_load_all(struct kw_store *s, const char *mount,
                                struct kw_store_auth_role **rs, size_t *n) KW_MUST_CHECK;
void kw_store_auth_roles_free(struct kw_store_auth_role *rs, size_t n);

#endif
