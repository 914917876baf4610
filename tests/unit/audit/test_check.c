/*
 * test_check.c: the offline verifier against each kind of tampering — a
 * flipped byte, a careful edit (check bytes recomputed), a deleted, swapped
 * or inserted entry, a truncated tail, a replaced checkpoint signature, a
 * wrong origin — and on the untouched log; plus the streaming interface.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit_tests.h"

#define H      KW_AUDIT_HASH_BYTES
#define ORIGIN "example.com/keyward/audit"
#define N      60

/* A log of N entries with checkpoints at 20, 40 and 60. */
struct fixture {
	char *dir;
	struct kw_key *key;
	struct kw_audit_signer s;
	struct kw_audit_verifier v;
	char *notes[3];
};

static void fixture_make(struct fixture *f, uint64_t seg)
{
	struct kw_audit_log_opts o = {.segment_bytes = seg};
	struct kw_audit_log *l = NULL;

	memset(f, 0, sizeof(*f));
	f->dir = t_tmpdir();
	f->key = t_fixed_key();
	t_signer(&f->s, f->key, ORIGIN);
	t_verifier(&f->v, &f->s);
	assert_int_equal(kw_audit_log_open(f->dir, &o, &l), 0);
	for (uint64_t i = 0; i < N; i++) {
		struct kw_audit_entry e;
		uint64_t idx;

		t_entry(&e, i);
		assert_int_equal(kw_audit_log_commit(l, &e, &idx), 0);
		if ((i + 1) % 20 == 0)
			assert_int_equal(kw_audit_log_checkpoint(l, &f->s, &f->notes[i / 20]), 0);
	}
	assert_int_equal(kw_audit_log_close(l), 0);
}

static void fixture_free(struct fixture *f)
{
	for (int i = 0; i < 3; i++)
		free(f->notes[i]);
	kw_key_free(f->key);
	t_rmdir(f->dir);
}

static int verify(struct fixture *f, struct kw_audit_check_result *r)
{
	return kw_audit_verify_dir(f->dir, &f->v, NULL, (const char *const *)f->notes, 3, NULL,
	                           NULL, r);
}

/* Segment 0 as a list of framed records, to edit and write back. */
struct seg {
	char *path;
	uint8_t header[AUDIT_SEG_HEADER_BYTES];
	uint8_t *rec[N + 2];
	size_t len[N + 2];
	size_t n;
	uint8_t *tail; /* bytes after the last whole record */
	size_t tail_len;
};

static void seg_load(struct seg *s, const char *dir)
{
	char name[AUDIT_SEG_NAME_BYTES];
	size_t total, off = AUDIT_SEG_HEADER_BYTES;
	uint8_t *p;

	memset(s, 0, sizeof(*s));
	audit_seg_name(0, name);
	s->path = t_path(dir, name);
	p = (uint8_t *)t_read_file(s->path, &total);
	memcpy(s->header, p, sizeof(s->header));
	while (off + 4 <= total) {
		size_t n = kw_load_u32(p + off) + AUDIT_FRAME_OVERHEAD;

		assert_true(off + n <= total);
		s->rec[s->n] = malloc(n);
		assert_non_null(s->rec[s->n]);
		memcpy(s->rec[s->n], p + off, n);
		s->len[s->n++] = n;
		off += n;
	}
	free(p);
}

static void seg_save(struct seg *s)
{
	FILE *f = fopen(s->path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(s->header, 1, sizeof(s->header), f), sizeof(s->header));
	for (size_t i = 0; i < s->n; i++)
		assert_int_equal(fwrite(s->rec[i], 1, s->len[i], f), s->len[i]);
	if (s->tail_len)
		assert_int_equal(fwrite(s->tail, 1, s->tail_len, f), s->tail_len);
	assert_int_equal(fclose(f), 0);
	for (size_t i = 0; i < s->n; i++)
		free(s->rec[i]);
	free(s->tail);
	free(s->path);
}

