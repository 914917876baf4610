/*
 * token.c: keyward tokens. A token is "kws." followed by 256 random bits;
 * the store keeps only its SHA-256, so a copy of the database holds no
 * usable token. An accessor (random, public) names a token in logs and for
 * revocation without revealing it. Looked-up tokens are cached in memory
 * (the cache holds only the stored record, not the token).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper_int.h"

#define TOKEN_RANDOM_BYTES 32

static int token_hash(const char *token, uint8_t out[KW_TOKEN_HASH_BYTES])
{
	size_t len = KW_TOKEN_HASH_BYTES;
	return kw_hash_digest(KW_HASH_SHA256, (const uint8_t *)token, strlen(token), out, &len);
}

static int record_copy(struct kw_store_token *dst, const struct kw_store_token *src)
{
	*dst = *src;
	dst->policies = kw_strdup(src->policies ? src->policies : "");
	dst->meta = src->meta ? kw_strdup(src->meta) : NULL;
	if (dst->policies == NULL || (src->meta != NULL && dst->meta == NULL)) {
		kw_store_token_cleanup(dst);
		return KW_ERR_NOMEM;
	}
	return 0;
}

static struct keeper_token **cache_slot(struct keeper *k, const uint8_t *hash)
{
	struct keeper_token **p = &k->tokens[kw_load_u32(hash) % KEEPER_AUTH_BUCKETS];

	while (*p != NULL && !kw_ct_equal((*p)->t.hash, hash, KW_TOKEN_HASH_BYTES))
		p = &(*p)->next;
	return p;
}

static void cache_drop(struct keeper *k, const uint8_t *hash)
{
	struct keeper_token **p, *t;

	pthread_mutex_lock(&k->auth_lock);
	p = cache_slot(k, hash);
	if ((t = *p) != NULL) {
		*p = t->next;
		kw_store_token_cleanup(&t->t);
		free(t);
	}
	pthread_mutex_unlock(&k->auth_lock);
}

void keeper_tokens_purge(struct keeper *k)
{
	pthread_mutex_lock(&k->auth_lock);
	for (size_t i = 0; i < KEEPER_AUTH_BUCKETS; i++) {
		while (k->tokens[i] != NULL) {
			struct keeper_token *t = k->tokens[i];
			k->tokens[i] = t->next;
			kw_store_token_cleanup(&t->t);
			free(t);
		}
	}
	pthread_mutex_unlock(&k->auth_lock);
}

/* Find a token record by hash: cache, then store. Expired tokens are
 * removed and reported as unknown. */
static int token_find(struct keeper *k, const uint8_t *hash, struct kw_store_token *out)
{
	struct keeper_token *t;
	struct kw_store_token rec;
	int r;

	pthread_mutex_lock(&k->auth_lock);
	t = *cache_slot(k, hash);
	r = t ? record_copy(out, &t->t) : KW_ERR_NOT_FOUND;
	pthread_mutex_unlock(&k->auth_lock);
	if (r == KW_ERR_NOT_FOUND) {
		if ((r = kw_store_token_get(k->store, hash, &rec)) != 0)
			return r;
		t = calloc(1, sizeof(*t));
		if (t != NULL && record_copy(&t->t, &rec) == 0) {
			pthread_mutex_lock(&k->auth_lock);
			struct keeper_token **p = cache_slot(k, hash);
			if (*p == NULL) {
				*p = t;
				t = NULL;
			}
			pthread_mutex_unlock(&k->auth_lock);
		}
		if (t != NULL) {
			kw_store_token_cleanup(&t->t);
			free(t);
		}
		*out = rec;
	}
	if (out->expires != 0 && out->expires <= kw_now()) {
		cache_drop(k, hash);
		if (kw_store_token_delete(k->store, hash) != 0)
			kw_warn("an expired token could not be removed from the store");
		kw_store_token_cleanup(out);
		return KW_ERR_AUTH;
	}
	return 0;
}

