/*
 * segment.c: the log's file format — segment names and headers, record
 * framing, a buffered sequential reader that tells a torn tail from a bad
 * record, full-write helpers, and reading the stored checkpoints.
 *
 * Shared by the writer (log.c) and the offline verifier (check.c), so both
 * read the bytes the same way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"

#define READER_BUF_BYTES (1u << 20)

void audit_seg_name(uint64_t first, char name[AUDIT_SEG_NAME_BYTES])
{
	snprintf(name, AUDIT_SEG_NAME_BYTES, "%020llu.log", (unsigned long long)first);
}

/* "<20 digits>.log" → its first index; false for anything else. */
static bool seg_name_parse(const char *name, uint64_t *first)
{
	uint64_t v = 0;

	if (strlen(name) != AUDIT_SEG_NAME_BYTES - 1 ||
	    strcmp(name + AUDIT_SEG_NAME_DIGITS, ".log") != 0)
		return false;
	for (int i = 0; i < AUDIT_SEG_NAME_DIGITS; i++) {
		uint64_t d = (uint64_t)(name[i] - '0');

		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*first = v;
	return true;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int audit_seg_list(int dirfd, uint64_t **firsts, size_t *count)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd = dup(dirfd), rc = 0;

	if (fd < 0)
		return KW_ERR_IO;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return KW_ERR_IO;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t first;

		if (!seg_name_parse(de->d_name, &first))
			continue;
		if (n == cap) {
			uint64_t *p = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (p == NULL) {
				rc = KW_ERR_NOMEM;
				goto out;
			}
			v = p;
			cap = cap ? cap * 2 : 16;
		}
		v[n++] = first;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), u64_cmp);
	*firsts = v;
	*count = n;
	v = NULL;
out:
	closedir(d);
	free(v);
	return rc;
}

void audit_seg_header(uint64_t first, uint8_t out[AUDIT_SEG_HEADER_BYTES])
{
	memcpy(out, AUDIT_SEG_MAGIC, AUDIT_SEG_MAGIC_BYTES);
	kw_store_u64(out + AUDIT_SEG_MAGIC_BYTES, first);
}

int audit_frame_append(struct kw_buf *out, const uint8_t *leaf, size_t len,
                       const uint8_t hash[KW_AUDIT_HASH_BYTES])
{
	int rc;

	if (len == 0 || len > KW_AUDIT_LEAF_MAX)
		return KW_ERR_INVALID;
	if ((rc = kw_buf_reserve(out, len + AUDIT_FRAME_OVERHEAD)) != 0)
		return rc;
	kw_store_u32(out->data + out->len, (uint32_t)len);
	memcpy(out->data + out->len + 4, leaf, len);
	memcpy(out->data + out->len + 4 + len, hash, 4);
	out->len += len + AUDIT_FRAME_OVERHEAD;
	return 0;
}

int audit_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return KW_ERR_IO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int audit_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return KW_ERR_IO;
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int audit_pread_all(int fd, void *p, size_t n, uint64_t off)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = pread(fd, b, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return KW_ERR_IO;
		b += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int audit_reader_open(int dirfd, const char *name, uint64_t offset, struct audit_reader *r)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (fd < 0)
		return errno == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_IO;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return KW_ERR_IO;
	}
	r->buf = malloc(READER_BUF_BYTES);
	if (r->buf == NULL) {
		close(fd);
		return KW_ERR_NOMEM;
	}
	r->fd = fd;
	r->cap = READER_BUF_BYTES;
	r->pos = offset;
	r->size = (uint64_t)st.st_size;
	return 0;
}

