/*
 * sqlite_int.h: what the SQLite backend's files share — the connection, the
 * prepared statements and the helpers that run them. Private to src/store.
 */
#ifndef KW_SQLITE_INT_H
#define KW_SQLITE_INT_H

#include <pthread.h>

#include <sqlite3.h>

#include "backend.h"

enum sq_stmt {
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_META_GET,
	SQ_META_PUT,
	SQ_KEY_INSERT,
	SQ_KEY_SELECT,
	SQ_KEY_UPDATE,
	SQ_KEY_DELETE,
	SQ_KEY_NAMES,
	SQ_VERSION_INSERT,
	SQ_VERSION_SELECT,
	SQ_VERSION_DELETE,
	SQ_VERSION_REWRAP,
	SQ_TOKEN_PUT,
	SQ_TOKEN_BY_HASH,
	SQ_TOKEN_BY_ACCESSOR,
	SQ_TOKEN_DELETE,
	SQ_TOKEN_PURGE,
	SQ_POLICY_PUT,
	SQ_POLICY_SELECT,
	SQ_POLICY_DELETE,
	SQ_POLICY_NAMES,
	SQ_MOUNT_INSERT,
	SQ_MOUNT_SELECT,
	SQ_MOUNT_ALL,
	SQ_MOUNT_CONFIG,
	SQ_MOUNT_DELETE,
	SQ_MOUNT_TOKENS_DELETE,
	SQ_MOUNT_ROLES_DELETE,
	SQ_ROLE_PUT,
	SQ_ROLE_SELECT,
	SQ_ROLE_DELETE,
	SQ_ROLE_NAMES,
	SQ_ROLE_ALL,
	SQ_OBJECT_PUT,
	SQ_OBJECT_SELECT,
	SQ_OBJECT_DELETE,
	SQ_OBJECT_NAMES,
	SQ_COUNT
};

struct sq_store {
	struct kw_store base; /* first, so the two pointers convert */
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *st[SQ_COUNT];
};

/* The store as the backend sees it (base is its first member). */
static inline struct sq_store *sq(struct kw_store *s)
{
	return (struct sq_store *)s;
}

/* sqlite.c: running statements and reading columns. */
int sq_begin(struct sq_store *q, const char *op);
int sq_bind_fail(struct sq_store *q, const char *op, enum sq_stmt id);
int sq_bind_str(sqlite3_stmt *st, int col, const char *s);
int sq_col_int(const char *op, sqlite3_stmt *st, int col, int64_t lo, int64_t hi, int64_t *out);
int sq_col_strdup(const char *op, sqlite3_stmt *st, int col, bool nullable, char **out);
int sq_col_text(const char *op, sqlite3_stmt *st, int col, char *buf, size_t cap);
int sq_collect_names(struct sq_store *q, const char *op, enum sq_stmt id, char ***names, size_t *n);
int sq_commit(struct sq_store *q, const char *op);
int sq_fail(struct sq_store *q, const char *op, enum sq_stmt id);
int sq_grow(void **arr, size_t *cap, size_t n, size_t elem);
void sq_reset(sqlite3_stmt *st);
void sq_rollback(struct sq_store *q, const char *op);
int sq_run(struct sq_store *q, const char *op, enum sq_stmt id);
int sq_run_name(struct sq_store *q, const char *op, enum sq_stmt id, const char *name);
/* sq_run_name for a statement that must change a row: KW_ERR_NOT_FOUND if
 * none did. */
int sq_change_name(struct sq_store *q, const char *op, enum sq_stmt id, const char *name);
/* Bind name and step to the one row the caller reads (then sq_reset):
 * KW_ERR_NOT_FOUND without one. Under q->lock. */
int sq_select_name(struct sq_store *q, const char *op, enum sq_stmt id, const char *name);
int sq_step(struct sq_store *q, const char *op, enum sq_stmt id);
int sq_step_one(struct sq_store *q, const char *op, enum sq_stmt id);

/* sqlite_auth.c: auth mounts and roles. */
int sq_auth_mount_create(struct kw_store *s, const struct kw_store_auth_mount *m);
int sq_auth_mount_load(struct kw_store *s, const char *path, struct kw_store_auth_mount *out);
int sq_auth_mount_list(struct kw_store *s, struct kw_store_auth_mount **ms, size_t *n);
int sq_auth_mount_config_put(struct kw_store *s, const char *path, const char *json);
int sq_auth_mount_delete(struct kw_store *s, const char *path, size_t *revoked);
int sq_auth_role_put(struct kw_store *s, const char *mount, const char *name, const char *json);
int sq_auth_role_get(struct kw_store *s, const char *mount, const char *name, char **json);
int sq_auth_role_delete(struct kw_store *s, const char *mount, const char *name);
int sq_auth_role_list(struct kw_store *s, const char *mount, char ***names, size_t *n);
int sq_auth_role_load_all(struct kw_store *s, const char *mount, struct kw_store_auth_role **rs,
                          size_t *n);

#endif
