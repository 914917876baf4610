/*
 * log.c: the audit log on disk — open and crash recovery, append with group
 * commit, proofs and roots from the stored tree, checkpoints, and reading
 * (by index, by range, linear search).
 *
 * The segment records are the truth; "tree.hashes" and "offsets.idx" are
 * caches derived from them, written after each record but never synced on
 * the request path. Open trusts the caches for sealed segments, checks them
 * against every record of the last segment (which it reads anyway to find a
 * torn tail), and rebuilds whatever is missing or disagrees. So a 1,000,000
 * entry log opens by reading one segment, not every leaf.
 *
 * Locking: mu guards everything below it in struct kw_audit_log; fdatasync
 * runs without it (one thread at a time, `syncing`), and the threads that
 * wait meanwhile are all covered by the next sync (group commit). cp_mu
 * serialises checkpoints, whose signing callback runs without mu held.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"

struct kw_audit_log {
	pthread_mutex_t cp_mu;
	char *cp_note; /* the last checkpoint signed since open */
	uint64_t cp_size;
	int cp_fd;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int dirfd;
	bool read_only;
	uint64_t segment_max;
	uint64_t *seg_first; /* sorted; the last is the one appended to */
	size_t nseg, seg_cap;
	int seg_fd;
	uint64_t seg_bytes; /* where the next record goes */
	uint64_t seg_alloc; /* file size: records, then zeros written ahead */
	bool prealloc_off;  /* writing zeros ahead failed (disk full): stop trying */
	int tree_fd, off_fd;
	struct kw_audit_tree tree;
	uint64_t off_file; /* offsets held in offsets.idx */
	uint64_t *off_mem; /* read-only: offsets past off_file */
	size_t off_mem_len, off_mem_cap;
	uint64_t size;    /* entries written */
	uint64_t durable; /* entries covered by a finished fdatasync */
	bool syncing;
	uint64_t sync_gen;  /* rounds of group commit started */
	uint64_t sync_upto; /* entries the running round covers */
	uint64_t wanted;    /* entries some caller waits to see durable */
	/* Waiters of round g sleep on round_word[g % 2] (a futex), without mu:
	 * a finished round wakes only its own callers, and they return without
	 * queueing for mu again (see sync_request). durable and failed are
	 * written under mu with atomic stores and read atomically by them. */
	uint32_t round_word[2];
	pthread_t syncer; /* runs the rounds (syncer_main) */
	bool syncer_running, syncer_idle, syncer_stop;
	pthread_cond_t work_cv; /* the syncer waits here for work */
	int failed;             /* sticky KW_ERR_IO; see round_word */
	/* kw_audit_log_commit_async's callers, in index order: the syncer
	 * calls them once their entry is durable. */
	struct audit_done *done_head, *done_tail;
	struct kw_buf scratch;
	uint64_t syncs;
	enum audit_fault fault;
	unsigned fault_after;
	void (*sync_hook)(void *ctx);
	void *sync_hook_ctx;
};

/* A commit whose caller did not wait: call fn(ctx, rc) at durability. */
struct audit_done {
	struct audit_done *next;
	uint64_t target; /* durable >= target: done */
	kw_audit_done_fn *fn;
	void *ctx;
};

/* ---- small helpers ---- */

void audit_log_fault_inject(struct kw_audit_log *l, enum audit_fault what, unsigned after)
{
	pthread_mutex_lock(&l->mu);
	l->fault = what;
	l->fault_after = after;
	pthread_mutex_unlock(&l->mu);
}

void audit_log_sync_hook(struct kw_audit_log *l, void (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&l->mu);
	l->sync_hook = fn;
	l->sync_hook_ctx = ctx;
	pthread_mutex_unlock(&l->mu);
}

/* Whether the test hook wants this operation to fail. */
static bool fault_hit(struct kw_audit_log *l, enum audit_fault what)
{
	if (l->fault != what)
		return false;
	if (l->fault_after > 0) {
		l->fault_after--;
		return false;
	}
	l->fault = AUDIT_FAULT_NONE;
	errno = EIO;
	return true;
}

/* Enter the failed state. Linux may drop dirty pages after a failed
 * fdatasync, so a retry that succeeds proves nothing: never recover. */
/* Under mu: wake the waiters of round words `which` (bit 0: word 0, bit 1:
 * word 1), and anyone waiting on cv for a round to end. */
static void round_wake(struct kw_audit_log *l, unsigned which)
{
	for (unsigned i = 0; i < 2; i++) {
		if (!(which & (1u << i)))
			continue;
		__atomic_fetch_add(&l->round_word[i], 1, __ATOMIC_RELEASE);
		(void)syscall(SYS_futex, &l->round_word[i], FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL,
		              0);
	}
	pthread_cond_broadcast(&l->cv);
	/* Asynchronous commits are answered by the syncer, also when a
	 * rotation (not a round) made them durable or the log failed. */
	if (l->done_head != NULL)
		pthread_cond_signal(&l->work_cv);
}

/* Under mu: entries [0, upto) are on disk. */
static void durable_set(struct kw_audit_log *l, uint64_t upto)
{
	if (upto > l->durable)
		__atomic_store_n(&l->durable, upto, __ATOMIC_RELEASE);
}

static int log_fail(struct kw_audit_log *l, const char *what)
{
	if (l->failed == 0)
		kw_error("audit: %s failed (%s); refusing further entries", what, strerror(errno));
	__atomic_store_n(&l->failed, KW_ERR_IO, __ATOMIC_RELEASE);
	round_wake(l, 3);
	return KW_ERR_IO;
}

static int fsync_dir(struct kw_audit_log *l)
{
	return fsync(l->dirfd) == 0 ? 0 : KW_ERR_IO;
}

