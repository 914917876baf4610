/*
 * auth_mount.c: auth mounts as Vault has them — sys/auth (list, read,
 * enable, disable), auth/<mount>/config and auth/<mount>/role|certs/<name>
 * (validated and normalised per method before the keeper stores them),
 * auth/<mount>/login (dispatched to the mount's method) — and the front's
 * cache of mounts that logins verify against.
 *
 * The cache: one entry per mount, filled by AUTH_LOAD (sent without the
 * caller's token: the front fills its own cache, the caller learns nothing
 * from it) and dropped whenever this front proxies a write to the mount. An
 * entry is immutable once cached and reference-counted, so connection threads
 * verify against it while a writer drops it; a load that raced with a drop
 * is used once and not cached (the generation counter), so a stale config
 * never outlives the write that replaced it.
 *
 * Secrets: login bodies carry bearer JWTs; they are read here only to hand
 * them to a method, never logged, never copied into an error or an IPC
 * field. A kubernetes mount's token_reviewer_jwt is stored by the keeper,
 * cached here and never returned by a GET.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "front_int.h"

#define MOUNTS_CACHED_MAX 64 /* mounts kept in the cache at once */
#define CERT_MOUNTS_MAX   32 /* cert mounts the front remembers */
#define TOKEN_MOUNT       "token"
#define META_TEXT_MAX     4096

/* ---- the test clock ---- */

static int64_t test_now;
static bool test_now_set;

static void test_now_init(void)
{
	const char *s = getenv(KW_AUTH_TEST_NOW_ENV);
	uint64_t v;

	if (s == NULL || s[0] == '\0')
		return;
	if (kw_uint_parse(s, 1, INT64_MAX / 2, &v) != 0) {
		kw_warn("%s is not unix seconds; ignored", KW_AUTH_TEST_NOW_ENV);
		return;
	}
	test_now = (int64_t)v;
	test_now_set = true;
	kw_warn("%s is set: TEST ONLY, logins are checked as of unix time %lld, not now",
	        KW_AUTH_TEST_NOW_ENV, (long long)test_now);
}

int64_t kw_auth_now(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, test_now_init);
	return test_now_set ? test_now : kw_now();
}

int64_t kw_auth_expires(int64_t exp)
{
	int64_t now = kw_auth_now();

	if (exp <= 0)
		return 0;
	/* Same remaining life on the keeper's clock; identical without the
	 * test clock. An ended credential stays ended (<= now). */
	return exp <= now ? kw_now() : kw_now() + (exp - now);
}

bool kw_auth_ended(int64_t exp)
{
	return exp > 0 && exp <= kw_auth_now();
}

/* ---- names and methods ---- */

bool kw_mount_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KW_MOUNT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static const struct kw_auth_method *const methods[] = {
    &kw_auth_method_k8s,
    &kw_auth_method_jwt,
    &kw_auth_method_cert,
};

const struct kw_auth_method *kw_auth_method_find(const char *type)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(methods); i++)
		if (strcmp(methods[i]->type, type) == 0)
			return methods[i];
	return NULL;
}

/* ---- the cache ---- */

static struct {
	pthread_mutex_t mu;
	struct kw_auth_mount *m[MOUNTS_CACHED_MAX];
	size_t n;
	uint64_t gen; /* bumped by every drop */
	char cert[CERT_MOUNTS_MAX][KW_MOUNT_MAX + 1];
	size_t ncert;
	bool cert_listed; /* cert[] came from the keeper; kept current since */
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void mount_free(struct kw_auth_mount *m)
{
	if (m == NULL)
		return;
	if (m->state != NULL && m->method != NULL && m->method->state_free != NULL)
		m->method->state_free(m->state);
	for (size_t i = 0; i < m->nroles; i++) {
		free(m->roles[i].name);
		json_decref(m->roles[i].json);
	}
	free(m->roles);
	json_decref(m->config); /* the wiping allocator clears a reviewer JWT */
	free(m);
}

void kw_auth_mount_put(struct kw_auth_mount *m)
{
	bool last;

	if (m == NULL)
		return;
	pthread_mutex_lock(&cache.mu);
	last = --m->refs == 0;
	pthread_mutex_unlock(&cache.mu);
	if (last)
		mount_free(m);
}

/* Under the lock: remember (or forget) a cert mount's name. */
static void cert_note_locked(const char *name, bool is_cert)
{
	for (size_t i = 0; i < cache.ncert; i++) {
		if (strcmp(cache.cert[i], name) != 0)
			continue;
		if (!is_cert) {
			memmove(cache.cert[i], cache.cert[i + 1],
			        (cache.ncert - i - 1) * sizeof(cache.cert[0]));
			cache.ncert--;
		}
		return;
	}
	if (is_cert && cache.ncert < CERT_MOUNTS_MAX)
		memcpy(cache.cert[cache.ncert++], name, strlen(name) + 1);
}

static void cert_note(const char *name, bool is_cert)
{
	pthread_mutex_lock(&cache.mu);
	cert_note_locked(name, is_cert);
	pthread_mutex_unlock(&cache.mu);
}

void kw_auth_mount_drop(const char *name)
{
	struct kw_auth_mount *gone = NULL;

	pthread_mutex_lock(&cache.mu);
	cache.gen++;
	for (size_t i = 0; i < cache.n; i++) {
		if (strcmp(cache.m[i]->name, name) != 0)
			continue;
		gone = cache.m[i];
		cache.m[i] = cache.m[--cache.n];
		if (--gone->refs != 0)
			gone = NULL;
		break;
	}
	pthread_mutex_unlock(&cache.mu);
	mount_free(gone);
}

static struct kw_auth_mount *cache_find_locked(const char *name)
{
	for (size_t i = 0; i < cache.n; i++)
		if (strcmp(cache.m[i]->name, name) == 0)
			return cache.m[i];
	return NULL;
}

/* A message for the front's own business with the keeper: no caller token
 * (AUTH_LOAD, AUTH_LOGIN and AUTH_LOGIN_FAILED carry none by contract). */
static int own_msg(struct kw_req *r, struct kw_ipc_msg *m, uint16_t type)
{
	int err;

	kw_ipc_msg_init(m, type);
	if ((err = kw_ipc_put_str(m, KW_T_REQ_ID, r->id)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_REMOTE_ADDR, r->remote)) != 0)
		return err;
	return kw_ipc_put_u32(m, KW_T_LISTENER_PORT, r->port);
}

