/*
 * test_log.c: the segment log — append and read back, reopen, rotation,
 * proofs equal to an in-memory tree, crash recovery (torn tails, torn
 * headers, lost or damaged caches), group commit, write and sync failures,
 * a full disk (RLIMIT_FSIZE), one writer per directory, read-only opening,
 * search and checkpoints.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit_tests.h"

#define H KW_AUDIT_HASH_BYTES

static struct kw_audit_log *log_open(const char *dir, uint64_t seg)
{
	struct kw_audit_log_opts o = {.segment_bytes = seg};
	struct kw_audit_log *l = NULL;

	assert_int_equal(kw_audit_log_open(dir, &o, &l), 0);
	return l;
}

static struct kw_audit_log *log_open_ro(const char *dir)
{
	struct kw_audit_log_opts o = {.read_only = true};
	struct kw_audit_log *l = NULL;

	assert_int_equal(kw_audit_log_open(dir, &o, &l), 0);
	return l;
}

static uint64_t log_size(struct kw_audit_log *l)
{
	struct kw_audit_head h;

	assert_int_equal(kw_audit_log_head(l, &h), 0);
	return h.size;
}

/* The leaf the log writes for sample entry i. */
static void sample_leaf(uint64_t i, struct kw_buf *b)
{
	struct kw_audit_entry e;

	t_entry(&e, i);
	kw_buf_init(b);
	assert_int_equal(kw_audit_entry_encode(&e, b), 0);
}

/* A memory tree over sample entries [0, n). */
static struct kw_audit_tree *sample_tree(uint64_t n)
{
	struct kw_audit_tree *t = NULL;

	assert_int_equal(kw_audit_tree_new(&t), 0);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t lh[H];
		struct kw_buf b;

		sample_leaf(i, &b);
		assert_int_equal(kw_audit_leaf_hash(b.data, b.len, lh), 0);
		assert_int_equal(kw_audit_tree_append(t, lh), 0);
		kw_buf_cleanup(&b);
	}
	return t;
}

static void assert_root_is_sample(struct kw_audit_log *l, uint64_t n)
{
	struct kw_audit_tree *t = sample_tree(n);
	uint8_t a[H], b[H];

	assert_int_equal(kw_audit_log_root(l, n, a), 0);
	assert_int_equal(kw_audit_tree_root(t, n, b), 0);
	assert_memory_equal(a, b, H);
	kw_audit_tree_free(t);
}

static void assert_entry_is_sample(struct kw_audit_log *l, uint64_t i)
{
	uint8_t *leaf = NULL;
	struct kw_buf b;
	size_t len = 0;

	assert_int_equal(kw_audit_log_read(l, i, &leaf, &len), 0);
	sample_leaf(i, &b);
	assert_int_equal(len, b.len);
	assert_memory_equal(leaf, b.data, len);
	kw_buf_cleanup(&b);
	free(leaf);
}

static uint64_t file_size(const char *dir, const char *name)
{
	char *p = t_path(dir, name);
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	free(p);
	return (uint64_t)st.st_size;
}

static void file_append(const char *dir, const char *name, const void *data, size_t len)
{
	char *p = t_path(dir, name);
	FILE *f = fopen(p, "ab");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(p);
}

static void file_patch(const char *dir, const char *name, uint64_t off, const void *data,
                       size_t len)
{
	char *p = t_path(dir, name);
	int fd = open(p, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
	free(p);
}

static const char *seg0(void)
{
	static char name[AUDIT_SEG_NAME_BYTES];

	audit_seg_name(0, name);
	return name;
}

struct visit_log {
	uint64_t count, last;
	uint64_t *indices;
};

static int collect(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                   const struct kw_audit_entry *e)
{
	struct visit_log *v = ctx;
	struct kw_buf b;

	assert_int_equal(e->index, index);
	sample_leaf(index, &b);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, leaf, len);
	kw_buf_cleanup(&b);
	if (v->indices)
		v->indices[v->count] = index;
	v->count++;
	v->last = index;
	return 0;
}

void test_log_append_read(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l = log_open(dir, 0);
	struct visit_log v = {0};
	struct kw_audit_entry e, *d = NULL;
	struct kw_audit_head h;
	uint8_t *leaf = NULL;
	size_t len;
	uint64_t idx, before;

	for (uint64_t i = 0; i < 10; i++) {
		t_entry(&e, i);
		e.index = 999; /* ignored: the log numbers entries */
		assert_int_equal(kw_audit_log_append(l, &e, &idx), 0);
		assert_int_equal(idx, i);
	}
	assert_int_equal(kw_audit_log_head(l, &h), 0);
	assert_int_equal(h.size, 10);
	assert_int_equal(h.durable, 0);
	assert_int_equal(kw_audit_log_sync(l), 0);
	assert_int_equal(kw_audit_log_head(l, &h), 0);
	assert_int_equal(h.durable, 10);
	for (uint64_t i = 0; i < 10; i++)
		assert_entry_is_sample(l, i);
	assert_int_equal(kw_audit_log_read(l, 10, &leaf, &len), KW_ERR_NOT_FOUND);
	assert_int_equal(kw_audit_log_scan(l, 2, 7, collect, &v), 0);
	assert_int_equal(v.count, 5);
	assert_int_equal(v.last, 6);
	/* Time 0 is stamped by the log. */
	memset(&e, 0, sizeof(e));
	e.operation = "seal";
	before = kw_now_us();
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	assert_int_equal(idx, 10);
	assert_int_equal(kw_audit_log_read(l, 10, &leaf, &len), 0);
	assert_int_equal(kw_audit_entry_decode(leaf, len, &d), 0);
	assert_true(d->time_us >= before && d->time_us <= kw_now_us());
	assert_string_equal(d->operation, "seal");
	kw_audit_entry_free(d);
	free(leaf);
	assert_root_is_sample(l, 10);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

void test_log_reopen(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l;
	struct kw_audit_entry e;
	uint64_t idx;

	t_fill_log(dir, 100, 0);
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 100);
	assert_root_is_sample(l, 100);
	t_entry(&e, 100);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	assert_int_equal(idx, 100);
	assert_int_equal(kw_audit_log_close(l), 0);
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 101);
	assert_root_is_sample(l, 101);
	assert_entry_is_sample(l, 100);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

