/*
 * raw.c: the crypto limit. How many times one thread of this process can do
 * the operation keywardd is asked to do, with OpenSSL directly and nothing
 * else: same algorithm, same input size, a fresh signing or cipher
 * initialisation per operation (as a server must do per request), no
 * network, no JSON, no IPC, no audit. keyward's figure divided by this one
 * is the share of the crypto limit the service delivers.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "bench.h"

#define RAW_BATCH         8 /* operations between clock reads */
#define RAW_AES_KEY_BYTES 32
#define RAW_GCM_IV_BYTES  12
#define RAW_GCM_TAG_BYTES 16
#define RAW_SIG_MAX       512

struct raw_state {
	enum bench_raw_op op;
	EVP_PKEY *pkey;
	EVP_MD_CTX *mdctx;
	EVP_CIPHER_CTX *cctx;
	uint8_t key[RAW_AES_KEY_BYTES];
	uint8_t msg[BENCH_PLAINTEXT_BYTES];
	uint8_t out[BENCH_PLAINTEXT_BYTES + RAW_GCM_IV_BYTES + RAW_GCM_TAG_BYTES + RAW_SIG_MAX];
	size_t siglen; /* RS256 verify: the signature made at setup */
};

static int raw_keygen(enum bench_raw_op op, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;

	switch (op) {
	case BENCH_RAW_ECDSA_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case BENCH_RAW_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case BENCH_RAW_RSA2048_PSS:
	case BENCH_RAW_RS256_VERIFY:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case BENCH_RAW_AES256_GCM:
	case BENCH_RAW_NONE:
		return KW_ERR_INVALID;
	}
	if (!k)
		return KW_ERR_CRYPTO;
	*out = k;
	return 0;
}

static int raw_setup(enum bench_raw_op op, struct raw_state *st)
{
	memset(st, 0, sizeof(*st));
	st->op = op;
	if (RAND_bytes(st->msg, sizeof(st->msg)) != 1)
		return KW_ERR_CRYPTO;
	if (op == BENCH_RAW_AES256_GCM) {
		st->cctx = EVP_CIPHER_CTX_new();
		if (!st->cctx || RAND_bytes(st->key, sizeof(st->key)) != 1)
			return KW_ERR_CRYPTO;
		return 0;
	}
	st->mdctx = EVP_MD_CTX_new();
	if (!st->mdctx)
		return KW_ERR_NOMEM;
	return raw_keygen(op, &st->pkey);
}

static void raw_cleanup(struct raw_state *st)
{
	EVP_PKEY_free(st->pkey);
	EVP_MD_CTX_free(st->mdctx);
	EVP_CIPHER_CTX_free(st->cctx);
	OPENSSL_cleanse(st->key, sizeof(st->key));
}

static int raw_sign_once(struct raw_state *st)
{
	const EVP_MD *md = st->op == BENCH_RAW_ED25519 ? NULL : EVP_sha256();
	EVP_PKEY_CTX *pctx = NULL;
	size_t siglen = RAW_SIG_MAX;

	if (EVP_MD_CTX_reset(st->mdctx) != 1 ||
	    EVP_DigestSignInit(st->mdctx, &pctx, md, NULL, st->pkey) != 1)
		return KW_ERR_CRYPTO;
	if (st->op == BENCH_RAW_RSA2048_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		return KW_ERR_CRYPTO;
	if (EVP_DigestSign(st->mdctx, st->out, &siglen, st->msg, BENCH_SIGN_INPUT_BYTES) != 1)
		return KW_ERR_CRYPTO;
	return 0;
}

static int raw_encrypt_once(struct raw_state *st)
{
	uint8_t *iv = st->out;
	uint8_t *ct = st->out + RAW_GCM_IV_BYTES;
	int n = 0, fin = 0;

	/* A fresh random nonce per message, as the server draws one. */
	if (RAND_bytes(iv, RAW_GCM_IV_BYTES) != 1 ||
	    EVP_EncryptInit_ex2(st->cctx, EVP_aes_256_gcm(), st->key, iv, NULL) != 1 ||
	    EVP_EncryptUpdate(st->cctx, ct, &n, st->msg, BENCH_PLAINTEXT_BYTES) != 1 ||
	    EVP_EncryptFinal_ex(st->cctx, ct + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(st->cctx, EVP_CTRL_GCM_GET_TAG, RAW_GCM_TAG_BYTES, ct + n + fin) !=
	        1)
		return KW_ERR_CRYPTO;
	return 0;
}

/* What a login costs the verifier at least: one RS256 (PKCS#1 v1.5,
 * SHA-256) verification of a token-sized input, key already parsed. */
static int raw_verify_once(struct raw_state *st)
{
	if (EVP_MD_CTX_reset(st->mdctx) != 1 ||
	    EVP_DigestVerifyInit(st->mdctx, NULL, EVP_sha256(), NULL, st->pkey) != 1 ||
	    EVP_DigestVerify(st->mdctx, st->out, st->siglen, st->msg, BENCH_JWT_INPUT_BYTES) != 1)
		return KW_ERR_CRYPTO;
	return 0;
}

static int raw_verify_setup(struct raw_state *st)
{
	st->siglen = RAW_SIG_MAX;
	if (EVP_DigestSignInit(st->mdctx, NULL, EVP_sha256(), NULL, st->pkey) != 1 ||
	    EVP_DigestSign(st->mdctx, st->out, &st->siglen, st->msg, BENCH_JWT_INPUT_BYTES) != 1)
		return KW_ERR_CRYPTO;
	return 0;
}

static int raw_once(struct raw_state *st)
{
	if (st->op == BENCH_RAW_AES256_GCM)
		return raw_encrypt_once(st);
	if (st->op == BENCH_RAW_RS256_VERIFY)
		return raw_verify_once(st);
	return raw_sign_once(st);
}

int bench_raw_rate(enum bench_raw_op op, double seconds, double *ops_per_s)
{
	struct raw_state st;
	uint64_t start, now, deadline, ops = 0;
	int rc;

	rc = raw_setup(op, &st);
	if (rc == 0 && op == BENCH_RAW_RS256_VERIFY)
		rc = raw_verify_setup(&st);
	if (rc < 0)
		goto out;
	start = kw_monotonic_ns();
	deadline = start + (uint64_t)(seconds * 1e9);
	do {
		for (int i = 0; i < RAW_BATCH; i++) {
			rc = raw_once(&st);
			if (rc < 0)
				goto out;
		}
		ops += RAW_BATCH;
		now = kw_monotonic_ns();
	} while (now < deadline);
	*ops_per_s = (double)ops / ((double)(now - start) / 1e9);
	rc = 0;
out:
	raw_cleanup(&st);
	return rc;
}
