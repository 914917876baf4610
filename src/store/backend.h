/*
 * backend.h: private to src/store. The vtable a storage backend fills in and
 * the head every backend's handle starts with.
 *
 * store.c checks arguments once for all backends, so a backend only ever
 * sees a non-NULL store, names that fit KW_NAME_MAX, NUL-terminated fixed
 * strings, versions >= 1 with a non-empty wrapped blob, auth texts within
 * their KW_STORE_AUTH_*_MAX and non-NULL out-parameters (revoked may be
 * NULL). A backend serialises its own callers (store.h: threads).
 */
#ifndef KW_STORE_BACKEND_H
#define KW_STORE_BACKEND_H

#include "store.h"

struct kw_store_ops;

/* A backend's handle embeds this as its first member and casts back. */
struct kw_store {
	const struct kw_store_ops *ops;
	int schema_version; /* set by the backend's open, after migrations */
};

struct kw_store_ops {
	int (*open)(const char *location, struct kw_store **out);
	void (*close)(struct kw_store *s);

	int (*meta_get)(struct kw_store *s, const char *name, uint8_t **val, size_t *len);
	int (*meta_put)(struct kw_store *s, const char *name, const uint8_t *val, size_t len);

	int (*key_create)(struct kw_store *s, const struct kw_store_key *k,
	                  const struct kw_store_version *v);
	int (*key_load)(struct kw_store *s, const char *name, struct kw_store_key *out);
	int (*key_update)(struct kw_store *s, const struct kw_store_key *k);
	int (*key_add_version)(struct kw_store *s, const struct kw_store_key *k,
	                       const struct kw_store_version *v);
	int (*key_rewrap)(struct kw_store *s, const struct kw_store_key *k,
	                  const struct kw_store_version *vs, size_t n);
	int (*key_versions)(struct kw_store *s, const char *name, struct kw_store_version **vs,
	                    size_t *n);
	int (*key_delete)(struct kw_store *s, const char *name);
	int (*key_list)(struct kw_store *s, char ***names, size_t *n);

	int (*object_put)(struct kw_store *s, const char *name, const uint8_t *blob, size_t len);
	int (*object_get)(struct kw_store *s, const char *name, uint8_t **blob, size_t *len);
	int (*object_delete)(struct kw_store *s, const char *name);
	int (*object_list)(struct kw_store *s, char ***names, size_t *n);

	int (*token_put)(struct kw_store *s, const struct kw_store_token *t);
	int (*token_get)(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES],
	                 struct kw_store_token *out);
	int (*token_get_by_accessor)(struct kw_store *s, const char *accessor,
	                             struct kw_store_token *out);
	int (*token_delete)(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES]);
	int (*token_purge_expired)(struct kw_store *s, int64_t now, size_t *n);

	int (*policy_put)(struct kw_store *s, const char *name, const char *json);
	int (*policy_get)(struct kw_store *s, const char *name, char **json);
	int (*policy_delete)(struct kw_store *s, const char *name);
	int (*policy_list)(struct kw_store *s, char ***names, size_t *n);

	int (*auth_mount_create)(struct kw_store *s, const struct kw_store_auth_mount *m);
	int (*auth_mount_load)(struct kw_store *s, const char *path,
	                       struct kw_store_auth_mount *out);
	int (*auth_mount_list)(struct kw_store *s, struct kw_store_auth_mount **ms, size_t *n);
	int (*auth_mount_config_put)(struct kw_store *s, const char *path, const char *json);
	int (*auth_mount_delete)(struct kw_store *s, const char *path, size_t *revoked);
	int (*auth_role_put)(struct kw_store *s, const char *mount, const char *name,
	                     const char *json);
	int (*auth_role_get)(struct kw_store *s, const char *mount, const char *name, char **json);
	int (*auth_role_delete)(struct kw_store *s, const char *mount, const char *name);
	int (*auth_role_list)(struct kw_store *s, const char *mount, char ***names, size_t *n);
	int (*auth_role_load_all)(struct kw_store *s, const char *mount,
	                          struct kw_store_auth_role **rs, size_t *n);
};

extern const struct kw_store_ops kw_store_sqlite_ops;

#endif