static size_t count_segments(const char *dir)
{
	uint64_t *firsts = NULL;
	size_t n = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(audit_seg_list(fd, &firsts, &n), 0);
	close(fd);
	free(firsts);
	return n;
}

void test_log_rotation(void **state)
{
	char *dir = t_tmpdir();
	struct visit_log v = {0};
	struct kw_audit_log *l;
	struct kw_audit_entry e;
	uint64_t idx;

	t_fill_log(dir, 300, 2048);
	assert_true(count_segments(dir) >= 20);
	l = log_open(dir, 2048);
	assert_int_equal(log_size(l), 300);
	assert_root_is_sample(l, 300);
	for (uint64_t i = 0; i < 300; i += 13)
		assert_entry_is_sample(l, i);
	assert_int_equal(kw_audit_log_scan(l, 0, UINT64_MAX, collect, &v), 0);
	assert_int_equal(v.count, 300);
	/* Rotation while committing. */
	for (uint64_t i = 300; i < 340; i++) {
		t_entry(&e, i);
		assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
		assert_int_equal(idx, i);
	}
	assert_int_equal(kw_audit_log_close(l), 0);
	/* A segment never exceeds the limit unless one record does. */
	{
		int fd = open(dir, O_RDONLY | O_DIRECTORY);
		uint64_t *firsts = NULL;
		size_t n = 0;

		assert_int_equal(audit_seg_list(fd, &firsts, &n), 0);
		for (size_t s = 0; s < n; s++) {
			char name[AUDIT_SEG_NAME_BYTES];

			audit_seg_name(firsts[s], name);
			assert_true(file_size(dir, name) <= 2048);
		}
		free(firsts);
		close(fd);
	}
	l = log_open(dir, 2048);
	assert_int_equal(log_size(l), 340);
	assert_root_is_sample(l, 340);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

void test_log_proofs_match_memory(void **state)
{
	const uint64_t n = 1000;
	char *dir = t_tmpdir();
	struct kw_audit_tree *t;
	struct kw_audit_log *l;
	struct kw_audit_proof a, b;

	t_fill_log(dir, n, 16384);
	l = log_open(dir, 16384);
	t = sample_tree(n);
	for (uint64_t size = 1; size <= n; size += 37) {
		uint8_t ra[H], rb[H];

		assert_int_equal(kw_audit_log_root(l, size, ra), 0);
		assert_int_equal(kw_audit_tree_root(t, size, rb), 0);
		assert_memory_equal(ra, rb, H);
		for (uint64_t i = 0; i < size; i += 11) {
			assert_int_equal(kw_audit_log_prove_inclusion(l, i, size, &a), 0);
			assert_int_equal(kw_audit_tree_prove_inclusion(t, i, size, &b), 0);
			assert_int_equal(a.count, b.count);
			assert_memory_equal(a.hash, b.hash, a.count * H);
		}
		for (uint64_t o = 1; o <= size; o += 29) {
			uint8_t ro[H];

			assert_int_equal(kw_audit_log_prove_consistency(l, o, size, &a), 0);
			assert_int_equal(kw_audit_tree_root(t, o, ro), 0);
			assert_int_equal(kw_audit_verify_consistency(o, size, &a, ro, ra), 0);
		}
	}
	assert_int_equal(kw_audit_log_prove_inclusion(l, 0, n + 1, &a), KW_ERR_INVALID);
	kw_audit_tree_free(t);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

/* Damage the end of segment 0, reopen, and expect the 20 entries back;
 * after one more entry and a close the file holds records only. */
static void torn_case(const void *junk, size_t len, size_t frame21)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l;
	struct kw_audit_entry e;
	uint64_t good, idx;

	t_fill_log(dir, 20, 0);
	good = file_size(dir, seg0());
	file_append(dir, seg0(), junk, len);
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 20);
	assert_root_is_sample(l, 20);
	t_entry(&e, 20);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	assert_int_equal(idx, 20);
	assert_int_equal(kw_audit_log_close(l), 0);
	assert_int_equal(file_size(dir, seg0()), good + frame21);
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 21);
	assert_root_is_sample(l, 21);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

