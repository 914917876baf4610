/*
 * sqlite.c: the embedded SQLite backend of the store.
 *
 * One connection per store, guarded by one mutex: SQLite serialises writers
 * anyway, and holding our own lock keeps a multi-statement transaction and
 * the error message of its failure together. Statements are prepared once at
 * open and take values only as bound parameters.
 *
 * The schema is an ordered list of migrations; PRAGMA user_version counts
 * how many have been applied. A database from a newer keyward is refused
 * rather than guessed at.
 *
 * Log lines name the operation, the table and SQLite's message, never a
 * value: values are wrapped keys, token hashes, policy bodies and auth
 * configurations.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sqlite_int.h"

/* Long enough to ride out a checkpoint or an operator's sqlite3 session. */
#define SQ_BUSY_TIMEOUT_MS 5000

/*
 * Migration N (1-based) takes the schema from version N-1 to N. Append only:
 * never edit or reorder a step that has shipped.
 */
static const struct sq_migration {
	const char *what;
	const char *sql;
} sq_migrations[] = {
    {"create tables",
     "CREATE TABLE meta ("
     " name TEXT PRIMARY KEY NOT NULL,"
     " value BLOB NOT NULL);"
     "CREATE TABLE keys ("
     " name TEXT PRIMARY KEY NOT NULL,"
     " type INTEGER NOT NULL,"
     " latest_version INTEGER NOT NULL,"
     " min_decryption_version INTEGER NOT NULL,"
     " min_encryption_version INTEGER NOT NULL,"
     " min_available_version INTEGER NOT NULL,"
     " exportable INTEGER NOT NULL CHECK (exportable IN (0, 1)),"
     " deletion_allowed INTEGER NOT NULL CHECK (deletion_allowed IN (0, 1)),"
     " allow_plaintext_backup INTEGER NOT NULL CHECK (allow_plaintext_backup IN (0, 1)),"
     " auto_rotate_period INTEGER NOT NULL,"
     " created INTEGER NOT NULL);"
     "CREATE TABLE key_versions ("
     " name TEXT NOT NULL REFERENCES keys (name) ON DELETE CASCADE,"
     " version INTEGER NOT NULL CHECK (version >= 1),"
     " created INTEGER NOT NULL,"
     " wrapped BLOB NOT NULL,"
     " PRIMARY KEY (name, version));"
     "CREATE TABLE tokens ("
     " hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),"
     " accessor TEXT UNIQUE NOT NULL,"
     " display_name TEXT NOT NULL,"
     " policies TEXT NOT NULL,"
     " meta TEXT,"
     " created INTEGER NOT NULL,"
     " expires INTEGER NOT NULL,"
     " ttl INTEGER NOT NULL);"
     "CREATE TABLE policies ("
     " name TEXT PRIMARY KEY NOT NULL,"
     " body TEXT NOT NULL);"},
    /* Purging runs often; only tokens that can expire are worth indexing. */
    {"index tokens by expiry",
     "CREATE INDEX tokens_by_expiry ON tokens (expires) WHERE expires > 0;"},
    /* A token names the mount that issued it, so that disabling the mount
     * revokes them all; the reference also refuses a token for a mount
     * disabled while its login was running. */
    {"auth mounts and roles",
     "CREATE TABLE auth_mounts ("
     " path TEXT PRIMARY KEY NOT NULL,"
     " type TEXT NOT NULL,"
     " description TEXT NOT NULL,"
     " config TEXT NOT NULL,"
     " created INTEGER NOT NULL);"
     "CREATE TABLE auth_roles ("
     " mount TEXT NOT NULL REFERENCES auth_mounts (path) ON DELETE CASCADE,"
     " name TEXT NOT NULL,"
     " body TEXT NOT NULL,"
     " PRIMARY KEY (mount, name));"
     "ALTER TABLE tokens ADD COLUMN mount TEXT REFERENCES auth_mounts (path);"
     "CREATE INDEX tokens_by_mount ON tokens (mount) WHERE mount IS NOT NULL;"},
    /* PKCS#11: a key's CKA_ID, and the public objects (certificates, data)
     * stored next to keys. */
    {"pkcs11 key ids and objects",
     "ALTER TABLE keys ADD COLUMN pkcs11_id BLOB CHECK (length(pkcs11_id) <= 64);"
     "CREATE TABLE p11_objects ("
     " name TEXT PRIMARY KEY NOT NULL,"
     " body BLOB NOT NULL);"},
};

#define SQ_SCHEMA_LATEST ((int)KW_ARRAY_LEN(sq_migrations))

/* Column order is what sq_bind_key and sq_read_key rely on. */
#define SQ_KEY_COLS                                                                                \
	"name, type, latest_version, min_decryption_version, min_encryption_version,"              \
	" min_available_version, exportable, deletion_allowed, allow_plaintext_backup,"            \
	" auto_rotate_period, created, pkcs11_id"
#define SQ_TOKEN_COLS "hash, accessor, display_name, policies, meta, created, expires, ttl, mount"
#define SQ_MOUNT_COLS "path, type, description, config, created"