int keeper_token_issue(struct keeper *k, const char *fixed_id, const char *display_name,
                       const char *policies, int64_t ttl, char *out_token, size_t out_len,
                       struct kw_store_token *out_rec)
{
	uint8_t rnd[TOKEN_RANDOM_BYTES], acc[KW_ACCESSOR_BYTES];
	struct kw_store_token t = {0};
	char *b64 = NULL, *hex = NULL;
	int r;

	if (fixed_id == NULL) {
		if ((r = kw_random(rnd, sizeof(rnd))) != 0 ||
		    (r = kw_base64url_encode(rnd, sizeof(rnd), &b64)) != 0)
			goto out;
		snprintf(out_token, out_len, "%s%s", KEEPER_TOKEN_PREFIX, b64);
	} else if ((r = kw_strlcpy(out_token, fixed_id, out_len)) != 0) {
		goto out;
	}
	if ((r = kw_random(acc, sizeof(acc))) != 0 ||
	    (r = kw_hex_encode(acc, sizeof(acc), &hex)) != 0)
		goto out;
	if ((r = token_hash(out_token, t.hash)) != 0 ||
	    (r = kw_strlcpy(t.accessor, hex, sizeof(t.accessor))) != 0 ||
	    (r = kw_strlcpy(t.display_name, display_name, sizeof(t.display_name))) != 0)
		goto out;
	t.policies = (char *)policies;
	t.created = kw_now();
	t.ttl = ttl;
	t.expires = ttl > 0 ? t.created + ttl : 0;
	if ((r = kw_store_token_put(k->store, &t)) != 0)
		goto out;
	r = record_copy(out_rec, &t);
out:
	kw_wipe(rnd, sizeof(rnd));
	if (b64 != NULL) {
		kw_wipe(b64, strlen(b64));
		free(b64);
	}
	free(hex);
	if (r != 0)
		kw_wipe(out_token, out_len);
	return r;
}

static bool policy_listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p != NULL && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

int keeper_identify(struct kreq *r)
{
	const char *token = kw_ipc_str_or(r->msg, KW_T_TOKEN, NULL);
	struct kw_store_token rec;
	struct keeper_identity *id = &r->id;
	int s;

	if (r->authed)
		return 0;
	if (token == NULL || *token == '\0')
		return kreq_fail(r, KW_ERR_AUTH, "missing client token");
	if (token_hash(token, id->token_hash) != 0)
		return kreq_fail(r, KW_ERR_CRYPTO, "cannot hash the token");
	if ((s = token_find(r->k, id->token_hash, &rec)) != 0)
		return kreq_fail(r, s == KW_ERR_STORE ? s : KW_ERR_AUTH,
		                 s == KW_ERR_STORE ? "the token store cannot be read"
		                                   : "permission denied: invalid or expired token");
	memcpy(id->method, "token", sizeof("token"));
	memcpy(id->accessor, rec.accessor, sizeof(id->accessor));
	memcpy(id->display_name, rec.display_name, sizeof(id->display_name));
	id->policies = rec.policies;
	rec.policies = NULL;
	id->created = rec.created;
	id->expires = rec.expires;
	id->ttl = rec.ttl;
	id->root = policy_listed(id->policies, "root");
	kw_store_token_cleanup(&rec);
	r->authed = true;
	return 0;
}

void keeper_identity_cleanup(struct keeper_identity *id)
{
	free(id->policies);
	id->policies = NULL;
}

