/*
 * auth.c: auth mounts as in Vault (sys/auth, auth/<mount>/config and
 * roles), and logins: the front verifies a credential (JWT, certificate)
 * against a role, then AUTH_LOGIN turns it into a keyward token carrying
 * the role's policies; AUTH_LOGIN_FAILED puts a refusal in the audit log.
 *
 * The keeper does not parse credentials. Configs are opaque JSON objects;
 * of a role it reads only the fields it enforces (token_policies,
 * token_ttl, token_max_ttl, token_no_default_policy), and it checks those
 * itself rather than trusting the front's normalisation.
 *
 * Mounts and roles are cached whole in memory (k->mount_mu): loaded from
 * the store on first use, dropped after every change and reloaded on the
 * next use, so a login or an implicit certificate identity reads no SQLite.
 * The load runs under the mutex, and writers drop the cache after their
 * store write: a reader can never install a snapshot older than a write
 * that has already returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "keeper_int.h"

#define AUTH_ROLE_POLICIES_MAX 256
#define AUTH_REASON_MAX        64
#define AUTH_TOKEN_DESCRIPTION "token based credentials"

/* The methods a mount may have; "token" is built in and not a mount. */
static const char *const auth_types[] = {"kubernetes", "jwt", "cert"};

struct auth_role {
	char name[KW_NAME_MAX + 1];
	char *body;
	char *policies; /* as granted; NULL if the stored body no longer parses */
	int64_t ttl, max_ttl;
};

struct auth_mount {
	struct kw_store_auth_mount m;
	struct auth_role *roles; /* name order */
	size_t nroles;
};

struct keeper_mounts {
	struct auth_mount *v; /* path order */
	size_t n;
};

/* ---- names and texts ---- */

static bool charset_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || (c != '\0' && strchr(extra, c) != NULL)))
			return false;
	}
	return true;
}

bool keeper_mount_name_ok(const char *name)
{
	return name != NULL && charset_ok(name, KEEPER_MOUNT_MAX, "");
}

/* Role and policy names: the object names of the rest of keyward. */
static bool object_name_ok(const char *name)
{
	return name != NULL && charset_ok(name, KW_NAME_MAX, ".");
}

/* Well-formed UTF-8 (shortest forms, no surrogates): the IPC codec does not
 * check it, and an audit entry cannot hold anything else. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], len, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			len = 2, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			len = 3, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			len = 4, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (n - i < len)
			return false;
		for (unsigned j = 1; j < len; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* Printable UTF-8 text: no control characters, so log and audit lines
 * stay one line each. */
static bool text_printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return utf8_ok((const unsigned char *)s, n);
}

bool keeper_caller_id_ok(const char *id)
{
	return id != NULL && id[0] != '\0' && text_printable(id, KW_STORE_DISPLAY_NAME_MAX);
}

static bool auth_type_known(const char *type)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(auth_types); i++)
		if (strcmp(type, auth_types[i]) == 0)
			return true;
	return false;
}

/* A cert mount's roles are Vault's "certs" entries. */
static const char *role_word(const char *type)
{
	return type != NULL && strcmp(type, "cert") == 0 ? "certs" : "role";
}

/* ---- role bodies ---- */

/* A non-negative integer field, absent = 0. */
static int role_seconds(json_t *role, const char *field, int64_t *out, char *why, size_t wl)
{
	json_t *v = json_object_get(role, field);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, wl, "\"%s\" must be a non-negative number of seconds", field);
		return KW_ERR_INVALID;
	}
	*out = json_integer_value(v);
	return 0;
}

/* Append name to a comma-separated list, once. */
static int list_add(struct kw_buf *b, const char *name)
{
	if (b->len > 0 && keeper_policy_listed((const char *)b->data, name))
		return 0;
	if ((b->len > 0 && kw_buf_append_u8(b, ',') != 0) || kw_buf_append_str(b, name) != 0 ||
	    kw_buf_append_u8(b, 0) != 0)
		return KW_ERR_NOMEM;
	b->len--; /* keep the NUL out of the length, in the buffer */
	return 0;
}

static int role_policy_list(json_t *role, struct kw_buf *b, char *why, size_t wl)
{
	json_t *pols = json_object_get(role, "token_policies"), *p;
	size_t i;

	if (pols == NULL)
		return 0;
	if (!json_is_array(pols) || json_array_size(pols) > AUTH_ROLE_POLICIES_MAX) {
		snprintf(why, wl, "\"token_policies\" must be a list of at most %d policy names",
		         AUTH_ROLE_POLICIES_MAX);
		return KW_ERR_INVALID;
	}
	json_array_foreach(pols, i, p)
	{
		const char *name = json_string_value(p);

		if (!object_name_ok(name)) {
			snprintf(why, wl,
			         "policy names are 1 to %d letters, digits, '.', '_' and '-'",
			         KW_NAME_MAX);
			return KW_ERR_INVALID;
		}
		/* A login must never mint a root token. */
		if (strcmp(name, "root") == 0) {
			snprintf(why, wl, "a role cannot grant the root policy");
			return KW_ERR_INVALID;
		}
		if (list_add(b, name) != 0)
			return KW_ERR_NOMEM;
	}
	return 0;
}