static int seg_push(struct kw_audit_log *l, uint64_t first)
{
	if (l->nseg == l->seg_cap) {
		size_t cap = l->seg_cap ? l->seg_cap * 2 : 16;
		uint64_t *p = realloc(l->seg_first, cap * sizeof(*p));

		if (p == NULL)
			return KW_ERR_NOMEM;
		l->seg_first = p;
		l->seg_cap = cap;
	}
	l->seg_first[l->nseg++] = first;
	return 0;
}

/* The segment holding index (index < size). */
static size_t seg_find(const struct kw_audit_log *l, uint64_t index)
{
	size_t lo = 0, hi = l->nseg;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->seg_first[mid] <= index)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int offset_put(struct kw_audit_log *l, uint64_t index, uint64_t off)
{
	uint8_t b[8];

	if (!l->read_only) {
		kw_store_u64(b, off);
		if (audit_pwrite_all(l->off_fd, b, sizeof(b), index * 8) != 0)
			return KW_ERR_IO;
		l->off_file = index + 1;
		return 0;
	}
	if (l->off_mem_len == l->off_mem_cap) {
		size_t cap = l->off_mem_cap ? l->off_mem_cap * 2 : 1024;
		uint64_t *p = realloc(l->off_mem, cap * sizeof(*p));

		if (p == NULL)
			return KW_ERR_NOMEM;
		l->off_mem = p;
		l->off_mem_cap = cap;
	}
	l->off_mem[l->off_mem_len++] = off;
	return 0;
}

static int offset_get(struct kw_audit_log *l, uint64_t index, uint64_t *off)
{
	uint8_t b[8];

	if (index >= l->off_file) {
		*off = l->off_mem[index - l->off_file];
		return 0;
	}
	if (audit_pread_all(l->off_fd, b, sizeof(b), index * 8) != 0)
		return KW_ERR_IO;
	*off = kw_load_u64(b);
	return 0;
}

/* ---- open: recovery ---- */

