/*
 * store.c: the public store API. Picks the backend from the URL, checks every
 * argument once so backends only see well-formed input, and frees what the
 * store hands out. Nothing here touches a database.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"

/* Prefixes are matched case-insensitively; ops NULL means "known, not built". */
static const struct store_scheme {
	const char *prefix;
	const struct kw_store_ops *ops;
} store_schemes[] = {
    {"sqlite:", &kw_store_sqlite_ops},
    {"postgres:", NULL},
    {"postgresql:", NULL},
};

/* A NUL within cap bytes and not empty: the fixed char arrays of store.h. */
static bool fixed_str_ok(const char *s, size_t cap)
{
	return s[0] != '\0' && memchr(s, '\0', cap) != NULL;
}

static bool name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && strnlen(name, KW_NAME_MAX + 1) <= KW_NAME_MAX;
}

static bool key_ok(const struct kw_store_key *k)
{
	return k != NULL && fixed_str_ok(k->name, sizeof(k->name)) &&
	       k->pkcs11_id_len <= sizeof(k->pkcs11_id);
}

/* Versions start at 1; an empty wrap cannot be valid material. */
static bool version_ok(const struct kw_store_version *v)
{
	return v != NULL && v->version >= 1 && v->wrapped != NULL && v->wrapped_len > 0;
}

static bool token_ok(const struct kw_store_token *t)
{
	/* An empty display name is allowed (Vault tokens may have none), and
	 * an empty mount means the token belongs to none. */
	return t != NULL && fixed_str_ok(t->accessor, sizeof(t->accessor)) &&
	       memchr(t->display_name, '\0', sizeof(t->display_name)) != NULL &&
	       memchr(t->mount, '\0', sizeof(t->mount)) != NULL;
}

/* NULL means the default text; anything else must fit max. */
static bool text_ok(const char *s, size_t max)
{
	return s == NULL || strnlen(s, max + 1) <= max;
}

static bool mount_ok(const struct kw_store_auth_mount *m)
{
	return m != NULL && fixed_str_ok(m->path, sizeof(m->path)) &&
	       fixed_str_ok(m->type, sizeof(m->type)) &&
	       text_ok(m->description, KW_STORE_AUTH_DESC_MAX) &&
	       text_ok(m->config, KW_STORE_AUTH_CONFIG_MAX);
}

/*
 * "sqlite:/path", "sqlite:///path" or a bare path. The URL is never logged:
 * a PostgreSQL one may carry a password.
 */
static int store_pick_backend(const char *url, const struct kw_store_ops **ops,
                              const char **location)
{
	const char *loc = url;
	const struct kw_store_ops *found = &kw_store_sqlite_ops;

	for (size_t i = 0; i < KW_ARRAY_LEN(store_schemes); i++) {
		const struct store_scheme *sc = &store_schemes[i];
		size_t len = strlen(sc->prefix);

		if (strncasecmp(url, sc->prefix, len) != 0)
			continue;
		if (sc->ops == NULL) {
			kw_error("store: the %.*s backend is not built into this keyward",
			         (int)(len - 1), sc->prefix);
			return KW_ERR_UNSUPPORTED;
		}
		found = sc->ops;
		loc = url + len;
		if (strncmp(loc, "//", 2) == 0)
			loc += 2;
		break;
	}
	if (loc == url && strstr(url, "://") != NULL) {
		kw_error("store: unknown store URL scheme");
		return KW_ERR_UNSUPPORTED;
	}
	if (loc[0] == '\0') {
		kw_error("store: the store URL names no database");
		return KW_ERR_INVALID;
	}
	*ops = found;
	*location = loc;
	return 0;
}

int kw_store_open(const char *url, struct kw_store **out)
{
	const struct kw_store_ops *ops;
	const char *location;
	struct kw_store *s;
	int ret;

	if (url == NULL || out == NULL)
		return KW_ERR_INVALID;
	ret = store_pick_backend(url, &ops, &location);
	if (ret)
		return ret;
	ret = ops->open(location, &s);
	if (ret)
		return ret;
	*out = s;
	return 0;
}