/* Check a role body and, if out is given, what it grants. */
static int role_parse(const char *text, struct auth_role *out, char *why, size_t wl)
{
	json_t *role = json_loads(text, JSON_REJECT_DUPLICATES, NULL), *nodef;
	int64_t ttl = 0, max_ttl = 0;
	struct kw_buf b;
	int s;

	kw_buf_init(&b);
	if (!json_is_object(role)) {
		snprintf(why, wl, "a role is a JSON object");
		s = KW_ERR_INVALID;
		goto out;
	}
	nodef = json_object_get(role, "token_no_default_policy");
	if (nodef != NULL && !json_is_boolean(nodef)) {
		snprintf(why, wl, "\"token_no_default_policy\" must be true or false");
		s = KW_ERR_INVALID;
		goto out;
	}
	if ((s = role_seconds(role, "token_ttl", &ttl, why, wl)) != 0 ||
	    (s = role_seconds(role, "token_max_ttl", &max_ttl, why, wl)) != 0 ||
	    (s = role_policy_list(role, &b, why, wl)) != 0)
		goto out;
	if (ttl > 0 && max_ttl > 0 && ttl > max_ttl) {
		snprintf(why, wl, "\"token_ttl\" cannot be longer than \"token_max_ttl\"");
		s = KW_ERR_INVALID;
		goto out;
	}
	/* Vault adds "default" to a login token unless the role says not to. */
	if (!json_is_true(nodef) && (s = list_add(&b, "default")) != 0)
		goto out;
	if (out != NULL) {
		if (b.len == 0 && (s = kw_buf_append_u8(&b, 0)) != 0)
			goto out;
		out->policies = (char *)b.data;
		out->ttl = ttl;
		out->max_ttl = max_ttl;
		kw_buf_init(&b);
	}
out:
	kw_buf_cleanup(&b);
	json_decref(role);
	return s;
}

static bool json_object_text_ok(const char *text)
{
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	bool ok = json_is_object(v);

	json_decref(v);
	return ok;
}

/* ---- the cache ---- */

static void mounts_free(struct keeper_mounts *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct auth_mount *am = &ms->v[i];

		for (size_t j = 0; j < am->nroles; j++) {
			free(am->roles[j].body);
			free(am->roles[j].policies);
		}
		free(am->roles);
		kw_store_auth_mount_cleanup(&am->m);
	}
	free(ms->v);
	free(ms);
}

/* A stored role that no longer parses (an edited file) grants nothing; the
 * mount's other roles stay usable. */
static int mount_roles_load(struct keeper *k, struct auth_mount *am)
{
	struct kw_store_auth_role *rs = NULL;
	size_t n = 0;
	char why[160];
	int s;

	if ((s = kw_store_auth_role_load_all(k->store, am->m.path, &rs, &n)) != 0)
		return s;
	if (n > 0 && (am->roles = calloc(n, sizeof(*am->roles))) == NULL) {
		kw_store_auth_roles_free(rs, n);
		return KW_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct auth_role *ar = &am->roles[i];

		memcpy(ar->name, rs[i].name, sizeof(ar->name));
		ar->body = rs[i].body;
		rs[i].body = NULL;
		am->nroles++;
		if ((s = role_parse(ar->body, ar, why, sizeof(why))) == KW_ERR_NOMEM)
			break;
		if (s != 0)
			kw_error("auth: stored role '%s' of mount '%s' is unusable: %s", ar->name,
			         am->m.path, why);
		s = 0;
	}
	kw_store_auth_roles_free(rs, n);
	return s;
}

static int mounts_load(struct keeper *k, struct keeper_mounts **out)
{
	struct keeper_mounts *ms = calloc(1, sizeof(*ms));
	struct kw_store_auth_mount *v = NULL;
	size_t n = 0;
	int s;

	if (ms == NULL)
		return KW_ERR_NOMEM;
	if ((s = kw_store_auth_mount_list(k->store, &v, &n)) != 0)
		goto out;
	if (n > 0 && (ms->v = calloc(n, sizeof(*ms->v))) == NULL) {
		kw_store_auth_mounts_free(v, n);
		s = KW_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ms->v[i].m = v[i];
		memset(&v[i], 0, sizeof(v[i]));
		ms->n++;
	}
	kw_store_auth_mounts_free(v, n);
	for (size_t i = 0; i < ms->n && s == 0; i++)
		s = mount_roles_load(k, &ms->v[i]);
out:
	if (s != 0) {
		mounts_free(ms);
		return s;
	}
	*out = ms;
	return 0;
}