void test_log_torn_tail(void **state)
{
	uint8_t frame[600] = {0};
	struct kw_buf b, f;
	uint8_t lh[H];

	sample_leaf(20, &b);
	assert_int_equal(kw_audit_leaf_hash(b.data, b.len, lh), 0);
	kw_buf_init(&f);
	assert_int_equal(audit_frame_append(&f, b.data, b.len, lh), 0);
	torn_case(f.data, 3, f.len);         /* part of the length */
	torn_case(f.data, f.len / 2, f.len); /* half a record */
	torn_case(f.data, f.len - 1, f.len); /* all but the last check byte */
	/* half a record inside the zeros written ahead of it */
	memcpy(frame, f.data, f.len / 2);
	torn_case(frame, sizeof(frame), f.len);
	memset(frame, 0, sizeof(frame));
	torn_case(frame, sizeof(frame), f.len); /* zeros: written ahead, or size first */
	f.data[10] ^= 0x20;                     /* a whole record, failing its check */
	torn_case(f.data, f.len, f.len);
	memset(frame, 0xff, 8); /* an absurd length */
	torn_case(frame, 8, f.len);
	kw_buf_cleanup(&f);
	kw_buf_cleanup(&b);
}

void test_log_torn_segment_header(void **state)
{
	char *dir = t_tmpdir();
	char name[AUDIT_SEG_NAME_BYTES];
	struct kw_audit_log *l;
	struct kw_audit_entry e;
	uint64_t idx;
	char *p;

	/* A crash while rotating left the next segment's header half written. */
	t_fill_log(dir, 50, 2048);
	l = log_open(dir, 2048);
	assert_int_equal(kw_audit_log_close(l), 0);
	audit_seg_name(50, name);
	file_append(dir, name, AUDIT_SEG_MAGIC, 5);
	l = log_open(dir, 2048);
	assert_int_equal(log_size(l), 50);
	p = t_path(dir, name);
	assert_int_not_equal(access(p, F_OK), 0);
	for (uint64_t i = 50; i < 80; i++) {
		t_entry(&e, i);
		assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
		assert_int_equal(idx, i);
	}
	assert_int_equal(kw_audit_log_close(l), 0);
	l = log_open(dir, 2048);
	assert_int_equal(log_size(l), 80);
	assert_root_is_sample(l, 80);
	assert_int_equal(kw_audit_log_close(l), 0);
	free(p);
	t_rmdir(dir);

	/* The very first segment's header: the log starts afresh. */
	dir = t_tmpdir();
	file_append(dir, seg0(), AUDIT_SEG_MAGIC, 3);
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 0);
	t_entry(&e, 0);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(kw_audit_log_close(l), 0);
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 1);
	assert_root_is_sample(l, 1);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

