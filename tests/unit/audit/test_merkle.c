/*
 * test_merkle.c: the Merkle tree against RFC 6962's published vectors and
 * against a naive recursive MTH / PATH / PROOF written from the RFC text,
 * for every index and every pair of sizes up to 300; and the verifiers'
 * refusals (tampered hashes, wrong lengths, edge sizes).
 */
#include <stdlib.h>
#include <string.h>

#include "audit_tests.h"

#define H KW_AUDIT_HASH_BYTES

static const char *const rfc_leaves[] = {"",
                                         "00",
                                         "10",
                                         "2021",
                                         "3031",
                                         "40414243",
                                         "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f"};
static const char *const rfc_roots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void unhex_to(const char *hex, uint8_t out[H])
{
	size_t n;
	uint8_t *d = t_unhex(hex, &n);

	assert_int_equal(n, H);
	memcpy(out, d, H);
	free(d);
}

static struct kw_audit_tree *rfc_tree(void)
{
	struct kw_audit_tree *t = NULL;

	assert_int_equal(kw_audit_tree_new(&t), 0);
	for (size_t i = 0; i < KW_ARRAY_LEN(rfc_leaves); i++) {
		uint8_t lh[H];
		size_t n;
		uint8_t *leaf = strlen(rfc_leaves[i]) ? t_unhex(rfc_leaves[i], &n) : NULL;

		if (leaf == NULL)
			n = 0;
		assert_int_equal(kw_audit_leaf_hash(leaf, n, lh), 0);
		assert_int_equal(kw_audit_tree_append(t, lh), 0);
		free(leaf);
	}
	return t;
}