static int json_text_parse(const uint8_t *p, size_t len, json_t **out)
{
	json_t *j;

	/* STR fields carry a trailing NUL. */
	if (len > 0 && p[len - 1] == '\0')
		len--;
	j = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return KW_ERR_INTERNAL;
	}
	*out = j;
	return 0;
}

static int role_add(struct kw_auth_mount *m, const char *name, const struct kw_ipc_field *fl)
{
	struct kw_auth_role *roles;
	json_t *j;
	int err;

	if (m->nroles >= KW_AUTH_ROLES_MAX)
		return KW_ERR_LIMIT;
	if ((err = json_text_parse(fl->val, fl->len, &j)) != 0)
		return err;
	roles = realloc(m->roles, (m->nroles + 1) * sizeof(*roles));
	if (roles == NULL) {
		json_decref(j);
		return KW_ERR_NOMEM;
	}
	m->roles = roles;
	if ((roles[m->nroles].name = strdup(name)) == NULL) {
		json_decref(j);
		return KW_ERR_NOMEM;
	}
	roles[m->nroles++].json = j;
	return 0;
}

/* AUTH_TYPE AUTH_CONFIG (ROLE AUTH_ROLE)*, in that order. */
static int mount_from_reply(const char *name, const struct kw_ipc_msg *reply,
                            struct kw_auth_mount **out)
{
	struct kw_auth_mount *m = calloc(1, sizeof(*m));
	const char *type, *role = NULL;
	int err;

	if (m == NULL)
		return KW_ERR_NOMEM;
	m->refs = 1;
	memcpy(m->name, name, strlen(name) + 1);
	if ((err = kw_ipc_get_str(reply, KW_T_AUTH_TYPE, &type)) != 0)
		goto out;
	err = KW_ERR_INTERNAL;
	if ((m->method = kw_auth_method_find(type)) == NULL)
		goto out;
	m->kind = m->method->kind;
	for (size_t i = 0; i < reply->nfields; i++) {
		const struct kw_ipc_field *fl = &reply->fields[i];

		if (fl->tag == KW_T_AUTH_CONFIG && m->config == NULL &&
		    (err = json_text_parse(fl->val, fl->len, &m->config)) != 0)
			goto out;
		if (fl->tag == KW_T_ROLE)
			role = (const char *)fl->val;
		if (fl->tag == KW_T_AUTH_ROLE) {
			if (role == NULL) {
				err = KW_ERR_INTERNAL;
				goto out;
			}
			if ((err = role_add(m, role, fl)) != 0)
				goto out;
			role = NULL;
		}
	}
	err = KW_ERR_NOMEM;
	if (m->config == NULL && (m->config = json_object()) == NULL)
		goto out;
	*out = m;
	m = NULL;
	err = 0;
out:
	mount_free(m);
	return err;
}

static int mount_load(struct kw_req *r, const char *name, struct kw_auth_mount **out)
{
	struct kw_ipc_msg req, reply;
	struct kw_auth_mount *m = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = own_msg(r, &req, KW_MSG_AUTH_LOAD)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_MOUNT, name)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((err = mount_from_reply(name, &reply, &m)) != 0) {
		kw_error("auth mount %s: the keeper's AUTH_LOAD answer is malformed", name);
		goto out;
	}
	kw_fail_clear(&r->fail);
	if (m->method->state_new != NULL && (err = m->method->state_new(m, &r->fail)) != 0)
		goto out;
	*out = m;
	m = NULL;
