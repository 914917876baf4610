/*
 * check.c: the offline verifier. It trusts only the verifier key: every
 * checkpoint's signature is checked, every leaf decoded, indices must run
 * 0, 1, 2, ... and the tree is recomputed from the leaves (the log's own
 * caches are never read) and compared with each checkpoint's root as that
 * size is reached. It needs O(log n) memory.
 *
 * What it can name: a damaged record or a wrong index is pinpointed; an
 * edit that keeps the framing and the index (a careful forger) shows only as
 * a root mismatch, so the first index not vouched for is the previous good
 * checkpoint's size, and the reason says which range holds the change.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"

struct check_cp {
	uint64_t size;
	uint8_t root[KW_AUDIT_HASH_BYTES];
	int pos; /* in the caller's list */
};

struct kw_audit_check {
	struct kw_audit_verifier v;
	char origin[KW_AUDIT_NAME_MAX + 1];
	struct check_cp *cps;
	size_t ncps, cp_cap, next_cp; /* next_cp: first not yet reached */
	int ncalls;                   /* checkpoints offered, good or bad */
	bool leaves_started;
	struct kw_audit_frontier fr;
	struct kw_audit_check_result res;
};

static int check_fail(struct kw_audit_check *c, uint64_t index, int cp, const char *fmt, ...)
    KW_PRINTF(4, 5);

static int check_fail(struct kw_audit_check *c, uint64_t index, int cp, const char *fmt, ...)
{
	va_list ap;

	if (!c->res.ok)
		return KW_ERR_INTEGRITY;
	c->res.ok = false;
	c->res.bad_index = index;
	c->res.bad_checkpoint = cp;
	va_start(ap, fmt);
	vsnprintf(c->res.reason, sizeof(c->res.reason), fmt, ap);
	va_end(ap);
	return KW_ERR_INTEGRITY;
}

int kw_audit_check_new(const struct kw_audit_verifier *v, const char *origin,
                       struct kw_audit_check **out)
{
	struct kw_audit_check *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return KW_ERR_NOMEM;
	c->v = *v;
	if (kw_strlcpy(c->origin, origin ? origin : v->name, sizeof(c->origin)) != 0) {
		free(c);
		return KW_ERR_INVALID;
	}
	c->res.ok = true;
	c->res.bad_index = UINT64_MAX;
	c->res.bad_checkpoint = -1;
	kw_audit_frontier_init(&c->fr);
	*out = c;
	return 0;
}

void kw_audit_check_free(struct kw_audit_check *c)
{
	if (c == NULL)
		return;
	free(c->cps);
	free(c);
}

static int cp_add(struct kw_audit_check *c, const struct kw_audit_checkpoint *cp, int pos)
{
	size_t i;

	if (c->ncps == c->cp_cap) {
		size_t cap = c->cp_cap ? c->cp_cap * 2 : 8;
		struct check_cp *p = realloc(c->cps, cap * sizeof(*p));

		if (p == NULL)
			return KW_ERR_NOMEM;
		c->cps = p;
		c->cp_cap = cap;
	}
	/* Keep them sorted by size: they are met in that order. */
	for (i = c->ncps; i > 0 && c->cps[i - 1].size > cp->size; i--)
		c->cps[i] = c->cps[i - 1];
	c->cps[i].size = cp->size;
	memcpy(c->cps[i].root, cp->root, KW_AUDIT_HASH_BYTES);
	c->cps[i].pos = pos;
	c->ncps++;
	return 0;
}

int kw_audit_check_checkpoint(struct kw_audit_check *c, const char *note, size_t len)
{
	struct kw_audit_checkpoint cp;
	int pos = c->ncalls++, rc;

	if (!c->res.ok)
		return KW_ERR_INTEGRITY;
	if (c->leaves_started)
		return KW_ERR_INVALID;
	rc = kw_audit_checkpoint_open(note, len, &c->v, &cp);
	if (rc == KW_ERR_INTEGRITY)
		return check_fail(c, UINT64_MAX, pos,
		                  "checkpoint %d: no valid signature by %s+%08" PRIx32, pos,
		                  c->v.name, c->v.key_id);
	if (rc == KW_ERR_INVALID)
		return check_fail(c, UINT64_MAX, pos, "checkpoint %d is malformed", pos);
	if (rc != 0)
		return rc;
	if (strcmp(cp.origin, c->origin) != 0)
		return check_fail(c, UINT64_MAX, pos, "checkpoint %d is for log \"%s\", not \"%s\"",
		                  pos, cp.origin, c->origin);
	return cp_add(c, &cp, pos);
}

