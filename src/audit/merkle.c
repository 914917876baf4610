/*
 * merkle.c: RFC 6962 / RFC 9162 Merkle tree hashing — the frontier (right
 * edge) for O(log n) appends, a tree that keeps every complete subtree's
 * hash so roots at old sizes and proofs need no rehashing, and the proof
 * generators and verifiers.
 *
 * Storage layout (memory or the log's "tree.hashes"): complete subtrees in
 * post-order, which is append-only — appending leaf i writes its hash and
 * then the parents it completes, one per trailing one bit of i. So a file
 * truncated at a node boundary is always a valid smaller tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "audit_int.h"

/* Small leaves hash from the stack; larger ones from the heap. */
#define LEAF_STACK_BYTES 1024

static int sha256(const uint8_t *in, size_t len, uint8_t out[KW_AUDIT_HASH_BYTES])
{
	size_t n;
	int rc = kw_hash_digest(KW_HASH_SHA256, in, len, out, &n);

	if (rc == 0 && n != KW_AUDIT_HASH_BYTES)
		rc = KW_ERR_INTERNAL;
	return rc;
}

int kw_audit_leaf_hash(const uint8_t *leaf, size_t len, uint8_t out[KW_AUDIT_HASH_BYTES])
{
	uint8_t stackbuf[LEAF_STACK_BYTES + 1];
	uint8_t *buf = stackbuf;
	int rc;

	if (leaf == NULL && len > 0)
		return KW_ERR_INVALID;
	if (len > LEAF_STACK_BYTES) {
		if (len > KW_AUDIT_LEAF_MAX)
			return KW_ERR_INVALID;
		buf = malloc(len + 1);
		if (buf == NULL)
			return KW_ERR_NOMEM;
	}
	/* 0x00: leaves and nodes can never be confused (RFC 6962 §2.1). */
	buf[0] = 0x00;
	if (len > 0)
		memcpy(buf + 1, leaf, len);
	rc = sha256(buf, len + 1, out);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

int kw_audit_node_hash(const uint8_t left[KW_AUDIT_HASH_BYTES],
                       const uint8_t right[KW_AUDIT_HASH_BYTES], uint8_t out[KW_AUDIT_HASH_BYTES])
{
	uint8_t buf[1 + 2 * KW_AUDIT_HASH_BYTES];

	buf[0] = 0x01;
	memcpy(buf + 1, left, KW_AUDIT_HASH_BYTES);
	memcpy(buf + 1 + KW_AUDIT_HASH_BYTES, right, KW_AUDIT_HASH_BYTES);
	return sha256(buf, sizeof(buf), out);
}

void kw_audit_empty_root(uint8_t out[KW_AUDIT_HASH_BYTES])
{
	static const uint8_t empty[KW_AUDIT_HASH_BYTES] = {
	    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	    0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	    0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

	memcpy(out, empty, sizeof(empty));
}

/* ---- frontier ---- */

void kw_audit_frontier_init(struct kw_audit_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

/* Append, and report the parents completed (level 1..) through nodes, so the
 * tree can store them; nodes[0] is the leaf itself. Returns the count. */
static int frontier_push(struct kw_audit_frontier *f, const uint8_t leaf_hash[KW_AUDIT_HASH_BYTES],
                         uint8_t nodes[65][KW_AUDIT_HASH_BYTES], unsigned *count)
{
	uint8_t cur[KW_AUDIT_HASH_BYTES];
	unsigned level = 0;
	int rc;

	if (f->size == UINT64_MAX)
		return KW_ERR_LIMIT;
	memcpy(cur, leaf_hash, sizeof(cur));
	if (nodes)
		memcpy(nodes[0], cur, sizeof(cur));
	/* Each set low bit is a complete subtree of that level to merge with. */
	while (f->size & ((uint64_t)1 << level)) {
		if ((rc = kw_audit_node_hash(f->hash[level], cur, cur)) != 0)
			return rc;
		level++;
		if (nodes)
			memcpy(nodes[level], cur, sizeof(cur));
	}
	memcpy(f->hash[level], cur, sizeof(cur));
	f->size++;
	if (count)
		*count = level + 1;
	return 0;
}

int kw_audit_frontier_append(struct kw_audit_frontier *f,
                             const uint8_t leaf_hash[KW_AUDIT_HASH_BYTES])
{
	return frontier_push(f, leaf_hash, NULL, NULL);
}

int kw_audit_frontier_root(const struct kw_audit_frontier *f, uint8_t root[KW_AUDIT_HASH_BYTES])
{
	uint8_t r[KW_AUDIT_HASH_BYTES];
	bool have = false;
	int rc;

	if (f->size == 0) {
		kw_audit_empty_root(root);
		return 0;
	}
	/* Fold right to left: the smallest subtree is the rightmost. */
	for (unsigned level = 0; level < 64; level++) {
		if (!(f->size & ((uint64_t)1 << level)))
			continue;
		if (!have) {
			memcpy(r, f->hash[level], sizeof(r));
			have = true;
		} else if ((rc = kw_audit_node_hash(f->hash[level], r, r)) != 0) {
			return rc;
		}
	}
	memcpy(root, r, sizeof(r));
	return 0;
}

/* ---- tree storage ---- */

uint64_t audit_tree_nodes(uint64_t n)
{
	return 2 * n - (uint64_t)__builtin_popcountll(n);
}

uint64_t audit_tree_pos(unsigned level, uint64_t index)
{
	/* The subtree completes when its last leaf is appended: that leaf's
	 * hash is stored first, then one parent per level up to this one. */
	uint64_t last = ((index + 1) << level) - 1;

	return audit_tree_nodes(last) + level;
}

int audit_tree_node(struct kw_audit_tree *t, uint64_t pos, uint8_t out[KW_AUDIT_HASH_BYTES])
{
	if (pos >= t->mem_base && pos - t->mem_base < t->mem_len) {
		memcpy(out, t->mem + (pos - t->mem_base) * KW_AUDIT_HASH_BYTES,
		       KW_AUDIT_HASH_BYTES);
		return 0;
	}
	if (t->fd >= 0 && pos < t->file_nodes)
		return audit_pread_all(t->fd, out, KW_AUDIT_HASH_BYTES, pos * KW_AUDIT_HASH_BYTES);
	return KW_ERR_INTERNAL;
}

static int mem_store(struct kw_audit_tree *t, const uint8_t *nodes, unsigned count)
{
	if (t->mem_len + count > t->mem_cap) {
		uint64_t cap = t->mem_cap ? t->mem_cap * 2 : 1024;
		uint8_t *p;

		while (cap < t->mem_len + count)
			cap *= 2;
		p = realloc(t->mem, cap * KW_AUDIT_HASH_BYTES);
		if (p == NULL)
			return KW_ERR_NOMEM;
		t->mem = p;
		t->mem_cap = cap;
	}
	memcpy(t->mem + t->mem_len * KW_AUDIT_HASH_BYTES, nodes,
	       (size_t)count * KW_AUDIT_HASH_BYTES);
	t->mem_len += count;
	return 0;
}

static int tree_store(struct kw_audit_tree *t, const uint8_t *nodes, unsigned count)
{
	int rc;

	if (t->fd < 0 || !t->writable)
		return mem_store(t, nodes, count);
	rc = audit_pwrite_all(t->fd, nodes, (size_t)count * KW_AUDIT_HASH_BYTES,
	                      t->file_nodes * KW_AUDIT_HASH_BYTES);
	if (rc == 0)
		t->file_nodes += count;
	return rc;
}

int kw_audit_tree_append(struct kw_audit_tree *t, const uint8_t leaf_hash[KW_AUDIT_HASH_BYTES])
{
	uint8_t nodes[65][KW_AUDIT_HASH_BYTES];
	struct kw_audit_frontier next = t->fr;
	unsigned count;
	int rc;

	if ((rc = frontier_push(&next, leaf_hash, nodes, &count)) != 0)
		return rc;
	/* Store first: the frontier moves only once the nodes are kept. */
	if ((rc = tree_store(t, &nodes[0][0], count)) != 0)
		return rc;
	t->fr = next;
	return 0;
}

int kw_audit_tree_new(struct kw_audit_tree **out)
{
	struct kw_audit_tree *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return KW_ERR_NOMEM;
	t->fd = -1;
	*out = t;
	return 0;
}

void kw_audit_tree_free(struct kw_audit_tree *t)
{
	if (t == NULL)
		return;
	free(t->mem);
	free(t);
}

uint64_t kw_audit_tree_size(const struct kw_audit_tree *t)
{
	return t->fr.size;
}

int audit_tree_attach(struct kw_audit_tree *t, int fd, bool writable, uint64_t valid_leaves)
{
	uint64_t start = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->writable = writable;
	t->file_nodes = audit_tree_nodes(valid_leaves);
	t->mem_base = t->file_nodes;
	/* The frontier at size n is the complete subtree of each set bit,
	 * largest (leftmost) first. */
	for (int level = 63; level >= 0; level--) {
		uint64_t span = (uint64_t)1 << level;

		if (!(valid_leaves & span))
			continue;
		rc = audit_tree_node(t, audit_tree_pos((unsigned)level, start >> level),
		                     t->fr.hash[level]);
		if (rc != 0)
			return rc;
		start += span;
	}
	t->fr.size = valid_leaves;
	return 0;
}

void audit_tree_detach(struct kw_audit_tree *t)
{
	free(t->mem);
	t->mem = NULL;
	t->mem_len = t->mem_cap = 0;
}

/* Largest power of two strictly less than n (n >= 2): RFC 6962's k. */
static uint64_t split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/*
 * MTH(D[a:b]) for a range the RFC recursion produces (a is a multiple of the
 * largest power of two <= b - a): a complete subtree is one lookup; anything
 * else splits at k into a complete left part and a smaller right part.
 */
static int range_hash(struct kw_audit_tree *t, uint64_t a, uint64_t b,
                      uint8_t out[KW_AUDIT_HASH_BYTES])
{
	uint8_t right[KW_AUDIT_HASH_BYTES], left[KW_AUDIT_HASH_BYTES];
	uint64_t n = b - a, k;
	int rc;

	if ((n & (n - 1)) == 0) {
		unsigned level = (unsigned)__builtin_ctzll(n);

		return audit_tree_node(t, audit_tree_pos(level, a >> level), out);
	}
	k = split_point(n);
	if ((rc = audit_tree_node(t, audit_tree_pos((unsigned)__builtin_ctzll(k), a / k), left)) !=
	    0)
		return rc;
	if ((rc = range_hash(t, a + k, b, right)) != 0)
		return rc;
	return kw_audit_node_hash(left, right, out);
}

int kw_audit_tree_root(struct kw_audit_tree *t, uint64_t size, uint8_t root[KW_AUDIT_HASH_BYTES])
{
	if (size > t->fr.size)
		return KW_ERR_INVALID;
	if (size == t->fr.size)
		return kw_audit_frontier_root(&t->fr, root);
	if (size == 0) {
		kw_audit_empty_root(root);
		return 0;
	}
	return range_hash(t, 0, size, root);
}

/* Reverse p->hash[from..count) in place: generators walk top-down, proofs
 * list bottom-up. */
static void proof_reverse(struct kw_audit_proof *p, size_t from)
{
	uint8_t tmp[KW_AUDIT_HASH_BYTES];

	for (size_t i = from, j = p->count; i + 1 < j; i++, j--) {
		memcpy(tmp, p->hash[i], sizeof(tmp));
		memcpy(p->hash[i], p->hash[j - 1], sizeof(tmp));
		memcpy(p->hash[j - 1], tmp, sizeof(tmp));
	}
}

int kw_audit_tree_prove_inclusion(struct kw_audit_tree *t, uint64_t index, uint64_t size,
                                  struct kw_audit_proof *out)
{
	struct kw_audit_proof *p;
	uint64_t a = 0, b = size;
	int rc = 0;

	if (index >= size || size > t->fr.size)
		return KW_ERR_INVALID;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return KW_ERR_NOMEM;
	/* PATH(m, D[a:b]) (RFC 6962 §2.1.1): descend toward the leaf, taking
	 * the other side's hash at each level. */
	while (b - a > 1 && rc == 0) {
		uint64_t k = split_point(b - a);

		if (index < a + k) {
			rc = range_hash(t, a + k, b, p->hash[p->count++]);
			b = a + k;
		} else {
			rc = range_hash(t, a, a + k, p->hash[p->count++]);
			a += k;
		}
	}
	if (rc == 0) {
		proof_reverse(p, 0);
		*out = *p;
	}
	free(p);
	return rc;
}

int kw_audit_tree_prove_consistency(struct kw_audit_tree *t, uint64_t old_size, uint64_t new_size,
                                    struct kw_audit_proof *out)
{
	struct kw_audit_proof *p;
	uint64_t a = 0, b = new_size, m = old_size;
	uint8_t first[KW_AUDIT_HASH_BYTES];
	bool complete = true, have_first = false;
	int rc = 0;

	if (old_size > new_size || new_size > t->fr.size)
		return KW_ERR_INVALID;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return KW_ERR_NOMEM;
	/* SUBPROOF(m, D[a:b], complete) (RFC 6962 §2.1.2), iteratively: each
	 * level contributes one sibling; the bottom may add MTH(D[a:b]). */
	while (m > 0 && m < new_size && rc == 0) {
		uint64_t n = b - a, k;

		if (m == n) {
			if (!complete) {
				rc = range_hash(t, a, b, first);
				have_first = true;
			}
			break;
		}
		k = split_point(n);
		if (m <= k) {
			rc = range_hash(t, a + k, b, p->hash[p->count++]);
			b = a + k;
		} else {
			rc = range_hash(t, a, a + k, p->hash[p->count++]);
			m -= k;
			a += k;
			complete = false;
		}
	}
	if (rc == 0) {
		proof_reverse(p, 0);
		if (have_first) {
			memmove(p->hash[1], p->hash[0], p->count * KW_AUDIT_HASH_BYTES);
			memcpy(p->hash[0], first, KW_AUDIT_HASH_BYTES);
			p->count++;
		}
		*out = *p;
	}
	free(p);
	return rc;
}

/* ---- verification, RFC 9162 §2.1.3.2 and §2.1.4.2 ---- */

static unsigned bit_len(uint64_t x)
{
	return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

/* The length an inclusion proof for index in size must have
 * (transparency-dev/merkle: inner levels plus the right border). */
static size_t inclusion_len(uint64_t index, uint64_t size)
{
	unsigned inner = bit_len(index ^ (size - 1));

	return inner + (size_t)__builtin_popcountll(inner >= 64 ? 0 : index >> inner);
}

/* One step of the RFC walk: fold p into r on the side fn/sn say. */
static int fold(uint64_t *fn, uint64_t *sn, const uint8_t p[KW_AUDIT_HASH_BYTES],
                uint8_t r[KW_AUDIT_HASH_BYTES])
{
	int rc;

	if (*sn == 0)
		return KW_ERR_INTEGRITY;
	if ((*fn & 1) || *fn == *sn) {
		if ((rc = kw_audit_node_hash(p, r, r)) != 0)
			return rc;
		while (!(*fn & 1) && *fn != 0) {
			*fn >>= 1;
			*sn >>= 1;
		}
	} else if ((rc = kw_audit_node_hash(r, p, r)) != 0) {
		return rc;
	}
	*fn >>= 1;
	*sn >>= 1;
	return 0;
}

int kw_audit_verify_inclusion(uint64_t index, uint64_t size,
                              const uint8_t leaf_hash[KW_AUDIT_HASH_BYTES],
                              const struct kw_audit_proof *p,
                              const uint8_t root[KW_AUDIT_HASH_BYTES])
{
	uint8_t r[KW_AUDIT_HASH_BYTES];
	uint64_t fn = index, sn;
	int rc;

	if (index >= size)
		return KW_ERR_INVALID;
	if (p->count > KW_AUDIT_PROOF_MAX || p->count != inclusion_len(index, size))
		return KW_ERR_INTEGRITY;
	sn = size - 1;
	memcpy(r, leaf_hash, sizeof(r));
	for (size_t i = 0; i < p->count; i++)
		if ((rc = fold(&fn, &sn, p->hash[i], r)) != 0)
			return rc;
	if (sn != 0 || !kw_ct_equal(r, root, sizeof(r)))
		return KW_ERR_INTEGRITY;
	return 0;
}

/* The length a consistency proof from m to n (0 < m < n) must have. */
static size_t consistency_len(uint64_t m, uint64_t n)
{
	unsigned shift = (unsigned)__builtin_ctzll(m);
	size_t len = inclusion_len(m - 1, n) - shift;

	return len + ((m & (m - 1)) == 0 ? 0 : 1);
}

static int consistency_trivial(uint64_t m, const struct kw_audit_proof *p,
                               const uint8_t old_root[KW_AUDIT_HASH_BYTES],
                               const uint8_t new_root[KW_AUDIT_HASH_BYTES])
{
	uint8_t empty[KW_AUDIT_HASH_BYTES];

	/* m == n: nothing to prove but equality. m == 0: every tree extends
	 * the empty one, provided "old" really is the empty tree. */
	if (p->count != 0)
		return KW_ERR_INTEGRITY;
	if (m == 0) {
		kw_audit_empty_root(empty);
		return kw_ct_equal(old_root, empty, sizeof(empty)) ? 0 : KW_ERR_INTEGRITY;
	}
	return kw_ct_equal(old_root, new_root, KW_AUDIT_HASH_BYTES) ? 0 : KW_ERR_INTEGRITY;
}

int kw_audit_verify_consistency(uint64_t old_size, uint64_t new_size,
                                const struct kw_audit_proof *p,
                                const uint8_t old_root[KW_AUDIT_HASH_BYTES],
                                const uint8_t new_root[KW_AUDIT_HASH_BYTES])
{
	uint8_t fr[KW_AUDIT_HASH_BYTES], sr[KW_AUDIT_HASH_BYTES];
	uint64_t fn, sn;
	size_t i = 0;
	int rc;

	if (old_size > new_size)
		return KW_ERR_INVALID;
	if (old_size == new_size || old_size == 0)
		return consistency_trivial(old_size, p, old_root, new_root);
	if (p->count == 0 || p->count > KW_AUDIT_PROOF_MAX ||
	    p->count != consistency_len(old_size, new_size))
		return KW_ERR_INTEGRITY;
	fn = old_size - 1;
	sn = new_size - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* Step 2: for a power-of-two old size the old root is the seed. */
	if ((old_size & (old_size - 1)) == 0) {
		memcpy(fr, old_root, sizeof(fr));
	} else {
		memcpy(fr, p->hash[0], sizeof(fr));
		i = 1;
	}
	memcpy(sr, fr, sizeof(sr));
	for (; i < p->count; i++) {
		if (sn == 0)
			return KW_ERR_INTEGRITY;
		if ((fn & 1) || fn == sn) {
			if ((rc = kw_audit_node_hash(p->hash[i], fr, fr)) != 0 ||
			    (rc = kw_audit_node_hash(p->hash[i], sr, sr)) != 0)
				return rc;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if ((rc = kw_audit_node_hash(sr, p->hash[i], sr)) != 0) {
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || !kw_ct_equal(fr, old_root, sizeof(fr)) ||
	    !kw_ct_equal(sr, new_root, sizeof(sr)))
		return KW_ERR_INTEGRITY;
	return 0;
}