/* A properly framed record for e, with its check bytes. */
static void frame_entry(const struct kw_audit_entry *e, uint8_t **rec, size_t *len)
{
	struct kw_buf b, f;
	uint8_t lh[H];

	kw_buf_init(&b);
	kw_buf_init(&f);
	assert_int_equal(kw_audit_entry_encode(e, &b), 0);
	assert_int_equal(kw_audit_leaf_hash(b.data, b.len, lh), 0);
	assert_int_equal(audit_frame_append(&f, b.data, b.len, lh), 0);
	*rec = malloc(f.len);
	assert_non_null(*rec);
	memcpy(*rec, f.data, f.len);
	*len = f.len;
	kw_buf_cleanup(&b);
	kw_buf_cleanup(&f);
}

static void assert_bad(struct fixture *f, uint64_t index, int cp, const char *word)
{
	struct kw_audit_check_result r;

	assert_int_equal(verify(f, &r), KW_ERR_INTEGRITY);
	assert_false(r.ok);
	assert_int_equal(r.bad_index, index);
	assert_int_equal(r.bad_checkpoint, cp);
	assert_non_null(strstr(r.reason, word));
}

struct progress {
	int calls;
	uint64_t done, total;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	assert_true(done >= p->done && done <= total);
	p->calls++;
	p->done = done;
	p->total = total;
}