static int seg_create(struct kw_audit_log *l, uint64_t first)
{
	uint8_t hdr[AUDIT_SEG_HEADER_BYTES];
	char name[AUDIT_SEG_NAME_BYTES];
	int fd, rc = 0;

	audit_seg_name(first, name);
	fd = openat(l->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fault_hit(l, AUDIT_FAULT_WRITE))
		rc = KW_ERR_IO;
	audit_seg_header(first, hdr);
	/* The new file and its name must be durable before any record in it
	 * is acknowledged. */
	if (rc == 0 &&
	    (audit_write_all(fd, hdr, sizeof(hdr)) != 0 || fdatasync(fd) != 0 || fsync_dir(l) != 0))
		rc = KW_ERR_IO;
	if (rc != 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if ((rc = seg_push(l, first)) != 0) {
		close(fd);
		return rc;
	}
	l->seg_fd = fd;
	l->seg_bytes = sizeof(hdr);
	l->seg_alloc = sizeof(hdr);
	l->prealloc_off = false;
	return 0;
}

/* Check a sealed segment's header against its name. */
static int seg_check_header(struct kw_audit_log *l, uint64_t first)
{
	char name[AUDIT_SEG_NAME_BYTES];
	struct audit_reader r;
	enum audit_frame st;
	uint64_t got = 0;
	int rc;

	audit_seg_name(first, name);
	if ((rc = audit_reader_open(l->dirfd, name, 0, &r)) != 0)
		return rc;
	rc = audit_reader_header(&r, &got, &st);
	audit_reader_close(&r);
	if (rc == 0 && (st != AUDIT_FRAME_OK || got != first)) {
		kw_error("audit: segment %s has a bad header", name);
		rc = KW_ERR_INTEGRITY;
	}
	return rc;
}

/* What the caches hold, and how far they agree with the records. */
struct cache_state {
	uint64_t tree_leaves; /* leaves whose nodes tree.hashes holds */
	uint64_t offsets;     /* entries offsets.idx holds */
};

static uint64_t cache_file_size(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Largest m with audit_tree_nodes(m) <= nodes. */
static uint64_t leaves_for_nodes(uint64_t nodes)
{
	uint64_t lo = 0, hi = nodes / 2 + 1;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;

		if (audit_tree_nodes(mid) <= nodes)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Compare the caches' view of record index with what the record says;
 * lower the trusted extents at the first disagreement. */
static void cache_compare(struct kw_audit_log *l, struct cache_state *cs, uint64_t index,
                          uint64_t off, const uint8_t hash[KW_AUDIT_HASH_BYTES])
{
	uint8_t stored[KW_AUDIT_HASH_BYTES], b[8];

	if (index < cs->tree_leaves &&
	    (audit_pread_all(l->tree_fd, stored, sizeof(stored),
	                     audit_tree_nodes(index) * KW_AUDIT_HASH_BYTES) != 0 ||
	     memcmp(stored, hash, sizeof(stored)) != 0))
		cs->tree_leaves = index;
	if (index < cs->offsets &&
	    (audit_pread_all(l->off_fd, b, sizeof(b), index * 8) != 0 || kw_load_u64(b) != off))
		cs->offsets = index;
}

/* A segment whose header never made it to disk (a crash while rotating)
 * holds nothing: remove it so the previous one is appended to again. */
static int seg_drop_torn(struct kw_audit_log *l, const char *name)
{
	kw_warn("audit: segment %s has a torn header; removing it", name);
	if (l->read_only) {
		l->nseg--;
		return 0;
	}
	if (unlinkat(l->dirfd, name, 0) != 0 || fsync_dir(l) != 0)
		return KW_ERR_IO;
	l->nseg--;
	return 0;
}

static int seg_truncate(struct kw_audit_log *l, const char *name, uint64_t size)
{
	int fd = openat(l->dirfd, name, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return KW_ERR_IO;
	if (ftruncate(fd, (off_t)size) != 0 || fsync(fd) != 0)
		rc = KW_ERR_IO;
	close(fd);
	return rc;
}

/*
 * Read the last segment: count its records, cut a torn tail (read-write),
 * and check the caches against each record. *count = records. A tail that
 * does not frame is a torn write unless the newest stored checkpoint
 * (signed_size entries) says those entries were durable.
 */
static int scan_last(struct kw_audit_log *l, struct cache_state *cs, uint64_t signed_size,
                     uint64_t *count)
{
	uint64_t first = l->seg_first[l->nseg - 1], n = 0, end, file_size, got = 0;
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	char name[AUDIT_SEG_NAME_BYTES];
	struct audit_reader r;
	enum audit_frame st;
	int rc;

	audit_seg_name(first, name);
	if ((rc = audit_reader_open(l->dirfd, name, 0, &r)) != 0)
		return rc;
	file_size = r.size;
	if ((rc = audit_reader_header(&r, &got, &st)) != 0)
		goto out;
	if (st == AUDIT_FRAME_TORN) {
		audit_reader_close(&r);
		if ((rc = seg_drop_torn(l, name)) != 0)
			return rc;
		*count = 0;
		return l->nseg > 0 ? scan_last(l, cs, signed_size, count) : 0;
	}
	if (st != AUDIT_FRAME_OK || got != first) {
		kw_error("audit: segment %s has a bad header", name);
		rc = KW_ERR_INTEGRITY;
		goto out;
	}
	for (;;) {
		const uint8_t *leaf;
		struct kw_audit_entry *e;
		size_t len;
		uint64_t off;
		bool ok;

		if ((rc = audit_reader_next(&r, &st, &leaf, &len, hash, &off)) != 0)
			goto out;
		end = off;
		if (st != AUDIT_FRAME_OK)
			break;
		/* A record that frames well but is not the next entry is not
		 * a torn write: refuse to guess. */
		e = NULL;
		ok = kw_audit_entry_decode(leaf, len, &e) == 0 && e->index == first + n;
		kw_audit_entry_free(e);
		if (!ok) {
			kw_error("audit: segment %s: record for index %llu does not decode or is "
			         "out of order",
			         name, (unsigned long long)(first + n));
			rc = KW_ERR_INTEGRITY;
			goto out;
		}
		cache_compare(l, cs, first + n, off, hash);
		n++;
	}
	if (st == AUDIT_FRAME_END) {
		/* Zeros written ahead (a crash before close): room to reuse. */
		l->seg_bytes = end;
		l->seg_alloc = file_size;
		*count = n;
		goto out;
	}
	if (end < file_size && first + n < signed_size) {
		/* Entries a signed checkpoint covers were durable: this is
		 * damage, not a crash, and cutting would hide it. */
		kw_error("audit: segment %s: record for index %llu is damaged, but a stored "
		         "checkpoint covers %llu entries; refusing to cut",
		         name, (unsigned long long)(first + n), (unsigned long long)signed_size);
		rc = KW_ERR_INTEGRITY;
		goto out;
	}
	if (end < file_size) {
		kw_warn("audit: segment %s: %s %llu bytes of torn tail after index %llu", name,
		        l->read_only ? "ignoring" : "cut", (unsigned long long)(file_size - end),
		        (unsigned long long)(first + n));
		if (!l->read_only && (rc = seg_truncate(l, name, end)) != 0)
			goto out;
	}
	l->seg_bytes = end;
	l->seg_alloc = end;
	*count = n;
out:
	audit_reader_close(&r);
	return rc;
}

/* Recompute the caches for entries [from, l->size) from the records. */
static int rebuild(struct kw_audit_log *l, uint64_t from)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	int rc = 0;

	for (size_t s = from < l->size ? seg_find(l, from) : l->nseg; s < l->nseg && rc == 0; s++) {
		uint64_t index = l->seg_first[s], got = 0;
		uint64_t stop = s + 1 < l->nseg ? l->seg_first[s + 1] : l->size;
		char name[AUDIT_SEG_NAME_BYTES];
		struct audit_reader r;
		enum audit_frame st;

		audit_seg_name(index, name);
		if ((rc = audit_reader_open(l->dirfd, name, 0, &r)) != 0)
			break;
		rc = audit_reader_header(&r, &got, &st);
		while (rc == 0 && index < stop) {
			const uint8_t *leaf;
			size_t len;
			uint64_t off;

			rc = audit_reader_next(&r, &st, &leaf, &len, hash, &off);
			if (rc == 0 && st != AUDIT_FRAME_OK) {
				kw_error("audit: segment %s is damaged at offset %llu", name,
				         (unsigned long long)off);
				rc = KW_ERR_INTEGRITY;
			}
			if (rc == 0 && index >= from && ((rc = offset_put(l, index, off)) == 0))
				rc = kw_audit_tree_append(&l->tree, hash);
			index++;
		}
		audit_reader_close(&r);
	}
	return rc;
}

static int cache_open(struct kw_audit_log *l, const char *name, int *fd)
{
	int flags = l->read_only ? O_RDONLY : O_RDWR | O_CREAT;

	*fd = openat(l->dirfd, name, flags | O_CLOEXEC, 0600);
	if (*fd < 0 && !(l->read_only && errno == ENOENT))
		return KW_ERR_IO;
	return 0;
}

/* Bring the caches in line with the size found in the segments. */
static int caches_recover(struct kw_audit_log *l, struct cache_state *cs)
{
	uint64_t m = cs->tree_leaves < cs->offsets ? cs->tree_leaves : cs->offsets;
	int rc;

	if (m > l->size)
		m = l->size;
	if (m < l->size)
		kw_info("audit: rebuilding caches from index %llu of %llu", (unsigned long long)m,
		        (unsigned long long)l->size);
	if (!l->read_only &&
	    (ftruncate(l->tree_fd, (off_t)(audit_tree_nodes(m) * KW_AUDIT_HASH_BYTES)) != 0 ||
	     ftruncate(l->off_fd, (off_t)(m * 8)) != 0))
		return KW_ERR_IO;
	l->off_file = m;
	if ((rc = audit_tree_attach(&l->tree, l->tree_fd, !l->read_only, m)) != 0)
		return rc;
	return rebuild(l, m);
}

/* Scan the checkpoints file and cut a torn tail so appends stay readable. */
static int checkpoints_recover(struct kw_audit_log *l)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	struct audit_reader r;
	enum audit_frame st;
	uint64_t end = 0;
	int rc;

	l->cp_fd = openat(l->dirfd, AUDIT_CHECKPOINTS_FILE,
	                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (l->cp_fd < 0)
		return KW_ERR_IO;
	if ((rc = audit_reader_open(l->dirfd, AUDIT_CHECKPOINTS_FILE, 0, &r)) != 0)
		return rc;
	do {
		const uint8_t *p;
		size_t len;

		rc = audit_reader_next(&r, &st, &p, &len, hash, &end);
	} while (rc == 0 && st == AUDIT_FRAME_OK);
	/* Cut only what a crash can leave: a damaged record with more after it
	 * would take signed checkpoints with it, so refuse instead. */
	if (rc == 0 && st == AUDIT_FRAME_BAD &&
	    !audit_damage_is_torn_tail(r.fd, end, r.size, KW_AUDIT_NOTE_MAX)) {
		kw_error("audit: checkpoints: the record at byte %llu is damaged and more "
		         "follow; refusing to cut signed checkpoints",
		         (unsigned long long)end);
		rc = KW_ERR_INTEGRITY;
	}
	if (rc == 0 && end < r.size) {
		kw_warn("audit: checkpoints: cut %llu bytes of torn tail",
		        (unsigned long long)(r.size - end));
		if (ftruncate(l->cp_fd, (off_t)end) != 0)
			rc = KW_ERR_IO;
	}
	audit_reader_close(&r);
	return rc;
}

static int log_lock_dir(struct kw_audit_log *l)
{
	/* One writer per directory: two keepers appending would fork the log. */
	if (flock(l->dirfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			kw_error("audit: the log directory is in use by another process");
			return KW_ERR_UNAVAILABLE;
		}
		return KW_ERR_IO;
	}
	return 0;
}

/* Entries the newest stored checkpoint covers (0 if none can be read). */
static uint64_t signed_size(struct kw_audit_log *l)
{
	struct kw_audit_checkpoint c;
	char *note = NULL;
	uint64_t n = 0;

	if (audit_checkpoint_last(l->dirfd, &note) == 0 &&
	    audit_checkpoint_peek(note, strlen(note), &c) == 0)
		n = c.size;
	free(note);
	return n;
}

static int seg_open_last(struct kw_audit_log *l)
{
	char name[AUDIT_SEG_NAME_BYTES];

	audit_seg_name(l->seg_first[l->nseg - 1], name);
	l->seg_fd = openat(l->dirfd, name, O_WRONLY | O_CLOEXEC);
	return l->seg_fd < 0 ? KW_ERR_IO : 0;
}

static int log_load(struct kw_audit_log *l)
{
	struct cache_state cs;
	uint64_t count = 0;
	int rc;

	if ((rc = audit_seg_list(l->dirfd, &l->seg_first, &l->nseg)) != 0)
		return rc;
	l->seg_cap = l->nseg;
	if ((rc = cache_open(l, AUDIT_TREE_FILE, &l->tree_fd)) != 0 ||
	    (rc = cache_open(l, AUDIT_OFFSETS_FILE, &l->off_fd)) != 0)
		return rc;
	cs.tree_leaves = leaves_for_nodes(cache_file_size(l->tree_fd) / KW_AUDIT_HASH_BYTES);
	cs.offsets = cache_file_size(l->off_fd) / 8;
	if (l->nseg > 0 && l->seg_first[0] != 0) {
		kw_error("audit: the first segment starts at index %llu, not 0",
		         (unsigned long long)l->seg_first[0]);
		return KW_ERR_INTEGRITY;
	}
	for (size_t s = 0; s + 1 < l->nseg; s++)
		if ((rc = seg_check_header(l, l->seg_first[s])) != 0)
			return rc;
	if (l->nseg > 0 && (rc = scan_last(l, &cs, signed_size(l), &count)) != 0)
		return rc;
	/* No segment (a new log, or segment 0's header was torn): start one. */
	if (l->nseg == 0 && !l->read_only && (rc = seg_create(l, 0)) != 0)
		return rc;
	if (l->nseg > 0 && l->seg_fd < 0 && !l->read_only && (rc = seg_open_last(l)) != 0)
		return rc;
	l->size = l->nseg > 0 ? l->seg_first[l->nseg - 1] + count : 0;
	return caches_recover(l, &cs);
}

static void *syncer_main(void *arg);

int kw_audit_log_open(const char *dir, const struct kw_audit_log_opts *o, struct kw_audit_log **out)
{
	struct kw_audit_log *l = calloc(1, sizeof(*l));
	int rc;

	if (l == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->cp_mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	pthread_cond_init(&l->work_cv, NULL);
	kw_buf_init(&l->scratch);
	l->dirfd = l->seg_fd = l->tree_fd = l->off_fd = l->cp_fd = -1;
	l->tree.fd = -1;
	l->read_only = o && o->read_only;
	l->segment_max = o && o->segment_bytes ? o->segment_bytes : KW_AUDIT_SEGMENT_DEFAULT;
	if (!l->read_only && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = KW_ERR_IO;
		goto out;
	}
	l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0) {
		rc = errno == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_IO;
		goto out;
	}
	if (!l->read_only && (rc = log_lock_dir(l)) != 0)
		goto out;
	if ((rc = log_load(l)) != 0)
		goto out;
	if (!l->read_only) {
		/* What a crash left in the page cache is on disk from here on,
		 * so every entry found counts as durable. */
		if (fdatasync(l->seg_fd) != 0) {
			rc = KW_ERR_IO;
			goto out;
		}
		if ((rc = checkpoints_recover(l)) != 0)
			goto out;
	}
	l->durable = l->size;
	if (!l->read_only) {
		if (pthread_create(&l->syncer, NULL, syncer_main, l) != 0) {
			rc = KW_ERR_NOMEM;
			goto out;
		}
		l->syncer_running = true;
	}
	*out = l;
	return 0;
out:
	if (rc == KW_ERR_IO)
		kw_error("audit: cannot open the log in %s: %s", dir, strerror(errno));
	l->failed = rc;
	(void)kw_audit_log_close(l);
	return rc;
}

/* ---- appending and group commit ---- */

/*
 * Write zeros ahead of the records, so that the fdatasync of a commit
 * flushes data blocks only: appending changes the file size, and a size
 * change costs every sync a journal commit (measured here: 170 us per
 * fdatasync appending, 105 us writing into zeroed blocks). Readers take a
 * zero length as the end. Best effort: if the zeros cannot be written (a
 * full disk) the log appends as before, and the failure is not the log's.
 */
static void seg_reserve(struct kw_audit_log *l, uint64_t need)
{
	static const uint8_t zeros[64 * 1024];
	uint64_t end, off;

	if (need <= l->seg_alloc || l->prealloc_off)
		return;
	end = l->seg_alloc + AUDIT_PREALLOC_BYTES;
	if (end > l->segment_max)
		end = l->segment_max;
	if (end < need)
		return; /* the segment is about full: plain appends finish it */
	for (off = l->seg_alloc; off < end;) {
		size_t n = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);

		if (audit_pwrite_all(l->seg_fd, zeros, n, off) != 0) {
			/* Give the space back; records may still fit. */
			if (ftruncate(l->seg_fd, (off_t)l->seg_alloc) != 0)
				kw_warn("audit: cannot drop the zeros written ahead: %s",
				        strerror(errno));
			l->prealloc_off = true;
			return;
		}
		off += n;
	}
	l->seg_alloc = end;
}

/* Seal the current segment (durable, closed) and start the next. */
static int rotate(struct kw_audit_log *l)
{
	if (fault_hit(l, AUDIT_FAULT_SYNC) || ftruncate(l->seg_fd, (off_t)l->seg_bytes) != 0 ||
	    fdatasync(l->seg_fd) != 0)
		return log_fail(l, "syncing a full segment");
	close(l->seg_fd);
	l->seg_fd = -1;
	durable_set(l, l->size);
	round_wake(l, 3); /* whatever round they waited for, they are done */
	if (seg_create(l, l->size) != 0)
		return log_fail(l, "creating a segment");
	return 0;
}

/* Encode e as entry l->size into the framed record in l->scratch. */
static int frame_build(struct kw_audit_log *l, const struct kw_audit_entry *e,
                       uint8_t hash[KW_AUDIT_HASH_BYTES])
{
	struct kw_audit_entry copy = *e;
	struct kw_buf *b = &l->scratch;
	size_t len;
	int rc;

	copy.index = l->size;
	if (copy.time_us == 0)
		copy.time_us = kw_now_us();
	kw_buf_reset(b);
	if ((rc = kw_buf_append_u32(b, 0)) != 0 || (rc = kw_audit_entry_encode(&copy, b)) != 0)
		return rc;
	len = b->len - 4;
	if ((rc = kw_audit_leaf_hash(b->data + 4, len, hash)) != 0)
		return rc;
	kw_store_u32(b->data, (uint32_t)len);
	return kw_buf_append(b, hash, 4);
}

/* Append under mu. */
static int append_locked(struct kw_audit_log *l, const struct kw_audit_entry *e, uint64_t *index)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	uint64_t off;
	int rc;

	if (l->read_only)
		return KW_ERR_UNSUPPORTED;
	for (;;) {
		if (l->failed)
			return l->failed;
		if ((rc = frame_build(l, e, hash)) != 0)
			return rc;
		if (l->seg_bytes == AUDIT_SEG_HEADER_BYTES ||
		    l->seg_bytes + l->scratch.len <= l->segment_max)
			break;
		/* Rotation closes the fd a running sync uses: wait it out. The
		 * wait drops mu, so others may append meanwhile: start over
		 * (new index, and scratch is theirs too). */
		if (l->syncing)
			pthread_cond_wait(&l->cv, &l->mu);
		else if ((rc = rotate(l)) != 0)
			return rc;
	}
	off = l->seg_bytes;
	seg_reserve(l, off + l->scratch.len);
	if (fault_hit(l, AUDIT_FAULT_WRITE) ||
	    audit_pwrite_all(l->seg_fd, l->scratch.data, l->scratch.len, off) != 0)
		return log_fail(l, "writing an entry");
	l->seg_bytes += l->scratch.len;
	if (l->seg_bytes > l->seg_alloc)
		l->seg_alloc = l->seg_bytes;
	if (offset_put(l, l->size, off) != 0 || kw_audit_tree_append(&l->tree, hash) != 0)
		return log_fail(l, "writing the tree cache");
	if (index)
		*index = l->size;
	l->size++;
	return 0;
}

int kw_audit_log_append(struct kw_audit_log *l, const struct kw_audit_entry *e, uint64_t *index)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = append_locked(l, e, index);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/*
 * Group commit. One thread, the syncer, runs rounds: it takes every entry
 * written so far, fdatasyncs them without the lock, marks them durable, and
 * at once starts the next round if anyone is waiting. Callers append and
 * wait for the round that covers their entry; whoever appends during a
 * round waits for the next, so one fdatasync serves every caller that
 * arrived during the previous one.
 *
 * Why a thread of its own rather than the first waiter leading: a finished
 * round starts the next without handing over to another thread, and on a
 * busy machine that hand-over (a wake-up) took as long as the sync. Rounds
 * alternate between two futex words so a finished round wakes only its own
 * callers, and they wait without mu: a condition variable would make every
 * woken caller queue for mu again, a convoy that showed in profiles as the
 * commit path's largest cost after the sync itself.
 *
 * Callers that did not wait (kw_audit_log_commit_async) are answered by the
 * syncer itself after the round, before the next one starts: no thread
 * wakes up just to pass the news on, and the next round gathers whatever
 * arrived meanwhile.
 */

/* Under mu: detach the asynchronous commits that are finished, durable or
 * (once the log failed) never to be. */
static struct audit_done *done_take(struct kw_audit_log *l)
{
	struct audit_done *first = l->done_head, **end = &l->done_head;

	while (*end != NULL && (l->failed || (*end)->target <= l->durable))
		end = &(*end)->next;
	if (end == &l->done_head)
		return NULL;
	l->done_head = *end;
	if (l->done_head == NULL)
		l->done_tail = NULL;
	*end = NULL;
	return first;
}

/* Without mu: answer them, and free the list. */
static void done_run(struct audit_done *d, int rc)
{
	while (d != NULL) {
		struct audit_done *next = d->next;

		d->fn(d->ctx, rc);
		free(d);
		d = next;
	}
}

static void *syncer_main(void *arg)
{
	struct kw_audit_log *l = arg;
	struct audit_done *done;
	int rc;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		void (*hook)(void *ctx);
		void *hook_ctx;
		uint64_t upto, gen;
		int fd;

		while ((done = done_take(l)) != NULL) {
			rc = l->failed;
			pthread_mutex_unlock(&l->mu);
			done_run(done, rc);
			pthread_mutex_lock(&l->mu);
		}
		while (!l->syncer_stop && !l->failed && l->wanted <= l->durable &&
		       l->done_head == NULL) {
			l->syncer_idle = true;
			pthread_cond_wait(&l->work_cv, &l->mu);
			l->syncer_idle = false;
		}
		/* Stopping: a last round for anyone still owed an answer. */
		if (l->failed || (l->syncer_stop && l->wanted <= l->durable))
			break;
		if (l->wanted <= l->durable)
			continue; /* only answers to give */
		l->syncing = true;
		gen = ++l->sync_gen;
		upto = l->sync_upto = l->size;
		fd = l->seg_fd;
		hook = l->sync_hook;
		hook_ctx = l->sync_hook_ctx;
		pthread_mutex_unlock(&l->mu);
		if (hook)
			hook(hook_ctx);
		rc = fdatasync(fd);
		pthread_mutex_lock(&l->mu);
		l->syncing = false;
		l->syncs++;
		if (rc != 0 || fault_hit(l, AUDIT_FAULT_SYNC)) {
			(void)log_fail(l, "fdatasync of the audit segment");
			break;
		}
		durable_set(l, upto);
		round_wake(l, 1u << (gen % 2));
	}
	done = done_take(l);
	rc = l->failed;
	pthread_mutex_unlock(&l->mu);
	done_run(done, rc);
	return NULL;
}

