/*
 * audit.c: the keeper's side of the audit log — one entry per request, the
 * audit signing key, checkpoints, and the AUDIT_* messages.
 *
 * Every request that reaches the keeper is logged, allowed or denied, except
 * SEAL_STATUS (a status probe: health checks would otherwise fill the log).
 * With forced audit (the default) the reply is sent only once its entry is
 * durable; concurrent requests share one fdatasync, and the log's syncer
 * sends the replies itself (kw_audit_log_commit_async, keeper_call_answer). If
 * the log cannot be written every request but seal is refused with
 * UNAVAILABLE before it runs: keyward does not work unlogged.
 *
 * The audit key is an Ed25519 key made at the first unseal, wrapped under the
 * root key in meta "audit.key" like any key version, never exportable. It
 * lives only while unsealed, so checkpoints are signed only then: a
 * background thread signs one every second while entries arrive, and one is
 * signed when keyward seals and when it stops.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keeper_int.h"

#define AUDIT_KEY_AAD              "keyward/audit-key/1"
#define AUDIT_NODE_ID_BYTES        16
#define AUDIT_CHECKPOINT_PERIOD_MS 1000
#define AUDIT_SEARCH_DEFAULT       100
#define AUDIT_SEARCH_SCAN_MAX      200000

/* ---- node id and the audit key ---- */

static int node_id_load(struct keeper *k)
{
	uint8_t *v = NULL, rnd[AUDIT_NODE_ID_BYTES];
	size_t len = 0;
	char *hex = NULL;
	int r = kw_store_meta_get(k->store, "node.id", &v, &len);

	if (r == KW_ERR_NOT_FOUND) {
		if ((r = kw_random(rnd, sizeof(rnd))) != 0 ||
		    (r = kw_store_meta_put(k->store, "node.id", rnd, sizeof(rnd))) != 0)
			return r;
		r = kw_hex_encode(rnd, sizeof(rnd), &hex);
	} else if (r == 0) {
		r = len == AUDIT_NODE_ID_BYTES ? kw_hex_encode(v, len, &hex) : KW_ERR_INTEGRITY;
	}
	free(v);
	if (r != 0)
		return r;
	snprintf(k->node_id, sizeof(k->node_id), "%s", hex);
	snprintf(k->audit_origin, sizeof(k->audit_origin), "keyward/audit/%s", hex);
	free(hex);
	return 0;
}

static int audit_key_create(struct keeper *k, struct kw_key **out)
{
	struct kw_key *key = NULL;
	uint8_t *der = NULL, *wrapped = NULL;
	size_t der_len = 0, wrapped_len = 0;
	int r;

	if ((r = kw_key_generate(KW_KEY_ED25519, 0, &key)) != 0 ||
	    (r = kw_key_encode(key, &der, &der_len)) != 0 ||
	    (r = kw_wrap(k->root_key, (const uint8_t *)AUDIT_KEY_AAD, strlen(AUDIT_KEY_AAD), der,
	                 der_len, &wrapped, &wrapped_len)) != 0 ||
	    (r = kw_store_meta_put(k->store, "audit.key", wrapped, wrapped_len)) != 0) {
		kw_key_free(key);
		key = NULL;
	}
	kw_secure_free(der, der_len);
	free(wrapped);
	if (r == 0) {
		kw_info("audit: new audit signing key for %s", k->audit_origin);
		*out = key;
	}
	return r;
}

static int audit_key_load(struct keeper *k, struct kw_key **out)
{
	uint8_t *wrapped = NULL, *der = NULL;
	size_t wrapped_len = 0, der_len = 0;
	int r = kw_store_meta_get(k->store, "audit.key", &wrapped, &wrapped_len);

	if (r == KW_ERR_NOT_FOUND)
		return audit_key_create(k, out);
	if (r == 0)
		r = kw_unwrap(k->root_key, (const uint8_t *)AUDIT_KEY_AAD, strlen(AUDIT_KEY_AAD),
		              wrapped, wrapped_len, &der, &der_len);
	if (r == 0 && kw_key_decode(KW_KEY_ED25519, der, der_len, out) != 0)
		r = KW_ERR_INTEGRITY;
	kw_secure_free(der, der_len);
	free(wrapped);
	return r;
}

int keeper_audit_unsealed(struct keeper *k)
{
	struct kw_key *key = NULL;
	int r;

	if ((r = audit_key_load(k, &key)) != 0) {
		kw_error("audit: the audit signing key cannot be loaded: %s", kw_err_str(r));
		return r;
	}
	if ((r = kw_audit_key_public(key, k->audit_public)) != 0) {
		kw_key_free(key);
		return r;
	}
	k->audit_key = key;
	return 0;
}

