/*
 * keys.c: key objects — creation, the wrapped form in the store, the cache
 * of unwrapped versions, and the lifecycle messages (create, read, list,
 * delete, config, rotate, export).
 *
 * A version's plaintext, before wrapping: u8 format | u16 len | private key
 * (kw_key_encode) | u16 len | HMAC key. Its associated data binds the blob to
 * the key's name, type, version and exportable flag, so a row copied to
 * another key, edited, or flipped to exportable in the store fails to unwrap.
 * A key with a PKCS#11 CKA_ID (set at creation, never changed) has it bound
 * too, as u8 length | bytes after the flag: editing the id column makes the
 * key fail its integrity check. Keys without one keep the original layout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper_int.h"

#define VERSION_FORMAT     1
#define VERSION_AAD_PREFIX "keyward/key-version/1"

uint32_t keeper_hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int version_aad(const struct kw_store_key *m, uint32_t version, struct kw_buf *aad)
{
	const char *tname = kw_key_type_name((enum kw_key_type)m->type);

	if (tname == NULL)
		return KW_ERR_INTEGRITY;
	if (kw_buf_append(aad, VERSION_AAD_PREFIX, sizeof(VERSION_AAD_PREFIX)) != 0 ||
	    kw_buf_append(aad, m->name, strlen(m->name) + 1) != 0 ||
	    kw_buf_append(aad, tname, strlen(tname) + 1) != 0 ||
	    kw_buf_append_u32(aad, version) != 0 || kw_buf_append_u8(aad, m->exportable) != 0)
		return KW_ERR_NOMEM;
	if (m->pkcs11_id_len > sizeof(m->pkcs11_id))
		return KW_ERR_INTEGRITY;
	if (m->pkcs11_id_len > 0 && (kw_buf_append_u8(aad, (uint8_t)m->pkcs11_id_len) != 0 ||
	                             kw_buf_append(aad, m->pkcs11_id, m->pkcs11_id_len) != 0))
		return KW_ERR_NOMEM;
	return 0;
}

static void version_cleanup(struct keeper_version *v)
{
	kw_key_free(v->key);
	kw_secure_free(v->hmac_key, KEEPER_VERSION_HMAC_BYTES);
	free(v->public_text);
	memset(v, 0, sizeof(*v));
}

static void key_free(struct keeper_key *kk)
{
	if (kk == NULL)
		return;
	for (size_t i = 0; i < kk->nversions; i++)
		version_cleanup(&kk->versions[i]);
	free(kk->versions);
	free(kk);
}

/* A fresh version: new key material and HMAC key. No lock needed. */
static int version_generate(enum kw_key_type t, size_t key_size, uint32_t version,
                            struct keeper_version *v)
{
	int r;

	memset(v, 0, sizeof(*v));
	v->version = version;
	v->created = kw_now();
	if ((r = kw_key_generate(t, key_size, &v->key)) != 0)
		return r;
	v->hmac_key = kw_secure_alloc(KEEPER_VERSION_HMAC_BYTES);
	if (v->hmac_key == NULL) {
		version_cleanup(v);
		return KW_ERR_NOMEM;
	}
	if ((r = kw_random(v->hmac_key, KEEPER_VERSION_HMAC_BYTES)) != 0 ||
	    (kw_key_type_is_asymmetric(t) &&
	     (r = kw_key_public_text(v->key, &v->public_text)) != 0)) {
		version_cleanup(v);
		return r;
	}
	return 0;
}

/* Wrap v under the root key for the store. */
static int version_seal(struct keeper *k, const struct kw_store_key *m,
                        const struct keeper_version *v, struct kw_store_version *out)
{
	struct kw_buf pt, aad;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int r;

	kw_buf_init(&pt);
	kw_buf_init(&aad);
	if ((r = kw_key_encode(v->key, &der, &der_len)) != 0)
		goto out;
	r = KW_ERR_NOMEM;
	if (der_len > UINT16_MAX || kw_buf_append_u8(&pt, VERSION_FORMAT) != 0 ||
	    kw_buf_append_u16(&pt, (uint16_t)der_len) != 0 ||
	    kw_buf_append(&pt, der, der_len) != 0 ||
	    kw_buf_append_u16(&pt, KEEPER_VERSION_HMAC_BYTES) != 0 ||
	    kw_buf_append(&pt, v->hmac_key, KEEPER_VERSION_HMAC_BYTES) != 0)
		goto out;
	if ((r = version_aad(m, v->version, &aad)) != 0)
		goto out;
	out->version = v->version;
	out->created = v->created;
	r = kw_wrap(k->root_key, aad.data, aad.len, pt.data, pt.len, &out->wrapped,
	            &out->wrapped_len);
out:
	kw_secure_free(der, der_len);
	kw_buf_cleanup(&pt);
	kw_buf_cleanup(&aad);
	return r;
}