/*
 * Under mu: ask for entries [0, target) to be made durable. 0 with
 * *word = -1 if they are already; 0 with *word = the round word to wait on
 * (wait_durable, after dropping mu); or the log's error.
 */
static int sync_request(struct kw_audit_log *l, uint64_t target, int *word)
{
	uint64_t gen;

	*word = -1;
	if (l->failed)
		return l->failed;
	if (l->durable >= target)
		return 0;
	if (!l->syncer_running || l->syncer_stop)
		return KW_ERR_UNAVAILABLE;
	if (target > l->wanted)
		l->wanted = target;
	if (l->syncer_idle)
		pthread_cond_signal(&l->work_cv);
	gen = l->syncing && target <= l->sync_upto ? l->sync_gen : l->sync_gen + 1;
	*word = (int)(gen % 2);
	return 0;
}

/* Without mu: wait until [0, target) is durable or the log has failed. */
static int wait_durable(struct kw_audit_log *l, uint64_t target, int word)
{
	uint32_t *w = &l->round_word[word];

	for (;;) {
		uint32_t seen = __atomic_load_n(w, __ATOMIC_ACQUIRE);
		int failed;

		if (__atomic_load_n(&l->durable, __ATOMIC_ACQUIRE) >= target)
			return 0;
		if ((failed = __atomic_load_n(&l->failed, __ATOMIC_ACQUIRE)) != 0)
			return failed;
		(void)syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
	}
}