/* Write lock held. */
void keeper_audit_sealing(struct keeper *k)
{
	keeper_audit_checkpoint(k);
	kw_key_free(k->audit_key);
	k->audit_key = NULL;
}

/* Read or write lock held (the key must not be freed meanwhile). */
void keeper_audit_checkpoint(struct keeper *k)
{
	struct kw_audit_signer s = {k->audit_origin, {0}, kw_audit_sign_key, NULL};
	char *note = NULL;
	int r;

	if (k->audit == NULL || k->audit_key == NULL)
		return;
	memcpy(s.public_key, k->audit_public, sizeof(s.public_key));
	s.ctx = k->audit_key;
	/* Unforced audit: make the tail durable first; a checkpoint covers
	 * only durable entries. */
	if (!k->conf->audit_unforced || (r = kw_audit_log_sync(k->audit)) == 0)
		r = kw_audit_log_checkpoint(k->audit, &s, &note);
	if (r != 0)
		kw_error("audit: cannot write a checkpoint: %s", kw_err_str(r));
	free(note);
}

/* ---- the checkpoint thread ---- */

static void *checkpoint_loop(void *arg)
{
	struct keeper *k = arg;

	pthread_mutex_lock(&k->audit_mu);
	while (!k->audit_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += AUDIT_CHECKPOINT_PERIOD_MS / 1000;
		pthread_cond_timedwait(&k->audit_cv, &k->audit_mu, &ts);
		if (k->audit_stop)
			break;
		pthread_mutex_unlock(&k->audit_mu);
		/* A checkpoint of an unchanged log is not signed again. */
		pthread_rwlock_rdlock(&k->lock);
		keeper_audit_checkpoint(k);
		pthread_rwlock_unlock(&k->lock);
		pthread_mutex_lock(&k->audit_mu);
	}
	pthread_mutex_unlock(&k->audit_mu);
	return NULL;
}

int keeper_audit_open(struct keeper *k)
{
	char path[sizeof(k->conf->store_url)], dir[sizeof(path) + 16];
	struct kw_audit_log_opts o = {0};
	const char *url = k->conf->store_url;
	int r;

	if ((r = node_id_load(k)) != 0) {
		kw_error("audit: cannot read or make the node id");
		return r;
	}
	if (k->conf->audit_dir[0] != '\0') {
		snprintf(dir, sizeof(dir), "%s", k->conf->audit_dir);
	} else {
		/* Beside the database by default: one data directory to back up. */
		if (strncmp(url, "sqlite:", 7) == 0)
			url += 7;
		snprintf(path, sizeof(path), "%s", url);
		snprintf(dir, sizeof(dir), "%s/audit", dirname(path));
	}
	if ((r = kw_audit_log_open(dir, &o, &k->audit)) != 0) {
		kw_error("audit: cannot open the audit log in %s: %s", dir,
		         r == KW_ERR_INTEGRITY ? "it is damaged (see above); check it with "
		                                 "keyward audit verify"
		                               : kw_err_str(r));
		return r;
	}
	if (k->conf->audit_sink[0] != '\0' &&
	    (r = keeper_sink_open(k->conf->audit_sink, &k->sink)) != 0)
		return r;
	if (k->conf->audit_unforced)
		kw_warn("audit: forced audit is OFF: replies may leave before their entry is "
		        "durable; a crash can lose up to %d ms of entries",
		        AUDIT_CHECKPOINT_PERIOD_MS);
	pthread_mutex_init(&k->audit_mu, NULL);
	pthread_cond_init(&k->audit_cv, NULL);
	if (pthread_create(&k->audit_thread, NULL, checkpoint_loop, k) != 0)
		return KW_ERR_INTERNAL;
	k->audit_thread_running = true;
	kw_info("audit: logging to %s as %s", dir, k->audit_origin);
	return 0;
}