/* Lock mount_mu and make sure the cache is loaded; on error the mutex is
 * released. */
static int mounts_lock(struct keeper *k)
{
	int s = 0;

	pthread_mutex_lock(&k->mount_mu);
	if (k->mounts == NULL && (s = mounts_load(k, &k->mounts)) != 0) {
		pthread_mutex_unlock(&k->mount_mu);
		kw_error("auth: the auth mounts cannot be loaded: %s", kw_err_str(s));
	}
	return s;
}

static void mounts_unlock(struct keeper *k)
{
	pthread_mutex_unlock(&k->mount_mu);
}

/* After a store write: the next reader reloads. */
static void mounts_invalidate(struct keeper *k)
{
	struct keeper_mounts *old;

	pthread_mutex_lock(&k->mount_mu);
	old = k->mounts;
	k->mounts = NULL;
	pthread_mutex_unlock(&k->mount_mu);
	mounts_free(old);
}

void keeper_mounts_purge(struct keeper *k)
{
	mounts_invalidate(k);
}

static int cmp_mount(const void *key, const void *elem)
{
	return strcmp(key, ((const struct auth_mount *)elem)->m.path);
}

static int cmp_role(const void *key, const void *elem)
{
	return strcmp(key, ((const struct auth_role *)elem)->name);
}

/* mount_mu held. The store sorts with BINARY collation, as strcmp does. */
static struct auth_mount *mount_find(struct keeper *k, const char *path)
{
	if (k->mounts->n == 0)
		return NULL;
	return bsearch(path, k->mounts->v, k->mounts->n, sizeof(*k->mounts->v), cmp_mount);
}

static struct auth_role *role_find(struct auth_mount *am, const char *name)
{
	if (am->nroles == 0)
		return NULL;
	return bsearch(name, am->roles, am->nroles, sizeof(*am->roles), cmp_role);
}

int keeper_auth_mount_type(struct keeper *k, const char *path, char *type, size_t len)
{
	struct auth_mount *am;
	int s;

	if ((s = mounts_lock(k)) != 0)
		return s;
	am = mount_find(k, path);
	s = am ? kw_strlcpy(type, am->m.type, len) : KW_ERR_NOT_FOUND;
	mounts_unlock(k);
	return s;
}

int keeper_auth_grant(struct keeper *k, const char *mount, const char *role,
                      struct keeper_grant *out)
{
	struct auth_mount *am;
	struct auth_role *ar = NULL;
	int s;

	out->missing = NULL;
	if ((s = mounts_lock(k)) != 0)
		return s;
	if ((am = mount_find(k, mount)) == NULL)
		out->missing = "mount";
	else if ((ar = role_find(am, role)) == NULL || ar->policies == NULL)
		out->missing = "role";
	if (out->missing != NULL) {
		s = KW_ERR_NOT_FOUND;
		goto out;
	}
	if ((out->policies = kw_strdup(ar->policies)) == NULL) {
		s = KW_ERR_NOMEM;
		goto out;
	}
	snprintf(out->type, sizeof(out->type), "%s", am->m.type);
	out->ttl = ar->ttl;
	out->max_ttl = ar->max_ttl;
out:
	mounts_unlock(k);
	return s;
}

void keeper_grant_cleanup(struct keeper_grant *g)
{
	free(g->policies);
	g->policies = NULL;
}

/* ---- claims ---- */

