/*
 * audit: keyward's verifiable audit log — the canonical entry (the *leaf*),
 * the RFC 6962/9162 Merkle tree with inclusion and consistency proofs, C2SP
 * signed-note checkpoints, the append-only segment files with group commit,
 * and the offline verifier.
 *
 * Two callers. The keeper opens the log read-write (one process at a time: an
 * exclusive flock on the directory), appends one entry per request and, with
 * forced audit, replies only after kw_audit_log_commit() returned (the entry
 * is fdatasync'd; concurrent callers share one sync). It signs checkpoints
 * through a callback and serves entries and proofs. The CLI verifier writes
 * nothing: kw_audit_verify_dir() re-reads every leaf and recomputes the tree,
 * trusting none of the log's own caches, only the verifier key.
 *
 * Secrets: none. An entry has no field for plaintext, key material or tokens:
 * only SHA-256 digests of inputs and outputs and the token's accessor. The
 * module never holds a private key: checkpoints are signed through a
 * kw_audit_sign_fn callback, so the audit key stays with the keeper's other
 * key objects; kw_audit_sign_key() is a ready-made callback for an Ed25519
 * struct kw_key.
 *
 * Threads: a struct kw_audit_log may be used by any number of threads (one
 * mutex; fdatasync runs outside it). A struct kw_audit_tree or
 * kw_audit_check belongs to one thread at a time. The rest are pure functions.
 *
 * Errors: KW_ERR_INVALID for malformed input (leaf, note, key string, proof
 * arguments); KW_ERR_INTEGRITY when a proof, a signature or a stored record
 * does not check out; KW_ERR_IO when the log cannot be written — after the
 * first failed write or sync every later call on that log returns KW_ERR_IO
 * (the keeper then refuses key operations with 503).
 */
#ifndef KW_AUDIT_H
#define KW_AUDIT_H

#include <jansson.h>

#include "../common/common.h"

struct kw_key;

#define KW_AUDIT_HASH_BYTES   32
#define KW_AUDIT_LEAF_VERSION 1
#define KW_AUDIT_TEXT_MAX     2048  /* bytes in one text field */
#define KW_AUDIT_LEAF_MAX     32768 /* every encodable entry fits */

/* ---- entries (entry.c) ---- */

/*
 * One audit record. Text fields are UTF-8 without NUL, at most
 * KW_AUDIT_TEXT_MAX bytes; NULL encodes as "". Integers are below 2^63.
 * What the struct cannot hold is the point: no token, no plaintext, no key.
 */
struct kw_audit_entry {
	uint64_t index;          /* position in the log: set by the log */
	uint64_t time_us;        /* UTC microseconds; 0 = stamped by the log */
	const char *node_id;     /* which keyward node */
	const char *auth_method; /* "token", "kubernetes", ... */
	const char *subject;     /* identity's subject or display name */
	const char *accessor;    /* the token's accessor, never the token */
	const char *source_addr; /* client address as the front saw it */
	uint16_t listener_port;
	const char *operation; /* "sign", "key-create", "unseal", ... */
	const char *path;      /* canonical path: "transit/sign/app-1" */
	const char *key_name;
	uint32_t key_version;    /* 0 = none */
	int32_t result;          /* 0 or a KW_ERR_* */
	const char *result_code; /* stable code; NULL = kw_err_code(result) */
	bool has_input_sha256;   /* SHA-256 of the request's input data */
	uint8_t input_sha256[KW_AUDIT_HASH_BYTES];
	bool has_output_sha256; /* of the output: signature, ciphertext, ... */
	uint8_t output_sha256[KW_AUDIT_HASH_BYTES];
	const char *request_id;
	/* The caller's non-secret claims as a JSON object text (pod name and
	 * uid, role, mount ...), or NULL: who exactly, beyond the identity. */
	const char *claims;
};

/*
 * The leaf: version byte, then the fields above in declaration order, each as
 * u16 big-endian length ‖ bytes (integers big-endian at their exact width,
 * digests 0 or 32 bytes). Appended to out; out is unchanged on error.
 */
int kw_audit_entry_encode(const struct kw_audit_entry *e, struct kw_buf *out) KW_MUST_CHECK;
/* Strict inverse: KW_ERR_INVALID for an unknown version, a bad length, bad
 * UTF-8 or trailing bytes. *out is one allocation; kw_audit_entry_free(). */