void audit_reader_close(struct audit_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Make at least want bytes available at buf[start] (fewer at end of file,
 * never past the size seen at open: a writer may be appending). */
static int reader_fill(struct audit_reader *r, size_t want)
{
	size_t have = r->end - r->start;

	if (have >= want)
		return 0;
	memmove(r->buf, r->buf + r->start, have);
	r->start = 0;
	r->end = have;
	while (r->end < r->cap && r->pos + r->end < r->size) {
		uint64_t left = r->size - (r->pos + r->end);
		size_t n = r->cap - r->end;
		ssize_t got;

		if (n > left)
			n = (size_t)left;
		got = pread(r->fd, r->buf + r->end, n, (off_t)(r->pos + r->end));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return KW_ERR_IO;
		if (got == 0)
			break;
		r->end += (size_t)got;
		if (r->end >= want)
			break;
	}
	return 0;
}

static void reader_skip(struct audit_reader *r, size_t n)
{
	r->start += n;
	r->pos += n;
}

/* Whether every byte from here to the end of the file is zero. Consumes the
 * buffer: only called when the reader stops. */
static int reader_rest_zero(struct audit_reader *r, bool *zero)
{
	int rc;

	*zero = true;
	for (;;) {
		size_t have;

		if ((rc = reader_fill(r, r->cap)) != 0)
			return rc;
		have = r->end - r->start;
		if (have == 0)
			return 0;
		for (size_t i = r->start; i < r->end; i++) {
			if (r->buf[i] != 0) {
				*zero = false;
				return 0;
			}
		}
		reader_skip(r, have);
	}
}

int audit_reader_header(struct audit_reader *r, uint64_t *first, enum audit_frame *st)
{
	int rc;

	if ((rc = reader_fill(r, AUDIT_SEG_HEADER_BYTES)) != 0)
		return rc;
	if (r->end - r->start < AUDIT_SEG_HEADER_BYTES) {
		*st = AUDIT_FRAME_TORN;
		return 0;
	}
	if (memcmp(r->buf + r->start, AUDIT_SEG_MAGIC, AUDIT_SEG_MAGIC_BYTES) != 0) {
		*st = AUDIT_FRAME_BAD;
		return 0;
	}
	*first = kw_load_u64(r->buf + r->start + AUDIT_SEG_MAGIC_BYTES);
	reader_skip(r, AUDIT_SEG_HEADER_BYTES);
	*st = AUDIT_FRAME_OK;
	return 0;
}

int audit_reader_next(struct audit_reader *r, enum audit_frame *st, const uint8_t **leaf,
                      size_t *len, uint8_t hash[KW_AUDIT_HASH_BYTES], uint64_t *offset)
{
	const uint8_t *p;
	bool zero;
	size_t n;
	int rc;

	*offset = r->pos;
	if ((rc = reader_fill(r, 4)) != 0)
		return rc;
	if (r->end == r->start) {
		*st = AUDIT_FRAME_END;
		return 0;
	}
	if (r->end - r->start < 4) {
		*st = AUDIT_FRAME_TORN;
		return 0;
	}
	n = kw_load_u32(r->buf + r->start);
	if (n == 0 || n > KW_AUDIT_LEAF_MAX) {
		/* Zeros to the end of the file are space written ahead of the
		 * records (or allocated before a crash let the data reach the
		 * disk): the end. Anything else out of range is damage. */
		if ((rc = reader_rest_zero(r, &zero)) != 0)
			return rc;
		*st = n == 0 && zero ? AUDIT_FRAME_END : AUDIT_FRAME_BAD;
		return 0;
	}
	if ((rc = reader_fill(r, n + AUDIT_FRAME_OVERHEAD)) != 0)
		return rc;
	if (r->end - r->start < n + AUDIT_FRAME_OVERHEAD) {
		*st = AUDIT_FRAME_TORN;
		return 0;
	}
	p = r->buf + r->start + 4;
	if ((rc = kw_audit_leaf_hash(p, n, hash)) != 0)
		return rc;
	if (memcmp(p + n, hash, 4) != 0) {
		/* A record cut short by a crash inside the zeros written ahead
		 * is followed by zeros only: torn. One that ends the file, or
		 * has records after it, was edited. */
		reader_skip(r, n + AUDIT_FRAME_OVERHEAD);
		zero = false;
		if (r->pos < r->size && (rc = reader_rest_zero(r, &zero)) != 0)
			return rc;
		*st = zero ? AUDIT_FRAME_TORN : AUDIT_FRAME_BAD;
		return 0;
	}
	*leaf = p;
	*len = n;
	reader_skip(r, n + AUDIT_FRAME_OVERHEAD);
	*st = AUDIT_FRAME_OK;
	return 0;
}

bool audit_damage_is_torn_tail(int fd, uint64_t at, uint64_t size, size_t record_max)
{
	uint8_t buf[4096];
	uint64_t off = at;

	/* A torn write hits only the last record, so the damage must fit in
	 * one record and, where its length field is readable and sane, that
	 * record must reach the end of the file. */
	if (size - at > AUDIT_FRAME_OVERHEAD + record_max)
		return false;
	if (size - at >= 4 && pread(fd, buf, 4, (off_t)at) == 4) {
		uint32_t len = kw_load_u32(buf);

		if (len > 0 && len <= record_max)
			return at + AUDIT_FRAME_OVERHEAD + len >= size;
	}
	/* No usable length: torn only if the rest is zeros (space the file
	 * system allocated but the crash never filled). */
	while (off < size) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (buf[i] != 0)
				return false;
		off += n;
	}
	return true;
}

int audit_checkpoint_last(int dirfd, char **note)
{
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	struct audit_reader r;
	enum audit_frame st;
	char *last = NULL;
	int rc;

	if ((rc = audit_reader_open(dirfd, AUDIT_CHECKPOINTS_FILE, 0, &r)) != 0)
		return rc;
	/* Records are appended in order; a torn last one is ignored. */
	for (;;) {
		const uint8_t *p;
		size_t len;
		uint64_t off;

		if ((rc = audit_reader_next(&r, &st, &p, &len, hash, &off)) != 0)
			break;
		/* Damage before the end is not a crash: never fall back to an
		 * older checkpoint as if the newer ones had not been signed. */
		if (st == AUDIT_FRAME_BAD &&
		    !audit_damage_is_torn_tail(r.fd, off, r.size, KW_AUDIT_NOTE_MAX)) {
			rc = KW_ERR_INTEGRITY;
			break;
		}
		if (st != AUDIT_FRAME_OK)
			break;
		free(last);
		last = strndup((const char *)p, len);
		if (last == NULL) {
			rc = KW_ERR_NOMEM;
			break;
		}
	}
	audit_reader_close(&r);
	if (rc == 0 && last == NULL)
		rc = KW_ERR_NOT_FOUND;
	if (rc != 0) {
		free(last);
		return rc;
	}
	*note = last;
	return 0;
}

int kw_audit_checkpoint_latest(const char *dir, char **note)
{
	int dirfd, rc;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_IO;
	rc = audit_checkpoint_last(dirfd, note);
	close(dirfd);
	return rc;
}