void keeper_audit_close(struct keeper *k)
{
	struct kw_audit_head h;
	int r;

	if (k->audit_thread_running) {
		pthread_mutex_lock(&k->audit_mu);
		k->audit_stop = true;
		pthread_cond_signal(&k->audit_cv);
		pthread_mutex_unlock(&k->audit_mu);
		pthread_join(k->audit_thread, NULL);
		k->audit_thread_running = false;
	}
	if (k->audit == NULL)
		return;
	pthread_rwlock_wrlock(&k->lock);
	keeper_audit_checkpoint(k);
	pthread_rwlock_unlock(&k->lock);
	if (kw_audit_log_head(k->audit, &h) == 0)
		kw_info("audit: %llu entries in the log; %llu fdatasyncs since start",
		        (unsigned long long)h.size, (unsigned long long)h.syncs);
	if ((r = kw_audit_log_close(k->audit)) != 0)
		kw_error("audit: the last sync of the audit log failed: %s", kw_err_str(r));
	k->audit = NULL;
	keeper_sink_close(k->sink);
	k->sink = NULL;
}

/* ---- one entry per request ---- */

bool keeper_audit_broken(struct keeper *k)
{
	struct kw_audit_head h;

	return k->audit == NULL || kw_audit_log_head(k->audit, &h) != 0;
}

static bool digest_of(const struct kw_ipc_msg *m, const uint16_t *tags, size_t ntags,
                      uint8_t out[KW_AUDIT_HASH_BYTES])
{
	size_t len = KW_AUDIT_HASH_BYTES;

	for (size_t i = 0; i < ntags; i++) {
		const uint8_t *p;
		size_t n;

		if (kw_ipc_get_bytes(m, tags[i], &p, &n) == 0)
			return kw_hash_digest(KW_HASH_SHA256, p, n, out, &len) == 0;
	}
	return false;
}

/* The data a request carries in, and what its reply carries out: the
 * digests an operator matches against a document or a signature. */
static const uint16_t input_tags[] = {KW_T_PLAINTEXT, KW_T_INPUT, KW_T_CIPHERTEXT};
static const uint16_t output_tags[] = {KW_T_CIPHERTEXT, KW_T_SIGNATURE, KW_T_MAC, KW_T_PLAINTEXT,
                                       KW_T_OUTPUT};

static bool is_key_message(uint16_t type)
{
	return (type >= KW_MSG_KEY_CREATE && type <= KW_MSG_HMAC) ||
	       (type >= KW_MSG_P11_SIGN_RAW && type <= KW_MSG_P11_UNWRAP);
}

/* Who the entry is about: the authenticated caller, or whom a login was
 * for (accepted or refused), with the method and claims that proved it. */
int keeper_audit_record(struct kreq *r, int status)
{
	const struct kw_ipc_msg *q = r->msg;
	struct kw_audit_entry e = {0};
	bool who = r->authed || r->audit_subject;
	uint32_t version = 0;
	int s;

	e.node_id = r->k->node_id;
	e.auth_method = who ? r->id.method : "none";
	e.subject = who ? r->id.display_name : "";
	e.accessor = who ? r->id.accessor : "";
	e.claims = who ? r->id.claims : NULL;
	e.source_addr = kw_ipc_str_or(q, KW_T_REMOTE_ADDR, "");
	e.listener_port = (uint16_t)kw_ipc_u32_or(q, KW_T_LISTENER_PORT, 0);
	e.operation = r->audit_operation ? r->audit_operation : kw_msg_name(q->type);
	e.result_code = r->audit_result_code;
	e.path = r->path;
	e.key_name = is_key_message(q->type) && r->name ? r->name : "";
	if (kw_ipc_get_u32(r->reply, KW_T_VERSION, &version) != 0)
		version = kw_ipc_u32_or(q, KW_T_VERSION, 0);
	e.key_version = status == 0 ? version : kw_ipc_u32_or(q, KW_T_VERSION, 0);
	e.result = status;
	e.has_input_sha256 = digest_of(q, input_tags, KW_ARRAY_LEN(input_tags), e.input_sha256);
	e.has_output_sha256 = status == 0 && digest_of(r->reply, output_tags,
	                                               KW_ARRAY_LEN(output_tags), e.output_sha256);
	e.request_id = r->req_id;
	e.time_us = kw_now_us(); /* stamped here so the sink line says the same */
	if (r->k->conf->audit_unforced) {
		s = kw_audit_log_append(r->k->audit, &e, &e.index);
	} else {
		/* The log may answer before this returns: hold the call. */
		__atomic_store_n(&r->call->refs, 2, __ATOMIC_RELAXED);
		s = kw_audit_log_commit_async(r->k->audit, &e, &e.index, keeper_call_answer,
		                              r->call);
		r->deferred = s == 0;
	}
	if (s != 0) {
		kw_error("req=%s: the audit entry could not be written: %s", r->req_id,
		         kw_err_str(s));
		return s;
	}
	/* With a deferred commit, the line may go out before the entry is
	 * durable: the sink is a copy for SIEMs, the log is the record. */
	if (r->k->sink != NULL)
		keeper_sink_write(r->k->sink, &e);
	return 0;
}