void test_check_clean(void **state)
{
	struct kw_audit_check_result r;
	struct progress pr = {0};
	struct fixture f;

	fixture_make(&f, 0);
	assert_int_equal(kw_audit_verify_dir(f.dir, &f.v, NULL, (const char *const *)f.notes, 3,
	                                     on_progress, &pr, &r),
	                 0);
	assert_true(r.ok);
	assert_int_equal(r.entries, N);
	assert_int_equal(r.verified_size, N);
	assert_true(r.bad_index == UINT64_MAX);
	assert_int_equal(r.bad_checkpoint, -1);
	assert_int_equal(r.torn_bytes, 0);
	assert_true(pr.calls >= 1);
	assert_true(pr.done == pr.total && pr.total > 0);
	/* With no checkpoint given, the newest stored one is used. */
	assert_int_equal(kw_audit_verify_dir(f.dir, &f.v, NULL, NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.verified_size, N);
	/* Only the oldest checkpoint: the rest is readable but unvouched. */
	assert_int_equal(
	    kw_audit_verify_dir(f.dir, &f.v, NULL, (const char *const *)f.notes, 1, NULL, NULL, &r),
	    0);
	assert_int_equal(r.verified_size, 20);
	assert_int_equal(r.entries, N);
	fixture_free(&f);
}

void test_check_flipped_byte(void **state)
{
	struct fixture f;
	struct seg s;

	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	s.rec[25][30] ^= 0x01;
	seg_save(&s);
	assert_bad(&f, 25, -1, "damaged");
	fixture_free(&f);
}

void test_check_forged_edit(void **state)
{
	struct kw_audit_entry e, *d = NULL;
	struct fixture f;
	struct seg s;
	char key[64];

	/* A careful forger: a different key name, the check bytes redone. */
	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	assert_int_equal(kw_audit_entry_decode(s.rec[25] + 4, s.len[25] - 8, &d), 0);
	e = *d;
	snprintf(key, sizeof(key), "%s-x", d->key_name);
	e.key_name = key;
	free(s.rec[25]);
	frame_entry(&e, &s.rec[25], &s.len[25]);
	kw_audit_entry_free(d);
	seg_save(&s);
	/* Only the root can tell: the change lies between checkpoints 0 and 1. */
	assert_bad(&f, 20, 1, "[20, 40)");
	fixture_free(&f);
}

void test_check_deleted_entry(void **state)
{
	struct fixture f;
	struct seg s;

	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	free(s.rec[33]);
	memmove(&s.rec[33], &s.rec[34], (s.n - 34) * sizeof(s.rec[0]));
	memmove(&s.len[33], &s.len[34], (s.n - 34) * sizeof(s.len[0]));
	s.n--;
	seg_save(&s);
	assert_bad(&f, 33, -1, "removed");
	fixture_free(&f);
}

void test_check_swapped_entries(void **state)
{
	struct fixture f;
	struct seg s;
	uint8_t *p;
	size_t n;

	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	p = s.rec[12], n = s.len[12];
	s.rec[12] = s.rec[13], s.len[12] = s.len[13];
	s.rec[13] = p, s.len[13] = n;
	seg_save(&s);
	assert_bad(&f, 12, -1, "reordered");
	fixture_free(&f);
}

void test_check_inserted_entry(void **state)
{
	struct kw_audit_entry e;
	struct fixture f;
	struct seg s;

	/* A forged entry claiming index 25, slipped in before the real one. */
	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	memmove(&s.rec[26], &s.rec[25], (s.n - 25) * sizeof(s.rec[0]));
	memmove(&s.len[26], &s.len[25], (s.n - 25) * sizeof(s.len[0]));
	s.n++;
	t_entry(&e, 25);
	e.subject = "mallory";
	frame_entry(&e, &s.rec[25], &s.len[25]);
	seg_save(&s);
	assert_bad(&f, 25, -1, "inserted");
	fixture_free(&f);

	/* A careful one: every later entry renumbered and reframed. */
	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	for (size_t i = s.n; i > 45; i--) {
		struct kw_audit_entry *d = NULL;

		assert_int_equal(kw_audit_entry_decode(s.rec[i - 1] + 4, s.len[i - 1] - 8, &d), 0);
		e = *d;
		e.index = i;
		free(s.rec[i - 1]);
		frame_entry(&e, &s.rec[i], &s.len[i]);
		kw_audit_entry_free(d);
	}
	s.n++;
	t_entry(&e, 45);
	e.subject = "mallory";
	frame_entry(&e, &s.rec[45], &s.len[45]);
	seg_save(&s);
	assert_bad(&f, 40, 2, "[40, 60)");
	fixture_free(&f);
}

void test_check_truncated_tail(void **state)
{
	struct fixture f;
	struct seg s;

	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	while (s.n > 50)
		free(s.rec[--s.n]);
	seg_save(&s);
	assert_bad(&f, 50, 2, "removed from the end");
	fixture_free(&f);

	/* Cut in the middle of a record: the partial record is ignored as a
	 * torn write, and the log is still short of checkpoint 2. */
	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	while (s.n > 56)
		free(s.rec[--s.n]);
	s.tail_len = s.len[55] / 2;
	s.tail = malloc(s.tail_len);
	assert_non_null(s.tail);
	memcpy(s.tail, s.rec[55], s.tail_len);
	free(s.rec[--s.n]);
	seg_save(&s);
	assert_bad(&f, 55, 2, "removed from the end");
	fixture_free(&f);
}

void test_check_replaced_signature(void **state)
{
	struct kw_key *other = NULL;
	struct kw_audit_signer so;
	struct kw_audit_checkpoint c;
	struct fixture f;
	char *sig;

	fixture_make(&f, 0);
	/* Signature bytes replaced. */
	sig = strrchr(f.notes[1], ' ') + 1;
	sig[20] = sig[20] == 'Q' ? 'R' : 'Q';
	assert_bad(&f, UINT64_MAX, 1, "signature");
	fixture_free(&f);

	/* Re-signed by another key under the same name. */
	fixture_make(&f, 0);
	assert_int_equal(kw_audit_checkpoint_open(f.notes[2], strlen(f.notes[2]), &f.v, &c), 0);
	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &other), 0);
	t_signer(&so, other, ORIGIN);
	free(f.notes[2]);
	assert_int_equal(kw_audit_checkpoint_sign(&c, &so, &f.notes[2]), 0);
	assert_bad(&f, UINT64_MAX, 2, "signature");
	kw_key_free(other);
	fixture_free(&f);
}

void test_check_wrong_origin(void **state)
{
	struct kw_audit_check_result r;
	struct fixture f;

	fixture_make(&f, 0);
	assert_int_equal(kw_audit_verify_dir(f.dir, &f.v, "other.example/log",
	                                     (const char *const *)f.notes, 3, NULL, NULL, &r),
	                 KW_ERR_INTEGRITY);
	assert_int_equal(r.bad_checkpoint, 0);
	assert_non_null(strstr(r.reason, "other.example/log"));
	fixture_free(&f);
}