static int version_parse(enum kw_key_type t, const uint8_t *p, size_t len, struct keeper_version *v)
{
	size_t klen, hlen;
	int r;

	if (len < 3 || p[0] != VERSION_FORMAT)
		return KW_ERR_INTEGRITY;
	klen = kw_load_u16(p + 1);
	if (len < 3 + klen + 2)
		return KW_ERR_INTEGRITY;
	hlen = kw_load_u16(p + 3 + klen);
	if (hlen != KEEPER_VERSION_HMAC_BYTES || len != 3 + klen + 2 + hlen)
		return KW_ERR_INTEGRITY;
	if ((r = kw_key_decode(t, p + 3, klen, &v->key)) != 0)
		return KW_ERR_INTEGRITY;
	v->hmac_key = kw_secure_alloc(hlen);
	if (v->hmac_key == NULL)
		return KW_ERR_NOMEM;
	memcpy(v->hmac_key, p + 5 + klen, hlen);
	if (kw_key_type_is_asymmetric(t) && (r = kw_key_public_text(v->key, &v->public_text)) != 0)
		return r;
	return 0;
}

static int version_unseal(struct keeper *k, const struct kw_store_key *m,
                          const struct kw_store_version *sv, struct keeper_version *v)
{
	struct kw_buf aad;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	int r;

	memset(v, 0, sizeof(*v));
	v->version = sv->version;
	v->created = sv->created;
	kw_buf_init(&aad);
	if ((r = version_aad(m, sv->version, &aad)) == 0)
		r = kw_unwrap(k->root_key, aad.data, aad.len, sv->wrapped, sv->wrapped_len, &pt,
		              &pt_len);
	if (r == 0)
		r = version_parse((enum kw_key_type)m->type, pt, pt_len, v);
	if (r != 0)
		version_cleanup(v);
	kw_secure_free(pt, pt_len);
	kw_buf_cleanup(&aad);
	return r;
}

/* Read a key from the store and unwrap every version. */
static int key_load(struct keeper *k, const char *name, struct keeper_key **out)
{
	struct keeper_key *kk = calloc(1, sizeof(*kk));
	struct kw_store_version *vs = NULL;
	size_t n = 0;
	int r;

	if (kk == NULL)
		return KW_ERR_NOMEM;
	if ((r = kw_store_key_load(k->store, name, &kk->meta)) != 0 ||
	    (r = kw_store_key_versions(k->store, name, &vs, &n)) != 0)
		goto out;
	r = KW_ERR_INTEGRITY;
	if (n == 0 || n != kk->meta.latest_version - kk->meta.min_available_version + 1)
		goto out;
	kk->versions = calloc(n, sizeof(*kk->versions));
	if (kk->versions == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (vs[i].version != kk->meta.min_available_version + i)
			goto out;
		if ((r = version_unseal(k, &kk->meta, &vs[i], &kk->versions[i])) != 0)
			goto out;
		kk->nversions++;
	}
	*out = kk;
	kk = NULL;
	r = 0;
out:
	kw_store_versions_free(vs, n);
	key_free(kk);
	return r;
}

static struct keeper_key **cache_slot(struct keeper *k, const char *name)
{
	struct keeper_key **p = &k->keys[keeper_hash_str(name) % KEEPER_KEY_BUCKETS];

	while (*p != NULL && strcmp((*p)->meta.name, name) != 0)
		p = &(*p)->next;
	return p;
}

static struct keeper_key *cache_find(struct keeper *k, const char *name)
{
	struct keeper_key *kk;

	pthread_mutex_lock(&k->cache_mu);
	kk = *cache_slot(k, name);
	pthread_mutex_unlock(&k->cache_mu);
	return kk;
}

/* Insert kk unless another thread got there first; returns the cached one. */
static struct keeper_key *cache_insert(struct keeper *k, struct keeper_key *kk)
{
	struct keeper_key **p, *have;