static const struct sq_sql {
	const char *what; /* names the table in log lines */
	const char *sql;
} sq_sql[SQ_COUNT] = {
    [SQ_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [SQ_COMMIT] = {"commit", "COMMIT"},
    [SQ_ROLLBACK] = {"rollback", "ROLLBACK"},
    [SQ_META_GET] = {"select from meta", "SELECT value FROM meta WHERE name = ?1"},
    [SQ_META_PUT] = {"write meta", "INSERT INTO meta (name, value) VALUES (?1, ?2)"
                                   " ON CONFLICT (name) DO UPDATE SET value = excluded.value"},
    [SQ_KEY_INSERT] = {"insert into keys",
                       "INSERT INTO keys (" SQ_KEY_COLS ")"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
    [SQ_KEY_SELECT] = {"select from keys", "SELECT " SQ_KEY_COLS " FROM keys WHERE name = ?1"},
    [SQ_KEY_UPDATE] = {"update keys",
                       "UPDATE keys SET type = ?2, latest_version = ?3,"
                       " min_decryption_version = ?4, min_encryption_version = ?5,"
                       " min_available_version = ?6, exportable = ?7, deletion_allowed = ?8,"
                       " allow_plaintext_backup = ?9, auto_rotate_period = ?10, created = ?11,"
                       " pkcs11_id = ?12"
                       " WHERE name = ?1"},
    [SQ_KEY_DELETE] = {"delete from keys", "DELETE FROM keys WHERE name = ?1"},
    [SQ_KEY_NAMES] = {"list keys", "SELECT name FROM keys ORDER BY name"},
    [SQ_VERSION_INSERT] = {"insert into key_versions",
                           "INSERT INTO key_versions (name, version, created, wrapped)"
                           " VALUES (?1, ?2, ?3, ?4)"},
    [SQ_VERSION_SELECT] = {"select from key_versions",
                           "SELECT version, created, wrapped FROM key_versions"
                           " WHERE name = ?1 ORDER BY version"},
    [SQ_VERSION_DELETE] = {"delete from key_versions", "DELETE FROM key_versions WHERE name = ?1"},
    [SQ_VERSION_REWRAP] = {"update key_versions",
                           "UPDATE key_versions SET wrapped = ?3 WHERE name = ?1 AND version = ?2"},
    [SQ_TOKEN_PUT] = {"write tokens",
                      "INSERT INTO tokens (" SQ_TOKEN_COLS ")"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                      " ON CONFLICT (hash) DO UPDATE SET accessor = excluded.accessor,"
                      " display_name = excluded.display_name, policies = excluded.policies,"
                      " meta = excluded.meta, created = excluded.created,"
                      " expires = excluded.expires, ttl = excluded.ttl,"
                      " mount = excluded.mount"},
    [SQ_TOKEN_BY_HASH] = {"select from tokens",
                          "SELECT " SQ_TOKEN_COLS " FROM tokens WHERE hash = ?1"},
    [SQ_TOKEN_BY_ACCESSOR] = {"select from tokens",
                              "SELECT " SQ_TOKEN_COLS " FROM tokens WHERE accessor = ?1"},
    [SQ_TOKEN_DELETE] = {"delete from tokens", "DELETE FROM tokens WHERE hash = ?1"},
    [SQ_TOKEN_PURGE] = {"purge tokens", "DELETE FROM tokens WHERE expires > 0 AND expires <= ?1"},
    [SQ_POLICY_PUT] = {"write policies", "INSERT INTO policies (name, body) VALUES (?1, ?2)"
                                         " ON CONFLICT (name) DO UPDATE SET body = excluded.body"},
    [SQ_POLICY_SELECT] = {"select from policies", "SELECT body FROM policies WHERE name = ?1"},
    [SQ_POLICY_DELETE] = {"delete from policies", "DELETE FROM policies WHERE name = ?1"},
    [SQ_POLICY_NAMES] = {"list policies", "SELECT name FROM policies ORDER BY name"},
    [SQ_MOUNT_INSERT] = {"insert into auth_mounts",
                         "INSERT INTO auth_mounts (" SQ_MOUNT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)"},
    [SQ_MOUNT_SELECT] = {"select from auth_mounts",
                         "SELECT " SQ_MOUNT_COLS " FROM auth_mounts WHERE path = ?1"},
    [SQ_MOUNT_ALL] = {"list auth_mounts",
                      "SELECT " SQ_MOUNT_COLS " FROM auth_mounts ORDER BY path"},
    [SQ_MOUNT_CONFIG] = {"update auth_mounts",
                         "UPDATE auth_mounts SET config = ?2 WHERE path = ?1"},
    [SQ_MOUNT_DELETE] = {"delete from auth_mounts", "DELETE FROM auth_mounts WHERE path = ?1"},
    [SQ_MOUNT_TOKENS_DELETE] = {"delete from tokens", "DELETE FROM tokens WHERE mount = ?1"},
    [SQ_MOUNT_ROLES_DELETE] = {"delete from auth_roles", "DELETE FROM auth_roles WHERE mount = ?1"},
    [SQ_ROLE_PUT] = {"write auth_roles", "INSERT INTO auth_roles (mount, name, body)"
                                         " VALUES (?1, ?2, ?3) ON CONFLICT (mount, name)"
                                         " DO UPDATE SET body = excluded.body"},
    [SQ_ROLE_SELECT] = {"select from auth_roles",
                        "SELECT body FROM auth_roles WHERE mount = ?1 AND name = ?2"},
    [SQ_ROLE_DELETE] = {"delete from auth_roles",
                        "DELETE FROM auth_roles WHERE mount = ?1 AND name = ?2"},
    [SQ_ROLE_NAMES] = {"list auth_roles",
                       "SELECT name FROM auth_roles WHERE mount = ?1 ORDER BY name"},
    [SQ_ROLE_ALL] = {"select from auth_roles",
                     "SELECT name, body FROM auth_roles WHERE mount = ?1 ORDER BY name"},
    [SQ_OBJECT_PUT] = {"write p11_objects",
                       "INSERT INTO p11_objects (name, body) VALUES (?1, ?2)"
                       " ON CONFLICT (name) DO UPDATE SET body = excluded.body"},
    [SQ_OBJECT_SELECT] = {"select from p11_objects",
                          "SELECT body FROM p11_objects WHERE name = ?1"},
    [SQ_OBJECT_DELETE] = {"delete from p11_objects", "DELETE FROM p11_objects WHERE name = ?1"},
    [SQ_OBJECT_NAMES] = {"list p11_objects", "SELECT name FROM p11_objects ORDER BY name"},
};

/* ---- errors ---------------------------------------------------------- */

int sq_fail(struct sq_store *q, const char *op, enum sq_stmt id)
{
	kw_error("store: %s: %s: %s", op, sq_sql[id].what, sqlite3_errmsg(q->db));
	return KW_ERR_STORE;
}

/* A stored value we would not have written: someone edited or broke the file. */
static int sq_bad_column(const char *op, sqlite3_stmt *st, int col)
{
	kw_error("store: %s: column %s holds an unexpected value", op,
	         sqlite3_column_name(st, col));
	return KW_ERR_STORE;
}

static const char *sq_strerror(int err, char *buf, size_t len)
{
	return strerror_r(err, buf, len);
}

/* ---- statements ------------------------------------------------------ */

/* Ready for the next use; drops pointers to the caller's bound buffers. */
void sq_reset(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* A statement returning no rows. Uniqueness violations are the caller's
 * EXISTS; a reference to a row that is not there (a role or token of a
 * mount that is gone) is NOT_FOUND. */
int sq_run(struct sq_store *q, const char *op, enum sq_stmt id)
{
	int rc = sqlite3_step(q->st[id]);
	int ret = 0;

	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
		ret = KW_ERR_EXISTS;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		ret = KW_ERR_NOT_FOUND;
	else if (rc != SQLITE_DONE)
		ret = sq_fail(q, op, id);
	sq_reset(q->st[id]);
	return ret;
}

/* 1 with a row ready, 0 when done, or an error. Does not reset. */
int sq_step(struct sq_store *q, const char *op, enum sq_stmt id)
{
	int rc = sqlite3_step(q->st[id]);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(q, op, id);
}

/* The single row a lookup by primary key finds, or KW_ERR_NOT_FOUND. */
int sq_step_one(struct sq_store *q, const char *op, enum sq_stmt id)
{
	int ret = sq_step(q, op, id);

	if (ret == 0)
		return KW_ERR_NOT_FOUND;
	return ret < 0 ? ret : 0;
}

int sq_bind_fail(struct sq_store *q, const char *op, enum sq_stmt id)
{
	int ret = sq_fail(q, op, id);

	sq_reset(q->st[id]);
	return ret;
}

int sq_bind_str(sqlite3_stmt *st, int col, const char *s)
{
	return sqlite3_bind_text64(st, col, s, strlen(s), SQLITE_STATIC, SQLITE_UTF8);
}

/* Runs a statement whose only parameter is a name: deletes, mostly. */
int sq_run_name(struct sq_store *q, const char *op, enum sq_stmt id, const char *name)
{
	if (sq_bind_str(q->st[id], 1, name) != SQLITE_OK)
		return sq_bind_fail(q, op, id);
	return sq_run(q, op, id);
}

int sq_change_name(struct sq_store *q, const char *op, enum sq_stmt id, const char *name)
{
	int ret = sq_run_name(q, op, id, name);

	return ret == 0 && sqlite3_changes(q->db) == 0 ? KW_ERR_NOT_FOUND : ret;
}

int sq_select_name(struct sq_store *q, const char *op, enum sq_stmt id, const char *name)
{
	if (sq_bind_str(q->st[id], 1, name) != SQLITE_OK)
		return sq_fail(q, op, id);
	return sq_step_one(q, op, id);
}

int sq_begin(struct sq_store *q, const char *op)
{
	return sq_run(q, op, SQ_BEGIN);
}

int sq_commit(struct sq_store *q, const char *op)
{
	return sq_run(q, op, SQ_COMMIT);
}

/* SQLite rolls back by itself after some errors (full disk, I/O); only
 * roll back what is still open. */
void sq_rollback(struct sq_store *q, const char *op)
{
	if (!sqlite3_get_autocommit(q->db))
		(void)sq_run(q, op, SQ_ROLLBACK);
}

/* ---- columns --------------------------------------------------------- */

int sq_col_int(const char *op, sqlite3_stmt *st, int col, int64_t lo, int64_t hi, int64_t *out)
{
	int64_t v;

	if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
		return sq_bad_column(op, st, col);
	v = sqlite3_column_int64(st, col);
	if (v < lo || v > hi)
		return sq_bad_column(op, st, col);
	*out = v;
	return 0;
}

/* Text into a fixed array; too long or with an embedded NUL is corruption. */
int sq_col_text(const char *op, sqlite3_stmt *st, int col, char *buf, size_t cap)
{
	const char *p;
	size_t n;

	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return sq_bad_column(op, st, col);
	p = (const char *)sqlite3_column_text(st, col);
	if (p == NULL)
		return KW_ERR_NOMEM;
	n = (size_t)sqlite3_column_bytes(st, col);
	if (n >= cap || strlen(p) != n)
		return sq_bad_column(op, st, col);
	memcpy(buf, p, n + 1);
	return 0;
}

int sq_col_strdup(const char *op, sqlite3_stmt *st, int col, bool nullable, char **out)
{
	const char *p;
	char *s;
	size_t n;

	if (nullable && sqlite3_column_type(st, col) == SQLITE_NULL) {
		*out = NULL;
		return 0;
	}
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return sq_bad_column(op, st, col);
	p = (const char *)sqlite3_column_text(st, col);
	if (p == NULL)
		return KW_ERR_NOMEM;
	n = (size_t)sqlite3_column_bytes(st, col);
	if (strlen(p) != n)
		return sq_bad_column(op, st, col);
	s = malloc(n + 1);
	if (s == NULL)
		return KW_ERR_NOMEM;
	memcpy(s, p, n + 1);
	*out = s;
	return 0;
}

/* A malloc'd copy; an empty blob still gets a non-NULL pointer. */
static int sq_col_blob(const char *op, sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
	const void *p;
	uint8_t *b;
	size_t n;

	if (sqlite3_column_type(st, col) != SQLITE_BLOB)
		return sq_bad_column(op, st, col);
	p = sqlite3_column_blob(st, col);
	n = (size_t)sqlite3_column_bytes(st, col);
	if (p == NULL && n > 0)
		return KW_ERR_NOMEM;
	b = malloc(n > 0 ? n : 1);
	if (b == NULL)
		return KW_ERR_NOMEM;
	if (n > 0)
		memcpy(b, p, n);
	*out = b;
	*len = n;
	return 0;
}

/* Room for one more element in a growing result array. */
int sq_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	p = reallocarray(*arr, ncap, elem);
	if (p == NULL)
		return KW_ERR_NOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* ---- opening: file, connection, settings, schema --------------------- */

static int sq_sync_dir(const char *path)
{
	char *copy = kw_strdup(path);
	char ebuf[128];
	int ret = 0;
	int fd;

	if (copy == NULL)
		return KW_ERR_NOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* Some file systems cannot fsync a directory; that is not our failure. */
	if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
		kw_error("store: cannot sync the directory of %s: %s", path,
		         sq_strerror(errno, ebuf, sizeof(ebuf)));
		ret = KW_ERR_STORE;
	}
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

/*
 * Create the database file ourselves so that it is born 0600: SQLite would
 * create it with 0644 less the umask. SQLite gives the -wal and -shm files
 * the mode of the database file. Opening read-write here also refuses a
 * read-only file, which SQLite would otherwise open read-only in silence.
 */
static int sq_create_file(const char *path)
{
	char ebuf[128];
	bool created = true;
	struct stat sb;
	int ret = 0;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0) {
		kw_error("store: cannot open %s for writing: %s", path,
		         sq_strerror(errno, ebuf, sizeof(ebuf)));
		return KW_ERR_STORE;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		kw_error("store: %s is not a regular file", path);
		ret = KW_ERR_STORE;
		goto out;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO))
		kw_warn("store: %s is accessible to group or others (mode %03o); use 0600", path,
		        (unsigned)(sb.st_mode & 0777));
	if (created && fsync(fd) != 0) {
		kw_error("store: cannot sync %s: %s", path, sq_strerror(errno, ebuf, sizeof(ebuf)));
		ret = KW_ERR_STORE;
		goto out;
	}
	if (created)
		ret = sq_sync_dir(path);
out:
	close(fd);
	return ret;
}

static int sq_connect(struct sq_store *q, const char *path)
{
	int rc;

	/* No SQLITE_OPEN_CREATE: sq_create_file made the file with its mode. */
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		kw_error("store: cannot open %s: %s", path,
		         q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		return KW_ERR_STORE;
	}
	if (sqlite3_db_readonly(q->db, "main") != 0) {
		kw_error("store: %s can only be opened read-only", path);
		return KW_ERR_STORE;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, SQ_BUSY_TIMEOUT_MS);
	/* Refuse SQL that could corrupt the file even if it ever reached us. */
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	return 0;
}

static int sq_exec_sql(struct sq_store *q, const char *path, const char *sql)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		kw_error("store: %s: %s: %s", path, sql, sqlite3_errmsg(q->db));
		return KW_ERR_STORE;
	}
	return 0;
}