/* Compare the root with every checkpoint of the size just reached. */
static int check_reached(struct kw_audit_check *c)
{
	uint8_t root[KW_AUDIT_HASH_BYTES];
	int rc;

	while (c->next_cp < c->ncps && c->cps[c->next_cp].size == c->fr.size) {
		const struct check_cp *cp = &c->cps[c->next_cp];

		if ((rc = kw_audit_frontier_root(&c->fr, root)) != 0)
			return rc;
		if (!kw_ct_equal(root, cp->root, sizeof(root)))
			return check_fail(
			    c, c->res.verified_size, cp->pos,
			    "the tree of the first %" PRIu64
			    " entries does not match checkpoint %d: an entry in [%" PRIu64
			    ", %" PRIu64 ") was changed, inserted or removed",
			    cp->size, cp->pos, c->res.verified_size, cp->size);
		c->res.verified_size = cp->size;
		c->next_cp++;
	}
	return 0;
}

/* check_leaf with the leaf hash already computed (the segment reader has it). */
static int check_leaf_hashed(struct kw_audit_check *c, const uint8_t *leaf, size_t len,
                             const uint8_t hash[KW_AUDIT_HASH_BYTES])
{
	uint64_t index = c->fr.size;
	struct kw_audit_entry *e;
	int rc;

	if (!c->res.ok)
		return KW_ERR_INTEGRITY;
	if (!c->leaves_started) {
		c->leaves_started = true;
		if ((rc = check_reached(c)) != 0) /* checkpoints of size 0 */
			return rc;
	}
	if ((rc = kw_audit_entry_decode(leaf, len, &e)) != 0) {
		if (rc == KW_ERR_NOMEM)
			return rc;
		return check_fail(c, index, -1, "entry %" PRIu64 " does not decode", index);
	}
	if (e->index != index) {
		uint64_t got = e->index;

		kw_audit_entry_free(e);
		/* The lower of the two is the first index in doubt: a missing
		 * entry, or the one an inserted entry duplicates. */
		return check_fail(c, got < index ? got : index, -1,
		                  "entry %" PRIu64 " says it is entry %" PRIu64
		                  ": entries were removed, reordered or inserted",
		                  index, got);
	}
	kw_audit_entry_free(e);
	if ((rc = kw_audit_frontier_append(&c->fr, hash)) != 0)
		return rc;
	c->res.entries = c->fr.size;
	return check_reached(c);
}

int kw_audit_check_leaf(struct kw_audit_check *c, const uint8_t *leaf, size_t len)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	int rc;

	if (!c->res.ok)
		return KW_ERR_INTEGRITY;
	if ((rc = kw_audit_leaf_hash(leaf, len, hash)) != 0)
		return rc == KW_ERR_INVALID
		           ? check_fail(c, c->fr.size, -1, "entry %" PRIu64 " does not decode",
		                        c->fr.size)
		           : rc;
	return check_leaf_hashed(c, leaf, len, hash);
}

int kw_audit_check_finish(struct kw_audit_check *c, struct kw_audit_check_result *r)
{
	if (c->res.ok && !c->leaves_started) {
		c->leaves_started = true;
		(void)check_reached(c);
	}
	if (c->res.ok && c->next_cp < c->ncps) {
		const struct check_cp *cp = &c->cps[c->ncps - 1];

		(void)check_fail(c, c->fr.size, cp->pos,
		                 "checkpoint %d covers %" PRIu64
		                 " entries but the log ends at %" PRIu64
		                 ": entries were removed from the end",
		                 cp->pos, cp->size, c->fr.size);
	}
	c->res.entries = c->fr.size;
	*r = c->res;
	return r->ok ? 0 : KW_ERR_INTEGRITY;
}

/* ---- a directory ---- */

struct dir_walk {
	int dirfd;
	uint64_t *firsts;
	size_t nseg;
	uint64_t done, total;
	kw_audit_progress_fn progress;
	void *ctx;
};