	pthread_mutex_lock(&k->cache_mu);
	p = cache_slot(k, kk->meta.name);
	have = *p;
	if (have == NULL) {
		kk->next = NULL;
		*p = kk;
		have = kk;
	}
	pthread_mutex_unlock(&k->cache_mu);
	if (have != kk)
		key_free(kk);
	return have;
}

/* Write lock held: no reader can be using it. */
static void cache_remove(struct keeper *k, const char *name)
{
	struct keeper_key **p, *kk;

	pthread_mutex_lock(&k->cache_mu);
	p = cache_slot(k, name);
	kk = *p;
	if (kk != NULL)
		*p = kk->next;
	pthread_mutex_unlock(&k->cache_mu);
	key_free(kk);
}

void keeper_keys_purge(struct keeper *k)
{
	pthread_mutex_lock(&k->cache_mu);
	for (size_t i = 0; i < KEEPER_KEY_BUCKETS; i++) {
		while (k->keys[i] != NULL) {
			struct keeper_key *kk = k->keys[i];
			k->keys[i] = kk->next;
			key_free(kk);
		}
	}
	pthread_mutex_unlock(&k->cache_mu);
}

int keeper_key_get_named(struct kreq *r, const char *name, struct keeper_key **out)
{
	struct keeper_key *kk;
	int s;

	if ((kk = cache_find(r->k, name)) == NULL) {
		if ((s = key_load(r->k, name, &kk)) != 0) {
			if (s == KW_ERR_NOT_FOUND)
				return kreq_fail(r, s, "key '%s' not found", name);
			if (s == KW_ERR_INTEGRITY)
				kw_error("req=%s: key '%s' failed its integrity check", r->req_id,
				         name);
			return kreq_fail(r, s, "key '%s' cannot be loaded: %s", name,
			                 kw_err_str(s));
		}
		kk = cache_insert(r->k, kk);
	}
	*out = kk;
	return 0;
}

int keeper_key_get(struct kreq *r, struct keeper_key **out)
{
	int s;

	if ((s = kreq_need_name(r)) != 0)
		return s;
	return keeper_key_get_named(r, r->name, out);
}

const struct keeper_version *keeper_key_version(const struct keeper_key *kk, uint32_t v)
{
	if (v < kk->meta.min_available_version || v > kk->meta.latest_version)
		return NULL;
	return &kk->versions[v - kk->meta.min_available_version];
}

int keeper_put_key_info(struct kreq *r, const struct keeper_key *kk)
{
	const struct kw_store_key *m = &kk->meta;
	struct kw_ipc_msg *rep = r->reply;

	if (kw_ipc_put_str(rep, KW_T_NAME, m->name) != 0 ||
	    kw_ipc_put_str(rep, KW_T_KEY_TYPE, kw_key_type_name((enum kw_key_type)m->type)) != 0 ||
	    kw_ipc_put_u32(rep, KW_T_LATEST_VERSION, m->latest_version) != 0 ||
	    kw_ipc_put_u32(rep, KW_T_MIN_DECRYPTION_VERSION, m->min_decryption_version) != 0 ||
	    kw_ipc_put_u32(rep, KW_T_MIN_ENCRYPTION_VERSION, m->min_encryption_version) != 0 ||
	    kw_ipc_put_u32(rep, KW_T_MIN_AVAILABLE_VERSION, m->min_available_version) != 0 ||
	    kw_ipc_put_u32(rep, KW_T_EXPORTABLE, m->exportable) != 0 ||
	    kw_ipc_put_u32(rep, KW_T_DELETION_ALLOWED, m->deletion_allowed) != 0 ||
	    kw_ipc_put_u32(rep, KW_T_ALLOW_PLAINTEXT_BACKUP, m->allow_plaintext_backup) != 0 ||
	    kw_ipc_put_u64(rep, KW_T_AUTO_ROTATE_PERIOD, (uint64_t)m->auto_rotate_period) != 0 ||
	    kw_ipc_put_u64(rep, KW_T_CREATED, (uint64_t)m->created) != 0 ||
	    (m->pkcs11_id_len > 0 &&
	     kw_ipc_put(rep, KW_T_PKCS11_ID, m->pkcs11_id, m->pkcs11_id_len) != 0))
		return kreq_fail(r, KW_ERR_NOMEM, "reply too large");
	for (size_t i = 0; i < kk->nversions; i++) {
		const struct keeper_version *v = &kk->versions[i];
		const char *pub = v->public_text ? v->public_text : "";
		struct kw_buf b;
		int s;

		kw_buf_init(&b);
		s = kw_buf_append_u32(&b, v->version);
		if (s == 0)
			s = kw_buf_append_u64(&b, (uint64_t)v->created);
		if (s == 0)
			s = kw_buf_append_str(&b, pub);
		if (s == 0)
			s = kw_ipc_put(rep, KW_T_VERSION_INFO, b.data, b.len);
		kw_buf_cleanup(&b);
		if (s != 0)
			return kreq_fail(r, KW_ERR_NOMEM, "reply too large");
	}
	return 0;
}