int kw_audit_entry_decode(const uint8_t *leaf, size_t len,
                          struct kw_audit_entry **out) KW_MUST_CHECK;
void kw_audit_entry_free(struct kw_audit_entry *e);
/* JSON object for the API and CLI (digests in hex or null, "time" as RFC 3339
 * with microseconds); and the same as one compact line (JSON-lines sinks). */
int kw_audit_entry_to_json(const struct kw_audit_entry *e, json_t **out) KW_MUST_CHECK;
int kw_audit_entry_json_text(const struct kw_audit_entry *e, char **out) KW_MUST_CHECK;

/* ---- Merkle tree, RFC 6962 §2.1 / RFC 9162 §2.1 (merkle.c) ---- */

/* SHA-256(0x00 ‖ leaf) and SHA-256(0x01 ‖ left ‖ right). */
int kw_audit_leaf_hash(const uint8_t *leaf, size_t len,
                       uint8_t out[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;
int kw_audit_node_hash(const uint8_t left[KW_AUDIT_HASH_BYTES],
                       const uint8_t right[KW_AUDIT_HASH_BYTES],
                       uint8_t out[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;
/* The root of the empty tree, SHA-256(""). */
void kw_audit_empty_root(uint8_t out[KW_AUDIT_HASH_BYTES]);

/* The right edge of a tree: one complete subtree per set bit of size. Enough
 * to append in O(log n) and to compute the root; no history. */
struct kw_audit_frontier {
	uint64_t size;
	uint8_t hash[64][KW_AUDIT_HASH_BYTES]; /* hash[l] valid iff bit l of size */
};
void kw_audit_frontier_init(struct kw_audit_frontier *f);
int kw_audit_frontier_append(struct kw_audit_frontier *f,
                             const uint8_t leaf_hash[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;
int kw_audit_frontier_root(const struct kw_audit_frontier *f,
                           uint8_t root[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;

/* A proof: sibling hashes bottom-up, as RFC 6962 lists them. */
#define KW_AUDIT_PROOF_MAX 128
struct kw_audit_proof {
	size_t count;
	uint8_t hash[KW_AUDIT_PROOF_MAX][KW_AUDIT_HASH_BYTES];
};

/*
 * A tree with history, in memory: every complete subtree's hash is kept (2n
 * hashes), so roots at any earlier size and proofs cost O(log n) lookups
 * with no rehashing. The log keeps the same layout in a file.
 */
struct kw_audit_tree;
int kw_audit_tree_new(struct kw_audit_tree **out) KW_MUST_CHECK;
void kw_audit_tree_free(struct kw_audit_tree *t);
int kw_audit_tree_append(struct kw_audit_tree *t,
                         const uint8_t leaf_hash[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;
uint64_t kw_audit_tree_size(const struct kw_audit_tree *t);
/* Root at any size <= the current one (KW_ERR_INVALID beyond). */
int kw_audit_tree_root(struct kw_audit_tree *t, uint64_t size,
                       uint8_t root[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;
/* PATH(index, D[size]); needs index < size <= tree size. */
int kw_audit_tree_prove_inclusion(struct kw_audit_tree *t, uint64_t index, uint64_t size,
                                  struct kw_audit_proof *out) KW_MUST_CHECK;
/* PROOF(old, D[new]); needs old <= new <= tree size; empty for old 0 or old == new. */
int kw_audit_tree_prove_consistency(struct kw_audit_tree *t, uint64_t old_size, uint64_t new_size,
                                    struct kw_audit_proof *out) KW_MUST_CHECK;

/* RFC 9162 §2.1.3.2, with the proof-length check. 0 if it proves;
 * KW_ERR_INTEGRITY if not; KW_ERR_INVALID if index >= size. */
int kw_audit_verify_inclusion(uint64_t index, uint64_t size,
                              const uint8_t leaf_hash[KW_AUDIT_HASH_BYTES],
                              const struct kw_audit_proof *p,
                              const uint8_t root[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;
/* RFC 9162 §2.1.4.2, with the proof-length check. old_size 0 proves only
 * with an empty proof and the empty root; KW_ERR_INVALID if old > new. */
int kw_audit_verify_consistency(uint64_t old_size, uint64_t new_size,
                                const struct kw_audit_proof *p,
                                const uint8_t old_root[KW_AUDIT_HASH_BYTES],
                                const uint8_t new_root[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;

/* ---- signed notes and checkpoints, c2sp.org/signed-note, tlog-checkpoint (note.c) ---- */

#define KW_AUDIT_ED25519_PUBLIC_BYTES 32
#define KW_AUDIT_ED25519_SIG_BYTES    64
#define KW_AUDIT_NAME_MAX             255   /* key name, checkpoint origin */
#define KW_AUDIT_NOTE_MAX             65536 /* a note we accept */

/* Sign msg with Ed25519 into sig; 0 or a KW_ERR_*. The keeper owns the key. */
typedef int (*kw_audit_sign_fn)(void *ctx, const uint8_t *msg, size_t len,
                                uint8_t sig[KW_AUDIT_ED25519_SIG_BYTES]);

struct kw_audit_signer {
	const char *name; /* key name; keyward uses the log's origin */
	uint8_t public_key[KW_AUDIT_ED25519_PUBLIC_BYTES];
	kw_audit_sign_fn sign;
	void *ctx;
};

/* A parsed verifier key: who may sign, and with what. */
struct kw_audit_verifier {
	char name[KW_AUDIT_NAME_MAX + 1];
	uint32_t key_id;
	uint8_t public_key[KW_AUDIT_ED25519_PUBLIC_BYTES];
};

/* A kw_audit_sign_fn for ctx = an Ed25519 const struct kw_key *. */
int kw_audit_sign_key(void *ctx, const uint8_t *msg, size_t len,
                      uint8_t sig[KW_AUDIT_ED25519_SIG_BYTES]) KW_MUST_CHECK;
/* The 32 raw public key bytes of an Ed25519 struct kw_key. */
int kw_audit_key_public(const struct kw_key *k,
                        uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES]) KW_MUST_CHECK;

/* First 4 bytes (big-endian) of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key). */
int kw_audit_key_id(const char *name, const uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES],
                    uint32_t *out) KW_MUST_CHECK;
/* "<name>+<8 hex key id>+<base64(0x01 ‖ public key)>", malloc'd. */
int kw_audit_verifier_encode(const char *name, const uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES],
                             char **out) KW_MUST_CHECK;
/* Parse and check (the id must match the name and key). */
int kw_audit_verifier_decode(const char *text, struct kw_audit_verifier *out) KW_MUST_CHECK;

/* text ‖ "\n" ‖ "— <name> <base64(key id ‖ signature)>\n". text must end in
 * "\n" and hold no blank line or control character. Result malloc'd. */
int kw_audit_note_sign(const char *text, size_t len, const struct kw_audit_signer *s,
                       char **out) KW_MUST_CHECK;
/* Check note against v: signatures by other keys are ignored; v's must be
 * present and valid. *text_len = length of the signed text (a prefix). */
int kw_audit_note_open(const char *note, size_t len, const struct kw_audit_verifier *v,
                       size_t *text_len) KW_MUST_CHECK;

struct kw_audit_checkpoint {
	char origin[KW_AUDIT_NAME_MAX + 1];
	uint64_t size;
	uint8_t root[KW_AUDIT_HASH_BYTES];
};
/* "<origin>\n<size>\n<base64 root>\n" signed by s; malloc'd. */
int kw_audit_checkpoint_sign(const struct kw_audit_checkpoint *c, const struct kw_audit_signer *s,
                             char **out) KW_MUST_CHECK;
/* Verify the note with v and parse it: size in canonical decimal, a 32-byte
 * root, extension lines ignored. The caller compares the origin. */
int kw_audit_checkpoint_open(const char *note, size_t len, const struct kw_audit_verifier *v,
                             struct kw_audit_checkpoint *out) KW_MUST_CHECK;

/* ---- the log on disk (log.c, read.c) ---- */

/*
 * A directory of segments "<20-digit first index>.log" (rotated past
 * segment_bytes), each record framed as u32 length ‖ leaf ‖ u32 check (the
 * first 4 bytes of the leaf hash), so a torn tail is found and cut on open,
 * with a warning. Beside them, caches rebuilt from the records whenever they
 * are short or disagree: "tree.hashes" (every complete subtree hash) and
 * "offsets.idx" (each record's place); and "checkpoints" (signed history).
 */
#define KW_AUDIT_SEGMENT_DEFAULT (16u << 20)
struct kw_audit_log;
struct kw_audit_log_opts {
	bool read_only;         /* for the CLI: a snapshot as of open; no lock,
	                         * no cut, no cache writes (missing ones are
	                         * rebuilt in memory) */
	uint64_t segment_bytes; /* 0 = KW_AUDIT_SEGMENT_DEFAULT */
};
/*
 * Read-write: creates dir if needed, takes the directory's lock
 * (KW_ERR_UNAVAILABLE if another process holds it), cuts a torn tail with a
 * warning naming the bytes cut, and fdatasyncs what it found. Fails with
 * KW_ERR_INTEGRITY rather than guess: a bad segment header, a record that
 * frames but is not the next entry, or a damaged record that the newest
 * stored checkpoint covers (so was durable). KW_ERR_NOT_FOUND: read-only and
 * no dir. KW_ERR_IO: the disk (also when full: the caches cannot be rebuilt).
 */
int kw_audit_log_open(const char *dir, const struct kw_audit_log_opts *o,
                      struct kw_audit_log **out) KW_MUST_CHECK;
/* Syncs and frees; KW_ERR_IO if the final sync failed or the log had failed
 * (freed anyway). */
int kw_audit_log_close(struct kw_audit_log *l);

/* Write e as the next entry (index and, if 0, time set by the log): the
 * record is written, not yet durable. *index may be NULL. */
int kw_audit_log_append(struct kw_audit_log *l, const struct kw_audit_entry *e,
                        uint64_t *index) KW_MUST_CHECK;
/* fdatasync everything appended so far; joins a sync already running. */
int kw_audit_log_sync(struct kw_audit_log *l) KW_MUST_CHECK;
/* append + sync, the forced-audit path: returns once the entry is durable.
 * Concurrent callers share one fdatasync (group commit). */
int kw_audit_log_commit(struct kw_audit_log *l, const struct kw_audit_entry *e,
                        uint64_t *index) KW_MUST_CHECK;

/*
 * The same without waiting: append e and return; fn(ctx, rc) is called once
 * the entry is durable (rc 0) or can no longer become so (the log's error).
 * fn runs on the log's syncer thread, never inside this call, without the
 * log's lock; it must not wait on the log. On an error return (the append
 * failed) fn is never called. kw_audit_log_close answers every call still
 * owed before it returns.
 */
typedef void kw_audit_done_fn(void *ctx, int rc);
int kw_audit_log_commit_async(struct kw_audit_log *l, const struct kw_audit_entry *e,
                              uint64_t *index, kw_audit_done_fn *fn, void *ctx) KW_MUST_CHECK;

struct kw_audit_head {
	uint64_t size;    /* entries written */
	uint64_t durable; /* entries covered by a finished fdatasync */
	uint64_t syncs;   /* fdatasyncs since open (commits / syncs = group size) */
};
/* Fills *out; returns KW_ERR_IO once the log has failed (0 otherwise). */
int kw_audit_log_head(struct kw_audit_log *l, struct kw_audit_head *out) KW_MUST_CHECK;
/* Root and proofs at any size <= head.size, from the stored subtree hashes
 * (O(log n) reads, no rehashing). KW_ERR_INVALID beyond the size. */
int kw_audit_log_root(struct kw_audit_log *l, uint64_t size,
                      uint8_t root[KW_AUDIT_HASH_BYTES]) KW_MUST_CHECK;
int kw_audit_log_prove_inclusion(struct kw_audit_log *l, uint64_t index, uint64_t size,
                                 struct kw_audit_proof *out) KW_MUST_CHECK;
int kw_audit_log_prove_consistency(struct kw_audit_log *l, uint64_t old_size, uint64_t new_size,
                                   struct kw_audit_proof *out) KW_MUST_CHECK;

/*
 * Sign a checkpoint of the durable head (never of entries a crash could still
 * lose), origin = s->name, store it in "checkpoints" (fdatasync'd) and return
 * its text (malloc'd). If the durable size has not moved since the last
 * checkpoint, returns that one again without signing. The callback runs
 * without the log's lock. KW_ERR_UNSUPPORTED read-only.
 */
int kw_audit_log_checkpoint(struct kw_audit_log *l, const struct kw_audit_signer *s,
                            char **note) KW_MUST_CHECK;
/* The newest checkpoint stored in dir; KW_ERR_NOT_FOUND if none. */
int kw_audit_checkpoint_latest(const char *dir, char **note) KW_MUST_CHECK;

/* One leaf: bytes (malloc'd) of entry index, checked against its frame and
 * index (KW_ERR_INTEGRITY if not); KW_ERR_NOT_FOUND past the size. */
int kw_audit_log_read(struct kw_audit_log *l, uint64_t index, uint8_t **leaf,
                      size_t *len) KW_MUST_CHECK;
/* Called per entry in index order, leaf and e valid during the call only;
 * return 0 to go on, 1 to stop, < 0 to fail (returned by the caller). */
typedef int (*kw_audit_visit_fn)(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                                 const struct kw_audit_entry *e);
/* Visit entries [start, end) (end clamped to the size), each checked as by
 * kw_audit_log_read; no lock is held while fn runs. */
int kw_audit_log_scan(struct kw_audit_log *l, uint64_t start, uint64_t end, kw_audit_visit_fn fn,
                      void *ctx) KW_MUST_CHECK;

/* A linear search (no index yet): every set criterion must match. */
struct kw_audit_query {
	const char *key_name;  /* NULL = any */
	const char *identity;  /* subject or accessor; NULL = any */
	const char *operation; /* NULL = any */
	uint64_t since_us;     /* time >= since; 0 = any */
	uint64_t until_us;     /* time < until; 0 = any */
};
/*
 * Visit up to limit matches at index >= cursor, examining at most scan_max
 * entries (0 = no bound) so one request's work is bounded. *next = the
 * index after the last one examined: where to resume (>= the size: done).
 */
int kw_audit_log_search(struct kw_audit_log *l, const struct kw_audit_query *q, uint64_t cursor,
                        size_t limit, uint64_t scan_max, kw_audit_visit_fn fn, void *ctx,
                        uint64_t *next) KW_MUST_CHECK;
bool kw_audit_query_match(const struct kw_audit_query *q, const struct kw_audit_entry *e);

/* ---- offline verification (check.c) ---- */

struct kw_audit_check_result {
	bool ok;
	uint64_t entries;       /* leaves read */
	uint64_t verified_size; /* largest checkpoint whose root and signature held */
	uint64_t bad_index;     /* first entry not vouched for; UINT64_MAX if none */
	int bad_checkpoint;     /* position in the list given, or -1 */
	uint64_t torn_bytes;    /* incomplete record after the last one (a crash) */
	char reason[256];       /* a sentence for a person */
};

/*
 * Streaming verifier: give it every checkpoint, then every leaf in order.
 * It decodes each leaf, requires indices 0, 1, 2, ..., recomputes the tree
 * and compares its root with each checkpoint as that size is reached. The
 * first failure is kept; later calls return KW_ERR_INTEGRITY at once.
 * origin NULL = checkpoints must carry the verifier key's name.
 */
struct kw_audit_check;
int kw_audit_check_new(const struct kw_audit_verifier *v, const char *origin,
                       struct kw_audit_check **out) KW_MUST_CHECK;
int kw_audit_check_checkpoint(struct kw_audit_check *c, const char *note, size_t len) KW_MUST_CHECK;
int kw_audit_check_leaf(struct kw_audit_check *c, const uint8_t *leaf, size_t len) KW_MUST_CHECK;
/* Fills *r always; returns 0 if everything held, KW_ERR_INTEGRITY if not. */
int kw_audit_check_finish(struct kw_audit_check *c, struct kw_audit_check_result *r);
void kw_audit_check_free(struct kw_audit_check *c);

/* Progress for a terminal: bytes of segments read so far, of total. */
typedef void (*kw_audit_progress_fn)(void *ctx, uint64_t done, uint64_t total);
/*
 * Verify a log directory (or a copy of its segment files) against notes, or,
 * with nnotes 0, against the newest checkpoint stored in dir. Fills *r and
 * returns 0 or KW_ERR_INTEGRITY as kw_audit_check_finish; other errors mean
 * the check could not run (KW_ERR_INVALID: no checkpoint at all).
 */
int kw_audit_verify_dir(const char *dir, const struct kw_audit_verifier *v, const char *origin,
                        const char *const *notes, size_t nnotes, kw_audit_progress_fn progress,
                        void *ctx, struct kw_audit_check_result *r) KW_MUST_CHECK;

#endif