out:
	mount_free(m);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_auth_mount_get(struct kw_req *r, const char *name, struct kw_auth_mount **out)
{
	struct kw_auth_mount *m, *old;
	uint64_t gen;
	int err;

	pthread_mutex_lock(&cache.mu);
	if ((m = cache_find_locked(name)) != NULL)
		m->refs++;
	gen = cache.gen;
	pthread_mutex_unlock(&cache.mu);
	if (m != NULL) {
		*out = m;
		return 0;
	}
	if ((err = mount_load(r, name, &m)) != 0) {
		if (err == KW_ERR_NOT_FOUND)
			kw_fail_set(&r->fail, err, "no auth method is enabled at auth/%s", name);
		return err;
	}
	pthread_mutex_lock(&cache.mu);
	cert_note_locked(name, m->kind == KW_AUTH_KIND_CERT);
	old = cache_find_locked(name);
	if (old != NULL) {
		/* Another thread loaded it first: use theirs. */
		old->refs++;
		pthread_mutex_unlock(&cache.mu);
		mount_free(m);
		*out = old;
		return 0;
	}
	if (gen == cache.gen && cache.n < MOUNTS_CACHED_MAX) {
		m->refs++;
		cache.m[cache.n++] = m;
	}
	pthread_mutex_unlock(&cache.mu);
	*out = m;
	return 0;
}

uint64_t kw_auth_cache_gen(void)
{
	uint64_t g;

	pthread_mutex_lock(&cache.mu);
	g = cache.gen;
	pthread_mutex_unlock(&cache.mu);
	return g;
}

/* Ask the keeper for the names of its cert mounts (AUTH_LOAD by type). */
static int cert_mounts_fetch(struct kw_req *r)
{
	const struct kw_ipc_field *fl;
	struct kw_ipc_msg req, reply;
	size_t pos = 0;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = own_msg(r, &req, KW_MSG_AUTH_LOAD)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_AUTH_TYPE, "cert")) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	pthread_mutex_lock(&cache.mu);
	while ((fl = kw_ipc_next(&reply, KW_T_MOUNT, &pos)) != NULL)
		if (kw_mount_name_valid((const char *)fl->val))
			cert_note_locked((const char *)fl->val, true);
	cache.cert_listed = true;
	pthread_mutex_unlock(&cache.mu);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/*
 * The cert mounts, for implicit logins: asked of the keeper once (a
 * sealed keeper answers later), then kept current by the enables and
 * disables that go through this front, its only writer.
 */
size_t kw_auth_cert_mounts(struct kw_req *r, char (*names)[KW_MOUNT_MAX + 1], size_t max)
{
	bool listed;
	size_t n;

	pthread_mutex_lock(&cache.mu);
	listed = cache.cert_listed;
	pthread_mutex_unlock(&cache.mu);
	if (!listed && cert_mounts_fetch(r) != 0)
		kw_fail_clear(&r->fail); /* try again on the next request */
	pthread_mutex_lock(&cache.mu);
	for (n = 0; n < cache.ncert && n < max; n++)
		memcpy(names[n], cache.cert[n], sizeof(names[n]));
	pthread_mutex_unlock(&cache.mu);
	return n;
}

const struct kw_auth_role *kw_auth_role_find(const struct kw_auth_mount *m, const char *name)
{
	for (size_t i = 0; i < m->nroles; i++)
		if (strcmp(m->roles[i].name, name) == 0)
			return &m->roles[i];
	return NULL;
}

/* ---- normalising helpers ---- */

int kw_auth_fields_known(const json_t *in, const char *const *known, struct kw_fail *f)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)in, key, v)
	{
		bool ok = false;

		for (size_t i = 0; known[i] != NULL && !ok; i++)
			ok = strcmp(known[i], key) == 0;
		if (!ok)
			/* The name is the caller's text: bounded, never a value. */
			return kw_fail_set(f, KW_ERR_INVALID, "unknown field \"%.64s\"", key);
	}
	return 0;
}

static int list_add(json_t *a, const char *s, size_t len, const char *key, struct kw_fail *f)
{
	while (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	if (len == 0)
		return kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" holds an empty entry", key);
	if (json_array_size(a) >= KW_AUTH_LIST_MAX)
		return kw_fail_set(f, KW_ERR_LIMIT, "field \"%s\" holds more than %d entries", key,
		                   KW_AUTH_LIST_MAX);
	return json_array_append_new(a, json_stringn(s, len)) == 0 ? 0 : KW_ERR_NOMEM;
}