static int put_token_info(struct kreq *r, const struct kw_store_token *t)
{
	struct kw_ipc_msg *rep = r->reply;
	char *list = kw_strdup(t->policies ? t->policies : ""), *save = NULL;
	int s = list ? 0 : KW_ERR_NOMEM;

	for (char *p = list ? strtok_r(list, ",", &save) : NULL; p && s == 0;
	     p = strtok_r(NULL, ",", &save))
		s = kw_ipc_put_str(rep, KW_T_POLICY, p);
	free(list);
	if (s == 0)
		s = kw_ipc_put_str(rep, KW_T_ACCESSOR, t->accessor);
	if (s == 0)
		s = kw_ipc_put_str(rep, KW_T_DISPLAY_NAME, t->display_name);
	if (s == 0)
		s = kw_ipc_put_u64(rep, KW_T_TTL, (uint64_t)t->ttl);
	if (s == 0)
		s = kw_ipc_put_u64(rep, KW_T_CREATED, (uint64_t)t->created);
	if (s == 0)
		s = kw_ipc_put_u64(rep, KW_T_EXPIRES, (uint64_t)t->expires);
	return s ? kreq_fail(r, KW_ERR_LIMIT, "reply too large") : 0;
}

/* Append name to a comma-separated list kept NUL-terminated in b, once. */
static int list_add(struct kw_buf *b, const char *name)
{
	if (policy_listed((const char *)b->data, name))
		return 0;
	if ((b->len && kw_buf_append_u8(b, ',') != 0) || kw_buf_append_str(b, name) != 0 ||
	    kw_buf_append_u8(b, 0) != 0)
		return KW_ERR_NOMEM;
	b->len--;
	return 0;
}

/* The new token's policies: requested (or the caller's), each one the
 * caller holds unless it is root, plus "default" unless refused. */
static int child_policies(struct kreq *r, struct kw_buf *out)
{
	const struct kw_ipc_field *f;
	size_t pos = 0;
	bool any = false;
	char *inherit, *save = NULL;
	int s = 0;

	while ((f = kw_ipc_next(r->msg, KW_T_POLICY, &pos)) != NULL) {
		const char *p = (const char *)f->val;
		if (*p == '\0' || strchr(p, ',') != NULL)
			return kreq_fail(r, KW_ERR_INVALID, "a policy name is malformed");
		if (!r->id.root && strcmp(p, "default") != 0 && !policy_listed(r->id.policies, p))
			return kreq_fail(r, KW_ERR_DENIED,
			                 "cannot grant policy '%.128s', which the calling token "
			                 "does not have",
			                 p);
		if (list_add(out, p) != 0)
			return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
		any = true;
	}
	if (!any) {
		if ((inherit = kw_strdup(r->id.policies)) == NULL)
			return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
		for (char *p = strtok_r(inherit, ",", &save); p && s == 0;
		     p = strtok_r(NULL, ",", &save))
			s = list_add(out, p);
		free(inherit);
	}
	if (s == 0 && !kw_ipc_u32_or(r->msg, KW_T_NO_DEFAULT_POLICY, 0) &&
	    !policy_listed((const char *)out->data, "root"))
		s = list_add(out, "default");
	return s ? kreq_fail(r, s, "out of memory") : 0;
}