/* The canonical policy path "transit/keys/<name><suffix>". */
static int key_path(struct kreq *r, const char *suffix, char *path, size_t len)
{
	int s = kreq_need_name(r);

	if (s == 0)
		snprintf(path, len, "transit/keys/%s%s", r->name, suffix);
	return s;
}

int keeper_pkcs11_id_param(struct kreq *r, struct kw_store_key *m)
{
	const uint8_t *id;
	size_t n;

	m->pkcs11_id_len = 0;
	if (kw_ipc_get_bytes(r->msg, KW_T_PKCS11_ID, &id, &n) != 0)
		return 0;
	if (n > sizeof(m->pkcs11_id))
		return kreq_fail(r, KW_ERR_INVALID, "pkcs11_id is at most %zu bytes",
		                 sizeof(m->pkcs11_id));
	memcpy(m->pkcs11_id, id, n);
	m->pkcs11_id_len = n;
	return 0;
}

/* Create parameters from the request, validated before any work. */
static int create_params(struct kreq *r, struct kw_store_key *m, size_t *key_size)
{
	const char *tname = kw_ipc_str_or(r->msg, KW_T_KEY_TYPE, "aes256-gcm96");
	enum kw_key_type t;
	uint32_t ks = kw_ipc_u32_or(r->msg, KW_T_KEY_SIZE, 0);
	int s;

	if (kw_key_type_from_name(tname, &t) != 0)
		return kreq_fail(r, KW_ERR_UNSUPPORTED, "unknown key type '%.40s'", tname);
	if (ks != 0 && t != KW_KEY_HMAC)
		return kreq_fail(r, KW_ERR_INVALID, "key_size applies only to hmac keys");
	if (ks != 0 && (ks < KW_HMAC_KEY_MIN_BYTES || ks > KW_HMAC_KEY_MAX_BYTES))
		return kreq_fail(r, KW_ERR_INVALID, "key_size must be %d to %d bytes",
		                 KW_HMAC_KEY_MIN_BYTES, KW_HMAC_KEY_MAX_BYTES);
	memset(m, 0, sizeof(*m));
	if (kw_strlcpy(m->name, r->name, sizeof(m->name)) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "key name too long");
	m->type = (int)t;
	m->latest_version = 1;
	m->min_decryption_version = 1;
	m->min_available_version = 1;
	m->exportable = kw_ipc_u32_or(r->msg, KW_T_EXPORTABLE, 0) != 0;
	m->allow_plaintext_backup = kw_ipc_u32_or(r->msg, KW_T_ALLOW_PLAINTEXT_BACKUP, 0) != 0;
	m->auto_rotate_period = (int64_t)kw_ipc_u64_or(r->msg, KW_T_AUTO_ROTATE_PERIOD, 0);
	m->created = kw_now();
	if ((s = keeper_pkcs11_id_param(r, m)) != 0)
		return s;
	*key_size = ks;
	return 0;
}

/* Create when absent; an existing key of the same type is left as it is
 * (Vault's behaviour, so "create" is idempotent for deploy scripts). */