void test_merkle_rfc6962_roots(void **state)
{
	struct kw_audit_tree *t = rfc_tree();
	struct kw_audit_frontier f;
	uint8_t root[H], want[H], empty[H];

	kw_audit_frontier_init(&f);
	for (uint64_t n = 1; n <= 8; n++) {
		unhex_to(rfc_roots[n - 1], want);
		/* Root at an earlier size, from the stored subtrees. */
		assert_int_equal(kw_audit_tree_root(t, n, root), 0);
		assert_memory_equal(root, want, H);
	}
	/* The frontier, built leaf by leaf, agrees at every size. */
	for (uint64_t n = 1; n <= 8; n++) {
		uint8_t lh[H];

		assert_int_equal(kw_audit_tree_root(t, n, want), 0);
		assert_int_equal(audit_tree_node(t, audit_tree_pos(0, n - 1), lh), 0);
		assert_int_equal(kw_audit_frontier_append(&f, lh), 0);
		assert_int_equal(kw_audit_frontier_root(&f, root), 0);
		assert_memory_equal(root, want, H);
	}
	unhex_to("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
	kw_audit_empty_root(empty);
	assert_memory_equal(empty, want, H);
	assert_int_equal(kw_audit_tree_root(t, 0, root), 0);
	assert_memory_equal(root, want, H);
	assert_int_equal(kw_audit_tree_root(t, 9, root), KW_ERR_INVALID);
	kw_audit_tree_free(t);
}

void test_merkle_rfc6962_inclusion(void **state)
{
	static const char *const path[] = {
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	};
	struct kw_audit_tree *t = rfc_tree();
	struct kw_audit_proof p;
	uint8_t want[H], root[H], lh[H];

	assert_int_equal(kw_audit_tree_prove_inclusion(t, 0, 8, &p), 0);
	assert_int_equal(p.count, 3);
	for (size_t i = 0; i < 3; i++) {
		unhex_to(path[i], want);
		assert_memory_equal(p.hash[i], want, H);
	}
	unhex_to(rfc_roots[7], root);
	assert_int_equal(kw_audit_leaf_hash(NULL, 0, lh), 0);
	assert_int_equal(kw_audit_verify_inclusion(0, 8, lh, &p, root), 0);
	kw_audit_tree_free(t);
}

void test_merkle_rfc6962_consistency(void **state)
{
	static const char *const proof[] = {
	    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	};
	struct kw_audit_tree *t = rfc_tree();
	struct kw_audit_proof p;
	uint8_t want[H], r6[H], r8[H];

	assert_int_equal(kw_audit_tree_prove_consistency(t, 6, 8, &p), 0);
	assert_int_equal(p.count, 3);
	for (size_t i = 0; i < 3; i++) {
		unhex_to(proof[i], want);
		assert_memory_equal(p.hash[i], want, H);
	}
	unhex_to(rfc_roots[5], r6);
	unhex_to(rfc_roots[7], r8);
	assert_int_equal(kw_audit_verify_consistency(6, 8, &p, r6, r8), 0);
	assert_int_equal(kw_audit_verify_consistency(6, 8, &p, r8, r8), KW_ERR_INTEGRITY);
	kw_audit_tree_free(t);
}

/* ---- a naive model straight from RFC 6962 §2.1, memoised by range ---- */

#define NAIVE_MAX 300

struct naive {
	uint8_t leaf[NAIVE_MAX][H]; /* leaf hashes */
	uint8_t (*memo)[NAIVE_MAX + 1][H];
	bool (*have)[NAIVE_MAX + 1];
};

static uint64_t k_of(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

static void naive_mth(struct naive *m, uint64_t a, uint64_t b, uint8_t out[H])
{
	uint8_t l[H], r[H];
	uint64_t k;

	if (m->have[a][b]) {
		memcpy(out, m->memo[a][b], H);
		return;
	}
	if (b - a == 1) {
		memcpy(out, m->leaf[a], H);
	} else {
		k = k_of(b - a);
		naive_mth(m, a, a + k, l);
		naive_mth(m, a + k, b, r);
		assert_int_equal(kw_audit_node_hash(l, r, out), 0);
	}
	memcpy(m->memo[a][b], out, H);
	m->have[a][b] = true;
}

/* PATH(i, D[a:b]) */
static void naive_path(struct naive *m, uint64_t i, uint64_t a, uint64_t b,
                       struct kw_audit_proof *p)
{
	uint64_t k;

	if (b - a == 1)
		return;
	k = k_of(b - a);
	if (i < k) {
		naive_path(m, i, a, a + k, p);
		naive_mth(m, a + k, b, p->hash[p->count++]);
	} else {
		naive_path(m, i - k, a + k, b, p);
		naive_mth(m, a, a + k, p->hash[p->count++]);
	}
}

/* SUBPROOF(mm, D[a:b], flag) */
static void naive_subproof(struct naive *m, uint64_t mm, uint64_t a, uint64_t b, bool flag,
                           struct kw_audit_proof *p)
{
	uint64_t k;

	if (mm == b - a) {
		if (!flag)
			naive_mth(m, a, b, p->hash[p->count++]);
		return;
	}
	k = k_of(b - a);
	if (mm <= k) {
		naive_subproof(m, mm, a, a + k, flag, p);
		naive_mth(m, a + k, b, p->hash[p->count++]);
	} else {
		naive_subproof(m, mm - k, a + k, b, false, p);
		naive_mth(m, a, a + k, p->hash[p->count++]);
	}
}

static struct naive *naive_new(struct kw_audit_tree **t)
{
	struct naive *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->memo = calloc(NAIVE_MAX + 1, sizeof(*m->memo));
	m->have = calloc(NAIVE_MAX + 1, sizeof(*m->have));
	assert_non_null(m->memo);
	assert_non_null(m->have);
	assert_int_equal(kw_audit_tree_new(t), 0);
	srand(6962);
	for (int i = 0; i < NAIVE_MAX; i++) {
		uint8_t leaf[40];
		size_t n = (size_t)(rand() % 41);

		for (size_t j = 0; j < n; j++)
			leaf[j] = (uint8_t)rand();
		assert_int_equal(kw_audit_leaf_hash(leaf, n, m->leaf[i]), 0);
		assert_int_equal(kw_audit_tree_append(*t, m->leaf[i]), 0);
	}
	return m;
}

static void naive_free(struct naive *m)
{
	free(m->memo);
	free(m->have);
	free(m);
}

static void assert_proof_equal(const struct kw_audit_proof *a, const struct kw_audit_proof *b)
{
	assert_int_equal(a->count, b->count);
	for (size_t i = 0; i < a->count; i++)
		assert_memory_equal(a->hash[i], b->hash[i], H);
}

void test_merkle_random_trees(void **state)
{
	struct kw_audit_tree *t = NULL;
	struct naive *m = naive_new(&t);
	struct kw_audit_proof *got = malloc(sizeof(*got)), *want = malloc(sizeof(*want));

	assert_non_null(got);
	assert_non_null(want);
	for (uint64_t n = 1; n <= NAIVE_MAX; n++) {
		uint8_t root[H], naive_root[H];

		naive_mth(m, 0, n, naive_root);
		assert_int_equal(kw_audit_tree_root(t, n, root), 0);
		assert_memory_equal(root, naive_root, H);
		for (uint64_t i = 0; i < n; i++) {
			want->count = 0;
			naive_path(m, i, 0, n, want);
			assert_int_equal(kw_audit_tree_prove_inclusion(t, i, n, got), 0);
			assert_proof_equal(got, want);
			assert_int_equal(kw_audit_verify_inclusion(i, n, m->leaf[i], got, root), 0);
		}
		for (uint64_t o = 1; o <= n; o++) {
			uint8_t old_root[H];

			want->count = 0;
			if (o < n)
				naive_subproof(m, o, 0, n, true, want);
			naive_mth(m, 0, o, old_root);
			assert_int_equal(kw_audit_tree_prove_consistency(t, o, n, got), 0);
			assert_proof_equal(got, want);
			assert_int_equal(kw_audit_verify_consistency(o, n, got, old_root, root), 0);
		}
	}
	free(got);
	free(want);
	naive_free(m);
	kw_audit_tree_free(t);
}

void test_merkle_proof_tamper(void **state)
{
	struct kw_audit_tree *t = NULL;
	struct naive *m = naive_new(&t);
	struct kw_audit_proof p, q;

	for (uint64_t n = 2; n <= 64; n++) {
		uint8_t root[H], bad[H];

		naive_mth(m, 0, n, root);
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(kw_audit_tree_prove_inclusion(t, i, n, &p), 0);
			/* Any changed hash, a wrong leaf, another index or size. */
			for (size_t j = 0; j < p.count; j++) {
				q = p;
				q.hash[j][j % H] ^= 0x01;
				assert_int_equal(
				    kw_audit_verify_inclusion(i, n, m->leaf[i], &q, root),
				    KW_ERR_INTEGRITY);
			}
			memcpy(bad, m->leaf[i], H);
			bad[0] ^= 0x80;
			assert_int_equal(kw_audit_verify_inclusion(i, n, bad, &p, root),
			                 KW_ERR_INTEGRITY);
			/* (Random leaves may repeat: then the other index is right.) */
			if (memcmp(m->leaf[i], m->leaf[(i + 1) % n], H) != 0)
				assert_int_equal(
				    kw_audit_verify_inclusion((i + 1) % n, n, m->leaf[i], &p, root),
				    KW_ERR_INTEGRITY);
			/* Another size's real root. (With this root itself a proof
			 * may hold at n + 1: it is then a proof about a tree whose
			 * rightmost subtree hash is the one given.) */
			naive_mth(m, 0, n + 1, bad);
			assert_int_equal(kw_audit_verify_inclusion(i, n + 1, m->leaf[i], &p, bad),
			                 KW_ERR_INTEGRITY);
			q = p;
			q.count = p.count - 1;
			if (p.count > 0)
				assert_int_equal(
				    kw_audit_verify_inclusion(i, n, m->leaf[i], &q, root),
				    KW_ERR_INTEGRITY);
			q = p;
			memcpy(q.hash[q.count++], root, H);
			assert_int_equal(kw_audit_verify_inclusion(i, n, m->leaf[i], &q, root),
			                 KW_ERR_INTEGRITY);
		}
		for (uint64_t o = 1; o < n; o++) {
			uint8_t old_root[H];

			naive_mth(m, 0, o, old_root);
			assert_int_equal(kw_audit_tree_prove_consistency(t, o, n, &p), 0);
			for (size_t j = 0; j < p.count; j++) {
				q = p;
				q.hash[j][H - 1] ^= 0x40;
				assert_int_equal(
				    kw_audit_verify_consistency(o, n, &q, old_root, root),
				    KW_ERR_INTEGRITY);
			}
			memcpy(bad, root, H);
			bad[5] ^= 1;
			assert_int_equal(kw_audit_verify_consistency(o, n, &p, old_root, bad),
			                 KW_ERR_INTEGRITY);
			assert_int_equal(kw_audit_verify_consistency(o, n, &p, bad, root),
			                 KW_ERR_INTEGRITY);
			q = p;
			q.count--;
			assert_int_equal(kw_audit_verify_consistency(o, n, &q, old_root, root),
			                 KW_ERR_INTEGRITY);
			q = p;
			memcpy(q.hash[q.count++], root, H);
			assert_int_equal(kw_audit_verify_consistency(o, n, &q, old_root, root),
			                 KW_ERR_INTEGRITY);
		}
	}
	naive_free(m);
	kw_audit_tree_free(t);
}

void test_merkle_bad_lengths(void **state)
{
	struct kw_audit_proof *p = calloc(1, sizeof(*p));
	uint8_t root[H] = {0}, leaf[H] = {0};

	assert_non_null(p);
	assert_int_equal(kw_audit_verify_inclusion(5, 5, leaf, p, root), KW_ERR_INVALID);
	assert_int_equal(kw_audit_verify_inclusion(0, 0, leaf, p, root), KW_ERR_INVALID);
	assert_int_equal(kw_audit_verify_consistency(6, 5, p, root, root), KW_ERR_INVALID);
	/* A count beyond the array is refused before any hash is read. */
	p->count = KW_AUDIT_PROOF_MAX + 1;
	assert_int_equal(kw_audit_verify_inclusion(0, 8, leaf, p, root), KW_ERR_INTEGRITY);
	assert_int_equal(kw_audit_verify_consistency(3, 8, p, root, root), KW_ERR_INTEGRITY);
	/* One leaf: the root is the leaf hash and the proof is empty. */
	p->count = 0;
	assert_int_equal(kw_audit_verify_inclusion(0, 1, leaf, p, leaf), 0);
	p->count = 1;
	assert_int_equal(kw_audit_verify_inclusion(0, 1, leaf, p, leaf), KW_ERR_INTEGRITY);
	/* Sizes near 2^64 do not overflow the length computation. */
	p->count = 64;
	assert_int_equal(kw_audit_verify_inclusion(UINT64_MAX - 1, UINT64_MAX, leaf, p, root),
	                 KW_ERR_INTEGRITY);
	free(p);
}

void test_merkle_consistency_edges(void **state)
{
	struct kw_audit_tree *t = rfc_tree();
	struct kw_audit_proof p = {0};
	uint8_t empty[H], r5[H], r8[H];

	kw_audit_empty_root(empty);
	assert_int_equal(kw_audit_tree_root(t, 5, r5), 0);
	assert_int_equal(kw_audit_tree_root(t, 8, r8), 0);
	/* From the empty tree: only an empty proof from the empty root. */
	assert_int_equal(kw_audit_tree_prove_consistency(t, 0, 8, &p), 0);
	assert_int_equal(p.count, 0);
	assert_int_equal(kw_audit_verify_consistency(0, 8, &p, empty, r8), 0);
	assert_int_equal(kw_audit_verify_consistency(0, 8, &p, r5, r8), KW_ERR_INTEGRITY);
	/* Same size: equal roots, empty proof. */
	assert_int_equal(kw_audit_tree_prove_consistency(t, 5, 5, &p), 0);
	assert_int_equal(p.count, 0);
	assert_int_equal(kw_audit_verify_consistency(5, 5, &p, r5, r5), 0);
	assert_int_equal(kw_audit_verify_consistency(5, 5, &p, r5, r8), KW_ERR_INTEGRITY);
	p.count = 1;
	assert_int_equal(kw_audit_verify_consistency(5, 5, &p, r5, r5), KW_ERR_INTEGRITY);
	assert_int_equal(kw_audit_verify_consistency(0, 8, &p, empty, r8), KW_ERR_INTEGRITY);
	/* Growing needs a proof. */
	p.count = 0;
	assert_int_equal(kw_audit_verify_consistency(5, 8, &p, r5, r8), KW_ERR_INTEGRITY);
	/* Beyond the tree, or backwards. */
	assert_int_equal(kw_audit_tree_prove_consistency(t, 5, 9, &p), KW_ERR_INVALID);
	assert_int_equal(kw_audit_tree_prove_consistency(t, 6, 5, &p), KW_ERR_INVALID);
	assert_int_equal(kw_audit_tree_prove_inclusion(t, 8, 8, &p), KW_ERR_INVALID);
	assert_int_equal(kw_audit_tree_prove_inclusion(t, 0, 9, &p), KW_ERR_INVALID);
	kw_audit_tree_free(t);
}

void test_merkle_large_tree(void **state)
{
	/* Big enough to span 18 levels; proofs come from stored subtrees. */
	const uint64_t n = ((uint64_t)1 << 17) + 5;
	const uint64_t marks[] = {1, 1000, 65536, 65537, 100003, ((uint64_t)1 << 17) + 5};
	uint8_t mark_root[KW_ARRAY_LEN(marks)][H];
	struct kw_audit_tree *t = NULL;
	struct kw_audit_frontier f;
	struct kw_audit_proof p;
	size_t next = 0;

	assert_int_equal(kw_audit_tree_new(&t), 0);
	kw_audit_frontier_init(&f);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t leaf[8], lh[H];

		kw_store_u64(leaf, i);
		assert_int_equal(kw_audit_leaf_hash(leaf, sizeof(leaf), lh), 0);
		assert_int_equal(kw_audit_tree_append(t, lh), 0);
		assert_int_equal(kw_audit_frontier_append(&f, lh), 0);
		if (next < KW_ARRAY_LEN(marks) && f.size == marks[next])
			assert_int_equal(kw_audit_frontier_root(&f, mark_root[next++]), 0);
	}
	assert_int_equal(kw_audit_tree_size(t), n);
	for (size_t a = 0; a < KW_ARRAY_LEN(marks); a++) {
		uint8_t root[H];

		assert_int_equal(kw_audit_tree_root(t, marks[a], root), 0);
		assert_memory_equal(root, mark_root[a], H);
		for (size_t b = a; b < KW_ARRAY_LEN(marks); b++) {
			assert_int_equal(kw_audit_tree_prove_consistency(t, marks[a], marks[b], &p),
			                 0);
			assert_int_equal(kw_audit_verify_consistency(marks[a], marks[b], &p,
			                                             mark_root[a], mark_root[b]),
			                 0);
		}
		for (uint64_t i = 0; i < marks[a]; i += marks[a] / 7 + 1) {
			uint8_t leaf[8], lh[H];

			kw_store_u64(leaf, i);
			assert_int_equal(kw_audit_leaf_hash(leaf, sizeof(leaf), lh), 0);
			assert_int_equal(kw_audit_tree_prove_inclusion(t, i, marks[a], &p), 0);
			assert_int_equal(
			    kw_audit_verify_inclusion(i, marks[a], lh, &p, mark_root[a]), 0);
		}
	}
	kw_audit_tree_free(t);
}