void test_log_rebuild_caches(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l;
	char *p;

	t_fill_log(dir, 500, 4096);
	/* Both caches gone: rebuilt from every segment. */
	p = t_path(dir, AUDIT_TREE_FILE);
	assert_int_equal(unlink(p), 0);
	free(p);
	p = t_path(dir, AUDIT_OFFSETS_FILE);
	assert_int_equal(unlink(p), 0);
	free(p);
	l = log_open(dir, 4096);
	assert_int_equal(log_size(l), 500);
	assert_root_is_sample(l, 500);
	for (uint64_t i = 0; i < 500; i += 7)
		assert_entry_is_sample(l, i);
	assert_int_equal(kw_audit_log_close(l), 0);
	assert_int_equal(file_size(dir, AUDIT_TREE_FILE), audit_tree_nodes(500) * H);
	assert_int_equal(file_size(dir, AUDIT_OFFSETS_FILE), 500 * 8);
	/* Cut mid-node and mid-offset, as a crash may leave them. */
	p = t_path(dir, AUDIT_TREE_FILE);
	assert_int_equal(truncate(p, 12345), 0);
	free(p);
	p = t_path(dir, AUDIT_OFFSETS_FILE);
	assert_int_equal(truncate(p, 1001), 0);
	free(p);
	l = log_open(dir, 4096);
	assert_int_equal(log_size(l), 500);
	assert_root_is_sample(l, 500);
	assert_entry_is_sample(l, 499);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

void test_log_damaged_cache(void **state)
{
	static const uint8_t junk[H] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t off[8] = {0, 0, 0, 0, 0, 0, 0, 99};
	char *dir = t_tmpdir();
	struct kw_audit_log *l;
	struct kw_audit_proof p;
	uint8_t root[H], lh[H];
	struct kw_buf b;

	t_fill_log(dir, 300, 0);
	/* Garbage where the last segment's records say otherwise: found and
	 * rebuilt, since open checks that segment record by record. */
	file_patch(dir, AUDIT_TREE_FILE, audit_tree_nodes(250) * H, junk, sizeof(junk));
	file_patch(dir, AUDIT_OFFSETS_FILE, 260 * 8, off, sizeof(off));
	l = log_open(dir, 0);
	assert_root_is_sample(l, 300);
	assert_entry_is_sample(l, 260);
	assert_int_equal(kw_audit_log_root(l, 300, root), 0);
	sample_leaf(250, &b);
	assert_int_equal(kw_audit_leaf_hash(b.data, b.len, lh), 0);
	assert_int_equal(kw_audit_log_prove_inclusion(l, 250, 300, &p), 0);
	assert_int_equal(kw_audit_verify_inclusion(250, 300, lh, &p, root), 0);
	kw_buf_cleanup(&b);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

/* ---- group commit ---- */

#define GC_THREADS 16
#define GC_EACH    100

struct gc_thread {
	struct kw_audit_log *l;
	int id;
	uint64_t got[GC_EACH];
};

static void *gc_run(void *arg)
{
	struct gc_thread *t = arg;
	char rid[32];

	snprintf(rid, sizeof(rid), "thread-%d", t->id);
	for (int i = 0; i < GC_EACH; i++) {
		struct kw_audit_entry e;
		struct kw_audit_head h;

		t_entry(&e, (uint64_t)i);
		e.request_id = rid;
		e.key_version = (uint32_t)i;
		if (kw_audit_log_commit(t->l, &e, &t->got[i]) != 0)
			t->got[i] = UINT64_MAX;
		/* Committed means durable, at once. */
		if (kw_audit_log_head(t->l, &h) != 0 || h.durable <= t->got[i])
			t->got[i] = UINT64_MAX;
	}
	return NULL;
}

struct gc_count {
	unsigned seen[GC_THREADS][GC_EACH];
};

static int gc_visit(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                    const struct kw_audit_entry *e)
{
	struct gc_count *c = ctx;
	int id = -1;

	assert_int_equal(sscanf(e->request_id, "thread-%d", &id), 1);
	assert_true(id >= 0 && id < GC_THREADS && e->key_version < GC_EACH);
	c->seen[id][e->key_version]++;
	return 0;
}

void test_log_group_commit(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l = log_open(dir, 32768);
	struct gc_thread *t = calloc(GC_THREADS, sizeof(*t));
	struct gc_count *c = calloc(1, sizeof(*c));
	bool *taken = calloc(GC_THREADS * GC_EACH, 1);
	pthread_t th[GC_THREADS];
	struct kw_audit_head h;

	assert_non_null(t);
	assert_non_null(c);
	assert_non_null(taken);
	for (int i = 0; i < GC_THREADS; i++) {
		t[i].l = l;
		t[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, gc_run, &t[i]), 0);
	}
	for (int i = 0; i < GC_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	/* Every commit got its own index, and each is in the log once. */
	for (int i = 0; i < GC_THREADS; i++) {
		for (int j = 0; j < GC_EACH; j++) {
			uint64_t x = t[i].got[j];

			assert_true(x < GC_THREADS * GC_EACH);
			assert_false(taken[x]);
			taken[x] = true;
		}
	}
	assert_int_equal(kw_audit_log_head(l, &h), 0);
	assert_int_equal(h.size, GC_THREADS * GC_EACH);
	assert_int_equal(h.durable, h.size);
	assert_true(h.syncs <= h.size);
	assert_int_equal(kw_audit_log_close(l), 0);
	l = log_open(dir, 32768);
	assert_int_equal(kw_audit_log_scan(l, 0, UINT64_MAX, gc_visit, c), 0);
	for (int i = 0; i < GC_THREADS; i++)
		for (int j = 0; j < GC_EACH; j++)
			assert_int_equal(c->seen[i][j], 1);
	assert_int_equal(kw_audit_log_close(l), 0);
	free(taken);
	free(c);
	free(t);
	t_rmdir(dir);
}

/* A first round held until wait_for entries are in: then one more sync
 * covers them all, whatever the scheduler does. */
struct gc_gate {
	struct kw_audit_log *l;
	int calls;
	uint64_t wait_for;
};

static void gc_hold_first_sync(void *ctx)
{
	struct gc_gate *g = ctx;
	struct kw_audit_head h;

	if (g->calls++ > 0)
		return;
	do {
		usleep(1000);
		assert_int_equal(kw_audit_log_head(g->l, &h), 0);
	} while (h.size < g->wait_for);
}

static void *gc_one(void *arg)
{
	struct gc_thread *t = arg;
	struct kw_audit_entry e;

	t_entry(&e, (uint64_t)t->id);
	if (kw_audit_log_commit(t->l, &e, &t->got[0]) != 0)
		t->got[0] = UINT64_MAX;
	return NULL;
}

static void group_commit_shares_syncs(void)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l = log_open(dir, 0);
	struct gc_thread *t = calloc(GC_THREADS, sizeof(*t));
	struct gc_gate g = {.l = l, .wait_for = GC_THREADS};
	pthread_t th[GC_THREADS];
	struct kw_audit_head h;

	assert_non_null(t);
	audit_log_sync_hook(l, gc_hold_first_sync, &g);
	for (int i = 0; i < GC_THREADS; i++) {
		t[i].l = l;
		t[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, gc_one, &t[i]), 0);
	}
	for (int i = 0; i < GC_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(t[i].got[0] < GC_THREADS);
	}
	assert_int_equal(kw_audit_log_head(l, &h), 0);
	assert_int_equal(h.durable, GC_THREADS);
	/* 16 commits, at most 2 fdatasyncs: the held one and one for the rest. */
	assert_true(h.syncs <= 2);
	assert_int_equal(kw_audit_log_close(l), 0);
	free(t);
	t_rmdir(dir);
}

/* ---- asynchronous commits ---- */

#define AC_N 200

/* What the callbacks saw: called once each, with which rc, and whether the
 * entry was durable by then. */
struct ac_state {
	struct kw_audit_log *l;
	pthread_mutex_t mu;
	unsigned calls[AC_N];
	int rc[AC_N];
	bool durable[AC_N];
	uint64_t index[AC_N];
	unsigned total;
};

struct ac_call {
	struct ac_state *s;
	unsigned i;
};