int kw_auth_str_list(const json_t *in, const char *key, json_t **out, struct kw_fail *f)
{
	const json_t *v = json_object_get(in, key), *e;
	json_t *a = json_array();
	size_t i;
	int err = KW_ERR_NOMEM;

	if (a == NULL)
		return err;
	if (v == NULL || json_is_null(v)) {
		err = 0;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		err = 0;
		/* Vault's comma-separated form; "" is the empty list. */
		while (*s != '\0' && err == 0) {
			size_t len = strcspn(s, ",");

			err = list_add(a, s, len, key, f);
			s += len + (s[len] == ',');
		}
	} else if (json_is_array(v)) {
		err = 0;
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e)) {
				err = kw_fail_set(f, KW_ERR_INVALID,
				                  "field \"%s\" must be a list of strings", key);
				break;
			}
			if ((err = list_add(a, json_string_value(e), json_string_length(e), key,
			                    f)) != 0)
				break;
		}
	} else {
		err = kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" must be a list of strings", key);
	}
	if (err != 0) {
		json_decref(a);
		return err;
	}
	*out = a;
	return 0;
}

int kw_auth_copy_str(const json_t *in, const char *key, const char *def, json_t *out,
                     struct kw_fail *f)
{
	const char *s;
	int err;

	if ((err = kw_jfield_str(in, key, false, &s, f)) != 0)
		return err;
	if (s == NULL)
		s = def;
	if (s == NULL)
		return 0;
	return kw_jset(out, key, json_string(s));
}

int kw_auth_copy_bool(const json_t *in, const char *key, bool def, json_t *out, struct kw_fail *f)
{
	struct kw_opt_bool b;
	int err;

	if ((err = kw_jfield_bool(in, key, &b, f)) != 0)
		return err;
	return kw_jset(out, key, json_boolean(b.set ? b.v : def));
}

int kw_auth_copy_duration(const json_t *in, const char *key, const char *alias, uint64_t max,
                          json_t *out, struct kw_fail *f)
{
	struct kw_opt_u64 d = {0}, a = {0};
	int err;

	if ((err = kw_jfield_duration(in, key, &d, f)) != 0)
		return err;
	if (alias != NULL && (err = kw_jfield_duration(in, alias, &a, f)) != 0)
		return err;
	if (!d.set)
		d = a; /* the token_* name wins over Vault's old alias */
	if (d.set && d.v > max)
		return kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" is larger than %llu seconds",
		                   key, (unsigned long long)max);
	return kw_jset(out, key, json_integer(d.set ? (json_int_t)d.v : 0));
}

const char *const kw_auth_role_common_fields[] = {
    "token_policies",
    "policies",
    "token_ttl",
    "ttl",
    "token_max_ttl",
    "max_ttl",
    "token_period",
    "period",
    "token_type",
    "token_bound_cidrs",
    "bound_cidrs",
    "token_explicit_max_ttl",
    "token_no_default_policy",
    "token_num_uses",
    NULL,
};

#define TTL_MAX (10ull * 365 * 86400)

/* Options keyward tokens do not have: only their "off" values are taken. */
static int role_refusals(const json_t *in, struct kw_fail *f)
{
	static const char *const zero[] = {"token_period", "period", "token_explicit_max_ttl",
	                                   "token_num_uses"};
	static const char *const empty[] = {"token_bound_cidrs", "bound_cidrs"};
	const char *type;
	int err;

	for (size_t i = 0; i < KW_ARRAY_LEN(zero); i++) {
		struct kw_opt_u64 v;

		if ((err = kw_jfield_duration(in, zero[i], &v, f)) != 0)
			return err;
		if (v.set && v.v != 0)
			return kw_fail_set(f, KW_ERR_UNSUPPORTED, "field \"%s\" is not supported",
			                   zero[i]);
	}
	for (size_t i = 0; i < KW_ARRAY_LEN(empty); i++) {
		json_t *l;

		if ((err = kw_auth_str_list(in, empty[i], &l, f)) != 0)
			return err;
		err = json_array_size(l) == 0
		          ? 0
		          : kw_fail_set(f, KW_ERR_UNSUPPORTED, "field \"%s\" is not supported",
		                        empty[i]);
		json_decref(l);
		if (err != 0)
			return err;
	}
	if ((err = kw_jfield_str(in, "token_type", false, &type, f)) != 0)
		return err;
	if (type != NULL && type[0] != '\0' && strcmp(type, "default") != 0 &&
	    strcmp(type, "service") != 0 && strcmp(type, "default-service") != 0)
		return kw_fail_set(f, KW_ERR_UNSUPPORTED, "only service tokens are supported");
	return 0;
}

static int policies_norm(const json_t *in, json_t *out, struct kw_fail *f)
{
	json_t *p = NULL, *alias = NULL, *e;
	size_t i;
	int err;

	if ((err = kw_auth_str_list(in, "token_policies", &p, f)) != 0 ||
	    (err = kw_auth_str_list(in, "policies", &alias, f)) != 0)
		goto out;
	if (json_object_get(in, "token_policies") == NULL ||
	    json_is_null(json_object_get(in, "token_policies"))) {
		json_decref(p);
		p = alias;
		alias = NULL;
	}
	json_array_foreach(p, i, e)
	{
		if (!kw_name_valid(json_string_value(e))) {
			err =
			    kw_fail_set(f, KW_ERR_INVALID,
			                "field \"token_policies\" holds a name that is not 1 to %d "
			                "characters of A-Z a-z 0-9 . _ -",
			                KW_NAME_MAX);
			goto out;
		}
	}
	err = kw_jset(out, "token_policies", p);
	p = NULL;
out:
	json_decref(p);
	json_decref(alias);
	return err;
}

