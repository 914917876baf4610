/*
 * Unit tests for src/store (SQLite backend): every table's operations, the
 * transactions around key writes, persistence across reopen, schema
 * migration, and refusal of files the store must not trust or cannot write.
 * Each test gets its own temporary directory. Run one test with
 * `test_store '/store/key-rotate'` (a cmocka filter, * wildcards allowed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../src/store/store.h"

struct fx {
	char dir[64];
	char path[128];
	struct kw_store *s;
};

/* ---- fixture and helpers --------------------------------------------- */

static int setup_dir(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kw-store-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/keyward.db", f->dir);
	*state = f;
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kw_store_close(f->s);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* cmocka skips the teardown when a setup fails, so clean up here. */
static int setup_store(void **state)
{
	struct fx *f;

	setup_dir(state);
	f = *state;
	if (kw_store_open(f->path, &f->s) != 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

static void reopen(struct fx *f)
{
	kw_store_close(f->s);
	f->s = NULL;
	assert_int_equal(kw_store_open(f->path, &f->s), 0);
}

/* Direct SQL on the file, as an operator with the sqlite3 CLI would. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static struct kw_store_key mkkey(const char *name, uint32_t latest)
{
	struct kw_store_key k = {0};

	snprintf(k.name, sizeof(k.name), "%s", name);
	k.type = 3;
	k.latest_version = latest;
	k.min_decryption_version = 1;
	k.min_available_version = 0;
	k.auto_rotate_period = 86400;
	k.created = 1700000000;
	return k;
}

/* A fake wrapped blob whose bytes depend on the version, zeros included. */
static struct kw_store_version mkver(uint32_t version, uint8_t buf[40])
{
	struct kw_store_version v = {.version = version, .created = 1700000000 + version};

	for (size_t i = 0; i < 40; i++)
		buf[i] = (uint8_t)(i * version);
	v.wrapped = buf;
	v.wrapped_len = 40;
	return v;
}

static void create_key(struct kw_store *s, const char *name)
{
	uint8_t buf[40];
	struct kw_store_key k = mkkey(name, 1);
	struct kw_store_version v = mkver(1, buf);

	assert_int_equal(kw_store_key_create(s, &k, &v), 0);
}

static struct kw_store_token mktoken(uint8_t seed, const char *accessor, int64_t expires)
{
	struct kw_store_token t = {0};

	memset(t.hash, seed, sizeof(t.hash));
	t.hash[0] = 0; /* hashes are binary: a NUL must survive */
	snprintf(t.accessor, sizeof(t.accessor), "%s", accessor);
	snprintf(t.display_name, sizeof(t.display_name), "k8s-payments-api");
	t.policies = (char *)"default,payments";
	t.meta = (char *)"{\"namespace\":\"payments\"}";
	t.created = 1700000000;
	t.expires = expires;
	t.ttl = expires ? 3600 : 0;
	return t;
}

/* ---- opening --------------------------------------------------------- */

static void open_creates_private_wal_db(void **state)
{
	struct fx *f = *state;
	char wal[160];
	struct stat sb;

	assert_int_equal(kw_store_schema_version(f->s), raw_int(f->path, "PRAGMA user_version"));
	assert_true(kw_store_schema_version(f->s) >= 1);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* The WAL exists while the store is open and inherits the mode. */
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(kw_store_meta_put(f->s, "x", (const uint8_t *)"1", 1), 0);
	reopen(f);
	/* journal_mode=WAL is persistent in the file header. */
	assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"),
	                 1);
}

static void open_url_forms(void **state)
{
	struct fx *f = *state;
	struct kw_store *s = NULL;
	char url[200];

	snprintf(url, sizeof(url), "sqlite:%s", f->path);
	assert_int_equal(kw_store_open(url, &s), 0);
	kw_store_close(s);
	snprintf(url, sizeof(url), "sqlite://%s", f->path);
	assert_int_equal(kw_store_open(url, &s), 0);
	kw_store_close(s);
	s = NULL;
	assert_int_equal(kw_store_open("postgresql://u:pw@db/keyward", &s), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_store_open("ftp://example.org/x.db", &s), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_store_open("sqlite:", &s), KW_ERR_INVALID);
	assert_int_equal(kw_store_open("", &s), KW_ERR_INVALID);
	assert_int_equal(kw_store_open(":memory:", &s), KW_ERR_INVALID);
	assert_null(s);
}

/* ---- meta ------------------------------------------------------------ */

static void meta_put_get(void **state)
{
	struct fx *f = *state;
	const uint8_t val[] = {0x00, 0x01, 0xff, 0x00, 0x7f};
	uint8_t *got = NULL;
	size_t len = 0;

	assert_int_equal(kw_store_meta_put(f->s, "seal.config", val, sizeof(val)), 0);
	assert_int_equal(kw_store_meta_get(f->s, "seal.config", &got, &len), 0);
	assert_int_equal(len, sizeof(val));
	assert_memory_equal(got, val, sizeof(val));
	free(got);
}

static void meta_overwrite(void **state)
{
	struct fx *f = *state;
	uint8_t *got;
	size_t len;

	assert_int_equal(kw_store_meta_put(f->s, "node.id", (const uint8_t *)"first", 5), 0);
	assert_int_equal(kw_store_meta_put(f->s, "node.id", (const uint8_t *)"2nd", 3), 0);
	assert_int_equal(kw_store_meta_get(f->s, "node.id", &got, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(got, "2nd", 3);
	free(got);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM meta"), 1);
}

static void meta_not_found(void **state)
{
	struct fx *f = *state;
	uint8_t *got = (uint8_t *)"untouched";
	size_t len = 77;

	assert_int_equal(kw_store_meta_get(f->s, "nope", &got, &len), KW_ERR_NOT_FOUND);
	assert_string_equal((const char *)got, "untouched");
	assert_int_equal(len, 77);
}

static void meta_empty_value(void **state)
{
	struct fx *f = *state;
	uint8_t *got = NULL;
	size_t len = 1;

	assert_int_equal(kw_store_meta_put(f->s, "empty", NULL, 0), 0);
	assert_int_equal(kw_store_meta_get(f->s, "empty", &got, &len), 0);
	assert_non_null(got);
	assert_int_equal(len, 0);
	free(got);
}

/* ---- keys ------------------------------------------------------------ */

static void key_create_load(void **state)
{
	struct fx *f = *state;
	uint8_t buf[40];
	struct kw_store_key k = mkkey("payments", 1);
	struct kw_store_version v = mkver(1, buf);
	struct kw_store_key got;

	k.min_encryption_version = 0xffffffffu; /* the full uint32 range survives */
	k.exportable = true;
	k.allow_plaintext_backup = true;
	k.auto_rotate_period = -1;
	assert_int_equal(kw_store_key_create(f->s, &k, &v), 0);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(kw_store_key_load(f->s, "payments", &got), 0);
	assert_string_equal(got.name, "payments");
	assert_int_equal(got.type, 3);
	assert_int_equal(got.latest_version, 1);
	assert_int_equal(got.min_decryption_version, 1);
	assert_int_equal(got.min_encryption_version, 0xffffffffu);
	assert_int_equal(got.min_available_version, 0);
	assert_true(got.exportable);
	assert_false(got.deletion_allowed);
	assert_true(got.allow_plaintext_backup);
	assert_int_equal(got.auto_rotate_period, -1);
	assert_int_equal(got.created, 1700000000);
}

static void key_load_missing(void **state)
{
	struct fx *f = *state;
	struct kw_store_key got;

	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(kw_store_key_load(f->s, "ghost", &got), KW_ERR_NOT_FOUND);
	assert_int_equal(got.type, 0x5a5a5a5a); /* out untouched on failure */
}

static void key_create_twice(void **state)
{
	struct fx *f = *state;
	uint8_t buf[40];
	struct kw_store_key k = mkkey("dup", 1);
	struct kw_store_version v = mkver(7, buf);
	struct kw_store_version *vs;
	size_t n;

	create_key(f->s, "dup");
	k.type = 9;
	assert_int_equal(kw_store_key_create(f->s, &k, &v), KW_ERR_EXISTS);
	/* The failed create changed nothing. */
	assert_int_equal(kw_store_key_load(f->s, "dup", &k), 0);
	assert_int_equal(k.type, 3);
	assert_int_equal(kw_store_key_versions(f->s, "dup", &vs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(vs[0].version, 1);
	kw_store_versions_free(vs, n);
	/* No transaction was left open: the next write works and lasts. */
	create_key(f->s, "after");
	reopen(f);
	assert_int_equal(kw_store_key_load(f->s, "after", &k), 0);
}

static void key_update(void **state)
{
	struct fx *f = *state;
	struct kw_store_key k = mkkey("cfg", 1);
	struct kw_store_key got;

	create_key(f->s, "cfg");
	k.deletion_allowed = true;
	k.min_decryption_version = 1;
	k.auto_rotate_period = 0;
	assert_int_equal(kw_store_key_update(f->s, &k), 0);
	assert_int_equal(kw_store_key_load(f->s, "cfg", &got), 0);
	assert_true(got.deletion_allowed);
	assert_int_equal(got.auto_rotate_period, 0);
	k = mkkey("nobody", 1);
	assert_int_equal(kw_store_key_update(f->s, &k), KW_ERR_NOT_FOUND);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM keys"), 1);
}

static void key_rotate(void **state)
{
	struct fx *f = *state;
	uint8_t b1[40], b2[40], b3[40];
	struct kw_store_key k = mkkey("rot", 1);
	struct kw_store_version v1 = mkver(1, b1), v2 = mkver(2, b2), v3 = mkver(3, b3);
	struct kw_store_version *vs;
	struct kw_store_key got;
	size_t n;

	assert_int_equal(kw_store_key_create(f->s, &k, &v1), 0);
	k.latest_version = 2;
	assert_int_equal(kw_store_key_add_version(f->s, &k, &v2), 0);
	k.latest_version = 3;
	assert_int_equal(kw_store_key_add_version(f->s, &k, &v3), 0);
	assert_int_equal(kw_store_key_load(f->s, "rot", &got), 0);
	assert_int_equal(got.latest_version, 3);
	assert_int_equal(kw_store_key_versions(f->s, "rot", &vs, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		uint8_t want[40];

		mkver((uint32_t)i + 1, want);
		assert_int_equal(vs[i].version, i + 1);
		assert_int_equal(vs[i].created, 1700000000 + i + 1);
		assert_int_equal(vs[i].wrapped_len, 40);
		assert_memory_equal(vs[i].wrapped, want, 40);
	}
	kw_store_versions_free(vs, n);
}

/* A rotation whose insert fails must not leave its metadata update behind. */
static void key_rotate_failure_rolls_back(void **state)
{
	struct fx *f = *state;
	uint8_t buf[40];
	struct kw_store_key k = mkkey("atomic", 1);
	struct kw_store_version v = mkver(1, buf);
	struct kw_store_key got;

	create_key(f->s, "atomic");
	k.latest_version = 5;
	assert_int_equal(kw_store_key_add_version(f->s, &k, &v), KW_ERR_EXISTS);
	assert_int_equal(kw_store_key_load(f->s, "atomic", &got), 0);
	assert_int_equal(got.latest_version, 1);
	/* The store is still usable: no transaction was left open. */
	k.latest_version = 2;
	v = mkver(2, buf);
	assert_int_equal(kw_store_key_add_version(f->s, &k, &v), 0);
}

/* Rewrap replaces every blob and the metadata together, or nothing. */
static void key_rewrap(void **state)
{
	struct fx *f = *state;
	uint8_t b1[40], b2[40], n1[40], n2[40];
	struct kw_store_key k = mkkey("rw", 1), got;
	struct kw_store_version v1 = mkver(1, b1), v2 = mkver(2, b2), nv[2], *vs;
	size_t n;

	assert_int_equal(kw_store_key_create(f->s, &k, &v1), 0);
	k.latest_version = 2;
	assert_int_equal(kw_store_key_add_version(f->s, &k, &v2), 0);
	nv[0] = mkver(1, n1);
	nv[1] = mkver(2, n2);
	memset(n1, 0xaa, sizeof(n1));
	memset(n2, 0xbb, sizeof(n2));
	k.exportable = !k.exportable;
	assert_int_equal(kw_store_key_rewrap(f->s, &k, nv, 2), 0);
	assert_int_equal(kw_store_key_load(f->s, "rw", &got), 0);
	assert_int_equal(got.exportable, k.exportable);
	assert_int_equal(kw_store_key_versions(f->s, "rw", &vs, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(vs[0].wrapped, n1, 40);
	assert_memory_equal(vs[1].wrapped, n2, 40);
	kw_store_versions_free(vs, n);
	/* A version that does not exist fails the whole rewrap. */
	nv[1].version = 3;
	memset(n1, 0xcc, sizeof(n1));
	k.exportable = !k.exportable;
	assert_int_equal(kw_store_key_rewrap(f->s, &k, nv, 2), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_key_load(f->s, "rw", &got), 0);
	assert_int_equal(got.exportable, !k.exportable);
	assert_int_equal(kw_store_key_versions(f->s, "rw", &vs, &n), 0);
	memset(n1, 0xaa, sizeof(n1));
	assert_memory_equal(vs[0].wrapped, n1, 40);
	kw_store_versions_free(vs, n);
}

static void key_rotate_missing(void **state)
{
	struct fx *f = *state;
	uint8_t buf[40];
	struct kw_store_key k = mkkey("absent", 2);
	struct kw_store_version v = mkver(2, buf);

	assert_int_equal(kw_store_key_add_version(f->s, &k, &v), KW_ERR_NOT_FOUND);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM key_versions"), 0);
}

static void key_delete_cascades(void **state)
{
	struct fx *f = *state;
	uint8_t buf[40];
	struct kw_store_key k = mkkey("gone", 2);
	struct kw_store_version v = mkver(2, buf);
	struct kw_store_version *vs = NULL;
	struct kw_store_key got;
	size_t n = 0;

	create_key(f->s, "gone");
	create_key(f->s, "kept");
	assert_int_equal(kw_store_key_add_version(f->s, &k, &v), 0);
	assert_int_equal(kw_store_key_delete(f->s, "gone"), 0);
	assert_int_equal(kw_store_key_load(f->s, "gone", &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_key_versions(f->s, "gone", &vs, &n), KW_ERR_NOT_FOUND);
	assert_null(vs);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM key_versions WHERE name = 'gone'"),
	                 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM key_versions"), 1);
	/* The name is free again, starting from version 1. */
	create_key(f->s, "gone");
	assert_int_equal(kw_store_key_delete(f->s, "never-was"), KW_ERR_NOT_FOUND);
}

static void key_list_sorted(void **state)
{
	struct fx *f = *state;
	char **names = (char **)1;
	size_t n = 99;

	assert_int_equal(kw_store_key_list(f->s, &names, &n), 0);
	assert_int_equal(n, 0);
	kw_store_names_free(names, n);
	create_key(f->s, "b");
	create_key(f->s, "c");
	create_key(f->s, "a");
	assert_int_equal(kw_store_key_list(f->s, &names, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b");
	assert_string_equal(names[2], "c");
	kw_store_names_free(names, n);
}

static void key_invalid_args(void **state)
{
	struct fx *f = *state;
	char longname[KW_NAME_MAX + 2];
	uint8_t buf[40];
	struct kw_store_key k = mkkey("x", 1);
	struct kw_store_version v = mkver(0, buf);
	struct kw_store_key got;

	assert_int_equal(kw_store_key_create(f->s, &k, &v), KW_ERR_INVALID); /* version 0 */
	v = mkver(1, buf);
	v.wrapped_len = 0;
	assert_int_equal(kw_store_key_create(f->s, &k, &v), KW_ERR_INVALID);
	k.name[0] = '\0';
	v.wrapped_len = 40;
	assert_int_equal(kw_store_key_create(f->s, &k, &v), KW_ERR_INVALID);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(kw_store_key_load(f->s, longname, &got), KW_ERR_INVALID);
	assert_int_equal(kw_store_key_load(f->s, "", &got), KW_ERR_INVALID);
	assert_int_equal(kw_store_key_load(NULL, "x", &got), KW_ERR_INVALID);
	longname[KW_NAME_MAX] = '\0'; /* exactly the maximum is fine */
	create_key(f->s, longname);
}

/* ---- tokens ---------------------------------------------------------- */

static void assert_token_equal(const struct kw_store_token *a, const struct kw_store_token *b)
{
	assert_memory_equal(a->hash, b->hash, KW_TOKEN_HASH_BYTES);
	assert_string_equal(a->accessor, b->accessor);
	assert_string_equal(a->display_name, b->display_name);
	assert_string_equal(a->policies, b->policies);
	if (b->meta == NULL)
		assert_null(a->meta);
	else
		assert_string_equal(a->meta, b->meta);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->expires, b->expires);
	assert_int_equal(a->ttl, b->ttl);
	assert_string_equal(a->mount, b->mount);
}

static void token_put_get(void **state)
{
	struct fx *f = *state;
	struct kw_store_token t = mktoken(1, "acc1", 1700003600);
	struct kw_store_token got;

	assert_int_equal(kw_store_token_put(f->s, &t), 0);
	assert_int_equal(kw_store_token_get(f->s, t.hash, &got), 0);
	assert_token_equal(&got, &t);
	kw_store_token_cleanup(&got);
	assert_null(got.policies);

	t = mktoken(2, "acc2", 0);
	t.meta = NULL;
	assert_int_equal(kw_store_token_put(f->s, &t), 0);
	assert_int_equal(kw_store_token_get(f->s, t.hash, &got), 0);
	assert_token_equal(&got, &t);
	kw_store_token_cleanup(&got);

	t = mktoken(3, "never-stored", 0);
	assert_int_equal(kw_store_token_get(f->s, t.hash, &got), KW_ERR_NOT_FOUND);
}

static void token_get_by_accessor(void **state)
{
	struct fx *f = *state;
	struct kw_store_token a = mktoken(1, "aaaa", 0), b = mktoken(2, "bbbb", 0);
	struct kw_store_token got;

	assert_int_equal(kw_store_token_put(f->s, &a), 0);
	assert_int_equal(kw_store_token_put(f->s, &b), 0);
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "bbbb", &got), 0);
	assert_token_equal(&got, &b);
	kw_store_token_cleanup(&got);
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "cccc", &got), KW_ERR_NOT_FOUND);
}

static void token_accessor_taken(void **state)
{
	struct fx *f = *state;
	struct kw_store_token a = mktoken(1, "same", 0), b = mktoken(2, "same", 0);
	struct kw_store_token got;

	assert_int_equal(kw_store_token_put(f->s, &a), 0);
	assert_int_equal(kw_store_token_put(f->s, &b), KW_ERR_EXISTS);
	assert_int_equal(kw_store_token_get(f->s, b.hash, &got), KW_ERR_NOT_FOUND);
}

/* Same hash again is a renewal: the row is replaced, not duplicated. */
static void token_put_replaces(void **state)
{
	struct fx *f = *state;
	struct kw_store_token t = mktoken(1, "renew", 1700003600);
	struct kw_store_token got;

	assert_int_equal(kw_store_token_put(f->s, &t), 0);
	t.expires = 1700007200;
	assert_int_equal(kw_store_token_put(f->s, &t), 0);
	assert_int_equal(kw_store_token_get(f->s, t.hash, &got), 0);
	assert_int_equal(got.expires, 1700007200);
	kw_store_token_cleanup(&got);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tokens"), 1);
}

static void token_delete(void **state)
{
	struct fx *f = *state;
	struct kw_store_token t = mktoken(1, "del", 0);
	struct kw_store_token got;

	assert_int_equal(kw_store_token_put(f->s, &t), 0);
	assert_int_equal(kw_store_token_delete(f->s, t.hash), 0);
	assert_int_equal(kw_store_token_get(f->s, t.hash, &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "del", &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_token_delete(f->s, t.hash), KW_ERR_NOT_FOUND);
}

static void token_purge_expired(void **state)
{
	struct fx *f = *state;
	struct kw_store_token never = mktoken(1, "never", 0), t100 = mktoken(2, "t100", 100),
	                      t200 = mktoken(3, "t200", 200), t300 = mktoken(4, "t300", 300);
	struct kw_store_token got;
	size_t n = 99;

	assert_int_equal(kw_store_token_put(f->s, &never), 0);
	assert_int_equal(kw_store_token_put(f->s, &t100), 0);
	assert_int_equal(kw_store_token_put(f->s, &t200), 0);
	assert_int_equal(kw_store_token_put(f->s, &t300), 0);
	assert_int_equal(kw_store_token_purge_expired(f->s, 200, &n), 0);
	assert_int_equal(n, 2); /* expires <= now */
	assert_int_equal(kw_store_token_get(f->s, t100.hash, &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_token_get(f->s, t200.hash, &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_token_get(f->s, never.hash, &got), 0);
	kw_store_token_cleanup(&got);
	assert_int_equal(kw_store_token_get(f->s, t300.hash, &got), 0);
	kw_store_token_cleanup(&got);
	assert_int_equal(kw_store_token_purge_expired(f->s, 200, &n), 0);
	assert_int_equal(n, 0);
}

/* ---- policies -------------------------------------------------------- */

static void policy_put_get(void **state)
{
	struct fx *f = *state;
	const char *p1 = "{\"path\":{\"transit/sign/pay\":{\"capabilities\":[\"update\"]}}}";
	const char *p2 = "{\"path\":{}}";
	char *got = NULL;

	assert_int_equal(kw_store_policy_put(f->s, "signer", p1), 0);
	assert_int_equal(kw_store_policy_get(f->s, "signer", &got), 0);
	assert_string_equal(got, p1);
	free(got);
	assert_int_equal(kw_store_policy_put(f->s, "signer", p2), 0);
	assert_int_equal(kw_store_policy_get(f->s, "signer", &got), 0);
	assert_string_equal(got, p2);
	free(got);
	got = NULL;
	assert_int_equal(kw_store_policy_get(f->s, "nobody", &got), KW_ERR_NOT_FOUND);
	assert_null(got);
}

static void policy_list_delete(void **state)
{
	struct fx *f = *state;
	char **names;
	char *got;
	size_t n;

	assert_int_equal(kw_store_policy_put(f->s, "zeta", "{}"), 0);
	assert_int_equal(kw_store_policy_put(f->s, "alpha", "{}"), 0);
	assert_int_equal(kw_store_policy_put(f->s, "mid", "{}"), 0);
	assert_int_equal(kw_store_policy_delete(f->s, "mid"), 0);
	assert_int_equal(kw_store_policy_delete(f->s, "mid"), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_policy_get(f->s, "mid", &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_policy_list(f->s, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "alpha");
	assert_string_equal(names[1], "zeta");
	kw_store_names_free(names, n);
}

/* ---- persistence and schema ----------------------------------------- */

static void reopen_persists(void **state)
{
	struct fx *f = *state;
	uint8_t b2[40];
	struct kw_store_key k = mkkey("durable", 2);
	struct kw_store_version v2 = mkver(2, b2);
	struct kw_store_token t = mktoken(9, "persist", 1800000000);
	struct kw_store_version *vs;
	struct kw_store_token gt;
	struct kw_store_key gk;
	uint8_t *meta;
	char *pol;
	size_t n;

	assert_int_equal(kw_store_meta_put(f->s, "root", (const uint8_t *)"wrapped", 7), 0);
	create_key(f->s, "durable");
	assert_int_equal(kw_store_key_add_version(f->s, &k, &v2), 0);
	assert_int_equal(kw_store_token_put(f->s, &t), 0);
	assert_int_equal(kw_store_policy_put(f->s, "p", "{\"path\":{}}"), 0);
	reopen(f);
	assert_int_equal(kw_store_meta_get(f->s, "root", &meta, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(meta, "wrapped", 7);
	free(meta);
	assert_int_equal(kw_store_key_load(f->s, "durable", &gk), 0);
	assert_int_equal(gk.latest_version, 2);
	assert_int_equal(kw_store_key_versions(f->s, "durable", &vs, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(vs[1].wrapped, b2, 40);
	kw_store_versions_free(vs, n);
	assert_int_equal(kw_store_token_get(f->s, t.hash, &gt), 0);
	assert_token_equal(&gt, &t);
	kw_store_token_cleanup(&gt);
	assert_int_equal(kw_store_policy_get(f->s, "p", &pol), 0);
	assert_string_equal(pol, "{\"path\":{}}");
	free(pol);
}

static void migrate_empty_file(void **state)
{
	struct fx *f = *state;

	write_file(f->path, "", 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 0);
	assert_int_equal(kw_store_open(f->path, &f->s), 0);
	assert_true(kw_store_schema_version(f->s) >= 2);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), kw_store_schema_version(f->s));
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
	                                  " AND name IN ('meta', 'keys', 'key_versions', 'tokens',"
	                                  " 'policies')"),
	                 5);
}

/* The schema as version 1 of keyward wrote it, with one key and a token. */
static const char schema_v1[] =
    "CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);"
    "CREATE TABLE keys (name TEXT PRIMARY KEY NOT NULL, type INTEGER NOT NULL,"
    " latest_version INTEGER NOT NULL, min_decryption_version INTEGER NOT NULL,"
    " min_encryption_version INTEGER NOT NULL, min_available_version INTEGER NOT NULL,"
    " exportable INTEGER NOT NULL CHECK (exportable IN (0, 1)),"
    " deletion_allowed INTEGER NOT NULL CHECK (deletion_allowed IN (0, 1)),"
    " allow_plaintext_backup INTEGER NOT NULL CHECK (allow_plaintext_backup IN (0, 1)),"
    " auto_rotate_period INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE key_versions (name TEXT NOT NULL REFERENCES keys (name) ON DELETE CASCADE,"
    " version INTEGER NOT NULL CHECK (version >= 1), created INTEGER NOT NULL,"
    " wrapped BLOB NOT NULL, PRIMARY KEY (name, version));"
    "CREATE TABLE tokens (hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),"
    " accessor TEXT UNIQUE NOT NULL, display_name TEXT NOT NULL, policies TEXT NOT NULL,"
    " meta TEXT, created INTEGER NOT NULL, expires INTEGER NOT NULL, ttl INTEGER NOT NULL);"
    "CREATE TABLE policies (name TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL);"
    "INSERT INTO keys VALUES ('old', 7, 1, 1, 0, 1, 0, 0, 0, 0, 1700000000);"
    "INSERT INTO key_versions VALUES ('old', 1, 1700000000, x'0102030405');"
    "INSERT INTO tokens VALUES (zeroblob(32), 'acc-old', 'root', 'root', NULL,"
    " 1700000000, 0, 0);"
    "PRAGMA user_version = 1;";

/* A database left at version 1 gets the later steps, data intact; its
 * tokens belong to no auth mount. */
static void migrate_old_schema(void **state)
{
	struct fx *f = *state;
	struct kw_store_token got;
	struct kw_store_key gk;
	uint8_t hash[KW_TOKEN_HASH_BYTES] = {0};
	char **names = NULL;
	size_t n = 0;

	raw_exec(f->path, schema_v1);
	assert_int_equal(kw_store_open(f->path, &f->s), 0);
	assert_true(kw_store_schema_version(f->s) >= 3);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), kw_store_schema_version(f->s));
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master"
	                                  " WHERE name IN ('tokens_by_expiry', 'tokens_by_mount',"
	                                  " 'auth_mounts', 'auth_roles')"),
	                 4);
	assert_int_equal(kw_store_key_load(f->s, "old", &gk), 0);
	assert_int_equal(gk.latest_version, 1);
	assert_int_equal(kw_store_token_get(f->s, hash, &got), 0);
	assert_string_equal(got.accessor, "acc-old");
	assert_string_equal(got.mount, "");
	kw_store_token_cleanup(&got);
	assert_int_equal(kw_store_auth_role_list(f->s, "kubernetes", &names, &n), 0);
	assert_int_equal(n, 0);
	kw_store_names_free(names, n);
}

static void future_schema_refused(void **state)
{
	struct fx *f = *state;
	char sql[64];
	int latest = kw_store_schema_version(f->s);

	kw_store_close(f->s);
	f->s = NULL;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", latest + 1);
	raw_exec(f->path, sql);
	assert_int_equal(kw_store_open(f->path, &f->s), KW_ERR_STORE);
	assert_null(f->s);
	/* Refusal leaves the newer database as it was. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), latest + 1);
}

static void foreign_db_refused(void **state)
{
	struct fx *f = *state;

	raw_exec(f->path, "CREATE TABLE accounts (id INTEGER PRIMARY KEY)");
	assert_int_equal(kw_store_open(f->path, &f->s), KW_ERR_STORE);
	assert_null(f->s);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master"), 1);
}

/* ---- files the store cannot use -------------------------------------- */

static void open_missing_dir(void **state)
{
	struct fx *f = *state;
	char path[200];

	snprintf(path, sizeof(path), "%s/no/such/dir/keyward.db", f->dir);
	assert_int_equal(kw_store_open(path, &f->s), KW_ERR_STORE);
	assert_null(f->s);
}

static void open_directory(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kw_store_open(f->dir, &f->s), KW_ERR_STORE);
	assert_null(f->s);
}

/*
 * Root writes through file modes, so as root the open runs in a child that
 * has become nobody. SQLite alone would open such a file read-only.
 */
static void open_readonly_file(void **state)
{
	struct fx *f = *state;
	struct kw_store *s = NULL;
	int status;
	pid_t pid;

	create_key(f->s, "k");
	kw_store_close(f->s);
	f->s = NULL;
	assert_int_equal(chmod(f->path, 0444), 0);
	if (geteuid() != 0) {
		assert_int_equal(kw_store_open(f->path, &s), KW_ERR_STORE);
		assert_null(s);
		return;
	}
	assert_int_equal(chmod(f->dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		_exit(kw_store_open(f->path, &s) == KW_ERR_STORE && s == NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void open_garbage_file(void **state)
{
	struct fx *f = *state;
	uint8_t junk[8192];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	write_file(f->path, junk, sizeof(junk));
	assert_int_equal(kw_store_open(f->path, &f->s), KW_ERR_STORE);
	assert_null(f->s);
}

static void open_truncated_file(void **state)
{
	struct fx *f = *state;
	char name[32];

	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "key-%03d", i);
		create_key(f->s, name);
	}
	kw_store_close(f->s); /* checkpoints the WAL into the file */
	f->s = NULL;
	assert_true(raw_int(f->path, "PRAGMA page_count") > 4);
	assert_int_equal(truncate(f->path, 3 * 4096 + 100), 0);
	assert_int_equal(kw_store_open(f->path, &f->s), KW_ERR_STORE);
	assert_null(f->s);
}

/* Header and size intact, one b-tree page overwritten: only an integrity
 * check at open finds it before a request does. */
static void open_corrupt_page(void **state)
{
	struct fx *f = *state;
	uint8_t junk[512];
	char name[32];
	int fd;

	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "key-%03d", i);
		create_key(f->s, name);
	}
	kw_store_close(f->s);
	f->s = NULL;
	memset(junk, 0xee, sizeof(junk));
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	/* The last page: a leaf of some table or index, never the header. */
	assert_int_equal(pwrite(fd, junk, sizeof(junk),
	                        (off_t)(raw_int(f->path, "PRAGMA page_count") - 1) * 4096 + 1024),
	                 (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(kw_store_open(f->path, &f->s), KW_ERR_STORE);
	assert_null(f->s);
}

/* ---- threads --------------------------------------------------------- */

#define THREADS         4
#define KEYS_PER_THREAD 50

struct worker {
	struct kw_store *s;
	int id;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char name[32];
	uint8_t buf[40];
	struct kw_store_key k, got;
	struct kw_store_version v;
	char **names;
	size_t n;

	for (int i = 0; i < KEYS_PER_THREAD; i++) {
		snprintf(name, sizeof(name), "t%d-k%02d", w->id, i);
		k = mkkey(name, 1);
		v = mkver(1, buf);
		if (kw_store_key_create(w->s, &k, &v) != 0 ||
		    kw_store_key_load(w->s, name, &got) != 0 || strcmp(got.name, name) != 0)
			w->failures++;
		if (kw_store_key_list(w->s, &names, &n) != 0)
			w->failures++;
		else
			kw_store_names_free(names, n);
	}
	return NULL;
}

static void threads_share_one_store(void **state)
{
	struct fx *f = *state;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	char **names;
	size_t n;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.s = f->s, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(kw_store_key_list(f->s, &names, &n), 0);
	assert_int_equal(n, THREADS * KEYS_PER_THREAD);
	kw_store_names_free(names, n);
}

/* ---- auth mounts and roles ------------------------------------------- */

static void create_mount(struct kw_store *s, const char *path, const char *type)
{
	struct kw_store_auth_mount m = {0};

	snprintf(m.path, sizeof(m.path), "%s", path);
	snprintf(m.type, sizeof(m.type), "%s", type);
	m.created = 1700000000;
	assert_int_equal(kw_store_auth_mount_create(s, &m), 0);
}

static void auth_mount_create_load_list(void **state)
{
	struct fx *f = *state;
	struct kw_store_auth_mount m = {0}, got, *ms = NULL;
	size_t n = 0;

	snprintf(m.path, sizeof(m.path), "k8s-prod");
	snprintf(m.type, sizeof(m.type), "kubernetes");
	m.description = (char *)"production cluster";
	m.config = (char *)"{\"issuer\":\"https://kubernetes.default.svc\"}";
	m.created = 1700000001;
	assert_int_equal(kw_store_auth_mount_create(f->s, &m), 0);
	assert_int_equal(kw_store_auth_mount_create(f->s, &m), KW_ERR_EXISTS);
	/* Defaults: no description, an empty configuration. */
	create_mount(f->s, "cert", "cert");
	reopen(f);
	assert_int_equal(kw_store_auth_mount_load(f->s, "k8s-prod", &got), 0);
	assert_string_equal(got.type, "kubernetes");
	assert_string_equal(got.description, "production cluster");
	assert_string_equal(got.config, m.config);
	assert_int_equal(got.created, 1700000001);
	kw_store_auth_mount_cleanup(&got);
	assert_null(got.config);
	assert_int_equal(kw_store_auth_mount_load(f->s, "nope", &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_auth_mount_list(f->s, &ms, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ms[0].path, "cert"); /* path order */
	assert_string_equal(ms[0].description, "");
	assert_string_equal(ms[0].config, "{}");
	assert_string_equal(ms[1].path, "k8s-prod");
	kw_store_auth_mounts_free(ms, n);
}

static void auth_mount_config_put(void **state)
{
	struct fx *f = *state;
	struct kw_store_auth_mount got;
	char *big;

	create_mount(f->s, "jwt", "jwt");
	assert_int_equal(kw_store_auth_mount_config_put(f->s, "jwt", "{\"bound_issuer\":\"x\"}"),
	                 0);
	assert_int_equal(kw_store_auth_mount_load(f->s, "jwt", &got), 0);
	assert_string_equal(got.config, "{\"bound_issuer\":\"x\"}");
	kw_store_auth_mount_cleanup(&got);
	assert_int_equal(kw_store_auth_mount_config_put(f->s, "gone", "{}"), KW_ERR_NOT_FOUND);
	/* Bounded: one byte past the limit is refused before the database. */
	big = malloc(KW_STORE_AUTH_CONFIG_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', KW_STORE_AUTH_CONFIG_MAX + 1);
	big[KW_STORE_AUTH_CONFIG_MAX + 1] = '\0';
	assert_int_equal(kw_store_auth_mount_config_put(f->s, "jwt", big), KW_ERR_INVALID);
	free(big);
}

static void auth_role_round_trip(void **state)
{
	struct fx *f = *state;
	struct kw_store_auth_role *rs = NULL;
	char **names = NULL, *body = NULL;
	size_t n = 0;

	create_mount(f->s, "kubernetes", "kubernetes");
	create_mount(f->s, "other", "jwt");
	assert_int_equal(kw_store_auth_role_put(f->s, "kubernetes", "web", "{\"a\":1}"), 0);
	assert_int_equal(kw_store_auth_role_put(f->s, "kubernetes", "api", "{\"b\":2}"), 0);
	assert_int_equal(kw_store_auth_role_put(f->s, "other", "web", "{\"c\":3}"), 0);
	/* A put replaces. */
	assert_int_equal(kw_store_auth_role_put(f->s, "kubernetes", "web", "{\"a\":9}"), 0);
	assert_int_equal(kw_store_auth_role_get(f->s, "kubernetes", "web", &body), 0);
	assert_string_equal(body, "{\"a\":9}");
	free(body);
	assert_int_equal(kw_store_auth_role_get(f->s, "kubernetes", "nope", &body),
	                 KW_ERR_NOT_FOUND);
	/* A role needs its mount. */
	assert_int_equal(kw_store_auth_role_put(f->s, "missing", "web", "{}"), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_auth_role_list(f->s, "kubernetes", &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "api");
	assert_string_equal(names[1], "web");
	kw_store_names_free(names, n);
	assert_int_equal(kw_store_auth_role_load_all(f->s, "other", &rs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rs[0].name, "web");
	assert_string_equal(rs[0].body, "{\"c\":3}");
	kw_store_auth_roles_free(rs, n);
	assert_int_equal(kw_store_auth_role_delete(f->s, "kubernetes", "api"), 0);
	assert_int_equal(kw_store_auth_role_delete(f->s, "kubernetes", "api"), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_auth_role_list(f->s, "kubernetes", &names, &n), 0);
	assert_int_equal(n, 1);
	kw_store_names_free(names, n);
}

static void put_mount_token(struct kw_store *s, uint8_t seed, const char *acc, const char *mount)
{
	struct kw_store_token t = mktoken(seed, acc, 0);

	snprintf(t.mount, sizeof(t.mount), "%s", mount);
	assert_int_equal(kw_store_token_put(s, &t), 0);
}

/* Disabling a mount takes its roles and every token it issued, at once,
 * and leaves other mounts' alone. */
static void auth_mount_delete_revokes(void **state)
{
	struct fx *f = *state;
	struct kw_store_token t = mktoken(9, "late", 0), got;
	struct kw_store_auth_mount gm;
	char **names = NULL;
	size_t n = 99;

	create_mount(f->s, "k8s-a", "kubernetes");
	create_mount(f->s, "k8s-b", "kubernetes");
	assert_int_equal(kw_store_auth_role_put(f->s, "k8s-a", "r", "{}"), 0);
	put_mount_token(f->s, 1, "a1", "k8s-a");
	put_mount_token(f->s, 2, "a2", "k8s-a");
	put_mount_token(f->s, 3, "b1", "k8s-b");
	put_mount_token(f->s, 4, "plain", "");
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "a1", &got), 0);
	assert_string_equal(got.mount, "k8s-a");
	kw_store_token_cleanup(&got);
	assert_int_equal(kw_store_auth_mount_delete(f->s, "k8s-a", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "a1", &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "a2", &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "b1", &got), 0);
	kw_store_token_cleanup(&got);
	assert_int_equal(kw_store_token_get_by_accessor(f->s, "plain", &got), 0);
	kw_store_token_cleanup(&got);
	assert_int_equal(kw_store_auth_mount_load(f->s, "k8s-a", &gm), KW_ERR_NOT_FOUND);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM auth_roles"), 0);
	assert_int_equal(kw_store_auth_role_list(f->s, "k8s-a", &names, &n), 0);
	assert_int_equal(n, 0);
	kw_store_names_free(names, n);
	/* A login that finishes after the disable cannot leave a token behind. */
	snprintf(t.mount, sizeof(t.mount), "k8s-a");
	assert_int_equal(kw_store_token_put(f->s, &t), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_token_get(f->s, t.hash, &got), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_store_auth_mount_delete(f->s, "k8s-a", NULL), KW_ERR_NOT_FOUND);
}

static void auth_invalid_args(void **state)
{
	struct fx *f = *state;
	struct kw_store_auth_mount m = {0};
	char desc[KW_STORE_AUTH_DESC_MAX + 2];
	char *role;

	assert_int_equal(kw_store_auth_mount_create(f->s, &m), KW_ERR_INVALID); /* no path */
	snprintf(m.path, sizeof(m.path), "x");
	assert_int_equal(kw_store_auth_mount_create(f->s, &m), KW_ERR_INVALID); /* no type */
	snprintf(m.type, sizeof(m.type), "jwt");
	memset(desc, 'd', sizeof(desc) - 1);
	desc[sizeof(desc) - 1] = '\0';
	m.description = desc;
	assert_int_equal(kw_store_auth_mount_create(f->s, &m), KW_ERR_INVALID);
	m.description = NULL;
	assert_int_equal(kw_store_auth_mount_create(f->s, &m), 0);
	assert_int_equal(kw_store_auth_mount_create(NULL, &m), KW_ERR_INVALID);
	assert_int_equal(kw_store_auth_role_put(f->s, "x", "", "{}"), KW_ERR_INVALID);
	assert_int_equal(kw_store_auth_role_put(f->s, "x", "r", NULL), KW_ERR_INVALID);
	role = malloc(KW_STORE_AUTH_ROLE_MAX + 2);
	assert_non_null(role);
	memset(role, ' ', KW_STORE_AUTH_ROLE_MAX + 1);
	role[KW_STORE_AUTH_ROLE_MAX + 1] = '\0';
	assert_int_equal(kw_store_auth_role_put(f->s, "x", "r", role), KW_ERR_INVALID);
	free(role);
	assert_int_equal(kw_store_auth_role_get(f->s, "x", "r", NULL), KW_ERR_INVALID);
	assert_int_equal(kw_store_auth_mount_delete(f->s, "", NULL), KW_ERR_INVALID);
}

/* clang-format off */
#define T(name, fn) {"/store/" name, fn, setup_store, teardown, NULL}
#define T_DIR(name, fn) {"/store/" name, fn, setup_dir, teardown, NULL}
/* clang-format on */

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T("open-creates-private-wal-db", open_creates_private_wal_db),
	    T_DIR("open-url-forms", open_url_forms),
	    T("meta-put-get", meta_put_get),
	    T("meta-overwrite", meta_overwrite),
	    T("meta-not-found", meta_not_found),
	    T("meta-empty-value", meta_empty_value),
	    T("key-create-load", key_create_load),
	    T("key-load-missing", key_load_missing),
	    T("key-create-twice", key_create_twice),
	    T("key-update", key_update),
	    T("key-rotate", key_rotate),
	    T("key-rotate-failure-rolls-back", key_rotate_failure_rolls_back),
	    T("key-rotate-missing", key_rotate_missing),
	    T("key-rewrap", key_rewrap),
	    T("key-delete-cascades", key_delete_cascades),
	    T("key-list-sorted", key_list_sorted),
	    T("key-invalid-args", key_invalid_args),
	    T("token-put-get", token_put_get),
	    T("token-get-by-accessor", token_get_by_accessor),
	    T("token-accessor-taken", token_accessor_taken),
	    T("token-put-replaces", token_put_replaces),
	    T("token-delete", token_delete),
	    T("token-purge-expired", token_purge_expired),
	    T("policy-put-get", policy_put_get),
	    T("policy-list-delete", policy_list_delete),
	    T("auth-mount-create-load-list", auth_mount_create_load_list),
	    T("auth-mount-config-put", auth_mount_config_put),
	    T("auth-role-round-trip", auth_role_round_trip),
	    T("auth-mount-delete-revokes", auth_mount_delete_revokes),
	    T("auth-invalid-args", auth_invalid_args),
	    T("reopen-persists", reopen_persists),
	    T_DIR("migrate-empty-file", migrate_empty_file),
	    T_DIR("migrate-old-schema", migrate_old_schema),
	    T("future-schema-refused", future_schema_refused),
	    T_DIR("foreign-db-refused", foreign_db_refused),
	    T_DIR("open-missing-dir", open_missing_dir),
	    T_DIR("open-directory", open_directory),
	    T("open-readonly-file", open_readonly_file),
	    T_DIR("open-garbage-file", open_garbage_file),
	    T("open-truncated-file", open_truncated_file),
	    T("open-corrupt-page", open_corrupt_page),
	    T("threads-share-one-store", threads_share_one_store),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