/* ---- AUDIT_* messages ---- */

static int audit_authorize(struct kreq *r, const char *what)
{
	char path[64];

	snprintf(path, sizeof(path), "keyward/audit/%s", what);
	return keeper_authorize(r, path, CAP_READ | CAP_SUDO);
}

/* PEM SubjectPublicKeyInfo of the audit key, for people and openssl. */
static int public_pem(const struct kw_key *key, char **out)
{
	uint8_t *der = NULL;
	size_t der_len = 0;
	char *b64 = NULL;
	struct kw_buf b;
	int r;

	kw_buf_init(&b);
	if ((r = kw_key_public_der(key, &der, &der_len)) != 0 ||
	    (r = kw_base64_encode(der, der_len, &b64)) != 0)
		goto out;
	r = kw_buf_append_str(&b, "-----BEGIN PUBLIC KEY-----\n");
	for (size_t i = 0, n = strlen(b64); r == 0 && i < n; i += 64)
		if ((r = kw_buf_append(&b, b64 + i, n - i < 64 ? n - i : 64)) == 0)
			r = kw_buf_append_u8(&b, '\n');
	if (r == 0 && (r = kw_buf_append_str(&b, "-----END PUBLIC KEY-----\n")) == 0)
		r = kw_buf_append_u8(&b, 0);
	if (r == 0) {
		*out = (char *)b.data;
		kw_buf_init(&b);
	}
out:
	kw_buf_cleanup(&b);
	free(der);
	free(b64);
	return r;
}

int keeper_answer_audit_checkpoint(struct kreq *r)
{
	struct keeper *k = r->k;
	struct kw_audit_signer sg = {k->audit_origin, {0}, kw_audit_sign_key, k->audit_key};
	char *note = NULL, *pem = NULL, *verifier = NULL;
	int s;

	if ((s = audit_authorize(r, "checkpoint")) != 0)
		return s;
	if (k->audit_key == NULL)
		return kreq_fail(r, KW_ERR_UNAVAILABLE, "the audit signing key is not loaded");
	memcpy(sg.public_key, k->audit_public, sizeof(sg.public_key));
	if ((s = kw_audit_log_checkpoint(k->audit, &sg, &note)) != 0 ||
	    (s = public_pem(k->audit_key, &pem)) != 0 ||
	    (s = kw_audit_verifier_encode(k->audit_origin, k->audit_public, &verifier)) != 0)
		s = kreq_fail(r, s, "the checkpoint cannot be made: %s", kw_err_str(s));
	else if (kw_ipc_put_str(r->reply, KW_T_CHECKPOINT, note) != 0 ||
	         kw_ipc_put_str(r->reply, KW_T_PUBLIC_KEY, pem) != 0 ||
	         kw_ipc_put_str(r->reply, KW_T_VERIFIER, verifier) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	free(note);
	free(pem);
	free(verifier);
	return s;
}

/* Collects visited entries into the reply as ENTRY fields. */
struct collect {
	struct kw_ipc_msg *reply;
	size_t count, limit;
	int err;
};

static int collect_entry(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                         const struct kw_audit_entry *e)
{
	struct collect *c = ctx;
	struct kw_buf b;

	kw_buf_init(&b);
	if (kw_buf_append_u64(&b, index) != 0 || kw_buf_append(&b, leaf, len) != 0 ||
	    kw_ipc_put(c->reply, KW_T_ENTRY, b.data, b.len) != 0)
		c->err = KW_ERR_LIMIT;
	kw_buf_cleanup(&b);
	if (c->err != 0)
		return -1;
	return ++c->count >= c->limit ? 1 : 0;
}

static int durable_size(struct kreq *r, uint64_t *size)
{
	struct kw_audit_head h;
	int s = kw_audit_log_head(r->k->audit, &h);

	if (s != 0)
		return kreq_fail(r, KW_ERR_UNAVAILABLE, "the audit log cannot be read");
	*size = h.durable;
	return 0;
}

int keeper_answer_audit_entries(struct kreq *r)
{
	uint64_t start = kw_ipc_u64_or(r->msg, KW_T_START, 0), end, size = 0;
	struct collect c = {r->reply, 0, KW_AUDIT_PAGE_MAX, 0};
	int s;

	if ((s = audit_authorize(r, "entries")) != 0 || (s = durable_size(r, &size)) != 0)
		return s;
	end = kw_ipc_u64_or(r->msg, KW_T_END, start + KW_AUDIT_PAGE_MAX);
	if (end < start || end - start > KW_AUDIT_PAGE_MAX)
		end = start + KW_AUDIT_PAGE_MAX;
	if (end > size)
		end = size;
	if (start < end && (s = kw_audit_log_scan(r->k->audit, start, end, collect_entry, &c)) != 0)
		return kreq_fail(r, c.err ? c.err : s, "the audit log cannot be read: %s",
		                 kw_err_str(c.err ? c.err : s));
	if (kw_ipc_put_u64(r->reply, KW_T_TREE_SIZE, size) != 0)
		return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}

static int put_proof(struct kreq *r, const struct kw_audit_proof *p)
{
	for (size_t i = 0; i < p->count; i++)
		if (kw_ipc_put(r->reply, KW_T_PROOF_HASH, p->hash[i], KW_AUDIT_HASH_BYTES) != 0)
			return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}

int keeper_answer_audit_inclusion(struct kreq *r)
{
	uint64_t index, tree, size = 0;
	struct kw_audit_proof *p;
	int s;

	if ((s = audit_authorize(r, "proof")) != 0 || (s = durable_size(r, &size)) != 0)
		return s;
	if (kw_ipc_get_u64(r->msg, KW_T_INDEX, &index) != 0 ||
	    kw_ipc_get_u64(r->msg, KW_T_TREE_SIZE, &tree) != 0 || index >= tree || tree > size)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "an inclusion proof needs index < tree_size <= %llu (the durable "
		                 "size of the log)",
		                 (unsigned long long)size);
	if ((p = malloc(sizeof(*p))) == NULL)
		return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
	if ((s = kw_audit_log_prove_inclusion(r->k->audit, index, tree, p)) != 0)
		s = kreq_fail(r, s, "the proof cannot be made: %s", kw_err_str(s));
	else
		s = put_proof(r, p);
	free(p);
	return s;
}

