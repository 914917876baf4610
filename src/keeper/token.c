/*
 * token.c: keyward tokens. A token is "kws." followed by 256 random bits;
 * the store keeps only its SHA-256, so a copy of the database holds no
 * usable token. An accessor (random, public) names a token in logs and for
 * revocation without revealing it. Looked-up tokens are cached in memory
 * (the cache holds only the stored record, not the token).
 *
 * Identity resolution lives here too: a TOKEN always wins; without one the
 * front may vouch for a client certificate it verified (CALLER_MOUNT,
 * CALLER_ROLE, CALLER_ID: an implicit cert login, checked against the
 * mount and role here), or the listener's network identity applies, the
 * port and source address checked again against the keeper's own config.
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
	k->token_gen++;
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

void keeper_tokens_forget_mount(struct keeper *k, const char *mount)
{
	pthread_mutex_lock(&k->auth_lock);
	k->token_gen++;
	for (size_t i = 0; i < KEEPER_AUTH_BUCKETS; i++) {
		struct keeper_token **p = &k->tokens[i];

		while (*p != NULL) {
			struct keeper_token *t = *p;

			if (strcmp(t->t.mount, mount) != 0) {
				p = &t->next;
				continue;
			}
			*p = t->next;
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
	uint64_t gen;
	int r;

	pthread_mutex_lock(&k->auth_lock);
	t = *cache_slot(k, hash);
	r = t ? record_copy(out, &t->t) : KW_ERR_NOT_FOUND;
	gen = k->token_gen;
	pthread_mutex_unlock(&k->auth_lock);
	if (r == KW_ERR_NOT_FOUND) {
		if ((r = kw_store_token_get(k->store, hash, &rec)) != 0)
			return r;
		t = calloc(1, sizeof(*t));
		if (t != NULL && record_copy(&t->t, &rec) == 0) {
			pthread_mutex_lock(&k->auth_lock);
			struct keeper_token **p = cache_slot(k, hash);
			/* A revocation since our read may have deleted it. */
			if (*p == NULL && gen == k->token_gen) {
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

static int token_store(struct keeper *k, const char *fixed_id, const struct keeper_token_spec *spec,
                       char *out_token, size_t out_len, struct kw_store_token *out_rec)
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
	    (r = kw_strlcpy(t.display_name, spec->display_name, sizeof(t.display_name))) != 0 ||
	    (r = kw_strlcpy(t.mount, spec->mount ? spec->mount : "", sizeof(t.mount))) != 0)
		goto out;
	t.policies = (char *)spec->policies;
	t.meta = (char *)spec->meta;
	t.created = kw_now();
	t.ttl = spec->ttl;
	t.expires = spec->ttl > 0 ? t.created + spec->ttl : 0;
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

int keeper_token_issue(struct keeper *k, const char *fixed_id, const char *display_name,
                       const char *policies, int64_t ttl, char *out_token, size_t out_len,
                       struct kw_store_token *out_rec)
{
	struct keeper_token_spec spec = {display_name, policies, ttl, NULL, NULL};

	return token_store(k, fixed_id, &spec, out_token, out_len, out_rec);
}