int kw_auth_role_common(const json_t *in, json_t *out, struct kw_fail *f)
{
	int err;

	if ((err = role_refusals(in, f)) != 0 || (err = policies_norm(in, out, f)) != 0 ||
	    (err = kw_auth_copy_duration(in, "token_ttl", "ttl", TTL_MAX, out, f)) != 0 ||
	    (err = kw_auth_copy_duration(in, "token_max_ttl", "max_ttl", TTL_MAX, out, f)) != 0 ||
	    (err = kw_auth_copy_bool(in, "token_no_default_policy", false, out, f)) != 0)
		return err;
	if (json_integer_value(json_object_get(out, "token_max_ttl")) != 0 &&
	    json_integer_value(json_object_get(out, "token_ttl")) >
	        json_integer_value(json_object_get(out, "token_max_ttl")))
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "token_ttl cannot be greater than token_max_ttl");
	return kw_jset(out, "token_type", json_string("service"));
}

size_t kw_auth_json_strs(const json_t *o, const char *key, const char **v, size_t max)
{
	const json_t *a = json_object_get(o, key), *e;
	size_t i, n = 0;

	json_array_foreach(a, i, e)
	{
		if (n < max && json_is_string(e))
			v[n++] = json_string_value(e);
	}
	return n;
}

/* ---- login outcomes ---- */

static int meta_put(struct kw_ipc_msg *req, const json_t *meta);

int kw_login_refuse(struct kw_req *r, const struct kw_auth_mount *m, const char *role,
                    const char *caller_id, const char *reason, int err, const char *text)
{
	return kw_login_refuse_meta(r, m, role, caller_id, NULL, reason, err, text);
}

int kw_login_refuse_meta(struct kw_req *r, const struct kw_auth_mount *m, const char *role,
                         const char *caller_id, const json_t *meta, const char *reason, int err,
                         const char *text)
{
	struct kw_ipc_msg req, reply;
	int kerr;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((kerr = own_msg(r, &req, KW_MSG_AUTH_LOGIN_FAILED)) != 0 ||
	    (kerr = kw_ipc_put_str(&req, KW_T_MOUNT, m->name)) != 0 ||
	    (role != NULL && kw_name_valid(role) &&
	     (kerr = kw_ipc_put_str(&req, KW_T_ROLE, role)) != 0) ||
	    (caller_id != NULL && caller_id[0] != '\0' &&
	     (kerr = kw_ipc_put_str(&req, KW_T_CALLER_ID, caller_id)) != 0) ||
	    (kerr = meta_put(&req, meta)) != 0 ||
	    (kerr = kw_ipc_put_str(&req, KW_T_AUTH_REASON, reason)) != 0 ||
	    (kerr = kw_ipc_put_u32(&req, KW_T_FAIL_STATUS, (uint32_t)-err)) != 0)
		goto out;
	kerr = kw_req_call(r, &req, &reply);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	/* The keeper answers with our status once it has audited; anything
	 * else (sealed, its log failing, gone) is what the caller must hear,
	 * since the refusal could not be recorded. */
	if (kerr != 0 && kerr != err)
		return kerr;
	return kw_fail_set(&r->fail, err, "login refused: %s", text);
}

static int meta_put(struct kw_ipc_msg *req, const json_t *meta)
{
	size_t len;
	char *text;
	int err;

	if (meta == NULL || json_object_size(meta) == 0)
		return 0;
	if ((text = kw_json_text(meta, &len)) == NULL)
		return KW_ERR_NOMEM;
	err = len > META_TEXT_MAX ? KW_ERR_LIMIT : kw_ipc_put_str(req, KW_T_CALLER_META, text);
	kw_json_text_free(text);
	return err;
}

