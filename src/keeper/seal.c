/*
 * seal.c: the root key and its seal. Shamir shares of an unseal key; the
 * unseal key wraps the root key; the root key wraps every key version.
 *
 * Stored (meta):
 *   seal.root   root key wrapped under the unseal key (AAD SEAL_ROOT_AAD)
 *   seal.check  salt || HMAC-SHA256(salt, share) per share, so that a wrong
 *               share is refused when given rather than after the threshold
 *               (the shares are 256-bit random: their HMACs reveal nothing)
 *   seal.config version, shares, threshold — written last: its presence is
 *               what "initialized" means, so a crash mid-init leaves none.
 * All callers hold k->lock for writing, except seal-status (reading).
 */
#include <stdlib.h>
#include <string.h>

#include "keeper_int.h"

#define SEAL_ROOT_AAD       "keyward/root-key/1"
#define SEAL_SALT_BYTES     32
#define SEAL_SHARE_BYTES    (KW_ROOT_KEY_BYTES + 1)
#define SEAL_CONFIG_VERSION 1

static void progress_wipe(struct keeper *k)
{
	for (unsigned i = 0; i < k->nprogress; i++) {
		kw_secure_free(k->progress[i], SEAL_SHARE_BYTES);
		k->progress[i] = NULL;
	}
	k->nprogress = 0;
}

void keeper_seal_wipe(struct keeper *k)
{
	keeper_audit_sealing(k);
	progress_wipe(k);
	keeper_keys_purge(k);
	kw_secure_free(k->root_key, KW_ROOT_KEY_BYTES);
	k->root_key = NULL;
	k->sealed = true;
}

int keeper_seal_open(struct keeper *k)
{
	uint8_t *cfg = NULL;
	size_t len = 0;
	int r = kw_store_meta_get(k->store, "seal.config", &cfg, &len);

	k->sealed = true;
	if (r == KW_ERR_NOT_FOUND) {
		k->initialized = false;
		kw_info("keyward is not initialized");
		return 0;
	}
	if (r != 0)
		return r;
	if (len != 3 || cfg[0] != SEAL_CONFIG_VERSION || cfg[2] == 0 || cfg[2] > cfg[1]) {
		free(cfg);
		kw_error("seal.config in the store is malformed");
		return KW_ERR_INTEGRITY;
	}
	k->initialized = true;
	k->shares = cfg[1];
	k->threshold = cfg[2];
	free(cfg);
	kw_info("keyward is sealed (%u of %u shares needed)", k->threshold, k->shares);
	return 0;
}

static int put_status(struct kreq *r)
{
	struct keeper *k = r->k;

	if (kw_ipc_put_u32(r->reply, KW_T_INITIALIZED, k->initialized) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_SEALED, k->sealed) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_SHARES, k->shares) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_THRESHOLD, k->threshold) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_PROGRESS, k->nprogress) != 0)
		return kreq_fail(r, KW_ERR_NOMEM, "reply too large");
	return 0;
}

int keeper_answer_seal_status(struct kreq *r)
{
	return put_status(r);
}

static int share_check_make(const uint8_t *shares, unsigned n, uint8_t **out, size_t *outlen)
{
	size_t len = SEAL_SALT_BYTES + (size_t)n * 32;
	uint8_t *c = malloc(len);

	if (c == NULL)
		return KW_ERR_NOMEM;
	if (kw_random(c, SEAL_SALT_BYTES) != 0)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		size_t maclen = 32;
		if (kw_hmac(KW_HASH_SHA256, c, SEAL_SALT_BYTES,
		            shares + (size_t)i * SEAL_SHARE_BYTES, SEAL_SHARE_BYTES,
		            c + SEAL_SALT_BYTES + (size_t)i * 32, &maclen) != 0)
			goto fail;
	}
	*out = c;
	*outlen = len;
	return 0;
fail:
	free(c);
	return KW_ERR_CRYPTO;
}

