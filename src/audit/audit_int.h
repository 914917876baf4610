/*
 * audit_int.h: what the files of src/audit share with each other and with
 * the module's tests: the on-disk framing, the segment reader, the tree's
 * storage and a fault hook. Other modules include audit.h only.
 */
#ifndef KW_AUDIT_INT_H
#define KW_AUDIT_INT_H

#include "audit.h"

/* Segment file: magic ‖ u64 first index, then records. */
#define AUDIT_SEG_MAGIC        "KWAUDSG1"
#define AUDIT_SEG_MAGIC_BYTES  8
#define AUDIT_SEG_HEADER_BYTES 16
/* Zeros written ahead of the records of the segment being appended to. */
#define AUDIT_PREALLOC_BYTES (1u << 20)
/* Record: u32 leaf length ‖ leaf ‖ u32 check (leaf hash's first 4 bytes). */
#define AUDIT_FRAME_OVERHEAD   8
#define AUDIT_SEG_NAME_DIGITS  20
#define AUDIT_SEG_NAME_BYTES   (AUDIT_SEG_NAME_DIGITS + sizeof(".log"))
#define AUDIT_TREE_FILE        "tree.hashes"
#define AUDIT_OFFSETS_FILE     "offsets.idx"
#define AUDIT_CHECKPOINTS_FILE "checkpoints"

/* ---- entry.c ---- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF;
 * and no NUL, since decoded text is handed out as C strings. */
bool audit_utf8_valid(const uint8_t *s, size_t n);

/* ---- merkle.c ---- */

/* Nodes stored (post-order) for a tree of n leaves: 2n - popcount(n). */
uint64_t audit_tree_nodes(uint64_t n);
/* Post-order position of the complete subtree at level, covering leaves
 * [index << level, (index + 1) << level). */
uint64_t audit_tree_pos(unsigned level, uint64_t index);

/*
 * Storage: positions below file_nodes are in fd (read with pread; written
 * with pwrite when writable); positions from mem_base on are in mem. A
 * memory tree has fd -1 and mem_base 0; a read-only view of a short file
 * keeps the missing tail in memory.
 */
struct kw_audit_tree {
	struct kw_audit_frontier fr;
	int fd;
	bool writable;
	uint64_t file_nodes;
	uint8_t *mem;
	uint64_t mem_base, mem_len, mem_cap; /* in nodes */
};
/* A tree over fd's first valid_leaves leaves (caller checked the file holds
 * their nodes); the frontier is read back from the file. Does not own fd. */
int audit_tree_attach(struct kw_audit_tree *t, int fd, bool writable, uint64_t valid_leaves);
void audit_tree_detach(struct kw_audit_tree *t);
int audit_tree_node(struct kw_audit_tree *t, uint64_t pos, uint8_t out[KW_AUDIT_HASH_BYTES]);

/* ---- note.c ---- */

/* The size a checkpoint claims, signature unchecked: for the log's own
 * stored checkpoints only, never for a verdict. */
int audit_checkpoint_peek(const char *note, size_t len,
                          struct kw_audit_checkpoint *out) KW_MUST_CHECK;

/* ---- segment.c ---- */

void audit_seg_name(uint64_t first, char name[AUDIT_SEG_NAME_BYTES]);
/* Segments of dir, sorted by first index (malloc'd array). */
int audit_seg_list(int dirfd, uint64_t **firsts, size_t *count) KW_MUST_CHECK;
void audit_seg_header(uint64_t first, uint8_t out[AUDIT_SEG_HEADER_BYTES]);

enum audit_frame {
	AUDIT_FRAME_OK = 0,
	AUDIT_FRAME_END,  /* clean end of file */
	AUDIT_FRAME_TORN, /* incomplete record at the end of the file */
	AUDIT_FRAME_BAD,  /* a length out of range or a check mismatch */
};

/* Sequential, buffered reading of framed records from one file. */
struct audit_reader {
	int fd;
	uint8_t *buf;
	size_t cap, start, end;
	uint64_t pos;  /* file offset of buf[start] */
	uint64_t size; /* file size when opened */
};
/* Opens dir/name at offset; KW_ERR_NOT_FOUND if the file is missing. */
int audit_reader_open(int dirfd, const char *name, uint64_t offset,
                      struct audit_reader *r) KW_MUST_CHECK;
void audit_reader_close(struct audit_reader *r);
/* Reads the segment header (the reader must be at offset 0). */
int audit_reader_header(struct audit_reader *r, uint64_t *first,
                        enum audit_frame *st) KW_MUST_CHECK;
/*
 * Next record: *st says what was found, *offset where (the record's start,
 * or where the damage begins); for OK, leaf (valid until the next call), its
 * length and its leaf hash. Errors (< 0) are I/O or memory only.
 */
int audit_reader_next(struct audit_reader *r, enum audit_frame *st, const uint8_t **leaf,
                      size_t *len, uint8_t hash[KW_AUDIT_HASH_BYTES],
                      uint64_t *offset) KW_MUST_CHECK;

/* Can damage found at offset at (of a file of size bytes, records at most
 * record_max) be the torn tail of a crash, rather than damage to cut? */
bool audit_damage_is_torn_tail(int fd, uint64_t at, uint64_t size, size_t record_max);
/* The newest stored checkpoint in dirfd (KW_ERR_NOT_FOUND if none;
 * KW_ERR_INTEGRITY if a record before the last is damaged). */
int audit_checkpoint_last(int dirfd, char **note) KW_MUST_CHECK;

/* Frame leaf (with its precomputed hash) onto out. */
int audit_frame_append(struct kw_buf *out, const uint8_t *leaf, size_t len,
                       const uint8_t hash[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;

/* Full write at the file's end or at offset (pwrite); EINTR retried. */
int audit_write_all(int fd, const void *p, size_t n) KW_MUST_CHECK;
int audit_pwrite_all(int fd, const void *p, size_t n, uint64_t off) KW_MUST_CHECK;
int audit_pread_all(int fd, void *p, size_t n, uint64_t off) KW_MUST_CHECK;

/* ---- log.c: fault injection for tests ---- */
enum audit_fault { AUDIT_FAULT_NONE = 0, AUDIT_FAULT_WRITE, AUDIT_FAULT_SYNC };
/* Make the after-th next record write (or segment sync) fail with EIO. */
void audit_log_fault_inject(struct kw_audit_log *l, enum audit_fault what, unsigned after);
/* Called by each sync leader, without the lock, just before fdatasync. */
void audit_log_sync_hook(struct kw_audit_log *l, void (*fn)(void *ctx), void *ctx);

#endif