static json_t *policies_of(const struct kw_ipc_msg *m)
{
	const struct kw_ipc_field *fl;
	json_t *a = json_array();
	size_t pos = 0;

	while (a != NULL && (fl = kw_ipc_next(m, KW_T_POLICY, &pos)) != NULL) {
		if (json_array_append_new(a, json_string((const char *)fl->val)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Vault's metadata: strings only; role and mount, then the caller's claims. */
static json_t *metadata_of(const struct kw_auth_mount *m, const char *role, const json_t *meta)
{
	json_t *o = json_pack("{s:s, s:s}", "role", role, "mount", m->name);
	const char *key;
	json_t *v;

	if (o == NULL)
		return NULL;
	json_object_foreach((json_t *)meta, key, v)
	{
		if (json_is_string(v) && json_object_get(o, key) == NULL &&
		    kw_jset(o, key, json_copy(v)) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int login_reply(struct kw_req *r, const struct kw_auth_mount *m, const char *role,
                       const json_t *meta, const struct kw_ipc_msg *reply, struct kw_resp *out)
{
	json_t *pol = policies_of(reply), *auth;
	const char *token;

	if (kw_ipc_get_str(reply, KW_T_TOKEN, &token) != 0) {
		json_decref(pol);
		return KW_ERR_INTERNAL;
	}
	auth = json_pack("{s:s, s:s, s:o, s:O, s:o, s:I, s:b, s:s, s:s, s:b, s:I}", "client_token",
	                 token, "accessor", kw_ipc_str_or(reply, KW_T_ACCESSOR, ""), "policies",
	                 pol, "token_policies", pol, "metadata", metadata_of(m, role, meta),
	                 "lease_duration", (json_int_t)kw_ipc_u64_or(reply, KW_T_TTL, 0),
	                 "renewable", 0, "entity_id", "", "token_type", "service", "orphan", 1,
	                 "num_uses", (json_int_t)0);
	return kw_resp_auth(r, out, auth);
}

int kw_login_finish(struct kw_req *r, const struct kw_auth_mount *m, const char *role,
                    const char *caller_id, const json_t *meta, int64_t expires, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = own_msg(r, &req, KW_MSG_AUTH_LOGIN)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_MOUNT, m->name)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_ROLE, role)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_CALLER_ID, caller_id)) != 0 ||
	    (err = meta_put(&req, meta)) != 0 ||
	    (expires > 0 &&
	     (err = kw_ipc_put_u64(&req, KW_T_CALLER_EXPIRES, (uint64_t)expires)) != 0))
		goto out;
	if ((err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = login_reply(r, m, role, meta, &reply, out);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* ---- sys/auth ---- */

static json_t *mount_json(const char *type, const char *description)
{
	char accessor[KW_MOUNT_MAX + 32];

	snprintf(accessor, sizeof(accessor), "auth_%s", type);
	return json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:s}, s:b, s:b, s:n, s:s}", "type", type,
	                 "description", description, "accessor", accessor, "config",
	                 "default_lease_ttl", (json_int_t)0, "max_lease_ttl", (json_int_t)0,
	                 "token_type", "default-service", "local", 0, "seal_wrap", 0, "options",
	                 "uuid", "");
}

/* One AUTH_LIST entry into o. */
static int mount_add(json_t *o, const char *mount, const char *type, const char *desc)
{
	char key[KW_MOUNT_MAX + 2];

	if (mount == NULL || type == NULL || strlen(mount) > KW_MOUNT_MAX)
		return 0;
	cert_note(mount, strcmp(type, "cert") == 0);
	snprintf(key, sizeof(key), "%s/", mount);
	return kw_jset(o, key, mount_json(type, desc ? desc : ""));
}

/* AUTH_LIST into {"<mount>/": {...}}, with the built-in token mount. The
 * reply is (MOUNT AUTH_TYPE [DESCRIPTION])*: a MOUNT starts an entry. */
static int mounts_json(struct kw_req *r, json_t **out)
{
	struct kw_ipc_msg req, reply;
	const char *mount = NULL, *type = NULL, *desc = NULL;
	json_t *o = json_object();
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	err = KW_ERR_NOMEM;
	if (o == NULL)
		goto out;
	if ((err = kw_req_msg(r, &req, KW_MSG_AUTH_LIST)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = kw_jset(o, TOKEN_MOUNT "/", mount_json(TOKEN_MOUNT, "token based credentials"));
	for (size_t i = 0; i < reply.nfields && err == 0; i++) {
		const struct kw_ipc_field *fl = &reply.fields[i];

		if (fl->tag == KW_T_MOUNT) {
			err = mount_add(o, mount, type, desc);
			mount = (const char *)fl->val;
			type = desc = NULL;
		} else if (fl->tag == KW_T_AUTH_TYPE) {
			type = (const char *)fl->val;
		} else if (fl->tag == KW_T_DESCRIPTION) {
			desc = (const char *)fl->val;
		}
	}
	if (err == 0)
		err = mount_add(o, mount, type, desc);
	if (err != 0)
		goto out;
	*out = o;
	o = NULL;
out:
	json_decref(o);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_auth_list(struct kw_req *r, struct kw_resp *out)
{
	json_t *mounts, *data;
	const char *key;
	json_t *v;
	int err;

	if ((err = mounts_json(r, &mounts)) != 0)
		return err;
	data = json_deep_copy(mounts);
	if ((err = kw_resp_data(r, out, data)) != 0) {
		json_decref(mounts);
		return err;
	}
	/* Vault also puts each mount at the top level of this answer. */
	json_object_foreach(mounts, key, v)
	{
		if (kw_jset(out->json, key, json_incref(v)) != 0) {
			json_decref(mounts);
			return KW_ERR_NOMEM;
		}
	}
	json_decref(mounts);
	return 0;
}

static int mount_arg(struct kw_req *r, const char **out)
{
	const char *m = r->args.v[0];

	if (!kw_mount_name_valid(m))
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "an auth mount path is 1 to %d characters of A-Z a-z 0-9 _ -",
		                   KW_MOUNT_MAX);
	*out = m;
	return 0;
}

int kw_h_auth_read(struct kw_req *r, struct kw_resp *out)
{
	const char *name = NULL;
	char key[KW_MOUNT_MAX + 2];
	json_t *mounts, *one;
	int err;

	if ((err = mount_arg(r, &name)) != 0 || (err = mounts_json(r, &mounts)) != 0)
		return err;
	snprintf(key, sizeof(key), "%s/", name);
	one = json_object_get(mounts, key);
	if (one == NULL) {
		json_decref(mounts);
		return kw_fail_set(&r->fail, KW_ERR_NOT_FOUND, "no auth method is enabled at %s",
		                   key);
	}
	json_incref(one);
	json_decref(mounts);
	return kw_resp_data(r, out, one);
}

static int not_token_mount(struct kw_req *r, const char *name, const char *what)
{
	if (strcmp(name, TOKEN_MOUNT) == 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "the token auth method cannot be %s",
		                   what);
	return 0;
}

int kw_h_auth_enable(struct kw_req *r, struct kw_resp *out)
{
	static const char *const known[] = {
	    "type",           "description", "config",  "plugin_name",
	    "local",          "seal_wrap",   "options", "external_entropy_access",
	    "plugin_version", "path",        NULL};
	struct kw_ipc_msg req, reply;
	const char *name = NULL, *type = NULL, *desc = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = mount_arg(r, &name)) != 0 || (err = not_token_mount(r, name, "enabled")) != 0 ||
	    (err = kw_auth_fields_known(r->body, known, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "type", true, &type, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "description", false, &desc, &r->fail)) != 0)
		goto out;
	if (kw_auth_method_find(type) == NULL) {
		err = kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                  "auth method type must be kubernetes, jwt or cert");
		goto out;
	}
	if ((err = kw_req_msg(r, &req, KW_MSG_AUTH_ENABLE)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_MOUNT, name)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_AUTH_TYPE, type)) != 0 ||
	    (desc != NULL && (err = kw_ipc_put_str(&req, KW_T_DESCRIPTION, desc)) != 0))
		goto out;
	err = kw_req_call(r, &req, &reply);
	kw_auth_mount_drop(name);
	if (err != 0)
		goto out;
	cert_note(name, strcmp(type, "cert") == 0);
	kw_resp_empty(out);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* A write to a mount: one message with MOUNT (and ROLE), then drop the
 * cache entry whatever the answer, since the store may have changed. */