void kw_store_close(struct kw_store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

int kw_store_schema_version(struct kw_store *s)
{
	if (s == NULL)
		return KW_ERR_INVALID;
	return s->schema_version;
}

int kw_store_meta_get(struct kw_store *s, const char *name, uint8_t **val, size_t *len)
{
	if (s == NULL || !name_ok(name) || val == NULL || len == NULL)
		return KW_ERR_INVALID;
	return s->ops->meta_get(s, name, val, len);
}

int kw_store_meta_put(struct kw_store *s, const char *name, const uint8_t *val, size_t len)
{
	if (s == NULL || !name_ok(name) || (val == NULL && len > 0))
		return KW_ERR_INVALID;
	return s->ops->meta_put(s, name, val, len);
}

int kw_store_object_put(struct kw_store *s, const char *name, const uint8_t *blob, size_t len)
{
	if (s == NULL || !name_ok(name) || blob == NULL || len == 0 || len > KW_STORE_OBJECT_MAX)
		return KW_ERR_INVALID;
	return s->ops->object_put(s, name, blob, len);
}

int kw_store_object_get(struct kw_store *s, const char *name, uint8_t **blob, size_t *len)
{
	if (s == NULL || !name_ok(name) || blob == NULL || len == NULL)
		return KW_ERR_INVALID;
	return s->ops->object_get(s, name, blob, len);
}

int kw_store_object_delete(struct kw_store *s, const char *name)
{
	if (s == NULL || !name_ok(name))
		return KW_ERR_INVALID;
	return s->ops->object_delete(s, name);
}

int kw_store_object_list(struct kw_store *s, char ***names, size_t *n)
{
	if (s == NULL || names == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->object_list(s, names, n);
}

int kw_store_key_create(struct kw_store *s, const struct kw_store_key *k,
                        const struct kw_store_version *v)
{
	if (s == NULL || !key_ok(k) || !version_ok(v))
		return KW_ERR_INVALID;
	return s->ops->key_create(s, k, v);
}

int kw_store_key_load(struct kw_store *s, const char *name, struct kw_store_key *out)
{
	if (s == NULL || !name_ok(name) || out == NULL)
		return KW_ERR_INVALID;
	return s->ops->key_load(s, name, out);
}

int kw_store_key_update(struct kw_store *s, const struct kw_store_key *k)
{
	if (s == NULL || !key_ok(k))
		return KW_ERR_INVALID;
	return s->ops->key_update(s, k);
}

int kw_store_key_add_version(struct kw_store *s, const struct kw_store_key *k,
                             const struct kw_store_version *v)
{
	if (s == NULL || !key_ok(k) || !version_ok(v))
		return KW_ERR_INVALID;
	return s->ops->key_add_version(s, k, v);
}

int kw_store_key_rewrap(struct kw_store *s, const struct kw_store_key *k,
                        const struct kw_store_version *vs, size_t n)
{
	if (s == NULL || !key_ok(k) || (n > 0 && vs == NULL))
		return KW_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if (!version_ok(&vs[i]))
			return KW_ERR_INVALID;
	return s->ops->key_rewrap(s, k, vs, n);
}

int kw_store_key_versions(struct kw_store *s, const char *name, struct kw_store_version **vs,
                          size_t *n)
{
	if (s == NULL || !name_ok(name) || vs == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->key_versions(s, name, vs, n);
}

void kw_store_versions_free(struct kw_store_version *vs, size_t n)
{
	if (vs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(vs[i].wrapped);
	free(vs);
}

int kw_store_key_delete(struct kw_store *s, const char *name)
{
	if (s == NULL || !name_ok(name))
		return KW_ERR_INVALID;
	return s->ops->key_delete(s, name);
}

int kw_store_key_list(struct kw_store *s, char ***names, size_t *n)
{
	if (s == NULL || names == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->key_list(s, names, n);
}

void kw_store_names_free(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int kw_store_token_put(struct kw_store *s, const struct kw_store_token *t)
{
	if (s == NULL || !token_ok(t))
		return KW_ERR_INVALID;
	return s->ops->token_put(s, t);
}

int kw_store_token_get(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES],
                       struct kw_store_token *out)
{
	if (s == NULL || hash == NULL || out == NULL)
		return KW_ERR_INVALID;
	return s->ops->token_get(s, hash, out);
}

int kw_store_token_get_by_accessor(struct kw_store *s, const char *accessor,
                                   struct kw_store_token *out)
{
	if (s == NULL || accessor == NULL || accessor[0] == '\0' || out == NULL ||
	    strnlen(accessor, 2 * KW_ACCESSOR_BYTES + 1) > 2 * KW_ACCESSOR_BYTES)
		return KW_ERR_INVALID;
	return s->ops->token_get_by_accessor(s, accessor, out);
}

int kw_store_token_delete(struct kw_store *s, const uint8_t hash[KW_TOKEN_HASH_BYTES])
{
	if (s == NULL || hash == NULL)
		return KW_ERR_INVALID;
	return s->ops->token_delete(s, hash);
}

int kw_store_token_purge_expired(struct kw_store *s, int64_t now, size_t *n)
{
	if (s == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->token_purge_expired(s, now, n);
}

void kw_store_token_cleanup(struct kw_store_token *t)
{
	if (t == NULL)
		return;
	free(t->policies);
	free(t->meta);
	t->policies = NULL;
	t->meta = NULL;
}

int kw_store_policy_put(struct kw_store *s, const char *name, const char *json)
{
	if (s == NULL || !name_ok(name) || json == NULL)
		return KW_ERR_INVALID;
	return s->ops->policy_put(s, name, json);
}

int kw_store_policy_get(struct kw_store *s, const char *name, char **json)
{
	if (s == NULL || !name_ok(name) || json == NULL)
		return KW_ERR_INVALID;
	return s->ops->policy_get(s, name, json);
}

int kw_store_policy_delete(struct kw_store *s, const char *name)
{
	if (s == NULL || !name_ok(name))
		return KW_ERR_INVALID;
	return s->ops->policy_delete(s, name);
}

int kw_store_policy_list(struct kw_store *s, char ***names, size_t *n)
{
	if (s == NULL || names == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->policy_list(s, names, n);
}

int kw_store_auth_mount_create(struct kw_store *s, const struct kw_store_auth_mount *m)
{
	if (s == NULL || !mount_ok(m))
		return KW_ERR_INVALID;
	return s->ops->auth_mount_create(s, m);
}

int kw_store_auth_mount_load(struct kw_store *s, const char *path, struct kw_store_auth_mount *out)
{
	if (s == NULL || !name_ok(path) || out == NULL)
		return KW_ERR_INVALID;
	return s->ops->auth_mount_load(s, path, out);
}

int kw_store_auth_mount_list(struct kw_store *s, struct kw_store_auth_mount **ms, size_t *n)
{
	if (s == NULL || ms == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->auth_mount_list(s, ms, n);
}

int kw_store_auth_mount_config_put(struct kw_store *s, const char *path, const char *json)
{
	if (s == NULL || !name_ok(path) || json == NULL || !text_ok(json, KW_STORE_AUTH_CONFIG_MAX))
		return KW_ERR_INVALID;
	return s->ops->auth_mount_config_put(s, path, json);
}

int kw_store_auth_mount_delete(struct kw_store *s, const char *path, size_t *revoked)
{
	size_t n = 0;
	int ret;

	if (s == NULL || !name_ok(path))
		return KW_ERR_INVALID;
	ret = s->ops->auth_mount_delete(s, path, &n);
	if (ret == 0 && revoked != NULL)
		*revoked = n;
	return ret;
}

void kw_store_auth_mount_cleanup(struct kw_store_auth_mount *m)
{
	if (m == NULL)
		return;
	free(m->description);
	free(m->config);
	m->description = NULL;
	m->config = NULL;
}

void kw_store_auth_mounts_free(struct kw_store_auth_mount *ms, size_t n)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		kw_store_auth_mount_cleanup(&ms[i]);
	free(ms);
}

int kw_store_auth_role_put(struct kw_store *s, const char *mount, const char *name,
                           const char *json)
{
	if (s == NULL || !name_ok(mount) || !name_ok(name) || json == NULL ||
	    !text_ok(json, KW_STORE_AUTH_ROLE_MAX))
		return KW_ERR_INVALID;
	return s->ops->auth_role_put(s, mount, name, json);
}

int kw_store_auth_role_get(struct kw_store *s, const char *mount, const char *name, char **json)
{
	if (s == NULL || !name_ok(mount) || !name_ok(name) || json == NULL)
		return KW_ERR_INVALID;
	return s->ops->auth_role_get(s, mount, name, json);
}

int kw_store_auth_role_delete(struct kw_store *s, const char *mount, const char *name)
{
	if (s == NULL || !name_ok(mount) || !name_ok(name))
		return KW_ERR_INVALID;
	return s->ops->auth_role_delete(s, mount, name);
}

int kw_store_auth_role_list(struct kw_store *s, const char *mount, char ***names, size_t *n)
{
	if (s == NULL || !name_ok(mount) || names == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->auth_role_list(s, mount, names, n);
}

int kw_store_auth_role_load_all(struct kw_store *s, const char *mount,
                                struct kw_store_auth_role **rs, size_t *n)
{
	if (s == NULL || !name_ok(mount) || rs == NULL || n == NULL)
		return KW_ERR_INVALID;
	return s->ops->auth_role_load_all(s, mount, rs, n);
}

void kw_store_auth_roles_free(struct kw_store_auth_role *rs, size_t n)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(rs[i].body);
	free(rs);
}