int keeper_answer_audit_consistency(struct kreq *r)
{
	uint64_t first, second, size = 0;
	struct kw_audit_proof *p;
	int s;

	if ((s = audit_authorize(r, "proof")) != 0 || (s = durable_size(r, &size)) != 0)
		return s;
	if (kw_ipc_get_u64(r->msg, KW_T_FIRST, &first) != 0 ||
	    kw_ipc_get_u64(r->msg, KW_T_SECOND, &second) != 0 || first == 0 || first > second ||
	    second > size)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "a consistency proof needs 0 < first <= second <= %llu",
		                 (unsigned long long)size);
	if ((p = malloc(sizeof(*p))) == NULL)
		return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
	if ((s = kw_audit_log_prove_consistency(r->k->audit, first, second, p)) != 0)
		s = kreq_fail(r, s, "the proof cannot be made: %s", kw_err_str(s));
	else
		s = put_proof(r, p);
	free(p);
	return s;
}

int keeper_answer_audit_search(struct kreq *r)
{
	const struct kw_ipc_msg *m = r->msg;
	struct kw_audit_query q = {
	    .key_name = kw_ipc_str_or(m, KW_T_NAME, NULL),
	    .identity = kw_ipc_str_or(m, KW_T_IDENTITY, NULL),
	    .operation = kw_ipc_str_or(m, KW_T_OPERATION, NULL),
	    .since_us = kw_ipc_u64_or(m, KW_T_SINCE, 0),
	    .until_us = kw_ipc_u64_or(m, KW_T_UNTIL, 0),
	};
	uint32_t limit = kw_ipc_u32_or(m, KW_T_LIMIT, AUDIT_SEARCH_DEFAULT);
	struct collect c = {r->reply, 0, 0, 0};
	uint64_t next = 0;
	int s;

	if ((s = audit_authorize(r, "search")) != 0)
		return s;
	c.limit = limit == 0 || limit > KW_AUDIT_PAGE_MAX ? KW_AUDIT_PAGE_MAX : limit;
	/* Bounded work per request; the cursor carries on where it stopped. */
	s = kw_audit_log_search(r->k->audit, &q, kw_ipc_u64_or(m, KW_T_CURSOR, 0), c.limit,
	                        AUDIT_SEARCH_SCAN_MAX, collect_entry, &c, &next);
	if (s != 0)
		return kreq_fail(r, c.err ? c.err : s, "the audit log cannot be searched: %s",
		                 kw_err_str(c.err ? c.err : s));
	if (kw_ipc_put_u64(r->reply, KW_T_NEXT, next) != 0)
		return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}