static int mount_write(struct kw_req *r, uint16_t type, const char *mount, const char *role,
                       uint16_t json_tag, const json_t *j, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	char *text = NULL;
	size_t len;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_req_msg(r, &req, type)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_MOUNT, mount)) != 0 ||
	    (role != NULL && (err = kw_ipc_put_str(&req, KW_T_ROLE, role)) != 0))
		goto out;
	if (j != NULL) {
		err = KW_ERR_NOMEM;
		if ((text = kw_json_text(j, &len)) == NULL ||
		    (err = kw_ipc_put_str(&req, json_tag, text)) != 0)
			goto out;
	}
	err = kw_req_call(r, &req, &reply);
	kw_auth_mount_drop(mount);
	if (err == 0)
		kw_resp_empty(out);
out:
	kw_json_text_free(text);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_auth_disable(struct kw_req *r, struct kw_resp *out)
{
	const char *name = NULL;
	int err;

	if ((err = mount_arg(r, &name)) != 0 || (err = not_token_mount(r, name, "disabled")) != 0)
		return err;
	err = mount_write(r, KW_MSG_AUTH_DISABLE, name, NULL, 0, NULL, out);
	if (err == 0)
		cert_note(name, false);
	return err;
}

/* ---- auth/<mount>/config and roles ---- */

/* The mount of an auth/<mount>/... path, from the cache. */
static int path_mount(struct kw_req *r, struct kw_auth_mount **out)
{
	const char *name = NULL;
	int err;

	if ((err = mount_arg(r, &name)) != 0)
		return err;
	if (strcmp(name, TOKEN_MOUNT) == 0)
		return kw_fail_set(
		    &r->fail, KW_ERR_NOT_FOUND, "unsupported path: the token auth method has no %s",
		    r->route ? r->route->pattern + strlen("auth/:mount/") : "such path");
	return kw_auth_mount_get(r, name, out);
}