/* Is share one of the shares made at init? */
static int share_check(struct keeper *k, const uint8_t *share)
{
	uint8_t *c = NULL, mac[32];
	size_t len = 0, maclen = sizeof(mac);
	int r = kw_store_meta_get(k->store, "seal.check", &c, &len);

	if (r != 0)
		return r;
	r = KW_ERR_BAD_SHARE;
	if (len < SEAL_SALT_BYTES || (len - SEAL_SALT_BYTES) % 32 != 0)
		r = KW_ERR_INTEGRITY;
	else if (kw_hmac(KW_HASH_SHA256, c, SEAL_SALT_BYTES, share, SEAL_SHARE_BYTES, mac,
	                 &maclen) != 0)
		r = KW_ERR_CRYPTO;
	else
		for (size_t off = SEAL_SALT_BYTES; off < len; off += 32)
			if (kw_ct_equal(mac, c + off, 32))
				r = 0;
	free(c);
	return r;
}

static int init_validate(struct kreq *r, uint32_t n, uint32_t t)
{
	if (n < 1 || t < 1 || n > KW_SHAMIR_SHARES_MAX || t > n)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "secret_shares and secret_threshold must satisfy "
		                 "1 <= threshold <= shares <= %d",
		                 KW_SHAMIR_SHARES_MAX);
	if (n > 1 && t < 2)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "threshold must be greater than one for multiple shares");
	return 0;
}

/* Make the seal: root key, unseal key, shares, stored metadata. Returns the
 * shares (secure, n * SEAL_SHARE_BYTES). */
static int seal_create(struct keeper *k, unsigned n, unsigned t, uint8_t **shares_out)
{
	uint8_t *root = kw_secure_alloc(KW_ROOT_KEY_BYTES);
	uint8_t *unseal = kw_secure_alloc(KW_ROOT_KEY_BYTES);
	uint8_t *shares = NULL, *wrapped = NULL, *check = NULL;
	uint8_t cfg[3] = {SEAL_CONFIG_VERSION, (uint8_t)n, (uint8_t)t};
	size_t wrapped_len, check_len;
	int r = KW_ERR_NOMEM;

	if (root == NULL || unseal == NULL)
		goto out;
	if ((r = kw_random(root, KW_ROOT_KEY_BYTES)) != 0 ||
	    (r = kw_random(unseal, KW_ROOT_KEY_BYTES)) != 0)
		goto out;
	if ((r = kw_shamir_split(unseal, KW_ROOT_KEY_BYTES, n, t, &shares)) != 0)
		goto out;
	if ((r = kw_wrap(unseal, (const uint8_t *)SEAL_ROOT_AAD, strlen(SEAL_ROOT_AAD), root,
	                 KW_ROOT_KEY_BYTES, &wrapped, &wrapped_len)) != 0)
		goto out;
	if ((r = share_check_make(shares, n, &check, &check_len)) != 0)
		goto out;
	if ((r = kw_store_meta_put(k->store, "seal.root", wrapped, wrapped_len)) != 0 ||
	    (r = kw_store_meta_put(k->store, "seal.check", check, check_len)) != 0 ||
	    (r = kw_store_meta_put(k->store, "seal.config", cfg, sizeof(cfg))) != 0)
		goto out;
	*shares_out = shares;
	shares = NULL;
out:
	kw_secure_free(shares, (size_t)n * SEAL_SHARE_BYTES);
	kw_secure_free(root, KW_ROOT_KEY_BYTES);
	kw_secure_free(unseal, KW_ROOT_KEY_BYTES);
	free(wrapped);
	free(check);
	return r;
}

