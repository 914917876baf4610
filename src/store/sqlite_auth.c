/*
 * sqlite_auth.c: auth mounts and their roles in the SQLite backend. A
 * mount's roles go with it (ON DELETE CASCADE), and so do the tokens it
 * issued, in the same transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

/* ---- auth mounts and roles ----------------------------------------- */

static int sq_bind_mount(sqlite3_stmt *st, const struct kw_store_auth_mount *m)
{
	int rc = sq_bind_str(st, 1, m->path);

	rc |= sq_bind_str(st, 2, m->type);
	rc |= sq_bind_str(st, 3, m->description ? m->description : "");
	rc |= sq_bind_str(st, 4, m->config ? m->config : "{}");
	rc |= sqlite3_bind_int64(st, 5, m->created);
	return rc;
}

static int sq_read_mount(const char *op, sqlite3_stmt *st, struct kw_store_auth_mount *m)
{
	int64_t created;
	int ret;

	ret = sq_col_text(op, st, 0, m->path, sizeof(m->path));
	if (ret == 0)
		ret = sq_col_text(op, st, 1, m->type, sizeof(m->type));
	if (ret == 0)
		ret = sq_col_strdup(op, st, 2, false, &m->description);
	if (ret == 0)
		ret = sq_col_strdup(op, st, 3, false, &m->config);
	if (ret == 0)
		ret = sq_col_int(op, st, 4, INT64_MIN, INT64_MAX, &created);
	if (ret) {
		kw_store_auth_mount_cleanup(m);
		return ret;
	}
	m->created = created;
	return 0;
}

int sq_auth_mount_create(struct kw_store *s, const struct kw_store_auth_mount *m)
{
	static const char op[] = "auth_mount_create";
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sq_bind_mount(q->st[SQ_MOUNT_INSERT], m) != SQLITE_OK)
		ret = sq_bind_fail(q, op, SQ_MOUNT_INSERT);
	else
		ret = sq_run(q, op, SQ_MOUNT_INSERT);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int sq_auth_mount_load(struct kw_store *s, const char *path, struct kw_store_auth_mount *out)
{
	static const char op[] = "auth_mount_load";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_MOUNT_SELECT];
	struct kw_store_auth_mount m = {0};
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_select_name(q, op, SQ_MOUNT_SELECT, path);
	if (ret == 0)
		ret = sq_read_mount(op, st, &m);
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	if (ret == 0)
		*out = m;
	return ret;
}

int sq_auth_mount_list(struct kw_store *s, struct kw_store_auth_mount **ms, size_t *n)
{
	static const char op[] = "auth_mount_list";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_MOUNT_ALL];
	struct kw_store_auth_mount *arr = NULL;
	size_t cap = 0;
	size_t cnt = 0;
	int ret;

	pthread_mutex_lock(&q->lock);
	while ((ret = sq_step(q, op, SQ_MOUNT_ALL)) == 1) {
		ret = sq_grow((void **)&arr, &cap, cnt, sizeof(*arr));
		if (ret)
			break;
		memset(&arr[cnt], 0, sizeof(arr[cnt]));
		ret = sq_read_mount(op, st, &arr[cnt]);
		if (ret)
			break;
		cnt++;
	}
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	if (ret) {
		kw_store_auth_mounts_free(arr, cnt);
		return ret;
	}
	*ms = arr;
	*n = cnt;
	return 0;
}

int sq_auth_mount_config_put(struct kw_store *s, const char *path, const char *json)
{
	static const char op[] = "auth_mount_config_put";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_MOUNT_CONFIG];
	int rc;
	int ret;

	pthread_mutex_lock(&q->lock);
	rc = sq_bind_str(st, 1, path);
	rc |= sq_bind_str(st, 2, json);
	ret =
	    rc == SQLITE_OK ? sq_run(q, op, SQ_MOUNT_CONFIG) : sq_bind_fail(q, op, SQ_MOUNT_CONFIG);
	if (ret == 0 && sqlite3_changes(q->db) == 0)
		ret = KW_ERR_NOT_FOUND;
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* Roles and tokens go explicitly, not by cascade: the file may have been
 * edited by a client that does not enforce foreign keys. */