int keeper_answer_token_create(struct kreq *r)
{
	struct kw_buf pol;
	struct kw_store_token rec;
	int64_t ttl = (int64_t)kw_ipc_u64_or(r->msg, KW_T_TTL, 0), now = kw_now();
	const char *dn = kw_ipc_str_or(r->msg, KW_T_DISPLAY_NAME, "");
	char display[KW_NAME_MAX + 1], token[128];
	int s;

	if ((s = keeper_authorize(r, "auth/token/create", CAP_UPDATE)) != 0)
		return s;
	kw_buf_init(&pol);
	if (kw_buf_reserve(&pol, 1) != 0) /* data is never NULL below */
		return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
	pol.data[0] = '\0';
	if ((s = child_policies(r, &pol)) != 0)
		goto out;
	if (ttl <= 0)
		ttl = KEEPER_TOKEN_TTL_DEFAULT;
	/* A child never outlives its parent. */
	if (r->id.expires != 0 && now + ttl > r->id.expires)
		ttl = r->id.expires - now;
	snprintf(display, sizeof(display), "token%s%.100s", *dn ? "-" : "", dn);
	if ((s = keeper_token_issue(r->k, NULL, display, (const char *)pol.data, ttl, token,
	                            sizeof(token), &rec)) != 0) {
		s = kreq_fail(r, s, "cannot store the new token");
		goto out;
	}
	if ((s = put_token_info(r, &rec)) == 0 && kw_ipc_put_str(r->reply, KW_T_TOKEN, token) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	kw_info("req=%s: token %s created by %s", r->req_id, rec.accessor, r->id.accessor);
	kw_store_token_cleanup(&rec);
	kw_wipe(token, sizeof(token));
out:
	kw_buf_cleanup(&pol);
	return s;
}

/* The caller's own token needs no policy to be looked up or revoked. */
int keeper_answer_token_lookup_self(struct kreq *r)
{
	struct kw_store_token t = {0};
	int s;

	if ((s = keeper_identify(r)) != 0)
		return s;
	memcpy(t.accessor, r->id.accessor, sizeof(t.accessor));
	memcpy(t.display_name, r->id.display_name, sizeof(t.display_name));
	t.policies = r->id.policies;
	t.created = r->id.created;
	t.expires = r->id.expires;
	t.ttl = r->id.ttl;
	return put_token_info(r, &t);
}

static int token_remove(struct kreq *r, const uint8_t *hash)
{
	int s = kw_store_token_delete(r->k->store, hash);

	cache_drop(r->k, hash);
	if (s != 0 && s != KW_ERR_NOT_FOUND)
		return kreq_fail(r, s, "cannot revoke the token");
	return 0;
}

int keeper_answer_token_revoke_self(struct kreq *r)
{
	int s;

	if ((s = keeper_identify(r)) != 0)
		return s;
	kw_info("req=%s: token %s revoked itself", r->req_id, r->id.accessor);
	return token_remove(r, r->id.token_hash);
}

/* The stored record of TARGET_TOKEN or ACCESSOR. */
static int target_find(struct kreq *r, struct kw_store_token *out)
{
	const char *tok = kw_ipc_str_or(r->msg, KW_T_TARGET_TOKEN, NULL);
	const char *acc = kw_ipc_str_or(r->msg, KW_T_ACCESSOR, NULL);
	uint8_t hash[KW_TOKEN_HASH_BYTES];
	int s;

	if (tok != NULL) {
		if (token_hash(tok, hash) != 0)
			return kreq_fail(r, KW_ERR_CRYPTO, "cannot hash the token");
		s = token_find(r->k, hash, out);
	} else if (acc != NULL) {
		s = kw_store_token_get_by_accessor(r->k->store, acc, out);
	} else {
		return kreq_fail(r, KW_ERR_INVALID, "a token or an accessor is required");
	}
	if (s != 0)
		return kreq_fail(r, s == KW_ERR_STORE ? s : KW_ERR_NOT_FOUND,
		                 "no such token (it may have expired)");
	return 0;
}

int keeper_answer_token_revoke(struct kreq *r)
{
	struct kw_store_token t;
	int s;

	if ((s = keeper_authorize(r, "auth/token/revoke", CAP_UPDATE)) != 0)
		return s;
	if ((s = target_find(r, &t)) != 0) {
		if (s != KW_ERR_NOT_FOUND)
			return s;
		/* Revoking a token that is gone already is not an error (Vault). */
		kw_ipc_msg_cleanup(r->reply);
		kw_ipc_reply_init(r->reply, r->msg, 0);
		return 0;
	}
	s = token_remove(r, t.hash);
	if (s == 0)
		kw_info("req=%s: token %s revoked by %s", r->req_id, t.accessor, r->id.accessor);
	kw_store_token_cleanup(&t);
	return s;
}

int keeper_answer_token_lookup(struct kreq *r)
{
	struct kw_store_token t;
	int s;

	if ((s = keeper_authorize(r, "auth/token/lookup", CAP_UPDATE)) != 0 ||
	    (s = target_find(r, &t)) != 0)
		return s;
	s = put_token_info(r, &t);
	kw_store_token_cleanup(&t);
	return s;
}