void test_check_torn_tail_reported(void **state)
{
	struct kw_audit_check_result r;
	struct fixture f;
	struct seg s;

	/* A crash after the last checkpoint, before a restart cut it. */
	fixture_make(&f, 0);
	seg_load(&s, f.dir);
	s.tail_len = 11;
	s.tail = malloc(s.tail_len);
	assert_non_null(s.tail);
	memcpy(s.tail, s.rec[3], s.tail_len);
	seg_save(&s);
	assert_int_equal(verify(&f, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.entries, N);
	assert_int_equal(r.torn_bytes, 11);
	fixture_free(&f);

	/* A whole segment missing from the middle. */
	fixture_make(&f, 2048);
	{
		char name[AUDIT_SEG_NAME_BYTES], *p;
		uint64_t *firsts = NULL;
		size_t n = 0;
		int fd = open(f.dir, O_RDONLY | O_DIRECTORY);

		assert_int_equal(audit_seg_list(fd, &firsts, &n), 0);
		close(fd);
		assert_true(n >= 3);
		audit_seg_name(firsts[1], name);
		p = t_path(f.dir, name);
		assert_int_equal(unlink(p), 0);
		assert_bad(&f, firsts[1], -1, "segment");
		free(p);
		free(firsts);
	}
	fixture_free(&f);
}

struct feed {
	struct kw_audit_check *c;
	uint64_t corrupt_at;
};

static int feed_leaf(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                     const struct kw_audit_entry *e)
{
	struct feed *fd = ctx;
	uint8_t copy[KW_AUDIT_LEAF_MAX];
	int rc;

	memcpy(copy, leaf, len);
	if (index == fd->corrupt_at)
		copy[len - 3] ^= 1; /* the request id's last character (then empty claims) */
	rc = kw_audit_check_leaf(fd->c, copy, len);
	return rc == KW_ERR_INTEGRITY ? 0 : rc;
}

void test_check_stream(void **state)
{
	struct kw_audit_check_result r;
	struct kw_audit_log *l = NULL;
	struct feed fd = {.corrupt_at = UINT64_MAX};
	struct fixture f;

	fixture_make(&f, 0);
	assert_int_equal(
	    kw_audit_log_open(f.dir, &(struct kw_audit_log_opts){.read_only = true}, &l), 0);
	/* Leaves from any source (an export, the API) in order. */
	assert_int_equal(kw_audit_check_new(&f.v, NULL, &fd.c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kw_audit_check_checkpoint(fd.c, f.notes[i], strlen(f.notes[i])),
		                 0);
	assert_int_equal(kw_audit_log_scan(l, 0, UINT64_MAX, feed_leaf, &fd), 0);
	assert_int_equal(kw_audit_check_finish(fd.c, &r), 0);
	assert_int_equal(r.verified_size, N);
	kw_audit_check_free(fd.c);
	/* The same with one leaf changed in transit. */
	assert_int_equal(kw_audit_check_new(&f.v, NULL, &fd.c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kw_audit_check_checkpoint(fd.c, f.notes[i], strlen(f.notes[i])),
		                 0);
	fd.corrupt_at = 47;
	assert_int_equal(kw_audit_log_scan(l, 0, UINT64_MAX, feed_leaf, &fd), 0);
	assert_int_equal(kw_audit_check_finish(fd.c, &r), KW_ERR_INTEGRITY);
	assert_int_equal(r.bad_index, 40);
	assert_int_equal(r.verified_size, 40);
	/* Checkpoints must all come before the leaves. */
	assert_int_equal(kw_audit_check_checkpoint(fd.c, f.notes[0], strlen(f.notes[0])),
	                 KW_ERR_INTEGRITY);
	kw_audit_check_free(fd.c);
	assert_int_equal(kw_audit_log_close(l), 0);
	fixture_free(&f);
}

void test_check_no_checkpoint(void **state)
{
	struct kw_audit_check_result r;
	struct kw_key *k = t_fixed_key();
	struct kw_audit_verifier v;
	struct kw_audit_signer s;
	char *dir = t_tmpdir();

	t_signer(&s, k, ORIGIN);
	t_verifier(&v, &s);
	t_fill_log(dir, 10, 0);
	/* Nothing signed: nothing proven, so the check does not run. */
	assert_int_equal(kw_audit_verify_dir(dir, &v, NULL, NULL, 0, NULL, NULL, &r),
	                 KW_ERR_INVALID);
	kw_key_free(k);
	t_rmdir(dir);
}