int sq_auth_mount_delete(struct kw_store *s, const char *path, size_t *revoked)
{
	static const char op[] = "auth_mount_delete";
	struct sq_store *q = sq(s);
	size_t tokens = 0;
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_begin(q, op);
	if (ret)
		goto out;
	ret = sq_run_name(q, op, SQ_MOUNT_ROLES_DELETE, path);
	if (ret)
		goto out;
	ret = sq_run_name(q, op, SQ_MOUNT_TOKENS_DELETE, path);
	if (ret)
		goto out;
	tokens = (size_t)sqlite3_changes(q->db);
	ret = sq_change_name(q, op, SQ_MOUNT_DELETE, path);
	if (ret)
		goto out;
	ret = sq_commit(q, op);
out:
	if (ret)
		sq_rollback(q, op);
	pthread_mutex_unlock(&q->lock);
	if (ret == 0)
		*revoked = tokens;
	return ret;
}

static int sq_bind_role_key(sqlite3_stmt *st, const char *mount, const char *name)
{
	return sq_bind_str(st, 1, mount) | sq_bind_str(st, 2, name);
}

int sq_auth_role_put(struct kw_store *s, const char *mount, const char *name, const char *json)
{
	static const char op[] = "auth_role_put";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_ROLE_PUT];
	int rc;
	int ret;

	pthread_mutex_lock(&q->lock);
	rc = sq_bind_role_key(st, mount, name);
	rc |= sq_bind_str(st, 3, json);
	ret = rc == SQLITE_OK ? sq_run(q, op, SQ_ROLE_PUT) : sq_bind_fail(q, op, SQ_ROLE_PUT);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int sq_auth_role_get(struct kw_store *s, const char *mount, const char *name, char **json)
{
	static const char op[] = "auth_role_get";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_ROLE_SELECT];
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sq_bind_role_key(st, mount, name) != SQLITE_OK)
		ret = sq_fail(q, op, SQ_ROLE_SELECT);
	else
		ret = sq_step_one(q, op, SQ_ROLE_SELECT);
	if (ret == 0)
		ret = sq_col_strdup(op, st, 0, false, json);
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int sq_auth_role_delete(struct kw_store *s, const char *mount, const char *name)
{
	static const char op[] = "auth_role_delete";
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sq_bind_role_key(q->st[SQ_ROLE_DELETE], mount, name) != SQLITE_OK)
		ret = sq_bind_fail(q, op, SQ_ROLE_DELETE);
	else
		ret = sq_run(q, op, SQ_ROLE_DELETE);
	if (ret == 0 && sqlite3_changes(q->db) == 0)
		ret = KW_ERR_NOT_FOUND;
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int sq_auth_role_list(struct kw_store *s, const char *mount, char ***names, size_t *n)
{
	static const char op[] = "auth_role_list";
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sq_bind_str(q->st[SQ_ROLE_NAMES], 1, mount) != SQLITE_OK)
		ret = sq_bind_fail(q, op, SQ_ROLE_NAMES);
	else
		ret = sq_collect_names(q, op, SQ_ROLE_NAMES, names, n);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_read_role(const char *op, sqlite3_stmt *st, struct kw_store_auth_role *r)
{
	int ret = sq_col_text(op, st, 0, r->name, sizeof(r->name));

	if (ret == 0)
		ret = sq_col_strdup(op, st, 1, false, &r->body);
	return ret;
}

int sq_auth_role_load_all(struct kw_store *s, const char *mount, struct kw_store_auth_role **rs,
                          size_t *n)
{
	static const char op[] = "auth_role_load_all";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_ROLE_ALL];
	struct kw_store_auth_role *arr = NULL;
	size_t cap = 0;
	size_t cnt = 0;
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sq_bind_str(st, 1, mount) != SQLITE_OK) {
		ret = sq_fail(q, op, SQ_ROLE_ALL);
		goto out;
	}
	while ((ret = sq_step(q, op, SQ_ROLE_ALL)) == 1) {
		ret = sq_grow((void **)&arr, &cap, cnt, sizeof(*arr));
		if (ret)
			goto out;
		memset(&arr[cnt], 0, sizeof(arr[cnt]));
		ret = sq_read_role(op, st, &arr[cnt]);
		if (ret)
			goto out;
		cnt++;
	}
out:
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	if (ret) {
		kw_store_auth_roles_free(arr, cnt);
		return ret;
	}
	*rs = arr;
	*n = cnt;
	return 0;
}