static void ac_done(void *ctx, int rc)
{
	struct ac_call *c = ctx;
	struct ac_state *s = c->s;
	struct kw_audit_head h;
	/* head fails once the log has failed; then "durable" is moot. */
	bool durable = kw_audit_log_head(s->l, &h) == 0 && h.durable > s->index[c->i];

	pthread_mutex_lock(&s->mu);
	s->calls[c->i]++;
	s->rc[c->i] = rc;
	s->durable[c->i] = durable;
	s->total++;
	pthread_mutex_unlock(&s->mu);
}

static unsigned ac_total(struct ac_state *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->total;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void ac_wait(struct ac_state *s, unsigned n)
{
	for (int tries = 0; ac_total(s) < n && tries < 10000; tries++)
		usleep(1000);
	assert_int_equal(ac_total(s), n);
}

static int ac_commit(struct ac_state *s, struct ac_call *calls, unsigned i)
{
	struct kw_audit_entry e;

	t_entry(&e, i);
	calls[i] = (struct ac_call){s, i};
	/* The index is known before the callback can run: it is set under the
	 * log's lock and the callback runs only after a later round. */
	return kw_audit_log_commit_async(s->l, &e, &s->index[i], ac_done, &calls[i]);
}

void test_log_commit_async(void **state)
{
	char *dir = t_tmpdir();
	struct ac_state *s = calloc(1, sizeof(*s));
	struct ac_call *calls = calloc(AC_N, sizeof(*calls));

	assert_non_null(s);
	assert_non_null(calls);
	pthread_mutex_init(&s->mu, NULL);
	/* Small segments: rotations make entries durable too, and their
	 * callers must hear of it. */
	s->l = log_open(dir, 2048);
	for (unsigned i = 0; i < AC_N; i++) {
		assert_int_equal(ac_commit(s, calls, i), 0);
		assert_int_equal(s->index[i], i);
	}
	ac_wait(s, AC_N);
	for (unsigned i = 0; i < AC_N; i++) {
		assert_int_equal(s->calls[i], 1);
		assert_int_equal(s->rc[i], 0);
		assert_true(s->durable[i]);
	}
	/* Committed and not waited for, then closed: close answers them
	 * (durable) before it returns. */
	memset(s->calls, 0, sizeof(s->calls));
	s->total = 0;
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(ac_commit(s, calls, i), 0);
	assert_int_equal(kw_audit_log_close(s->l), 0);
	assert_int_equal(s->total, 20);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(s->calls[i], 1);
	s->l = log_open(dir, 2048);
	assert_int_equal(log_size(s->l), AC_N + 20);
	assert_int_equal(kw_audit_log_close(s->l), 0);
	pthread_mutex_destroy(&s->mu);
	free(calls);
	free(s);
	t_rmdir(dir);
}

void test_log_commit_async_failure(void **state)
{
	char *dir = t_tmpdir();
	struct ac_state *s = calloc(1, sizeof(*s));
	struct ac_call *calls = calloc(AC_N, sizeof(*calls));
	struct gc_gate g;

	assert_non_null(s);
	assert_non_null(calls);
	pthread_mutex_init(&s->mu, NULL);
	s->l = log_open(dir, 0);
	/* The first round is held until 3 entries are in, then its
	 * fdatasync "fails": all three hear KW_ERR_IO, none hears 0. */
	g = (struct gc_gate){.l = s->l, .wait_for = 3};
	audit_log_sync_hook(s->l, gc_hold_first_sync, &g);
	audit_log_fault_inject(s->l, AUDIT_FAULT_SYNC, 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(ac_commit(s, calls, i), 0);
	ac_wait(s, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(s->calls[i], 1);
		assert_int_equal(s->rc[i], KW_ERR_IO);
	}
	/* A failed log takes no more: the error now, no callback later. */
	assert_int_equal(ac_commit(s, calls, 3), KW_ERR_IO);
	assert_int_equal(kw_audit_log_close(s->l), KW_ERR_IO);
	assert_int_equal(s->total, 3);
	assert_int_equal(s->calls[3], 0);
	pthread_mutex_destroy(&s->mu);
	free(calls);
	free(s);
	t_rmdir(dir);
}

/* ---- failures ---- */

static void assert_failed_state(struct kw_audit_log *l)
{
	struct kw_audit_entry e;
	struct kw_audit_head h;
	uint64_t idx;

	t_entry(&e, 0);
	assert_int_equal(kw_audit_log_append(l, &e, &idx), KW_ERR_IO);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), KW_ERR_IO);
	assert_int_equal(kw_audit_log_sync(l), KW_ERR_IO);
	assert_int_equal(kw_audit_log_head(l, &h), KW_ERR_IO);
}

void test_log_write_failure(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l = log_open(dir, 0);
	struct kw_audit_entry e;
	uint64_t idx;

	for (uint64_t i = 0; i < 5; i++) {
		t_entry(&e, i);
		assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	}
	audit_log_fault_inject(l, AUDIT_FAULT_WRITE, 0);
	t_entry(&e, 5);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), KW_ERR_IO);
	assert_failed_state(l);
	assert_int_equal(kw_audit_log_close(l), KW_ERR_IO);
	/* What was durable is there; the log works again once reopened. */
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 5);
	assert_root_is_sample(l, 5);
	t_entry(&e, 5);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	assert_int_equal(idx, 5);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