int keeper_caller_claims(const struct kw_ipc_msg *m, const char *mount, const char *role,
                         const char *method, char **out, const char **why)
{
	const char *meta = kw_ipc_str_or(m, KW_T_CALLER_META, NULL);
	json_t *o;
	char *text = NULL;
	int s = 0;

	/* The claims go into every audit entry of the caller: they must fit
	 * one audit text field. */
	if (meta != NULL && strlen(meta) > KW_AUDIT_TEXT_MAX) {
		*why = "the caller's metadata is too long";
		return KW_ERR_TOO_LARGE;
	}
	o = meta ? json_loads(meta, JSON_REJECT_DUPLICATES, NULL) : json_object();
	if (!json_is_object(o)) {
		*why = "the caller's metadata is not a JSON object";
		s = KW_ERR_INVALID;
		goto out;
	}
	/* Ours win over the front's fields of the same name. */
	if (json_object_set_new(o, "mount", json_string(mount)) != 0 ||
	    json_object_set_new(o, "role", json_string(role)) != 0 ||
	    json_object_set_new(o, "method", json_string(method)) != 0 ||
	    (text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		*why = "out of memory";
		s = KW_ERR_NOMEM;
		goto out;
	}
	if (strlen(text) > KW_AUDIT_TEXT_MAX) {
		*why = "the caller's metadata is too long";
		s = KW_ERR_TOO_LARGE;
		goto out;
	}
	*out = text;
	text = NULL;
out:
	free(text);
	json_decref(o);
	return s;
}

/* ---- requests ---- */

/* MOUNT, checked: the one path segment every auth message names. */
static int need_mount(struct kreq *r, const char **out)
{
	const char *mount = kw_ipc_str_or(r->msg, KW_T_MOUNT, NULL);

	if (!keeper_mount_name_ok(mount))
		return kreq_fail(r, KW_ERR_INVALID,
		                 "auth mount paths are 1 to %d letters, digits, '_' and '-'",
		                 KEEPER_MOUNT_MAX);
	*out = mount;
	return 0;
}

static int need_role(struct kreq *r, const char **out)
{
	const char *role = kw_ipc_str_or(r->msg, KW_T_ROLE, NULL);

	if (!object_name_ok(role))
		return kreq_fail(r, KW_ERR_INVALID,
		                 "role names are 1 to %d letters, digits, '.', '_' and '-'",
		                 KW_NAME_MAX);
	*out = role;
	return 0;
}

static bool is_token_mount(const char *mount)
{
	return strcmp(mount, "token") == 0;
}

static int no_mount(struct kreq *r, const char *mount)
{
	return kreq_fail(r, KW_ERR_NOT_FOUND, "no auth method is enabled at '%s'", mount);
}

static int mounts_unreadable(struct kreq *r)
{
	return kreq_fail(r, KW_ERR_STORE, "the auth mounts cannot be read");
}

/* The "role" or "certs" word of mount's role paths, "role" if unknown. */
static int mount_role_word(struct kreq *r, const char *mount, const char **word)
{
	char type[KW_STORE_AUTH_TYPE_MAX + 1];
	int s = keeper_auth_mount_type(r->k, mount, type, sizeof(type));

	if (s != 0 && s != KW_ERR_NOT_FOUND)
		return mounts_unreadable(r);
	*word = role_word(s == 0 ? type : NULL);
	return 0;
}

int keeper_answer_auth_list(struct kreq *r)
{
	int s;

	if ((s = keeper_authorize(r, "sys/auth", CAP_READ)) != 0)
		return s;
	if (mounts_lock(r->k) != 0)
		return mounts_unreadable(r);
	s = kw_ipc_put_str(r->reply, KW_T_MOUNT, "token");
	if (s == 0)
		s = kw_ipc_put_str(r->reply, KW_T_AUTH_TYPE, "token");
	if (s == 0)
		s = kw_ipc_put_str(r->reply, KW_T_DESCRIPTION, AUTH_TOKEN_DESCRIPTION);
	for (size_t i = 0; s == 0 && i < r->k->mounts->n; i++) {
		const struct kw_store_auth_mount *m = &r->k->mounts->v[i].m;

		if ((s = kw_ipc_put_str(r->reply, KW_T_MOUNT, m->path)) == 0 &&
		    (s = kw_ipc_put_str(r->reply, KW_T_AUTH_TYPE, m->type)) == 0)
			s = kw_ipc_put_str(r->reply, KW_T_DESCRIPTION, m->description);
	}
	mounts_unlock(r->k);
	return s ? kreq_fail(r, KW_ERR_LIMIT, "too many auth mounts for one reply") : 0;
}

int keeper_answer_auth_enable(struct kreq *r)
{
	const char *type = kw_ipc_str_or(r->msg, KW_T_AUTH_TYPE, "");
	const char *desc = kw_ipc_str_or(r->msg, KW_T_DESCRIPTION, "");
	struct kw_store_auth_mount m = {0};
	const char *mount = NULL;
	char path[KEEPER_MOUNT_MAX + 16];
	int s;

	if ((s = need_mount(r, &mount)) != 0)
		return s;
	snprintf(path, sizeof(path), "sys/auth/%s", mount);
	if ((s = keeper_authorize_any(r, path, CAP_SUDO, CAP_CREATE | CAP_UPDATE)) != 0)
		return s;
	if (is_token_mount(mount))
		return kreq_fail(r, KW_ERR_EXISTS,
		                 "the built-in token auth method cannot be enabled again");
	if (!auth_type_known(type))
		return kreq_fail(r, KW_ERR_INVALID,
		                 "unknown auth method type (known: kubernetes, jwt, cert)");
	if (!text_printable(desc, KW_STORE_AUTH_DESC_MAX))
		return kreq_fail(r, KW_ERR_INVALID,
		                 "the description is at most %d printable characters",
		                 KW_STORE_AUTH_DESC_MAX);
	snprintf(m.path, sizeof(m.path), "%s", mount);
	snprintf(m.type, sizeof(m.type), "%s", type);
	m.description = (char *)desc;
	m.created = kw_now();
	if ((s = kw_store_auth_mount_create(r->k->store, &m)) != 0)
		return kreq_fail(r, s,
		                 s == KW_ERR_EXISTS ? "an auth method is already enabled at '%s'"
		                                    : "cannot store auth mount '%s'",
		                 mount);
	mounts_invalidate(r->k);
	kw_info("req=%s: auth method %s enabled at '%s' by %s", r->req_id, type, mount,
	        r->id.display_name);
	return 0;
}

/* Vault's answer to disabling a path with nothing mounted is success. */
int keeper_answer_auth_disable(struct kreq *r)
{
	const char *mount = NULL;
	char path[KEEPER_MOUNT_MAX + 16];
	size_t revoked = 0;
	int s;

	if ((s = need_mount(r, &mount)) != 0)
		return s;
	snprintf(path, sizeof(path), "sys/auth/%s", mount);
	if ((s = keeper_authorize(r, path, CAP_SUDO | CAP_DELETE)) != 0)
		return s;
	if (is_token_mount(mount))
		return kreq_fail(r, KW_ERR_INVALID,
		                 "the built-in token auth method cannot be disabled");
	s = kw_store_auth_mount_delete(r->k->store, mount, &revoked);
	if (s != 0 && s != KW_ERR_NOT_FOUND)
		return kreq_fail(r, s, "cannot disable auth mount '%s'", mount);
	/* The store has deleted the tokens; the caches must forget them too
	 * before the reply says they are gone. */
	mounts_invalidate(r->k);
	keeper_tokens_forget_mount(r->k, mount);
	if (s == 0)
		kw_info("req=%s: auth mount '%s' disabled by %s; %zu tokens revoked", r->req_id,
		        mount, r->id.display_name, revoked);
	return 0;
}

int keeper_answer_auth_config_put(struct kreq *r)
{
	const char *config = kw_ipc_str_or(r->msg, KW_T_AUTH_CONFIG, NULL);
	const char *mount = NULL;
	char path[KEEPER_MOUNT_MAX + 16];
	int s;

	if ((s = need_mount(r, &mount)) != 0)
		return s;
	snprintf(path, sizeof(path), "auth/%s/config", mount);
	if ((s = keeper_authorize_any(r, path, 0, CAP_CREATE | CAP_UPDATE)) != 0)
		return s;
	if (config == NULL || strlen(config) > KW_STORE_AUTH_CONFIG_MAX)
		return kreq_fail(r, config ? KW_ERR_TOO_LARGE : KW_ERR_INVALID,
		                 "a configuration of at most %d bytes is required",
		                 KW_STORE_AUTH_CONFIG_MAX);
	if (!json_object_text_ok(config))
		return kreq_fail(r, KW_ERR_INVALID, "the configuration must be a JSON object");
	if ((s = kw_store_auth_mount_config_put(r->k->store, mount, config)) != 0)
		return s == KW_ERR_NOT_FOUND ? no_mount(r, mount)
		                             : kreq_fail(r, s, "cannot store the configuration");
	mounts_invalidate(r->k);
	kw_info("req=%s: auth mount '%s' configured by %s", r->req_id, mount, r->id.display_name);
	return 0;
}

int keeper_answer_auth_config_get(struct kreq *r)
{
	const struct auth_mount *am;
	const char *mount = NULL;
	char path[KEEPER_MOUNT_MAX + 16];
	int s;

	if ((s = need_mount(r, &mount)) != 0)
		return s;
	snprintf(path, sizeof(path), "auth/%s/config", mount);
	if ((s = keeper_authorize(r, path, CAP_READ)) != 0)
		return s;
	if (mounts_lock(r->k) != 0)
		return mounts_unreadable(r);
	if ((am = mount_find(r->k, mount)) == NULL)
		s = KW_ERR_NOT_FOUND;
	else if (kw_ipc_put_str(r->reply, KW_T_AUTH_TYPE, am->m.type) != 0 ||
	         kw_ipc_put_str(r->reply, KW_T_AUTH_CONFIG, am->m.config) != 0)
		s = KW_ERR_LIMIT;
	mounts_unlock(r->k);
	if (s == KW_ERR_NOT_FOUND)
		return no_mount(r, mount);
	return s ? kreq_fail(r, s, "reply too large") : 0;
}

/* MOUNT ROLE checked and the caller authorized on the role's path. */
static int role_request(struct kreq *r, unsigned all, unsigned any, const char **mount,
                        const char **role)
{
	const char *word;
	char path[sizeof(r->path)];
	int s;

	if ((s = need_mount(r, mount)) != 0 || (s = need_role(r, role)) != 0 ||
	    (s = mount_role_word(r, *mount, &word)) != 0)
		return s;
	snprintf(path, sizeof(path), "auth/%s/%s/%s", *mount, word, *role);
	return keeper_authorize_any(r, path, all, any);
}

int keeper_answer_auth_role_put(struct kreq *r)
{
	const char *body = kw_ipc_str_or(r->msg, KW_T_AUTH_ROLE, NULL);
	const char *mount = NULL, *role = NULL;
	char why[160];
	int s;

	if ((s = role_request(r, 0, CAP_CREATE | CAP_UPDATE, &mount, &role)) != 0)
		return s;
	if (body == NULL || strlen(body) > KW_STORE_AUTH_ROLE_MAX)
		return kreq_fail(r, body ? KW_ERR_TOO_LARGE : KW_ERR_INVALID,
		                 "a role of at most %d bytes is required", KW_STORE_AUTH_ROLE_MAX);
	if ((s = role_parse(body, NULL, why, sizeof(why))) != 0)
		return kreq_fail(r, s, "role '%s': %s", role, why);
	if ((s = kw_store_auth_role_put(r->k->store, mount, role, body)) != 0)
		return s == KW_ERR_NOT_FOUND ? no_mount(r, mount)
		                             : kreq_fail(r, s, "cannot store role '%s'", role);
	mounts_invalidate(r->k);
	kw_info("req=%s: role '%s' of auth mount '%s' written by %s", r->req_id, role, mount,
	        r->id.display_name);
	return 0;
}

int keeper_answer_auth_role_get(struct kreq *r)
{
	struct auth_mount *am;
	const struct auth_role *ar = NULL;
	const char *mount = NULL, *role = NULL;
	int s;

	if ((s = role_request(r, CAP_READ, 0, &mount, &role)) != 0)
		return s;
	if (mounts_lock(r->k) != 0)
		return mounts_unreadable(r);
	if ((am = mount_find(r->k, mount)) == NULL || (ar = role_find(am, role)) == NULL)
		s = KW_ERR_NOT_FOUND;
	else if (kw_ipc_put_str(r->reply, KW_T_AUTH_ROLE, ar->body) != 0)
		s = KW_ERR_LIMIT;
	mounts_unlock(r->k);
	if (am == NULL)
		return no_mount(r, mount);
	if (s == KW_ERR_NOT_FOUND)
		return kreq_fail(r, s, "role '%s' not found on auth mount '%s'", role, mount);
	return s ? kreq_fail(r, s, "reply too large") : 0;
}

int keeper_answer_auth_role_list(struct kreq *r)
{
	const struct auth_mount *am;
	const char *mount = NULL, *word = NULL;
	char path[KEEPER_MOUNT_MAX + 16];
	int s;

	if ((s = need_mount(r, &mount)) != 0 || (s = mount_role_word(r, mount, &word)) != 0)
		return s;
	snprintf(path, sizeof(path), "auth/%s/%s", mount, word);
	if ((s = keeper_authorize(r, path, CAP_LIST)) != 0)
		return s;
	if (mounts_lock(r->k) != 0)
		return mounts_unreadable(r);
	if ((am = mount_find(r->k, mount)) == NULL)
		s = KW_ERR_NOT_FOUND;
	for (size_t i = 0; am != NULL && s == 0 && i < am->nroles; i++)
		if (kw_ipc_put_str(r->reply, KW_T_ROLE, am->roles[i].name) != 0)
			s = KW_ERR_LIMIT;
	mounts_unlock(r->k);
	if (s == KW_ERR_NOT_FOUND)
		return no_mount(r, mount);
	return s ? kreq_fail(r, s, "too many roles for one reply") : 0;
}

/* Deleting a role that is not there is success (Vault); on a mount that
 * is not there it is not. */
int keeper_answer_auth_role_delete(struct kreq *r)
{
	const char *mount = NULL, *role = NULL;
	char type[KW_STORE_AUTH_TYPE_MAX + 1];
	int s;

	if ((s = role_request(r, CAP_DELETE, 0, &mount, &role)) != 0)
		return s;
	if ((s = keeper_auth_mount_type(r->k, mount, type, sizeof(type))) != 0)
		return s == KW_ERR_NOT_FOUND ? no_mount(r, mount) : mounts_unreadable(r);
	s = kw_store_auth_role_delete(r->k->store, mount, role);
	if (s != 0 && s != KW_ERR_NOT_FOUND)
		return kreq_fail(r, s, "cannot delete role '%s'", role);
	mounts_invalidate(r->k);
	kw_info("req=%s: role '%s' of auth mount '%s' deleted by %s", r->req_id, role, mount,
	        r->id.display_name);
	return 0;
}

/* The front's own request, to verify logins with: no token. */
/* AUTH_LOAD with AUTH_TYPE and no MOUNT: the names of that type's mounts,
 * so the front can find cert mounts for implicit logins after a restart
 * (AUTH_LIST answers only callers allowed to read sys/auth). */
static int auth_load_names(struct kreq *r, const char *type)
{
	int s = 0;

	snprintf(r->path, sizeof(r->path), "sys/auth");
	if (mounts_lock(r->k) != 0)
		return mounts_unreadable(r);
	for (size_t i = 0; s == 0 && i < r->k->mounts->n; i++)
		if (strcmp(r->k->mounts->v[i].m.type, type) == 0 &&
		    kw_ipc_put_str(r->reply, KW_T_MOUNT, r->k->mounts->v[i].m.path) != 0)
			s = KW_ERR_LIMIT;
	mounts_unlock(r->k);
	return s ? kreq_fail(r, s, "too many '%s' auth mounts for one reply", type) : 0;
}

int keeper_answer_auth_load(struct kreq *r)
{
	const struct auth_mount *am;
	const char *mount = NULL, *type = kw_ipc_str_or(r->msg, KW_T_AUTH_TYPE, NULL);
	int s = 0;

	if (type != NULL && kw_ipc_str_or(r->msg, KW_T_MOUNT, NULL) == NULL)
		return auth_load_names(r, type);
	if ((s = need_mount(r, &mount)) != 0)
		return s;
	snprintf(r->path, sizeof(r->path), "auth/%s", mount);
	if (mounts_lock(r->k) != 0)
		return mounts_unreadable(r);
	if ((am = mount_find(r->k, mount)) == NULL)
		s = KW_ERR_NOT_FOUND;
	else if (kw_ipc_put_str(r->reply, KW_T_AUTH_TYPE, am->m.type) != 0 ||
	         kw_ipc_put_str(r->reply, KW_T_AUTH_CONFIG, am->m.config) != 0)
		s = KW_ERR_LIMIT;
	for (size_t i = 0; am != NULL && s == 0 && i < am->nroles; i++)
		if (kw_ipc_put_str(r->reply, KW_T_ROLE, am->roles[i].name) != 0 ||
		    kw_ipc_put_str(r->reply, KW_T_AUTH_ROLE, am->roles[i].body) != 0)
			s = KW_ERR_LIMIT;
	mounts_unlock(r->k);
	if (s == KW_ERR_NOT_FOUND)
		return no_mount(r, mount);
	return s ? kreq_fail(r, s, "auth mount '%s' is too large for one reply", mount) : 0;
}

/* min(token_ttl or the default, token_max_ttl, what is left of the
 * credential): a token never outlives what it was issued for. */
static int login_ttl(struct kreq *r, const struct keeper_grant *g, int64_t *out)
{
	int64_t ttl = g->ttl > 0 ? g->ttl : KEEPER_TOKEN_TTL_DEFAULT, now = kw_now();
	uint64_t expires;

	if (g->max_ttl > 0 && ttl > g->max_ttl)
		ttl = g->max_ttl;
	if (kw_ipc_get_u64(r->msg, KW_T_CALLER_EXPIRES, &expires) == 0) {
		if (expires <= (uint64_t)now)
			return kreq_fail(r, KW_ERR_AUTH,
			                 "permission denied: the credential has "
			                 "expired");
		if (expires - (uint64_t)now < (uint64_t)ttl)
			ttl = (int64_t)(expires - (uint64_t)now);
	}
	*out = ttl;
	return 0;
}

/* The audit entry of a login names who logged in, with their claims. */
static void login_audit_as(struct kreq *r, const char *method, const char *caller,
                           const char *accessor, char *claims)
{
	snprintf(r->id.method, sizeof(r->id.method), "%s", method);
	snprintf(r->id.display_name, sizeof(r->id.display_name), "%s", caller ? caller : "");
	snprintf(r->id.accessor, sizeof(r->id.accessor), "%s", accessor ? accessor : "");
	free(r->id.claims);
	r->id.claims = claims;
	r->audit_subject = true;
}

static int login_issue(struct kreq *r, const char *mount, const char *caller,
                       const struct keeper_grant *g, int64_t ttl, char *claims)
{
	struct keeper_token_spec spec = {caller, g->policies, ttl, mount, claims};
	struct kw_store_token rec;
	char token[128];
	int s;

	if ((s = keeper_token_mint(r->k, &spec, token, sizeof(token), &rec)) != 0) {
		free(claims);
		/* The mount went away between the check and the write. */
		if (s == KW_ERR_NOT_FOUND)
			return kreq_fail(r, KW_ERR_DENIED,
			                 "permission denied: auth mount '%s' was disabled", mount);
		return kreq_fail(r, s, "cannot store the new token");
	}
	if ((s = keeper_put_token_info(r, &rec)) == 0 &&
	    kw_ipc_put_str(r->reply, KW_T_TOKEN, token) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	kw_wipe(token, sizeof(token));
	login_audit_as(r, g->type, caller, rec.accessor, claims);
	kw_store_token_cleanup(&rec);
	return s;
}

int keeper_answer_auth_login(struct kreq *r)
{
	const char *caller = kw_ipc_str_or(r->msg, KW_T_CALLER_ID, NULL);
	const char *mount = NULL, *role = NULL, *why = NULL;
	struct keeper_grant g = {0};
	char *claims = NULL;
	int64_t ttl = 0;
	int s;

	if ((s = need_mount(r, &mount)) != 0)
		return s;
	snprintf(r->path, sizeof(r->path), "auth/%s/login", mount);
	if ((s = need_role(r, &role)) != 0)
		return s;
	if (!keeper_caller_id_ok(caller))
		return kreq_fail(r, KW_ERR_INVALID,
		                 "a caller id of 1 to %d printable characters is required",
		                 KW_STORE_DISPLAY_NAME_MAX);
	if ((s = keeper_auth_grant(r->k, mount, role, &g)) != 0) {
		if (s != KW_ERR_NOT_FOUND)
			return mounts_unreadable(r);
		return kreq_fail(r, KW_ERR_DENIED, "permission denied: %s '%s' not found",
		                 g.missing, strcmp(g.missing, "mount") == 0 ? mount : role);
	}
	if ((s = login_ttl(r, &g, &ttl)) != 0 ||
	    (s = keeper_caller_claims(r->msg, mount, role, g.type, &claims, &why)) != 0) {
		if (s != r->reply->status)
			s = kreq_fail(r, s, "the caller's claims are unusable: %s", why);
		login_audit_as(r, g.type, caller, NULL, NULL);
		goto out;
	}
	s = login_issue(r, mount, caller, &g, ttl, claims);
	if (s == 0)
		kw_info("req=%s: login to '%s' role '%s' as %s: accessor %s", r->req_id, mount,
		        role, caller, r->id.accessor);
out:
	keeper_grant_cleanup(&g);
	return s;
}

/* A short stable code: kw_auth_reason's or the front's own. */
static bool reason_ok(const char *s)
{
	size_t n = s ? strnlen(s, AUTH_REASON_MAX + 1) : 0;

	if (n == 0 || n > AUTH_REASON_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/*
 * One audit entry for a refused login, answered with the refusal's status.
 * The entry's operation is "login", like an accepted one, so that a search
 * by operation finds every attempt; result_code is the reason.
 */
int keeper_answer_auth_login_failed(struct kreq *r)
{
	const char *reason = kw_ipc_str_or(r->msg, KW_T_AUTH_REASON, NULL);
	const char *role = kw_ipc_str_or(r->msg, KW_T_ROLE, NULL);
	const char *caller = kw_ipc_str_or(r->msg, KW_T_CALLER_ID, NULL);
	char type[KW_STORE_AUTH_TYPE_MAX + 1] = "none";
	const char *mount = NULL, *why = NULL;
	uint32_t fail;
	char *claims = NULL;
	int s;

	if ((s = need_mount(r, &mount)) != 0)
		return s;
	snprintf(r->path, sizeof(r->path), "auth/%s/login", mount);
	if ((role != NULL && !object_name_ok(role)) ||
	    (caller != NULL && !keeper_caller_id_ok(caller)) || !reason_ok(reason) ||
	    kw_ipc_get_u32(r->msg, KW_T_FAIL_STATUS, &fail) != 0 || fail == 0 ||
	    fail > (uint32_t)INT32_MAX || strcmp(kw_err_code(-(int)fail), "unknown") == 0)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "a refused login needs a reason code and a keyward error status");
	if ((s = keeper_auth_mount_type(r->k, mount, type, sizeof(type))) != 0 &&
	    s != KW_ERR_NOT_FOUND)
		return mounts_unreadable(r);
	/* The front's claims if usable; the refusal is logged either way. */
	if (keeper_caller_claims(r->msg, mount, role ? role : "", type, &claims, &why) != 0)
		claims = NULL;
	r->audit_operation = "login";
	r->audit_result_code = reason;
	login_audit_as(r, type, caller, NULL, claims);
	return kreq_fail(r, -(int)fail, "login refused: %s", reason);
}