static int key_create_locked(struct kreq *r, struct kw_store_key *m, struct keeper_version *v)
{
	struct keeper *k = r->k;
	struct kw_store_key have;
	struct kw_store_version sv = {0};
	struct keeper_key *kk;
	int s;

	if ((s = keeper_check_unsealed(r)) != 0)
		return s;
	if ((s = kw_store_key_load(k->store, m->name, &have)) == 0) {
		if (have.type != m->type)
			return kreq_fail(r, KW_ERR_EXISTS, "key '%s' already exists with type %s",
			                 m->name, kw_key_type_name((enum kw_key_type)have.type));
		return 0;
	}
	if (s != KW_ERR_NOT_FOUND)
		return kreq_fail(r, s, "the store cannot be read");
	if ((s = version_seal(k, m, v, &sv)) != 0)
		return kreq_fail(r, s, "cannot wrap the new key");
	s = kw_store_key_create(k->store, m, &sv);
	free(sv.wrapped);
	if (s != 0)
		return kreq_fail(r, s, "cannot store key '%s'", m->name);
	kk = calloc(1, sizeof(*kk));
	if (kk != NULL && (kk->versions = calloc(1, sizeof(*kk->versions))) != NULL) {
		kk->meta = *m;
		kk->versions[0] = *v;
		kk->nversions = 1;
		memset(v, 0, sizeof(*v));
		cache_insert(k, kk);
	} else {
		free(kk); /* not cached: loaded from the store on first use */
	}
	kw_info("req=%s: key '%s' (%s) created", r->req_id, m->name,
	        kw_key_type_name((enum kw_key_type)m->type));
	return 0;
}

int keeper_key_adopt(struct kreq *r, struct kw_store_key *m, struct kw_key **key)
{
	struct keeper_version v = {0};
	struct kw_store_key have;
	struct keeper_key *kk;
	enum kw_key_type t = (enum kw_key_type)m->type;
	int s;

	if ((s = kw_store_key_load(r->k->store, m->name, &have)) != KW_ERR_NOT_FOUND)
		return s == 0 ? kreq_fail(r, KW_ERR_EXISTS, "key '%s' already exists", m->name)
		              : kreq_fail(r, s, "the store cannot be read");
	v.version = 1;
	v.created = kw_now();
	v.key = *key;
	*key = NULL;
	s = KW_ERR_NOMEM;
	if ((v.hmac_key = kw_secure_alloc(KEEPER_VERSION_HMAC_BYTES)) == NULL ||
	    (s = kw_random(v.hmac_key, KEEPER_VERSION_HMAC_BYTES)) != 0 ||
	    (kw_key_type_is_asymmetric(t) &&
	     (s = kw_key_public_text(v.key, &v.public_text)) != 0)) {
		version_cleanup(&v);
		return kreq_fail(r, s, "cannot prepare key '%s'", m->name);
	}
	s = key_create_locked(r, m, &v);
	version_cleanup(&v);
	if (s == 0 && (s = keeper_key_get_named(r, m->name, &kk)) == 0)
		s = keeper_put_key_info(r, kk);
	return s;
}

int keeper_answer_key_create(struct kreq *r)
{
	struct keeper *k = r->k;
	struct kw_store_key m, have;
	struct keeper_version v = {0};
	struct keeper_key *kk;
	char path[KW_NAME_MAX + 32];
	size_t key_size = 0;
	int s;

	if ((s = key_path(r, "", path, sizeof(path))) != 0)
		return s;
	pthread_rwlock_rdlock(&k->lock);
	s = keeper_check_unsealed(r);
	if (s == 0) {
		bool exists = kw_store_key_load(k->store, r->name, &have) == 0;
		s = keeper_authorize(r, path, exists ? CAP_UPDATE : CAP_CREATE);
	}
	pthread_rwlock_unlock(&k->lock);
	if (s != 0 || (s = create_params(r, &m, &key_size)) != 0)
		return s;
	/* Generation (seconds for RSA-4096) runs without the lock. */
	if ((s = version_generate((enum kw_key_type)m.type, key_size, 1, &v)) != 0)
		return kreq_fail(r, s, "key generation failed");
	pthread_rwlock_wrlock(&k->lock);
	s = key_create_locked(r, &m, &v);
	if (s == 0 && (s = keeper_key_get(r, &kk)) == 0)
		s = keeper_put_key_info(r, kk);
	pthread_rwlock_unlock(&k->lock);
	version_cleanup(&v);
	return s;
}

int keeper_answer_key_read(struct kreq *r)
{
	struct keeper_key *kk;
	char path[KW_NAME_MAX + 32];
	int s;

	if ((s = key_path(r, "", path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_READ)) != 0 || (s = keeper_key_get(r, &kk)) != 0)
		return s;
	return keeper_put_key_info(r, kk);
}