void test_log_sync_failure(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l = log_open(dir, 0);
	struct kw_audit_entry e;
	uint64_t idx;

	t_entry(&e, 0);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	audit_log_fault_inject(l, AUDIT_FAULT_SYNC, 0);
	t_entry(&e, 1);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), KW_ERR_IO);
	assert_failed_state(l);
	assert_int_equal(kw_audit_log_close(l), KW_ERR_IO);
	/* Entry 1 was written, its sync "failed": it may or may not survive a
	 * power cut; after a clean reopen it is there and the tree agrees. */
	l = log_open(dir, 0);
	assert_int_equal(log_size(l), 2);
	assert_root_is_sample(l, 2);
	assert_int_equal(kw_audit_log_close(l), 0);
	/* A failed sync while rotating fails the log the same way. */
	l = log_open(dir, 600);
	audit_log_fault_inject(l, AUDIT_FAULT_SYNC, 0);
	for (uint64_t i = 2; i < 10; i++) {
		int rc;

		t_entry(&e, i);
		rc = kw_audit_log_append(l, &e, &idx);
		if (rc != 0) {
			assert_int_equal(rc, KW_ERR_IO);
			break;
		}
	}
	assert_failed_state(l);
	assert_int_equal(kw_audit_log_close(l), KW_ERR_IO);
	group_commit_shares_syncs();
	t_rmdir(dir);
}

void test_log_disk_full(void **state)
{
	char *dir = t_tmpdir();
	int pipefd[2];
	uint64_t acked = 0;
	pid_t pid;
	int status;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Child: files may not grow past 64 KiB, as on a full disk. */
		struct rlimit rl = {.rlim_cur = 65536, .rlim_max = RLIM_INFINITY};
		struct kw_audit_log_opts o = {.segment_bytes = 1u << 20};
		struct kw_audit_log *l = NULL;
		uint64_t n = 0, idx;
		int rc = 0;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0 || kw_audit_log_open(dir, &o, &l) != 0)
			_exit(2);
		while (n < 10000) {
			struct kw_audit_entry e;

			t_entry(&e, n);
			if ((rc = kw_audit_log_commit(l, &e, &idx)) != 0)
				break;
			n++;
		}
		if (write(pipefd[1], &n, sizeof(n)) != sizeof(n))
			_exit(3);
		/* Failed for good: no later call succeeds. */
		{
			struct kw_audit_entry e;

			t_entry(&e, n);
			if (rc != KW_ERR_IO || kw_audit_log_commit(l, &e, &idx) != KW_ERR_IO ||
			    kw_audit_log_sync(l) != KW_ERR_IO)
				_exit(4);
		}
		(void)kw_audit_log_close(l);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &acked, sizeof(acked)), sizeof(acked));
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(acked > 10 && acked < 10000);
	{
		/* Every acknowledged entry is there; the half-written one is cut. */
		struct kw_audit_log *l = log_open(dir, 1u << 20);

		assert_int_equal(log_size(l), acked);
		assert_root_is_sample(l, acked);
		assert_int_equal(kw_audit_log_close(l), 0);
	}
	t_rmdir(dir);
}

void test_log_exclusive(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *l = log_open(dir, 0), *l2 = NULL, *ro;

	assert_int_equal(kw_audit_log_open(dir, NULL, &l2), KW_ERR_UNAVAILABLE);
	assert_null(l2);
	ro = log_open_ro(dir);
	assert_int_equal(kw_audit_log_close(ro), 0);
	assert_int_equal(kw_audit_log_close(l), 0);
	l = log_open(dir, 0);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}

void test_log_read_only(void **state)
{
	char *dir = t_tmpdir();
	struct kw_audit_log *w, *ro;
	struct kw_audit_entry e;
	struct kw_audit_proof p;
	struct visit_log v = {0};
	uint64_t idx;
	char *path;

	t_fill_log(dir, 50, 4096);
	w = log_open(dir, 4096);
	/* Alongside a writer: a snapshot as of opening. */
	ro = log_open_ro(dir);
	t_entry(&e, 50);
	assert_int_equal(kw_audit_log_commit(w, &e, &idx), 0);
	assert_int_equal(log_size(ro), 50);
	assert_root_is_sample(ro, 50);
	assert_entry_is_sample(ro, 49);
	assert_int_equal(kw_audit_log_append(ro, &e, &idx), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_audit_log_close(ro), 0);
	assert_int_equal(kw_audit_log_close(w), 0);
	/* Without caches: built in memory, nothing written. */
	path = t_path(dir, AUDIT_TREE_FILE);
	assert_int_equal(unlink(path), 0);
	free(path);
	path = t_path(dir, AUDIT_OFFSETS_FILE);
	assert_int_equal(unlink(path), 0);
	ro = log_open_ro(dir);
	assert_int_equal(log_size(ro), 51);
	assert_root_is_sample(ro, 51);
	assert_int_equal(kw_audit_log_prove_inclusion(ro, 7, 51, &p), 0);
	assert_int_equal(kw_audit_log_scan(ro, 0, UINT64_MAX, collect, &v), 0);
	assert_int_equal(v.count, 51);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(kw_audit_log_close(ro), 0);
	free(path);
	/* A missing directory is not created. */
	path = t_path(dir, "nope");
	assert_int_equal(
	    kw_audit_log_open(path, &(struct kw_audit_log_opts){.read_only = true}, &ro),
	    KW_ERR_NOT_FOUND);
	free(path);
	t_rmdir(dir);
}

struct search_out {
	uint64_t idx[400];
	size_t n;
};

static int search_collect(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                          const struct kw_audit_entry *e)
{
	struct search_out *s = ctx;

	s->idx[s->n++] = index;
	return 0;
}