/* The first column of the first row of a fixed query (a PRAGMA). */
static int sq_query(struct sq_store *q, const char *path, const char *sql, int64_t *ival,
                    char *tval, size_t tcap)
{
	sqlite3_stmt *st = NULL;
	const char *t;
	int ret = 0;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		kw_error("store: %s: %s: %s", path, sql, sqlite3_errmsg(q->db));
		ret = KW_ERR_STORE;
		goto out;
	}
	if (ival != NULL)
		*ival = sqlite3_column_int64(st, 0);
	if (tval != NULL) {
		t = (const char *)sqlite3_column_text(st, 0);
		snprintf(tval, tcap, "%s", t ? t : "");
	}
out:
	sqlite3_finalize(st);
	return ret;
}

/*
 * FULL: a commit is on disk when it returns, WAL or not. secure_delete
 * overwrites deleted rows (token hashes) instead of leaving them in free
 * pages. cell_size_check turns more corruption into errors early.
 */
static const char *const sq_settings[] = {
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA secure_delete = ON",
    "PRAGMA cell_size_check = ON",
};

static int sq_configure(struct sq_store *q, const char *path)
{
	char mode[16];
	int64_t fk;
	int ret;

	for (size_t i = 0; i < KW_ARRAY_LEN(sq_settings); i++) {
		ret = sq_exec_sql(q, path, sq_settings[i]);
		if (ret)
			return ret;
	}
	ret = sq_query(q, path, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
	if (ret)
		return ret;
	if (strcasecmp(mode, "wal") != 0) {
		kw_error("store: %s: cannot use write-ahead logging (journal mode %s)", path, mode);
		return KW_ERR_STORE;
	}
	/* The pragma is silently ignored by a SQLite built without foreign keys. */
	ret = sq_query(q, path, "PRAGMA foreign_keys", &fk, NULL, 0);
	if (ret)
		return ret;
	if (fk != 1) {
		kw_error("store: %s: this SQLite does not enforce foreign keys", path);
		return KW_ERR_STORE;
	}
	return 0;
}

static int sq_migrate_step(struct sq_store *q, const char *path, int to)
{
	const struct sq_migration *m = &sq_migrations[to - 1];
	char set_version[48];
	bool failed;

	snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", to);
	failed = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	         sqlite3_exec(q->db, m->sql, NULL, NULL, NULL) != SQLITE_OK ||
	         sqlite3_exec(q->db, set_version, NULL, NULL, NULL) != SQLITE_OK ||
	         sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK;
	if (!failed)
		return 0;
	kw_error("store: %s: migrating to schema version %d (%s) failed: %s", path, to, m->what,
	         sqlite3_errmsg(q->db));
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return KW_ERR_STORE;
}

/* Version 0 is a new file only if it is empty: never add our tables to
 * somebody else's database. */
static int sq_check_fresh(struct sq_store *q, const char *path)
{
	int64_t objects;
	int ret;

	ret = sq_query(q, path, "SELECT count(*) FROM sqlite_master", &objects, NULL, 0);
	if (ret)
		return ret;
	if (objects != 0) {
		kw_error("store: %s is not a keyward database (tables but no schema version)",
		         path);
		return KW_ERR_STORE;
	}
	return 0;
}

static int sq_check_integrity(struct sq_store *q, const char *path)
{
	char result[256];
	int ret;

	/* O(size of the file) once per start; finds damaged pages
	 * before a request does. */
	ret = sq_query(q, path, "PRAGMA quick_check(1)", NULL, result, sizeof(result));
	if (ret)
		return ret;
	if (strcmp(result, "ok") != 0) {
		for (char *c = result; *c != '\0'; c++)
			if (*c == '\n')
				*c = ' '; /* one event, one log line */
		kw_error("store: %s failed its integrity check: %s", path, result);
		return KW_ERR_STORE;
	}
	return 0;
}

static int sq_migrate(struct sq_store *q, const char *path)
{
	int64_t version;
	int ret;

	ret = sq_query(q, path, "PRAGMA user_version", &version, NULL, 0);
	if (ret)
		return ret;
	if (version > SQ_SCHEMA_LATEST || version < 0) {
		kw_error("store: %s has schema version %lld but this keyward knows only up to %d;"
		         " refusing to open it (was it written by a newer keyward?)",
		         path, (long long)version, SQ_SCHEMA_LATEST);
		return KW_ERR_STORE;
	}
	if (version == 0)
		ret = sq_check_fresh(q, path);
	if (ret == 0)
		ret = sq_check_integrity(q, path);
	for (int v = (int)version + 1; ret == 0 && v <= SQ_SCHEMA_LATEST; v++) {
		ret = sq_migrate_step(q, path, v);
		if (ret == 0)
			kw_info("store: %s: migrated to schema version %d (%s)", path, v,
			        sq_migrations[v - 1].what);
	}
	if (ret == 0)
		q->base.schema_version = SQ_SCHEMA_LATEST;
	return ret;
}

static int sq_prepare_all(struct sq_store *q, const char *path)
{
	for (int i = 0; i < SQ_COUNT; i++) {
		if (sqlite3_prepare_v3(q->db, sq_sql[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
		                       &q->st[i], NULL) != SQLITE_OK) {
			kw_error("store: %s: preparing %s: %s", path, sq_sql[i].what,
			         sqlite3_errmsg(q->db));
			return KW_ERR_STORE;
		}
	}
	return 0;
}

static void sq_close(struct kw_store *s)
{
	struct sq_store *q = sq(s);

	for (int i = 0; i < SQ_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	if (q->db != NULL && sqlite3_close(q->db) != SQLITE_OK)
		kw_error("store: closing the database: %s", sqlite3_errmsg(q->db));
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static int sq_open(const char *path, struct kw_store **out)
{
	struct sq_store *q;
	int ret;

	/* SQLite would open it in memory: keys that vanish at exit. */
	if (strcmp(path, ":memory:") == 0) {
		kw_error("store: an in-memory database cannot hold keys; name a file");
		return KW_ERR_INVALID;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return KW_ERR_NOMEM;
	if (pthread_mutex_init(&q->lock, NULL) != 0) {
		free(q);
		return KW_ERR_NOMEM;
	}
	q->base.ops = &kw_store_sqlite_ops;
	ret = sq_create_file(path);
	if (ret)
		goto out;
	ret = sq_connect(q, path);
	if (ret)
		goto out;
	ret = sq_configure(q, path);
	if (ret)
		goto out;
	ret = sq_migrate(q, path);
	if (ret)
		goto out;
	ret = sq_prepare_all(q, path);
	if (ret)
		goto out;
	kw_info("store: opened %s (sqlite, schema version %d)", path, q->base.schema_version);
	*out = &q->base;
out:
	if (ret)
		sq_close(&q->base);
	return ret;
}

/* ---- meta ------------------------------------------------------------ */

static int sq_meta_get(struct kw_store *s, const char *name, uint8_t **val, size_t *len)
{
	static const char op[] = "meta_get";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_META_GET];
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_select_name(q, op, SQ_META_GET, name);
	if (ret == 0)
		ret = sq_col_blob(op, st, 0, val, len);
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_meta_put(struct kw_store *s, const char *name, const uint8_t *val, size_t len)
{
	static const char op[] = "meta_put";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_META_PUT];
	int rc;
	int ret;

	pthread_mutex_lock(&q->lock);
	/* A non-NULL pointer with length 0 binds an empty blob, not NULL. */
	rc = sq_bind_str(st, 1, name);
	rc |= sqlite3_bind_blob64(st, 2, val ? (const void *)val : "", len, SQLITE_STATIC);
	ret = rc == SQLITE_OK ? sq_run(q, op, SQ_META_PUT) : sq_bind_fail(q, op, SQ_META_PUT);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* ---- keys ------------------------------------------------------------ */

/* Readable range of keys columns 1.. (column 0 is the name); see SQ_KEY_COLS. */
static const struct sq_range {
	int64_t lo, hi;
} sq_key_ranges[] = {
    {INT_MIN, INT_MAX},
    {0, UINT32_MAX},
    {0, UINT32_MAX},
    {0, UINT32_MAX},
    {0, UINT32_MAX},
    {0, 1},
    {0, 1},
    {0, 1},
    {INT64_MIN, INT64_MAX},
    {INT64_MIN, INT64_MAX},
};

/* Binds ?1..?11 in SQ_KEY_COLS order; the OR of the codes is SQLITE_OK only
 * if every bind succeeded. */
static int sq_bind_key(sqlite3_stmt *st, const struct kw_store_key *k)
{
	int rc = sq_bind_str(st, 1, k->name);

	rc |= sqlite3_bind_int(st, 2, k->type);
	rc |= sqlite3_bind_int64(st, 3, k->latest_version);
	rc |= sqlite3_bind_int64(st, 4, k->min_decryption_version);
	rc |= sqlite3_bind_int64(st, 5, k->min_encryption_version);
	rc |= sqlite3_bind_int64(st, 6, k->min_available_version);
	rc |= sqlite3_bind_int(st, 7, k->exportable);
	rc |= sqlite3_bind_int(st, 8, k->deletion_allowed);
	rc |= sqlite3_bind_int(st, 9, k->allow_plaintext_backup);
	rc |= sqlite3_bind_int64(st, 10, k->auto_rotate_period);
	rc |= sqlite3_bind_int64(st, 11, k->created);
	if (k->pkcs11_id_len > 0)
		rc |= sqlite3_bind_blob64(st, 12, k->pkcs11_id, k->pkcs11_id_len, SQLITE_STATIC);
	else
		rc |= sqlite3_bind_null(st, 12);
	return rc;
}

/* The optional CKA_ID column: NULL for none. */
static int sq_read_pkcs11_id(const char *op, sqlite3_stmt *st, size_t col, struct kw_store_key *k)
{
	const void *p;
	size_t n;

	k->pkcs11_id_len = 0;
	if (sqlite3_column_type(st, (int)col) == SQLITE_NULL)
		return 0;
	if (sqlite3_column_type(st, (int)col) != SQLITE_BLOB)
		return sq_bad_column(op, st, (int)col);
	p = sqlite3_column_blob(st, (int)col);
	n = (size_t)sqlite3_column_bytes(st, (int)col);
	if (n > sizeof(k->pkcs11_id) || (p == NULL && n > 0))
		return sq_bad_column(op, st, (int)col);
	if (n > 0)
		memcpy(k->pkcs11_id, p, n);
	k->pkcs11_id_len = n;
	return 0;
}

static int sq_read_key(const char *op, sqlite3_stmt *st, struct kw_store_key *k)
{
	int64_t v[KW_ARRAY_LEN(sq_key_ranges) + 1];
	int ret;

	ret = sq_col_text(op, st, 0, k->name, sizeof(k->name));
	for (size_t i = 1; ret == 0 && i < KW_ARRAY_LEN(v); i++)
		ret = sq_col_int(op, st, (int)i, sq_key_ranges[i - 1].lo, sq_key_ranges[i - 1].hi,
		                 &v[i]);
	if (ret)
		return ret;
	k->type = (int)v[1];
	k->latest_version = (uint32_t)v[2];
	k->min_decryption_version = (uint32_t)v[3];
	k->min_encryption_version = (uint32_t)v[4];
	k->min_available_version = (uint32_t)v[5];
	k->exportable = v[6] != 0;
	k->deletion_allowed = v[7] != 0;
	k->allow_plaintext_backup = v[8] != 0;
	k->auto_rotate_period = v[9];
	k->created = v[10];
	return sq_read_pkcs11_id(op, st, KW_ARRAY_LEN(v), k);
}

static int sq_key_write(struct sq_store *q, const char *op, enum sq_stmt id,
                        const struct kw_store_key *k)
{
	if (sq_bind_key(q->st[id], k) != SQLITE_OK)
		return sq_bind_fail(q, op, id);
	return sq_run(q, op, id);
}

static int sq_key_update_row(struct sq_store *q, const char *op, const struct kw_store_key *k)
{
	int ret = sq_key_write(q, op, SQ_KEY_UPDATE, k);

	if (ret == 0 && sqlite3_changes(q->db) == 0)
		ret = KW_ERR_NOT_FOUND;
	return ret;
}

static int sq_version_insert(struct sq_store *q, const char *op, const char *name,
                             const struct kw_store_version *v)
{
	sqlite3_stmt *st = q->st[SQ_VERSION_INSERT];
	int rc;

	rc = sq_bind_str(st, 1, name);
	rc |= sqlite3_bind_int64(st, 2, v->version);
	rc |= sqlite3_bind_int64(st, 3, v->created);
	rc |= sqlite3_bind_blob64(st, 4, v->wrapped, v->wrapped_len, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return sq_bind_fail(q, op, SQ_VERSION_INSERT);
	return sq_run(q, op, SQ_VERSION_INSERT);
}

static int sq_key_create(struct kw_store *s, const struct kw_store_key *k,
                         const struct kw_store_version *v)
{
	static const char op[] = "key_create";
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_begin(q, op);
	if (ret)
		goto out;
	ret = sq_key_write(q, op, SQ_KEY_INSERT, k);
	if (ret)
		goto out;
	ret = sq_version_insert(q, op, k->name, v);
	if (ret)
		goto out;
	ret = sq_commit(q, op);
out:
	if (ret)
		sq_rollback(q, op);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_key_load(struct kw_store *s, const char *name, struct kw_store_key *out)
{
	static const char op[] = "key_load";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_KEY_SELECT];
	struct kw_store_key k = {0};
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_select_name(q, op, SQ_KEY_SELECT, name);
	if (ret == 0)
		ret = sq_read_key(op, st, &k);
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	if (ret == 0)
		*out = k;
	return ret;
}

static int sq_key_update(struct kw_store *s, const struct kw_store_key *k)
{
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_key_update_row(q, "key_update", k);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_key_add_version(struct kw_store *s, const struct kw_store_key *k,
                              const struct kw_store_version *v)
{
	static const char op[] = "key_add_version";
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_begin(q, op);
	if (ret)
		goto out;
	ret = sq_key_update_row(q, op, k);
	if (ret)
		goto out;
	ret = sq_version_insert(q, op, k->name, v);
	if (ret)
		goto out;
	ret = sq_commit(q, op);
out:
	if (ret)
		sq_rollback(q, op);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* Replace one version's wrapped blob; the version must exist. */
static int sq_version_rewrap(struct sq_store *q, const char *op, const char *name,
                             const struct kw_store_version *v)
{
	sqlite3_stmt *st = q->st[SQ_VERSION_REWRAP];
	int rc, ret;

	rc = sq_bind_str(st, 1, name);
	rc |= sqlite3_bind_int64(st, 2, v->version);
	rc |= sqlite3_bind_blob64(st, 3, v->wrapped, v->wrapped_len, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return sq_bind_fail(q, op, SQ_VERSION_REWRAP);
	ret = sq_run(q, op, SQ_VERSION_REWRAP);
	if (ret == 0 && sqlite3_changes(q->db) != 1)
		ret = KW_ERR_NOT_FOUND;
	return ret;
}

static int sq_key_rewrap(struct kw_store *s, const struct kw_store_key *k,
                         const struct kw_store_version *vs, size_t n)
{
	static const char op[] = "key_rewrap";
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_begin(q, op);
	if (ret)
		goto out;
	ret = sq_key_update_row(q, op, k);
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = sq_version_rewrap(q, op, k->name, &vs[i]);
	if (ret)
		goto out;
	ret = sq_commit(q, op);
out:
	if (ret)
		sq_rollback(q, op);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_read_version(const char *op, sqlite3_stmt *st, struct kw_store_version *v)
{
	int64_t version;
	int64_t created;
	int ret;

	ret = sq_col_int(op, st, 0, 1, UINT32_MAX, &version);
	if (ret == 0)
		ret = sq_col_int(op, st, 1, INT64_MIN, INT64_MAX, &created);
	if (ret == 0)
		ret = sq_col_blob(op, st, 2, &v->wrapped, &v->wrapped_len);
	if (ret)
		return ret;
	v->version = (uint32_t)version;
	v->created = created;
	return 0;
}

/* Every key has at least one version, so none means no such key. */
static int sq_key_versions(struct kw_store *s, const char *name, struct kw_store_version **vs,
                           size_t *n)
{
	static const char op[] = "key_versions";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_VERSION_SELECT];
	struct kw_store_version *arr = NULL;
	size_t cap = 0;
	size_t cnt = 0;
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sq_bind_str(st, 1, name) != SQLITE_OK) {
		ret = sq_fail(q, op, SQ_VERSION_SELECT);
		goto out;
	}
	while ((ret = sq_step(q, op, SQ_VERSION_SELECT)) == 1) {
		ret = sq_grow((void **)&arr, &cap, cnt, sizeof(*arr));
		if (ret)
			goto out;
		ret = sq_read_version(op, st, &arr[cnt]);
		if (ret)
			goto out;
		cnt++;
	}
	if (ret == 0 && cnt == 0)
		ret = KW_ERR_NOT_FOUND;
out:
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	if (ret) {
		kw_store_versions_free(arr, cnt);
		return ret;
	}
	*vs = arr;
	*n = cnt;
	return 0;
}

static int sq_key_delete(struct kw_store *s, const char *name)
{
	static const char op[] = "key_delete";
	struct sq_store *q = sq(s);
	int ret;

	/* Versions go explicitly, not only by cascade: the file may have been
	 * edited by a client that does not enforce foreign keys. */
	pthread_mutex_lock(&q->lock);
	ret = sq_begin(q, op);
	if (ret)
		goto out;
	ret = sq_run_name(q, op, SQ_VERSION_DELETE, name);
	if (ret)
		goto out;
	ret = sq_change_name(q, op, SQ_KEY_DELETE, name);
	if (ret)
		goto out;
	ret = sq_commit(q, op);
out:
	if (ret)
		sq_rollback(q, op);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* The first column of every row of a query whose parameters are bound, as
 * strings. Lock held; resets the statement. */
int sq_collect_names(struct sq_store *q, const char *op, enum sq_stmt id, char ***names, size_t *n)
{
	sqlite3_stmt *st = q->st[id];
	char **arr = NULL;
	size_t cap = 0;
	size_t cnt = 0;
	int ret;

	while ((ret = sq_step(q, op, id)) == 1) {
		ret = sq_grow((void **)&arr, &cap, cnt, sizeof(*arr));
		if (ret)
			break;
		ret = sq_col_strdup(op, st, 0, false, &arr[cnt]);
		if (ret)
			break;
		cnt++;
	}
	sq_reset(st);
	if (ret) {
		kw_store_names_free(arr, cnt);
		return ret;
	}
	*names = arr;
	*n = cnt;
	return 0;
}

static int sq_list_names(struct sq_store *q, const char *op, enum sq_stmt id, char ***names,
                         size_t *n)
{
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_collect_names(q, op, id, names, n);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_key_list(struct kw_store *s, char ***names, size_t *n)
{
	return sq_list_names(sq(s), "key_list", SQ_KEY_NAMES, names, n);
}

/* ---- tokens ---------------------------------------------------------- */

static int sq_bind_token(sqlite3_stmt *st, const struct kw_store_token *t)
{
	int rc;

	rc = sqlite3_bind_blob(st, 1, t->hash, KW_TOKEN_HASH_BYTES, SQLITE_STATIC);
	rc |= sq_bind_str(st, 2, t->accessor);
	rc |= sq_bind_str(st, 3, t->display_name);
	rc |= sq_bind_str(st, 4, t->policies ? t->policies : "");
	rc |= t->meta ? sq_bind_str(st, 5, t->meta) : sqlite3_bind_null(st, 5);
	rc |= sqlite3_bind_int64(st, 6, t->created);
	rc |= sqlite3_bind_int64(st, 7, t->expires);
	rc |= sqlite3_bind_int64(st, 8, t->ttl);
	rc |= t->mount[0] ? sq_bind_str(st, 9, t->mount) : sqlite3_bind_null(st, 9);
	return rc;
}

/* A nullable text column into a fixed array; NULL reads as "". */
static int sq_col_text_or_empty(const char *op, sqlite3_stmt *st, int col, char *buf, size_t cap)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		buf[0] = '\0';
		return 0;
	}
	return sq_col_text(op, st, col, buf, cap);
}

static int sq_read_token(const char *op, sqlite3_stmt *st, struct kw_store_token *t)
{
	const void *hash;
	int64_t v[3];
	int ret;

	if (sqlite3_column_type(st, 0) != SQLITE_BLOB)
		return sq_bad_column(op, st, 0);
	hash = sqlite3_column_blob(st, 0);
	if (hash == NULL)
		return KW_ERR_NOMEM;
	if (sqlite3_column_bytes(st, 0) != KW_TOKEN_HASH_BYTES)
		return sq_bad_column(op, st, 0);
	memcpy(t->hash, hash, KW_TOKEN_HASH_BYTES);
	ret = sq_col_text(op, st, 1, t->accessor, sizeof(t->accessor));
	if (ret == 0)
		ret = sq_col_text(op, st, 2, t->display_name, sizeof(t->display_name));
	if (ret == 0)
		ret = sq_col_strdup(op, st, 3, false, &t->policies);
	if (ret == 0)
		ret = sq_col_strdup(op, st, 4, true, &t->meta);
	for (int i = 0; ret == 0 && i < 3; i++)
		ret = sq_col_int(op, st, 5 + i, INT64_MIN, INT64_MAX, &v[i]);
	if (ret == 0)
		ret = sq_col_text_or_empty(op, st, 8, t->mount, sizeof(t->mount));
	if (ret) {
		kw_store_token_cleanup(t);
		return ret;
	}
	t->created = v[0];
	t->expires = v[1];
	t->ttl = v[2];
	return 0;
}

/* A token with this hash is replaced (renewal); another token's accessor is
 * EXISTS; a mount that does not exist is NOT_FOUND. */
static int sq_token_put(struct kw_store *s, const struct kw_store_token *t)
{
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sq_bind_token(q->st[SQ_TOKEN_PUT], t) != SQLITE_OK)
		ret = sq_bind_fail(q, "token_put", SQ_TOKEN_PUT);
	else
		ret = sq_run(q, "token_put", SQ_TOKEN_PUT);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* The caller has bound the statement's one parameter, or failed to (bound). */
static int sq_token_select(struct sq_store *q, const char *op, enum sq_stmt id, int bound,
                           struct kw_store_token *out)
{
	struct kw_store_token t = {0};
	int ret;

	if (bound != SQLITE_OK)
		ret = sq_fail(q, op, id);
	else
		ret = sq_step_one(q, op, id);
	if (ret == 0)
		ret = sq_read_token(op, q->st[id], &t);
	sq_reset(q->st[id]);
	if (ret == 0)
		*out = t;
	return ret;
}

static int sq_token_get(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES],
                        struct kw_store_token *out)
{
	struct sq_store *q = sq(s);
	int rc;
	int ret;

	pthread_mutex_lock(&q->lock);
	rc =
	    sqlite3_bind_blob(q->st[SQ_TOKEN_BY_HASH], 1, hash, KW_TOKEN_HASH_BYTES, SQLITE_STATIC);
	ret = sq_token_select(q, "token_get", SQ_TOKEN_BY_HASH, rc, out);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_token_get_by_accessor(struct kw_store *s, const char *accessor,
                                    struct kw_store_token *out)
{
	struct sq_store *q = sq(s);
	int rc;
	int ret;

	pthread_mutex_lock(&q->lock);
	rc = sq_bind_str(q->st[SQ_TOKEN_BY_ACCESSOR], 1, accessor);
	ret = sq_token_select(q, "token_get_by_accessor", SQ_TOKEN_BY_ACCESSOR, rc, out);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_token_delete(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES])
{
	static const char op[] = "token_delete";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_TOKEN_DELETE];
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_bind_blob(st, 1, hash, KW_TOKEN_HASH_BYTES, SQLITE_STATIC) != SQLITE_OK)
		ret = sq_bind_fail(q, op, SQ_TOKEN_DELETE);
	else
		ret = sq_run(q, op, SQ_TOKEN_DELETE);
	if (ret == 0 && sqlite3_changes(q->db) == 0)
		ret = KW_ERR_NOT_FOUND;
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_token_purge_expired(struct kw_store *s, int64_t now, size_t *n)
{
	static const char op[] = "token_purge_expired";
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_bind_int64(q->st[SQ_TOKEN_PURGE], 1, now) != SQLITE_OK)
		ret = sq_bind_fail(q, op, SQ_TOKEN_PURGE);
	else
		ret = sq_run(q, op, SQ_TOKEN_PURGE);
	if (ret == 0)
		*n = (size_t)sqlite3_changes(q->db);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* ---- policies -------------------------------------------------------- */

static int sq_policy_put(struct kw_store *s, const char *name, const char *json)
{
	static const char op[] = "policy_put";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_POLICY_PUT];
	int rc;
	int ret;

	pthread_mutex_lock(&q->lock);
	rc = sq_bind_str(st, 1, name);
	rc |= sq_bind_str(st, 2, json);
	ret = rc == SQLITE_OK ? sq_run(q, op, SQ_POLICY_PUT) : sq_bind_fail(q, op, SQ_POLICY_PUT);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_policy_get(struct kw_store *s, const char *name, char **json)
{
	static const char op[] = "policy_get";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_POLICY_SELECT];
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_select_name(q, op, SQ_POLICY_SELECT, name);
	if (ret == 0)
		ret = sq_col_strdup(op, st, 0, false, json);
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_policy_delete(struct kw_store *s, const char *name)
{
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_change_name(q, "policy_delete", SQ_POLICY_DELETE, name);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_policy_list(struct kw_store *s, char ***names, size_t *n)
{
	return sq_list_names(sq(s), "policy_list", SQ_POLICY_NAMES, names, n);
}

/* ---- PKCS#11 objects ------------------------------------------------- */

static int sq_object_put(struct kw_store *s, const char *name, const uint8_t *blob, size_t len)
{
	static const char op[] = "object_put";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_OBJECT_PUT];
	int rc, ret;

	pthread_mutex_lock(&q->lock);
	rc = sq_bind_str(st, 1, name);
	rc |= sqlite3_bind_blob64(st, 2, blob, len, SQLITE_STATIC);
	ret = rc == SQLITE_OK ? sq_run(q, op, SQ_OBJECT_PUT) : sq_bind_fail(q, op, SQ_OBJECT_PUT);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_object_get(struct kw_store *s, const char *name, uint8_t **blob, size_t *len)
{
	static const char op[] = "object_get";
	struct sq_store *q = sq(s);
	sqlite3_stmt *st = q->st[SQ_OBJECT_SELECT];
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_select_name(q, op, SQ_OBJECT_SELECT, name);
	if (ret == 0)
		ret = sq_col_blob(op, st, 0, blob, len);
	sq_reset(st);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_object_delete(struct kw_store *s, const char *name)
{
	struct sq_store *q = sq(s);
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = sq_change_name(q, "object_delete", SQ_OBJECT_DELETE, name);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int sq_object_list(struct kw_store *s, char ***names, size_t *n)
{
	return sq_list_names(sq(s), "object_list", SQ_OBJECT_NAMES, names, n);
}

const struct kw_store_ops kw_store_sqlite_ops = {
    .open = sq_open,
    .close = sq_close,
    .meta_get = sq_meta_get,
    .meta_put = sq_meta_put,
    .key_create = sq_key_create,
    .key_load = sq_key_load,
    .key_update = sq_key_update,
    .key_add_version = sq_key_add_version,
    .key_rewrap = sq_key_rewrap,
    .key_versions = sq_key_versions,
    .key_delete = sq_key_delete,
    .key_list = sq_key_list,
    .object_put = sq_object_put,
    .object_get = sq_object_get,
    .object_delete = sq_object_delete,
    .object_list = sq_object_list,
    .token_put = sq_token_put,
    .token_get = sq_token_get,
    .token_get_by_accessor = sq_token_get_by_accessor,
    .token_delete = sq_token_delete,
    .token_purge_expired = sq_token_purge_expired,
    .policy_put = sq_policy_put,
    .policy_get = sq_policy_get,
    .policy_delete = sq_policy_delete,
    .policy_list = sq_policy_list,
    .auth_mount_create = sq_auth_mount_create,
    .auth_mount_load = sq_auth_mount_load,
    .auth_mount_list = sq_auth_mount_list,
    .auth_mount_config_put = sq_auth_mount_config_put,
    .auth_mount_delete = sq_auth_mount_delete,
    .auth_role_put = sq_auth_role_put,
    .auth_role_get = sq_auth_role_get,
    .auth_role_delete = sq_auth_role_delete,
    .auth_role_list = sq_auth_role_list,
    .auth_role_load_all = sq_auth_role_load_all,
};