int keeper_answer_key_list(struct kreq *r)
{
	char **names = NULL;
	size_t n = 0;
	int s;

	if ((s = keeper_authorize(r, "transit/keys", CAP_LIST)) != 0)
		return s;
	if ((s = kw_store_key_list(r->k->store, &names, &n)) != 0)
		return kreq_fail(r, s, "the store cannot be read");
	for (size_t i = 0; i < n && s == 0; i++)
		s = kw_ipc_put_str(r->reply, KW_T_NAME, names[i]);
	kw_store_names_free(names, n);
	return s ? kreq_fail(r, s, "too many keys for one reply") : 0;
}

int keeper_answer_key_delete(struct kreq *r)
{
	struct kw_store_key m;
	char path[KW_NAME_MAX + 32];
	int s;

	if ((s = key_path(r, "", path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_DELETE)) != 0)
		return s;
	if ((s = kw_store_key_load(r->k->store, r->name, &m)) != 0)
		return kreq_fail(
		    r, s, s == KW_ERR_NOT_FOUND ? "key '%s' not found" : "key '%s' cannot be read",
		    r->name);
	if (!m.deletion_allowed)
		return kreq_fail(r, KW_ERR_DELETE_DENIED,
		                 "deletion is not allowed for key '%s'; set deletion_allowed "
		                 "with keys/%s/config first",
		                 r->name, r->name);
	if ((s = kw_store_key_delete(r->k->store, r->name)) != 0)
		return kreq_fail(r, s, "cannot delete key '%s'", r->name);
	cache_remove(r->k, r->name);
	kw_info("req=%s: key '%s' deleted", r->req_id, r->name);
	return 0;
}

/* Apply the config fields present in the request to m; 0 or a failure. */
static int config_apply(struct kreq *r, const struct keeper_key *kk, struct kw_store_key *m)
{
	const struct kw_ipc_msg *q = r->msg;
	uint32_t v;

	if (kw_ipc_get_u32(q, KW_T_MIN_DECRYPTION_VERSION, &v) == 0) {
		if (v == 0)
			v = 1;
		if (v < m->min_available_version || v > m->latest_version)
			return kreq_fail(r, KW_ERR_INVALID,
			                 "min_decryption_version must be between %u and %u",
			                 m->min_available_version, m->latest_version);
		m->min_decryption_version = v;
	}
	if (kw_ipc_get_u32(q, KW_T_MIN_ENCRYPTION_VERSION, &v) == 0) {
		if (v != 0 && (v < m->min_decryption_version || v > m->latest_version))
			return kreq_fail(r, KW_ERR_INVALID,
			                 "min_encryption_version must be 0 (latest) or between "
			                 "min_decryption_version and the latest version");
		m->min_encryption_version = v;
	}
	if (m->min_encryption_version != 0 && m->min_encryption_version < m->min_decryption_version)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "min_encryption_version cannot be below min_decryption_version");
	if (kw_ipc_get_u32(q, KW_T_DELETION_ALLOWED, &v) == 0)
		m->deletion_allowed = v != 0;
	if (kw_ipc_get_u32(q, KW_T_EXPORTABLE, &v) == 0) {
		/* Non-extractable is forever: the flag may only be cleared. */
		if (v && !kk->meta.exportable)
			return kreq_fail(r, KW_ERR_NOT_EXPORTABLE,
			                 "key '%s' was created non-exportable; that cannot be "
			                 "changed",
			                 m->name);
		m->exportable = v != 0;
	}
	if (kw_ipc_get_u32(q, KW_T_ALLOW_PLAINTEXT_BACKUP, &v) == 0) {
		if (v && !kk->meta.allow_plaintext_backup)
			return kreq_fail(r, KW_ERR_INVALID,
			                 "allow_plaintext_backup can only be turned off");
		m->allow_plaintext_backup = v != 0;
	}
	m->auto_rotate_period =
	    (int64_t)kw_ipc_u64_or(q, KW_T_AUTO_ROTATE_PERIOD, (uint64_t)m->auto_rotate_period);
	return 0;
}

/* exportable went from true to false: every version's associated data
 * changes, so wrap them all again and store them with the metadata. */