/* Matches of q by brute force over the sample entries. */
static size_t expected_matches(const struct kw_audit_query *q, uint64_t n, uint64_t *out)
{
	size_t count = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct kw_audit_entry e, *d = NULL;
		struct kw_buf b;

		t_entry(&e, i);
		kw_buf_init(&b);
		assert_int_equal(kw_audit_entry_encode(&e, &b), 0);
		assert_int_equal(kw_audit_entry_decode(b.data, b.len, &d), 0);
		if (kw_audit_query_match(q, d))
			out[count++] = i;
		kw_audit_entry_free(d);
		kw_buf_cleanup(&b);
	}
	return count;
}

static void assert_search(struct kw_audit_log *l, const struct kw_audit_query *q, uint64_t n)
{
	struct search_out *got = calloc(1, sizeof(*got));
	uint64_t want[400], cursor = 0, next = 0;
	size_t nwant = expected_matches(q, n, want);

	assert_non_null(got);
	assert_true(nwant > 0);
	/* Pages of 7 matches, at most 50 entries examined per call. */
	while (cursor < n) {
		assert_int_equal(
		    kw_audit_log_search(l, q, cursor, 7, 50, search_collect, got, &next), 0);
		assert_true(next > cursor);
		cursor = next;
	}
	assert_int_equal(got->n, nwant);
	assert_memory_equal(got->idx, want, nwant * sizeof(uint64_t));
	free(got);
}

void test_log_search(void **state)
{
	const uint64_t n = 300;
	char *dir = t_tmpdir();
	struct kw_audit_log *l;
	struct kw_audit_query q = {0};
	struct search_out *got = calloc(1, sizeof(*got));
	uint64_t next;

	assert_non_null(got);
	t_fill_log(dir, n, 8192);
	l = log_open(dir, 8192);
	q.key_name = "payments";
	assert_search(l, &q, n);
	q.operation = "sign";
	assert_search(l, &q, n);
	memset(&q, 0, sizeof(q));
	q.identity = "ci-runner"; /* a subject */
	assert_search(l, &q, n);
	q.identity = "5f2a7c0e9b1d4a6c8e0f2b4d"; /* an accessor */
	assert_search(l, &q, n);
	memset(&q, 0, sizeof(q));
	q.since_us = 1764338400000000ull + 100 * 1000;
	q.until_us = 1764338400000000ull + 120 * 1000;
	assert_search(l, &q, n);
	/* limit stops early and says where to resume. */
	memset(&q, 0, sizeof(q));
	assert_int_equal(kw_audit_log_search(l, &q, 10, 5, 0, search_collect, got, &next), 0);
	assert_int_equal(got->n, 5);
	assert_int_equal(next, 15);
	assert_int_equal(kw_audit_log_search(l, &q, n, 5, 0, search_collect, got, &next), 0);
	assert_int_equal(next, n);
	assert_int_equal(kw_audit_log_search(l, &q, 0, 0, 0, search_collect, got, &next),
	                 KW_ERR_INVALID);
	q.key_name = "no-such-key";
	assert_int_equal(kw_audit_log_search(l, &q, 0, 5, 0, search_collect, got, &next), 0);
	assert_int_equal(got->n, 5);
	assert_int_equal(next, n);
	assert_int_equal(kw_audit_log_close(l), 0);
	free(got);
	t_rmdir(dir);
}

void test_log_checkpoint(void **state)
{
	char *dir = t_tmpdir();
	struct kw_key *k = t_fixed_key();
	struct kw_audit_log *l = log_open(dir, 0);
	struct kw_audit_checkpoint c;
	struct kw_audit_verifier v;
	struct kw_audit_signer s;
	struct kw_audit_entry e;
	char *n1 = NULL, *n2 = NULL, *n3 = NULL, *latest = NULL;
	uint8_t root[H];
	uint64_t idx;

	t_signer(&s, k, "example.com/keyward/audit");
	t_verifier(&v, &s);
	for (uint64_t i = 0; i < 10; i++) {
		t_entry(&e, i);
		assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	}
	assert_int_equal(kw_audit_log_checkpoint(l, &s, &n1), 0);
	assert_int_equal(kw_audit_checkpoint_open(n1, strlen(n1), &v, &c), 0);
	assert_int_equal(c.size, 10);
	assert_int_equal(kw_audit_log_root(l, 10, root), 0);
	assert_memory_equal(c.root, root, H);
	/* Appended but not durable: not in a checkpoint yet. */
	for (uint64_t i = 10; i < 15; i++) {
		t_entry(&e, i);
		assert_int_equal(kw_audit_log_append(l, &e, &idx), 0);
	}
	assert_int_equal(kw_audit_log_checkpoint(l, &s, &n2), 0);
	assert_string_equal(n1, n2);
	assert_int_equal(kw_audit_log_sync(l), 0);
	assert_int_equal(kw_audit_log_checkpoint(l, &s, &n3), 0);
	assert_int_equal(kw_audit_checkpoint_open(n3, strlen(n3), &v, &c), 0);
	assert_int_equal(c.size, 15);
	assert_int_equal(kw_audit_checkpoint_latest(dir, &latest), 0);
	assert_string_equal(latest, n3);
	free(latest);
	assert_int_equal(kw_audit_log_close(l), 0);
	/* A torn checkpoint write is cut; later checkpoints stay readable. */
	file_append(dir, AUDIT_CHECKPOINTS_FILE, "\0\0\1\0abc", 7);
	l = log_open(dir, 0);
	assert_int_equal(kw_audit_checkpoint_latest(dir, &latest), 0);
	assert_string_equal(latest, n3);
	free(latest);
	t_entry(&e, 15);
	assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	free(n1);
	assert_int_equal(kw_audit_log_checkpoint(l, &s, &n1), 0);
	assert_int_equal(kw_audit_checkpoint_latest(dir, &latest), 0);
	assert_string_equal(latest, n1);
	assert_int_equal(kw_audit_checkpoint_open(latest, strlen(latest), &v, &c), 0);
	assert_int_equal(c.size, 16);
	free(latest);
	assert_int_equal(kw_audit_log_close(l), 0);
	free(n1);
	free(n2);
	free(n3);
	kw_key_free(k);
	t_rmdir(dir);
}