int kw_h_auth_config_get(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_auth_mount *m = NULL;
	const struct kw_ipc_field *fl;
	json_t *cfg = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = path_mount(r, &m)) != 0)
		goto out;
	if ((err = kw_req_msg(r, &req, KW_MSG_AUTH_CONFIG_GET)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_MOUNT, m->name)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((fl = kw_ipc_find(&reply, KW_T_AUTH_CONFIG)) == NULL)
		err = (cfg = json_object()) ? 0 : KW_ERR_NOMEM;
	else
		err = json_text_parse(fl->val, fl->len, &cfg);
	if (err != 0)
		goto out;
	for (size_t i = 0; m->method->config_secret && m->method->config_secret[i]; i++)
		json_object_del(cfg, m->method->config_secret[i]);
	err = kw_resp_data(r, out, cfg);
	cfg = NULL;
out:
	json_decref(cfg);
	kw_auth_mount_put(m);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_auth_config_put(struct kw_req *r, struct kw_resp *out)
{
	struct kw_auth_mount *m = NULL;
	json_t *cfg = NULL;
	int err;

	if ((err = path_mount(r, &m)) != 0 ||
	    (err = m->method->config_norm(r->body, &cfg, &r->fail)) != 0)
		goto out;
	err = mount_write(r, KW_MSG_AUTH_CONFIG_PUT, m->name, NULL, KW_T_AUTH_CONFIG, cfg, out);
out:
	json_decref(cfg);
	kw_auth_mount_put(m);
	return err;
}

/* The mount of a role path, whose word ("role" or "certs") must be its
 * method's. */
static int role_mount(struct kw_req *r, struct kw_auth_mount **out)
{
	const char *rest = r->route->pattern + strlen("auth/:mount/");
	const char *word = strncmp(rest, "certs", 5) == 0 ? "certs" : "role";
	struct kw_auth_mount *m;
	int err;

	if ((err = path_mount(r, &m)) != 0)
		return err;
	if (strcmp(word, m->method->role_word) != 0) {
		err = kw_fail_set(&r->fail, KW_ERR_NOT_FOUND,
		                  "unsupported path: %s mounts keep their roles under auth/%s/%s/",
		                  m->method->type, m->name, m->method->role_word);
		kw_auth_mount_put(m);
		return err;
	}
	*out = m;
	return 0;
}

int kw_h_auth_role_list(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_auth_mount *m = NULL;
	const struct kw_ipc_field *fl;
	json_t *names = NULL;
	size_t pos = 0;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = role_mount(r, &m)) != 0)
		goto out;
	if ((err = kw_req_msg(r, &req, KW_MSG_AUTH_ROLE_LIST)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_MOUNT, m->name)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = KW_ERR_NOMEM;
	if ((names = json_array()) == NULL)
		goto out;
	while ((fl = kw_ipc_next(&reply, KW_T_ROLE, &pos)) != NULL)
		if (json_array_append_new(names, json_string((const char *)fl->val)) != 0)
			goto out;
	err = kw_resp_list(r, out, names);
	names = NULL;
out:
	json_decref(names);
	kw_auth_mount_put(m);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_auth_role_get(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_auth_mount *m = NULL;
	const struct kw_ipc_field *fl;
	json_t *role = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = role_mount(r, &m)) != 0)
		goto out;
	if ((err = kw_req_msg(r, &req, KW_MSG_AUTH_ROLE_GET)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_MOUNT, m->name)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_ROLE, r->args.v[1])) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = KW_ERR_INTERNAL;
	if ((fl = kw_ipc_find(&reply, KW_T_AUTH_ROLE)) == NULL ||
	    (err = json_text_parse(fl->val, fl->len, &role)) != 0)
		goto out;
	err = kw_resp_data(r, out, role);
	role = NULL;
out:
	json_decref(role);
	kw_auth_mount_put(m);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_auth_role_put(struct kw_req *r, struct kw_resp *out)
{
	struct kw_auth_mount *m = NULL;
	json_t *role = NULL;
	int err;

	if ((err = role_mount(r, &m)) != 0 ||
	    (err = m->method->role_norm(r->body, &role, &r->fail)) != 0)
		goto out;
	err =
	    mount_write(r, KW_MSG_AUTH_ROLE_PUT, m->name, r->args.v[1], KW_T_AUTH_ROLE, role, out);
out:
	json_decref(role);
	kw_auth_mount_put(m);
	return err;
}

int kw_h_auth_role_delete(struct kw_req *r, struct kw_resp *out)
{
	struct kw_auth_mount *m = NULL;
	int err;

	if ((err = role_mount(r, &m)) != 0)
		goto out;
	err = mount_write(r, KW_MSG_AUTH_ROLE_DELETE, m->name, r->args.v[1], 0, NULL, out);
out:
	kw_auth_mount_put(m);
	return err;
}

int kw_h_auth_login(struct kw_req *r, struct kw_resp *out)
{
	struct kw_auth_mount *m = NULL;
	int err;

	if ((err = path_mount(r, &m)) != 0)
		return err;
	err = m->method->login(r, m, out);
	kw_auth_mount_put(m);
	return err;
}