static int config_rewrap(struct kreq *r, struct keeper_key *kk, const struct kw_store_key *m)
{
	struct kw_store_version *vs = calloc(kk->nversions, sizeof(*vs));
	size_t n = 0;
	int s = vs ? 0 : KW_ERR_NOMEM;

	for (; s == 0 && n < kk->nversions; n++)
		s = version_seal(r->k, m, &kk->versions[n], &vs[n]);
	if (s == 0)
		s = kw_store_key_rewrap(r->k->store, m, vs, kk->nversions);
	for (size_t i = 0; vs != NULL && i < n; i++)
		free(vs[i].wrapped);
	free(vs);
	return s;
}

int keeper_answer_key_config(struct kreq *r)
{
	struct keeper_key *kk;
	struct kw_store_key m;
	char path[KW_NAME_MAX + 32];
	int s;

	if ((s = key_path(r, "/config", path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_UPDATE)) != 0 || (s = keeper_key_get(r, &kk)) != 0)
		return s;
	m = kk->meta;
	if ((s = config_apply(r, kk, &m)) != 0)
		return s;
	if (m.exportable != kk->meta.exportable)
		s = config_rewrap(r, kk, &m);
	else
		s = kw_store_key_update(r->k->store, &m);
	if (s != 0)
		return kreq_fail(r, s, "cannot store the configuration of key '%s'", r->name);
	kk->meta = m; /* write lock held: no reader sees the change half-done */
	return keeper_put_key_info(r, kk);
}

static int rotate_locked(struct kreq *r, struct keeper_version *v, enum kw_key_type t)
{
	struct keeper_key *kk;
	struct keeper_version *grown;
	struct kw_store_key m;
	struct kw_store_version sv = {0};
	int s;

	if ((s = keeper_check_unsealed(r)) != 0 || (s = keeper_key_get(r, &kk)) != 0)
		return s;
	if (kk->meta.type != (int)t)
		return kreq_fail(r, KW_ERR_EXISTS, "key '%s' changed while rotating", r->name);
	m = kk->meta;
	m.latest_version++;
	v->version = m.latest_version;
	if ((s = version_seal(r->k, &m, v, &sv)) != 0)
		return kreq_fail(r, s, "cannot wrap the new version");
	s = kw_store_key_add_version(r->k->store, &m, &sv);
	free(sv.wrapped);
	if (s != 0)
		return kreq_fail(r, s, "cannot store the new version of key '%s'", r->name);
	grown = realloc(kk->versions, (kk->nversions + 1) * sizeof(*grown));
	if (grown == NULL) {
		cache_remove(r->k, r->name); /* reloaded from the store on next use */
	} else {
		kk->versions = grown;
		kk->versions[kk->nversions++] = *v;
		memset(v, 0, sizeof(*v));
		kk->meta = m;
	}
	kw_info("req=%s: key '%s' rotated to version %u", r->req_id, r->name, m.latest_version);
	if ((s = keeper_key_get(r, &kk)) != 0)
		return s;
	return keeper_put_key_info(r, kk);
}

int keeper_answer_key_rotate(struct kreq *r)
{
	struct keeper *k = r->k;
	struct keeper_version v = {0};
	struct keeper_key *kk;
	char path[KW_NAME_MAX + 32];
	enum kw_key_type t = KW_KEY_NONE;
	size_t key_size = 0;
	int s;

	if ((s = key_path(r, "/rotate", path, sizeof(path))) != 0)
		return s;
	pthread_rwlock_rdlock(&k->lock);
	if ((s = keeper_check_unsealed(r)) == 0 &&
	    (s = keeper_authorize(r, path, CAP_UPDATE)) == 0 && (s = keeper_key_get(r, &kk)) == 0) {
		const uint8_t *raw;
		t = (enum kw_key_type)kk->meta.type;
		if (t == KW_KEY_HMAC && kw_key_raw(kk->versions[0].key, &raw, &key_size) != 0)
			key_size = 0;
	}
	pthread_rwlock_unlock(&k->lock);
	if (s != 0)
		return s;
	if ((s = version_generate(t, key_size, 0, &v)) != 0)
		return kreq_fail(r, s, "key generation failed");
	pthread_rwlock_wrlock(&k->lock);
	s = rotate_locked(r, &v, t);
	pthread_rwlock_unlock(&k->lock);
	version_cleanup(&v);
	return s;
}