/* Feed one segment's records; *torn = bytes of an incomplete last record. */
static int walk_segment(struct kw_audit_check *c, struct dir_walk *w, size_t s, uint64_t *torn)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	char name[AUDIT_SEG_NAME_BYTES];
	struct audit_reader r;
	enum audit_frame st;
	uint64_t first = 0, off = 0, last_report = 0;
	int rc;

	audit_seg_name(w->firsts[s], name);
	if ((rc = audit_reader_open(w->dirfd, name, 0, &r)) != 0)
		return rc;
	if ((rc = audit_reader_header(&r, &first, &st)) != 0)
		goto out;
	if (st != AUDIT_FRAME_OK || first != w->firsts[s] || first != c->fr.size) {
		rc = check_fail(c, c->fr.size, -1,
		                "segment %s does not start at entry %" PRIu64
		                ": a segment is missing, renamed or damaged",
		                name, c->fr.size);
		goto out;
	}
	for (;;) {
		const uint8_t *leaf;
		size_t len;

		if ((rc = audit_reader_next(&r, &st, &leaf, &len, hash, &off)) != 0)
			break;
		if (st == AUDIT_FRAME_END)
			break;
		if (st == AUDIT_FRAME_TORN && s + 1 == w->nseg) {
			*torn = r.size - off;
			break;
		}
		if (st != AUDIT_FRAME_OK) {
			rc = check_fail(c, c->fr.size, -1,
			                "entry %" PRIu64 " is damaged (segment %s, offset %" PRIu64
			                "): its bytes were edited or cut",
			                c->fr.size, name, off);
			break;
		}
		if ((rc = check_leaf_hashed(c, leaf, len, hash)) != 0)
			break;
		if (w->progress && r.pos - last_report >= (4u << 20)) {
			w->progress(w->ctx, w->done + r.pos, w->total);
			last_report = r.pos;
		}
	}
out:
	w->done += r.size;
	audit_reader_close(&r);
	return rc;
}

static uint64_t dir_total_bytes(struct dir_walk *w)
{
	uint64_t total = 0;

	for (size_t s = 0; s < w->nseg; s++) {
		char name[AUDIT_SEG_NAME_BYTES];
		struct stat st;

		audit_seg_name(w->firsts[s], name);
		if (fstatat(w->dirfd, name, &st, 0) == 0)
			total += (uint64_t)st.st_size;
	}
	return total;
}

static int check_notes(struct kw_audit_check *c, const char *dir, const char *const *notes,
                       size_t nnotes)
{
	char *stored = NULL;
	int rc;

	if (nnotes == 0) {
		rc = kw_audit_checkpoint_latest(dir, &stored);
		if (rc == KW_ERR_NOT_FOUND)
			return KW_ERR_INVALID; /* nothing signed: nothing proven */
		if (rc != 0)
			return rc;
		rc = kw_audit_check_checkpoint(c, stored, strlen(stored));
		free(stored);
		return rc == KW_ERR_INTEGRITY ? 0 : rc;
	}
	for (size_t i = 0; i < nnotes; i++) {
		rc = kw_audit_check_checkpoint(c, notes[i], strlen(notes[i]));
		if (rc == KW_ERR_INTEGRITY)
			return 0; /* recorded in the result */
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kw_audit_verify_dir(const char *dir, const struct kw_audit_verifier *v, const char *origin,
                        const char *const *notes, size_t nnotes, kw_audit_progress_fn progress,
                        void *ctx, struct kw_audit_check_result *r)
{
	struct dir_walk w = {.dirfd = -1, .progress = progress, .ctx = ctx};
	struct kw_audit_check *c = NULL;
	uint64_t torn = 0;
	int rc;

	if ((rc = kw_audit_check_new(v, origin, &c)) != 0)
		return rc;
	if ((rc = check_notes(c, dir, notes, nnotes)) != 0)
		goto out;
	w.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.dirfd < 0) {
		rc = errno == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_IO;
		goto out;
	}
	if ((rc = audit_seg_list(w.dirfd, &w.firsts, &w.nseg)) != 0)
		goto out;
	w.total = dir_total_bytes(&w);
	for (size_t s = 0; s < w.nseg && rc == 0; s++)
		rc = walk_segment(c, &w, s, &torn);
	if (rc != 0 && rc != KW_ERR_INTEGRITY)
		goto out;
	if (progress)
		progress(ctx, w.total, w.total);
	c->res.torn_bytes = torn;
	rc = kw_audit_check_finish(c, r);
out:
	if (w.dirfd >= 0)
		close(w.dirfd);
	free(w.firsts);
	kw_audit_check_free(c);
	return rc;
}