void test_log_damaged_sealed_record(void **state)
{
	char *dir = t_tmpdir();
	struct visit_log v = {0};
	struct kw_audit_log *l;
	uint8_t x = 0x5a;
	char *p;

	t_fill_log(dir, 100, 4096);
	/* A byte of entry 2, in the first (sealed) segment. Open trusts the
	 * sealed segments' caches; reading reaches the record and refuses. */
	file_patch(dir, seg0(), AUDIT_SEG_HEADER_BYTES + 4 + 300 + 40, &x, 1);
	l = log_open(dir, 4096);
	assert_int_equal(log_size(l), 100);
	assert_int_equal(kw_audit_log_scan(l, 0, UINT64_MAX, collect, &v), KW_ERR_INTEGRITY);
	assert_true(v.count < 3);
	assert_int_equal(kw_audit_log_close(l), 0);
	/* Without caches open must re-read it, and refuses the log. */
	p = t_path(dir, AUDIT_TREE_FILE);
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(kw_audit_log_open(dir, NULL, &l), KW_ERR_INTEGRITY);
	t_rmdir(dir);
}

void test_log_damage_under_checkpoint(void **state)
{
	char *dir = t_tmpdir();
	struct kw_key *k = t_fixed_key();
	struct kw_audit_log *l = log_open(dir, 0);
	struct kw_audit_signer s;
	struct kw_audit_entry e;
	uint64_t size, idx;
	char *note = NULL;
	uint8_t x = 0xa5;

	t_signer(&s, k, "example.com/keyward/audit");
	for (uint64_t i = 0; i < 30; i++) {
		t_entry(&e, i);
		assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
	}
	assert_int_equal(kw_audit_log_checkpoint(l, &s, &note), 0);
	free(note);
	assert_int_equal(kw_audit_log_close(l), 0);
	/* A byte in the middle of the last (and only) segment: a signed
	 * checkpoint covers it, so it is damage, not a torn write. */
	size = file_size(dir, seg0());
	file_patch(dir, seg0(), size / 2, &x, 1);
	assert_int_equal(kw_audit_log_open(dir, NULL, &l), KW_ERR_INTEGRITY);
	assert_int_equal(file_size(dir, seg0()), size);
	kw_key_free(k);
	t_rmdir(dir);
}

/* A damaged checkpoint record with more after it is not a torn write:
 * open refuses (and cuts nothing), and "latest" does not fall back. */
void test_log_damaged_checkpoint_record(void **state)
{
	char *dir = t_tmpdir();
	struct kw_key *k = t_fixed_key();
	struct kw_audit_log *l = log_open(dir, 0);
	struct kw_audit_signer s;
	struct kw_audit_entry e;
	uint64_t size, idx;
	char *note = NULL;
	uint8_t x = 0x5a;

	t_signer(&s, k, "example.com/keyward/audit");
	for (uint64_t i = 0; i < 4; i++) {
		t_entry(&e, i);
		assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
		assert_int_equal(kw_audit_log_checkpoint(l, &s, &note), 0);
		free(note);
	}
	assert_int_equal(kw_audit_log_close(l), 0);
	size = file_size(dir, AUDIT_CHECKPOINTS_FILE);
	/* A byte inside the first record's note. */
	file_patch(dir, AUDIT_CHECKPOINTS_FILE, 20, &x, 1);
	assert_int_equal(kw_audit_checkpoint_latest(dir, &note), KW_ERR_INTEGRITY);
	assert_int_equal(kw_audit_log_open(dir, NULL, &l), KW_ERR_INTEGRITY);
	assert_int_equal(file_size(dir, AUDIT_CHECKPOINTS_FILE), size);
	kw_key_free(k);
	t_rmdir(dir);
}

void test_log_short_sealed_segment(void **state)
{
	char *dir = t_tmpdir();
	struct visit_log v = {0};
	struct kw_audit_log *l;
	uint64_t size;
	char *p;

	/* A sealed segment lost its last record behind the caches' back:
	 * reading reports it instead of looping. */
	t_fill_log(dir, 100, 4096);
	size = file_size(dir, seg0());
	p = t_path(dir, seg0());
	assert_int_equal(truncate(p, (off_t)(size - 100)), 0);
	free(p);
	l = log_open(dir, 4096);
	assert_int_equal(kw_audit_log_scan(l, 0, UINT64_MAX, collect, &v), KW_ERR_INTEGRITY);
	assert_true(v.count > 0 && v.count < 20);
	assert_int_equal(kw_audit_log_close(l), 0);
	t_rmdir(dir);
}