/* Shared by the INIT message and dev mode. */
static int seal_init(struct kreq *r, unsigned n, unsigned t, const char *fixed_token,
                     uint8_t **shares_out, char *token, size_t token_len)
{
	struct keeper *k = r->k;
	struct kw_store_token rec;
	int s;

	if (k->initialized)
		return kreq_fail(r, KW_ERR_ALREADY_INIT, "keyward is already initialized");
	if (k->selftest_failed != NULL)
		return kreq_fail(r, KW_ERR_SELFTEST,
		                 "self-test '%s' failed; refusing to initialize",
		                 k->selftest_failed);
	if ((s = init_validate(r, n, t)) != 0)
		return s;
	if ((s = seal_create(k, n, t, shares_out)) != 0)
		return kreq_fail(r, s, "cannot create the seal: %s", kw_err_str(s));
	if ((s = keeper_token_issue(k, fixed_token, "root", "root", 0, token, token_len, &rec)) !=
	    0) {
		kw_secure_free(*shares_out, (size_t)n * SEAL_SHARE_BYTES);
		return kreq_fail(r, s, "cannot store the root token");
	}
	kw_store_token_cleanup(&rec);
	k->initialized = true;
	k->sealed = true;
	k->shares = n;
	k->threshold = t;
	kw_info("keyward initialized with %u shares, threshold %u", n, t);
	return 0;
}

int keeper_answer_init(struct kreq *r)
{
	uint32_t n = kw_ipc_u32_or(r->msg, KW_T_SHARES, 0);
	uint32_t t = kw_ipc_u32_or(r->msg, KW_T_THRESHOLD, 0);
	uint8_t *shares = NULL;
	char token[256];
	int s;

	if ((s = seal_init(r, n, t, NULL, &shares, token, sizeof(token))) != 0)
		return s;
	for (uint32_t i = 0; i < n && s == 0; i++)
		s = kw_ipc_put(r->reply, KW_T_UNSEAL_KEY, shares + (size_t)i * SEAL_SHARE_BYTES,
		               SEAL_SHARE_BYTES);
	if (s == 0)
		s = kw_ipc_put_str(r->reply, KW_T_ROOT_TOKEN, token);
	kw_secure_free(shares, (size_t)n * SEAL_SHARE_BYTES);
	kw_wipe(token, sizeof(token));
	return s ? kreq_fail(r, s, "reply too large") : 0;
}

/* Threshold reached: combine, unwrap the root key. Progress is always reset. */
static int unseal_finish(struct kreq *r)
{
	struct keeper *k = r->k;
	uint8_t *unseal = kw_secure_alloc(KW_ROOT_KEY_BYTES);
	uint8_t *wrapped = NULL, *root = NULL;
	size_t wrapped_len = 0, root_len = 0;
	int s = KW_ERR_NOMEM, audit = 0;

	if (unseal == NULL)
		goto out;
	if ((s = kw_shamir_combine((const uint8_t *const *)k->progress, k->nprogress,
	                           SEAL_SHARE_BYTES, unseal)) != 0)
		goto out;
	if ((s = kw_store_meta_get(k->store, "seal.root", &wrapped, &wrapped_len)) != 0)
		goto out;
	s = kw_unwrap(unseal, (const uint8_t *)SEAL_ROOT_AAD, strlen(SEAL_ROOT_AAD), wrapped,
	              wrapped_len, &root, &root_len);
	if (s == 0 && root_len != KW_ROOT_KEY_BYTES) {
		kw_secure_free(root, root_len);
		s = KW_ERR_INTEGRITY;
	}
	if (s == 0) {
		k->root_key = root;
		/* No audit key, no unseal: keyward does not work unlogged. */
		if ((audit = keeper_audit_unsealed(k)) != 0) {
			kw_secure_free(root, KW_ROOT_KEY_BYTES);
			k->root_key = NULL;
		} else {
			k->sealed = false;
			kw_info("keyward unsealed");
		}
	}
out:
	progress_wipe(k);
	kw_secure_free(unseal, KW_ROOT_KEY_BYTES);
	free(wrapped);
	if (audit != 0)
		return kreq_fail(r, audit,
		                 "the shares are right, but the audit signing key cannot be loaded "
		                 "(%s); keyward stays sealed",
		                 kw_err_str(audit));
	if (s != 0)
		return kreq_fail(r, KW_ERR_BAD_SHARE,
		                 "the shares do not combine to the unseal key; progress was reset");
	return 0;
}