int kw_audit_log_sync(struct kw_audit_log *l)
{
	uint64_t target;
	int rc, word = -1;

	pthread_mutex_lock(&l->mu);
	target = l->size;
	rc = l->read_only ? 0 : sync_request(l, target, &word);
	pthread_mutex_unlock(&l->mu);
	if (rc == 0 && word >= 0)
		rc = wait_durable(l, target, word);
	return rc;
}

int kw_audit_log_commit(struct kw_audit_log *l, const struct kw_audit_entry *e, uint64_t *index)
{
	uint64_t i;
	int rc, word = -1;

	pthread_mutex_lock(&l->mu);
	rc = append_locked(l, e, &i);
	if (rc == 0)
		rc = sync_request(l, i + 1, &word);
	pthread_mutex_unlock(&l->mu);
	if (rc == 0 && word >= 0)
		rc = wait_durable(l, i + 1, word);
	if (rc == 0 && index)
		*index = i;
	return rc;
}

int kw_audit_log_commit_async(struct kw_audit_log *l, const struct kw_audit_entry *e,
                              uint64_t *index, kw_audit_done_fn *fn, void *ctx)
{
	struct audit_done *d = malloc(sizeof(*d));
	uint64_t i;
	int rc, word;

	if (d == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_lock(&l->mu);
	rc = append_locked(l, e, &i);
	/* Just appended, so not yet durable: word is always set. */
	if (rc == 0)
		rc = sync_request(l, i + 1, &word);
	if (rc == 0) {
		*d = (struct audit_done){NULL, i + 1, fn, ctx};
		if (l->done_tail != NULL)
			l->done_tail->next = d;
		else
			l->done_head = d;
		l->done_tail = d;
		d = NULL;
		if (index)
			*index = i;
	}
	pthread_mutex_unlock(&l->mu);
	free(d);
	return rc;
}

int kw_audit_log_close(struct kw_audit_log *l)
{
	int fds[5];
	int rc = 0;

	if (l == NULL)
		return 0;
	if (l->syncer_running) {
		pthread_mutex_lock(&l->mu);
		l->syncer_stop = true;
		pthread_cond_signal(&l->work_cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->syncer, NULL);
	}
	/* The syncer answered every asynchronous commit before it stopped. */
	pthread_mutex_lock(&l->mu);
	while (l->syncing)
		pthread_cond_wait(&l->cv, &l->mu);
	if (l->failed == KW_ERR_IO)
		rc = KW_ERR_IO; /* some entries may not have reached the disk */
	else if (!l->read_only && !l->failed && l->seg_fd >= 0) {
		/* Drop the zeros written ahead, so a closed log holds records
		 * only; the caches too, so the next open finds them whole. */
		if (ftruncate(l->seg_fd, (off_t)l->seg_bytes) != 0 || fdatasync(l->seg_fd) != 0 ||
		    fdatasync(l->tree_fd) != 0 || fdatasync(l->off_fd) != 0)
			rc = KW_ERR_IO;
	}
	pthread_mutex_unlock(&l->mu);
	fds[0] = l->seg_fd, fds[1] = l->tree_fd, fds[2] = l->off_fd, fds[3] = l->cp_fd;
	fds[4] = l->dirfd;
	for (size_t i = 0; i < KW_ARRAY_LEN(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	audit_tree_detach(&l->tree);
	kw_buf_cleanup(&l->scratch);
	free(l->seg_first);
	free(l->off_mem);
	free(l->cp_note);
	pthread_cond_destroy(&l->cv);
	pthread_cond_destroy(&l->work_cv);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->cp_mu);
	free(l);
	return rc;
}

/* ---- head, roots, proofs ---- */

int kw_audit_log_head(struct kw_audit_log *l, struct kw_audit_head *out)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = l->failed;
	out->size = l->size;
	out->durable = l->durable;
	out->syncs = l->syncs;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int kw_audit_log_root(struct kw_audit_log *l, uint64_t size, uint8_t root[KW_AUDIT_HASH_BYTES])
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = kw_audit_tree_root(&l->tree, size, root);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int kw_audit_log_prove_inclusion(struct kw_audit_log *l, uint64_t index, uint64_t size,
                                 struct kw_audit_proof *out)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = kw_audit_tree_prove_inclusion(&l->tree, index, size, out);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int kw_audit_log_prove_consistency(struct kw_audit_log *l, uint64_t old_size, uint64_t new_size,
                                   struct kw_audit_proof *out)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = kw_audit_tree_prove_consistency(&l->tree, old_size, new_size, out);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* ---- checkpoints ---- */

static int checkpoint_store(struct kw_audit_log *l, const char *note)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	size_t len = strlen(note);
	struct kw_buf b;
	int rc;

	kw_buf_init(&b);
	if ((rc = kw_audit_leaf_hash((const uint8_t *)note, len, hash)) != 0 ||
	    (rc = audit_frame_append(&b, (const uint8_t *)note, len, hash)) != 0)
		goto out;
	if (audit_write_all(l->cp_fd, b.data, b.len) != 0 || fdatasync(l->cp_fd) != 0) {
		kw_error("audit: storing a checkpoint failed (%s)", strerror(errno));
		rc = KW_ERR_IO;
	}
out:
	kw_buf_cleanup(&b);
	return rc;
}

static int checkpoint_make(struct kw_audit_log *l, const struct kw_audit_signer *s, char **note)
{
	struct kw_audit_checkpoint c = {0};
	struct kw_audit_head h;
	char *text = NULL;
	int rc;

	if ((rc = kw_audit_log_head(l, &h)) != 0)
		return rc;
	if (l->cp_note != NULL && l->cp_size == h.durable) {
		text = strdup(l->cp_note);
		if (text == NULL)
			return KW_ERR_NOMEM;
		*note = text;
		return 0;
	}
	if (kw_strlcpy(c.origin, s->name, sizeof(c.origin)) != 0)
		return KW_ERR_INVALID;
	c.size = h.durable;
	if ((rc = kw_audit_log_root(l, c.size, c.root)) != 0)
		return rc;
	if ((rc = kw_audit_checkpoint_sign(&c, s, &text)) != 0)
		return rc;
	if ((rc = checkpoint_store(l, text)) != 0) {
		free(text);
		return rc;
	}
	/* Without the copy the next call just signs again. */
	free(l->cp_note);
	l->cp_note = strdup(text);
	l->cp_size = c.size;
	*note = text;
	return 0;
}

int kw_audit_log_checkpoint(struct kw_audit_log *l, const struct kw_audit_signer *s, char **note)
{
	int rc;

	if (l->read_only)
		return KW_ERR_UNSUPPORTED;
	pthread_mutex_lock(&l->cp_mu);
	rc = checkpoint_make(l, s, note);
	pthread_mutex_unlock(&l->cp_mu);
	return rc;
}

/* ---- reading ---- */

/* Where entry start lives: its segment's first index and the offset. */
static int locate(struct kw_audit_log *l, uint64_t index, uint64_t *seg_first, uint64_t *off)
{
	if (index >= l->size)
		return KW_ERR_NOT_FOUND;
	*seg_first = l->seg_first[seg_find(l, index)];
	return offset_get(l, index, off);
}

/* The record at off in fd must be entry index, with its check bytes. */
static int record_load(int fd, uint64_t off, uint64_t index, uint8_t **leaf, size_t *len)
{
	uint8_t hdr[4], hash[KW_AUDIT_HASH_BYTES], *p = NULL;
	struct kw_audit_entry *e = NULL;
	size_t n;
	int rc;

	if ((rc = audit_pread_all(fd, hdr, sizeof(hdr), off)) != 0)
		return rc;
	n = kw_load_u32(hdr);
	if (n == 0 || n > KW_AUDIT_LEAF_MAX)
		return KW_ERR_INTEGRITY;
	p = malloc(n + 4);
	if (p == NULL)
		return KW_ERR_NOMEM;
	if ((rc = audit_pread_all(fd, p, n + 4, off + 4)) != 0 ||
	    (rc = kw_audit_leaf_hash(p, n, hash)) != 0)
		goto out;
	if (memcmp(p + n, hash, 4) != 0 || kw_audit_entry_decode(p, n, &e) != 0 ||
	    e->index != index) {
		kw_error("audit: record %llu is damaged; run the verifier",
		         (unsigned long long)index);
		rc = KW_ERR_INTEGRITY;
	}
	kw_audit_entry_free(e);
out:
	if (rc != 0) {
		free(p);
		return rc;
	}
	*leaf = p;
	*len = n;
	return 0;
}

int kw_audit_log_read(struct kw_audit_log *l, uint64_t index, uint8_t **leaf, size_t *len)
{
	char name[AUDIT_SEG_NAME_BYTES];
	uint64_t first, off;
	int fd, rc;

	pthread_mutex_lock(&l->mu);
	rc = locate(l, index, &first, &off);
	pthread_mutex_unlock(&l->mu);
	if (rc != 0)
		return rc;
	audit_seg_name(first, name);
	fd = openat(l->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KW_ERR_IO;
	rc = record_load(fd, off, index, leaf, len);
	close(fd);
	return rc;
}

/* Visit the records of one segment from offset off, entries [index, end). */
static int scan_segment(struct kw_audit_log *l, uint64_t seg, uint64_t off, uint64_t *index,
                        uint64_t end, kw_audit_visit_fn fn, void *ctx)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	char name[AUDIT_SEG_NAME_BYTES];
	struct audit_reader r;
	int rc;

	audit_seg_name(seg, name);
	if ((rc = audit_reader_open(l->dirfd, name, off, &r)) != 0)
		return rc;
	while (*index < end) {
		struct kw_audit_entry *e;
		enum audit_frame st;
		const uint8_t *leaf;
		size_t len;

		if ((rc = audit_reader_next(&r, &st, &leaf, &len, hash, &off)) != 0)
			break;
		/* Short of the entries the log counts in this segment (an END
		 * too) means the file changed under us: say so, never loop. */
		if (st != AUDIT_FRAME_OK || kw_audit_entry_decode(leaf, len, &e) != 0) {
			rc = KW_ERR_INTEGRITY;
			break;
		}
		rc = e->index == *index ? fn(ctx, *index, leaf, len, e) : KW_ERR_INTEGRITY;
		kw_audit_entry_free(e);
		if (rc != 0)
			break;
		(*index)++;
	}
	audit_reader_close(&r);
	return rc;
}

int kw_audit_log_scan(struct kw_audit_log *l, uint64_t start, uint64_t end, kw_audit_visit_fn fn,
                      void *ctx)
{
	uint64_t index = start;
	int rc = 0;

	while (rc == 0) {
		uint64_t seg, off, next;

		pthread_mutex_lock(&l->mu);
		if (end > l->size)
			end = l->size;
		rc = index < end ? locate(l, index, &seg, &off) : 1;
		if (rc == 0) {
			size_t s = seg_find(l, index);

			next = s + 1 < l->nseg ? l->seg_first[s + 1] : end;
		}
		pthread_mutex_unlock(&l->mu);
		if (rc != 0)
			break;
		rc = scan_segment(l, seg, off, &index, next < end ? next : end, fn, ctx);
	}
	if (rc == KW_ERR_INTEGRITY)
		kw_error("audit: record %llu is damaged; run the verifier",
		         (unsigned long long)index);
	return rc == 1 ? 0 : rc;
}

bool kw_audit_query_match(const struct kw_audit_query *q, const struct kw_audit_entry *e)
{
	if (q->key_name && strcmp(q->key_name, e->key_name) != 0)
		return false;
	if (q->operation && strcmp(q->operation, e->operation) != 0)
		return false;
	if (q->identity && strcmp(q->identity, e->subject) != 0 &&
	    strcmp(q->identity, e->accessor) != 0)
		return false;
	if (q->since_us && e->time_us < q->since_us)
		return false;
	if (q->until_us && e->time_us >= q->until_us)
		return false;
	return true;
}

struct search {
	const struct kw_audit_query *q;
	size_t limit, found;
	uint64_t scan_left, next;
	kw_audit_visit_fn fn;
	void *ctx;
};

static int search_visit(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                        const struct kw_audit_entry *e)
{
	struct search *s = ctx;
	int rc;

	s->next = index + 1;
	if (kw_audit_query_match(s->q, e)) {
		if ((rc = s->fn(s->ctx, index, leaf, len, e)) != 0)
			return rc;
		s->found++;
	}
	if (s->found >= s->limit || (s->scan_left && --s->scan_left == 0))
		return 1;
	return 0;
}

int kw_audit_log_search(struct kw_audit_log *l, const struct kw_audit_query *q, uint64_t cursor,
                        size_t limit, uint64_t scan_max, kw_audit_visit_fn fn, void *ctx,
                        uint64_t *next)
{
	struct search s = {
	    .q = q, .limit = limit, .scan_left = scan_max, .next = cursor, .fn = fn, .ctx = ctx};
	int rc;

	if (limit == 0)
		return KW_ERR_INVALID;
	rc = kw_audit_log_scan(l, cursor, UINT64_MAX, search_visit, &s);
	if (rc != 0)
		return rc;
	*next = s.next;
	return 0;
}