int keeper_token_mint(struct keeper *k, const struct keeper_token_spec *spec, char *out_token,
                      size_t out_len, struct kw_store_token *out_rec)
{
	return token_store(k, NULL, spec, out_token, out_len, out_rec);
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

bool keeper_policy_listed(const char *list, const char *name)
{
	return policy_listed(list, name);
}

/* A login token acts as its mount's method ("kubernetes"...) with its
 * claims; a plain token, or a child of a login token, as "token". */
static int token_identity(struct kreq *r, const char *token)
{
	struct keeper_identity *id = &r->id;
	struct kw_store_token rec;
	int s;

	if (token_hash(token, id->token_hash) != 0)
		return kreq_fail(r, KW_ERR_CRYPTO, "cannot hash the token");
	if ((s = token_find(r->k, id->token_hash, &rec)) != 0)
		return kreq_fail(r, s == KW_ERR_STORE ? s : KW_ERR_AUTH,
		                 s == KW_ERR_STORE ? "the token store cannot be read"
		                                   : "permission denied: invalid or expired token");
	memcpy(id->method, "token", sizeof("token"));
	if (rec.mount[0] != '\0' && rec.meta != NULL &&
	    (s = keeper_auth_mount_type(r->k, rec.mount, id->method, sizeof(id->method))) != 0) {
		/* Its mount is gone: the token was revoked with it. */
		kw_store_token_cleanup(&rec);
		return kreq_fail(r, s == KW_ERR_STORE ? s : KW_ERR_AUTH,
		                 s == KW_ERR_STORE ? "the auth mounts cannot be read"
		                                   : "permission denied: invalid or expired token");
	}
	memcpy(id->accessor, rec.accessor, sizeof(id->accessor));
	memcpy(id->display_name, rec.display_name, sizeof(id->display_name));
	memcpy(id->mount, rec.mount, sizeof(id->mount));
	id->policies = rec.policies;
	id->claims = rec.meta;
	rec.policies = NULL;
	rec.meta = NULL;
	id->created = rec.created;
	id->expires = rec.expires;
	id->ttl = rec.ttl;
	id->root = policy_listed(id->policies, "root");
	id->has_token = true;
	kw_store_token_cleanup(&rec);
	return 0;
}

/* Names the refused caller in the audit entry; the reply says why. */
static int implicit_refuse(struct kreq *r, const char *caller, const char *why)
{
	snprintf(r->id.method, sizeof(r->id.method), "cert");
	snprintf(r->id.display_name, sizeof(r->id.display_name), "%s", caller);
	r->audit_subject = true;
	return kreq_fail(r, KW_ERR_AUTH, "permission denied: %s", why);
}

/*
 * The front verified a client certificate against a cert mount's entry and
 * sent no token. The front's word is trusted for who the caller is (it
 * checked the chain); the keeper still decides what that entry grants,
 * from its own mount and role, and refuses a credential already expired.
 */
static int implicit_identity(struct kreq *r)
{
	const char *mount = kw_ipc_str_or(r->msg, KW_T_CALLER_MOUNT, NULL);
	const char *role = kw_ipc_str_or(r->msg, KW_T_CALLER_ROLE, NULL);
	const char *caller = kw_ipc_str_or(r->msg, KW_T_CALLER_ID, NULL);
	uint64_t expires = kw_ipc_u64_or(r->msg, KW_T_CALLER_EXPIRES, 0);
	struct keeper_identity *id = &r->id;
	struct keeper_grant g = {0};
	const char *why = NULL;
	char *claims = NULL;
	int s;

	if (mount == NULL || role == NULL || caller == NULL || !keeper_mount_name_ok(mount) ||
	    !keeper_caller_id_ok(caller) || strlen(role) == 0 || strlen(role) > KW_NAME_MAX)
		return kreq_fail(
		    r, KW_ERR_AUTH,
		    "permission denied: the caller's certificate identity is incomplete");
	if (kw_ipc_find(r->msg, KW_T_CALLER_EXPIRES) != NULL && expires <= (uint64_t)kw_now())
		return implicit_refuse(r, caller, "the client certificate has expired");
	if ((s = keeper_auth_grant(r->k, mount, role, &g)) != 0) {
		if (s != KW_ERR_NOT_FOUND)
			return kreq_fail(r, s, "the auth mounts cannot be read");
		return implicit_refuse(r, caller,
		                       g.missing && strcmp(g.missing, "mount") == 0
		                           ? "the certificate's auth mount does not exist"
		                           : "the certificate's role does not exist");
	}
	if (strcmp(g.type, "cert") != 0) {
		keeper_grant_cleanup(&g);
		return implicit_refuse(r, caller, "implicit login is only for cert mounts");
	}
	if ((s = keeper_caller_claims(r->msg, mount, role, "cert", &claims, &why)) != 0) {
		keeper_grant_cleanup(&g);
		return kreq_fail(r, s, "the caller's claims are unusable: %s", why);
	}
	memcpy(id->method, "cert", sizeof("cert"));
	snprintf(id->display_name, sizeof(id->display_name), "%s", caller);
	snprintf(id->mount, sizeof(id->mount), "%s", mount);
	id->policies = g.policies;
	g.policies = NULL;
	id->claims = claims;
	id->created = kw_now();
	id->expires = (int64_t)expires;
	keeper_grant_cleanup(&g);
	return 0;
}

/* The listener's identity, if this port has one and the source address is
 * in its ranges; checked here again so that a front bug cannot lend it to
 * another listener or address. 1 if found. */
static int network_identity(struct kreq *r)
{
	const struct kw_keeper_conf *c = r->k->conf;
	const char *addr = kw_ipc_str_or(r->msg, KW_T_REMOTE_ADDR, NULL);
	uint32_t port;

	if (addr == NULL || kw_ipc_get_u32(r->msg, KW_T_LISTENER_PORT, &port) != 0 || port == 0)
		return 0;
	for (size_t i = 0; i < c->n_net_ids && i < KW_NET_IDS_MAX; i++) {
		const struct kw_net_identity *n = &c->net_ids[i];

		if (n->port != port ||
		    !kw_cidr_match_any(n->allow,
		                       n->nallow < KW_NET_CIDRS_MAX ? n->nallow : KW_NET_CIDRS_MAX,
		                       addr))
			continue;
		if ((r->id.policies = kw_strdup(n->policies)) == NULL)
			return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
		memcpy(r->id.method, "network", sizeof("network"));
		snprintf(r->id.display_name, sizeof(r->id.display_name), "net:%s", n->name);
		r->id.created = kw_now();
		return 1;
	}
	return 0;
}

static bool has_caller_fields(const struct kw_ipc_msg *m)
{
	return kw_ipc_find(m, KW_T_CALLER_MOUNT) != NULL ||
	       kw_ipc_find(m, KW_T_CALLER_ROLE) != NULL || kw_ipc_find(m, KW_T_CALLER_ID) != NULL;
}

int keeper_identify(struct kreq *r)
{
	const char *token = kw_ipc_str_or(r->msg, KW_T_TOKEN, NULL);
	int s;

	if (r->authed)
		return 0;
	/* Only a token's own policies may name root; no other identity is
	 * ever root, whatever its configured policies say. */
	if (token != NULL && *token != '\0')
		s = token_identity(r, token);
	else if (has_caller_fields(r->msg))
		s = implicit_identity(r);
	else if ((s = network_identity(r)) == 1)
		s = 0;
	else if (s == 0)
		s = kreq_fail(r, KW_ERR_AUTH, "missing client token");
	if (s != 0)
		return s;
	r->authed = true;
	return 0;
}

void keeper_identity_cleanup(struct keeper_identity *id)
{
	free(id->policies);
	free(id->claims);
	id->policies = NULL;
	id->claims = NULL;
}

int keeper_put_token_info(struct kreq *r, const struct kw_store_token *t)
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
	/* A login token's metadata (Vault's "meta"): non-secret claims. */
	if (s == 0 && t->meta != NULL)
		s = kw_ipc_put_str(rep, KW_T_CALLER_META, t->meta);
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
	struct keeper_token_spec spec = {0};
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
	/* A child of a login token goes when the parent's mount is disabled. */
	spec.display_name = display;
	spec.policies = (const char *)pol.data;
	spec.ttl = ttl;
	spec.mount = r->id.mount[0] ? r->id.mount : NULL;
	if ((s = keeper_token_mint(r->k, &spec, token, sizeof(token), &rec)) != 0) {
		s = kreq_fail(r, s, "cannot store the new token");
		goto out;
	}
	if ((s = keeper_put_token_info(r, &rec)) == 0 &&
	    kw_ipc_put_str(r->reply, KW_T_TOKEN, token) != 0)
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
	if (!r->id.has_token)
		return kreq_fail(r, KW_ERR_AUTH, "missing client token");
	memcpy(t.accessor, r->id.accessor, sizeof(t.accessor));
	memcpy(t.display_name, r->id.display_name, sizeof(t.display_name));
	t.policies = r->id.policies;
	t.created = r->id.created;
	t.expires = r->id.expires;
	t.ttl = r->id.ttl;
	t.meta = r->id.claims;
	return keeper_put_token_info(r, &t);
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
	if (!r->id.has_token)
		return kreq_fail(r, KW_ERR_AUTH, "missing client token");
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
	s = keeper_put_token_info(r, &t);
	kw_store_token_cleanup(&t);
	return s;
}