static int unseal_add(struct kreq *r, const uint8_t *share, size_t len)
{
	struct keeper *k = r->k;
	int s;

	if (len != SEAL_SHARE_BYTES)
		return kreq_fail(r, KW_ERR_BAD_SHARE, "an unseal key share is %d bytes",
		                 SEAL_SHARE_BYTES);
	for (unsigned i = 0; i < k->nprogress; i++)
		if (k->progress[i][SEAL_SHARE_BYTES - 1] == share[SEAL_SHARE_BYTES - 1])
			return kreq_fail(r, KW_ERR_BAD_SHARE, "that share was already provided");
	if ((s = share_check(k, share)) != 0)
		return kreq_fail(r, s,
		                 s == KW_ERR_BAD_SHARE
		                     ? "that is not one of this keyward's unseal key shares"
		                     : "the seal metadata cannot be read");
	k->progress[k->nprogress] = kw_secure_alloc(SEAL_SHARE_BYTES);
	if (k->progress[k->nprogress] == NULL)
		return kreq_fail(r, KW_ERR_NOMEM, "out of secure memory");
	memcpy(k->progress[k->nprogress], share, SEAL_SHARE_BYTES);
	k->nprogress++;
	if (k->nprogress >= k->threshold)
		return unseal_finish(r);
	return 0;
}

int keeper_answer_unseal(struct kreq *r)
{
	struct keeper *k = r->k;
	const uint8_t *share;
	size_t len;
	int s;

	if (!k->initialized)
		return kreq_fail(r, KW_ERR_NOT_INIT, "keyward is not initialized");
	if (k->selftest_failed != NULL)
		return kreq_fail(r, KW_ERR_SELFTEST, "self-test '%s' failed; refusing to unseal",
		                 k->selftest_failed);
	if (kw_ipc_u32_or(r->msg, KW_T_RESET, 0)) {
		progress_wipe(k);
		return put_status(r);
	}
	if (!k->sealed)
		return put_status(r);
	if (kw_ipc_get_bytes(r->msg, KW_T_UNSEAL_KEY, &share, &len) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "an unseal key share or reset is required");
	if ((s = unseal_add(r, share, len)) != 0)
		return s;
	return put_status(r);
}

int keeper_answer_seal(struct kreq *r)
{
	int s;

	if ((s = keeper_authorize(r, "sys/seal", CAP_UPDATE | CAP_SUDO)) != 0)
		return s;
	keeper_seal_wipe(r->k);
	keeper_tokens_purge(r->k);
	keeper_policies_purge(r->k);
	kw_info("req=%s: keyward sealed by %s", r->req_id, r->id.display_name);
	return 0;
}

int keeper_dev_setup(struct keeper *k)
{
	struct kw_ipc_msg msg, reply;
	struct kreq r = {.k = k, .msg = &msg, .reply = &reply, .req_id = "dev"};
	uint8_t *shares = NULL;
	char token[256];
	int s;

	kw_ipc_msg_init(&msg, KW_MSG_INIT);
	kw_ipc_reply_init(&reply, &msg, 0);
	pthread_rwlock_wrlock(&k->lock);
	s = seal_init(&r, 1, 1, k->conf->dev_root_token, &shares, token, sizeof(token));
	kw_wipe(token, sizeof(token));
	if (s == 0) {
		s = unseal_add(&r, shares, SEAL_SHARE_BYTES);
		kw_secure_free(shares, SEAL_SHARE_BYTES);
	}
	pthread_rwlock_unlock(&k->lock);
	if (s != 0)
		kw_error("dev mode set-up failed: %s",
		         kw_ipc_str_or(&reply, KW_T_ERROR_DETAIL, ""));
	kw_ipc_msg_cleanup(&msg);
	kw_ipc_msg_cleanup(&reply);
	return s;
}