/* Which export types a key offers; public-key needs no exportable flag. */
static int export_check(struct kreq *r, const struct keeper_key *kk, const char *et)
{
	enum kw_key_type t = (enum kw_key_type)kk->meta.type;
	bool ok;

	if (strcmp(et, "public-key") == 0)
		ok = kw_key_type_is_asymmetric(t);
	else if (strcmp(et, "encryption-key") == 0)
		ok = kw_key_type_can_encrypt(t);
	else if (strcmp(et, "signing-key") == 0)
		ok = kw_key_type_can_sign(t);
	else if (strcmp(et, "hmac-key") == 0)
		ok = true;
	else
		return kreq_fail(r, KW_ERR_INVALID,
		                 "export type must be encryption-key, signing-key, hmac-key or "
		                 "public-key");
	if (!ok)
		return kreq_fail(r, KW_ERR_KEY_TYPE, "key '%s' of type %s has no %s", r->name,
		                 kw_key_type_name(t), et);
	if (strcmp(et, "public-key") != 0 && !kk->meta.exportable)
		return kreq_fail(r, KW_ERR_NOT_EXPORTABLE,
		                 "key '%s' is not exportable: its material never leaves keyward",
		                 r->name);
	return 0;
}

static int export_text(const struct keeper_version *v, enum kw_key_type t, const char *et,
                       char **text, size_t *len)
{
	if (strcmp(et, "public-key") == 0) {
		*text = kw_strdup(v->public_text);
		*len = *text ? strlen(*text) : 0;
		return *text ? 0 : KW_ERR_NOMEM;
	}
	if (strcmp(et, "hmac-key") == 0 && t != KW_KEY_HMAC) {
		int s = kw_base64_encode(v->hmac_key, KEEPER_VERSION_HMAC_BYTES, text);
		*len = s == 0 ? strlen(*text) : 0;
		return s;
	}
	return kw_key_export_text(v->key, text, len);
}

static int export_item(struct kreq *r, const struct keeper_version *v, enum kw_key_type t,
                       const char *et)
{
	char *text = NULL;
	size_t len = 0;
	struct kw_buf b;
	int s;
	bool secure =
	    strcmp(et, "public-key") != 0 && !(strcmp(et, "hmac-key") == 0 && t != KW_KEY_HMAC);

	if ((s = export_text(v, t, et, &text, &len)) != 0)
		return kreq_fail(r, s, "cannot export version %u", v->version);
	kw_buf_init(&b);
	if ((s = kw_buf_append_u32(&b, v->version)) == 0 && (s = kw_buf_append(&b, text, len)) == 0)
		s = kw_ipc_put(r->reply, KW_T_EXPORT_ITEM, b.data, b.len);
	kw_buf_cleanup(&b);
	if (secure) {
		kw_secure_free(text, len + 1);
	} else {
		kw_wipe(text, len);
		free(text);
	}
	return s ? kreq_fail(r, s, "reply too large") : 0;
}

int keeper_answer_key_export(struct kreq *r)
{
	const char *et = kw_ipc_str_or(r->msg, KW_T_EXPORT_TYPE, "");
	uint32_t want = kw_ipc_u32_or(r->msg, KW_T_VERSION, 0);
	struct keeper_key *kk;
	char path[2 * KW_NAME_MAX + 32];
	enum kw_key_type t;
	int s;

	if ((s = kreq_need_name(r)) != 0)
		return s;
	snprintf(path, sizeof(path), "transit/export/%.32s/%s", et, r->name);
	if ((s = keeper_authorize(r, path, CAP_READ)) != 0 || (s = keeper_key_get(r, &kk)) != 0 ||
	    (s = export_check(r, kk, et)) != 0)
		return s;
	t = (enum kw_key_type)kk->meta.type;
	if (kw_ipc_put_str(r->reply, KW_T_KEY_TYPE, kw_key_type_name(t)) != 0)
		return kreq_fail(r, KW_ERR_NOMEM, "reply too large");
	if (want != 0) {
		const struct keeper_version *v = keeper_key_version(kk, want);
		if (v == NULL)
			return kreq_fail(r, KW_ERR_VERSION, "key '%s' has no version %u", r->name,
			                 want);
		return export_item(r, v, t, et);
	}
	for (size_t i = 0; i < kk->nversions && s == 0; i++)
		s = export_item(r, &kk->versions[i], t, et);
	if (s == 0)
		kw_info("req=%s: key '%s' exported (%s)", r->req_id, r->name, et);
	return s;
}
