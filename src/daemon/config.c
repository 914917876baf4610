/*
 * config.c: the YAML file, read into the daemon's configuration.
 *
 *   storage: { path: /var/lib/keyward/keyward.db }
 *   listeners:
 *     - address: 0.0.0.0:8200
 *       tls_cert_file: /etc/keyward/tls.crt
 *       tls_key_file: /etc/keyward/tls.key
 *     - address: unix:/run/keyward/keyward.sock
 *   limits: { max_body_bytes: 1048576, threads: 4, connection_timeout: 60,
 *             connection_limit: 1024 }
 *   audit: { forced: true, dir: /var/lib/keyward/audit, sink: stdout }
 *   log_level: info
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "config.h"

void kw_config_defaults(struct kw_daemon_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->front.max_body_bytes = KW_BODY_MAX_DEFAULT;
	c->front.connection_timeout = 60;
	c->front.connection_limit = 1024;
	c->log_level = KW_LOG_INFO;
}

static int scalar(struct fy_node *n, const char *key, char *out, size_t outlen)
{
	const char *v;
	size_t len;

	if (n == NULL || !fy_node_is_scalar(n) || (v = fy_node_get_scalar(n, &len)) == NULL) {
		kw_error("config: %s must be a string", key);
		return KW_ERR_CONFIG;
	}
	if (len >= outlen || memchr(v, '\0', len) != NULL) {
		kw_error("config: %s is too long", key);
		return KW_ERR_CONFIG;
	}
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

static int number(struct fy_node *n, const char *key, unsigned long long max,
                  unsigned long long *out)
{
	char buf[32], *end;
	unsigned long long v;
	int r;

	if ((r = scalar(n, key, buf, sizeof(buf))) != 0)
		return r;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0 || *end != '\0' || buf[0] == '\0' || buf[0] == '-' || v > max) {
		kw_error("config: %s must be a whole number up to %llu", key, max);
		return KW_ERR_CONFIG;
	}
	*out = v;
	return 0;
}

/* Walk a mapping, calling the handler for each known key. */
static int mapping_walk(struct fy_node *map, const char *where, const char *const *keys,
                        int (*field)(const char *key, struct fy_node *v, void *ctx), void *ctx)
{
	struct fy_node_pair *pair;
	void *iter = NULL;

	if (map == NULL || !fy_node_is_mapping(map)) {
		kw_error("config: %s must be a mapping", where);
		return KW_ERR_CONFIG;
	}
	while ((pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
		struct fy_node *kn = fy_node_pair_key(pair);
		const char *k;
		size_t klen;
		size_t i;
		char key[64];
		int r;

		if (kn == NULL || !fy_node_is_scalar(kn) ||
		    (k = fy_node_get_scalar(kn, &klen)) == NULL || klen >= sizeof(key)) {
			kw_error("config: %s has a key that is not a short string", where);
			return KW_ERR_CONFIG;
		}
		memcpy(key, k, klen);
		key[klen] = '\0';
		for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
			;
		if (keys[i] == NULL) {
			kw_error("config: unknown key '%s' in %s", key, where);
			return KW_ERR_CONFIG;
		}
		if ((r = field(key, fy_node_pair_value(pair), ctx)) != 0)
			return r;
	}
	return 0;
}

static int listener_field(const char *key, struct fy_node *v, void *ctx)
{
	struct kw_listener_conf *l = ctx;

	if (strcmp(key, "address") == 0)
		return scalar(v, "listeners[].address", l->address, sizeof(l->address));
	if (strcmp(key, "tls_cert_file") == 0)
		return scalar(v, "listeners[].tls_cert_file", l->tls_cert_file,
		              sizeof(l->tls_cert_file));
	return scalar(v, "listeners[].tls_key_file", l->tls_key_file, sizeof(l->tls_key_file));
}

static int listeners_load(struct fy_node *seq, struct kw_daemon_conf *c)
{
	static const char *const keys[] = {"address", "tls_cert_file", "tls_key_file", NULL};
	struct fy_node *item;
	void *iter = NULL;
	int r;

	if (seq == NULL || !fy_node_is_sequence(seq)) {
		kw_error("config: listeners must be a list");
		return KW_ERR_CONFIG;
	}
	c->front.nlisteners = 0;
	while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
		struct kw_listener_conf *l;

		if (c->front.nlisteners >= KW_LISTENERS_MAX) {
			kw_error("config: at most %d listeners", KW_LISTENERS_MAX);
			return KW_ERR_CONFIG;
		}
		l = &c->front.listeners[c->front.nlisteners];
		memset(l, 0, sizeof(*l));
		if ((r = mapping_walk(item, "a listener", keys, listener_field, l)) != 0)
			return r;
		if (l->address[0] == '\0') {
			kw_error("config: every listener needs an address");
			return KW_ERR_CONFIG;
		}
		if ((l->tls_cert_file[0] == '\0') != (l->tls_key_file[0] == '\0')) {
			kw_error("config: listener %s needs both tls_cert_file and tls_key_file",
			         l->address);
			return KW_ERR_CONFIG;
		}
		c->front.nlisteners++;
	}
	return 0;
}

static int storage_field(const char *key, struct fy_node *v, void *ctx)
{
	struct kw_daemon_conf *c = ctx;
	return scalar(v, "storage.path", c->storage_path, sizeof(c->storage_path));
}

static int limits_field(const char *key, struct fy_node *v, void *ctx)
{
	struct kw_daemon_conf *c = ctx;
	unsigned long long n;
	int r;

	if (strcmp(key, "max_body_bytes") == 0) {
		if ((r = number(v, "limits.max_body_bytes", KW_BODY_MAX_LIMIT, &n)) != 0)
			return r;
		if (n < 1024) {
			kw_error("config: limits.max_body_bytes must be at least 1024");
			return KW_ERR_CONFIG;
		}
		c->front.max_body_bytes = n;
	} else if (strcmp(key, "threads") == 0) {
		if ((r = number(v, "limits.threads", 256, &n)) != 0)
			return r;
		c->front.threads = (unsigned)n;
	} else if (strcmp(key, "connection_timeout") == 0) {
		if ((r = number(v, "limits.connection_timeout", 86400, &n)) != 0)
			return r;
		c->front.connection_timeout = (unsigned)n;
	} else {
		if ((r = number(v, "limits.connection_limit", 1000000, &n)) != 0)
			return r;
		c->front.connection_limit = (unsigned)n;
	}
	return 0;
}

static int boolean(struct fy_node *n, const char *key, bool *out)
{
	char buf[8];
	int r;

	if ((r = scalar(n, key, buf, sizeof(buf))) != 0)
		return r;
	if (strcmp(buf, "true") == 0 || strcmp(buf, "false") == 0) {
		*out = buf[0] == 't';
		return 0;
	}
	kw_error("config: %s must be true or false", key);
	return KW_ERR_CONFIG;
}

static int audit_field(const char *key, struct fy_node *v, void *ctx)
{
	struct kw_daemon_conf *c = ctx;
	bool forced;
	int r;

	if (strcmp(key, "dir") == 0)
		return scalar(v, "audit.dir", c->keeper.audit_dir, sizeof(c->keeper.audit_dir));
	if (strcmp(key, "sink") == 0)
		return scalar(v, "audit.sink", c->keeper.audit_sink, sizeof(c->keeper.audit_sink));
	if ((r = boolean(v, "audit.forced", &forced)) != 0)
		return r;
	c->keeper.audit_unforced = !forced;
	return 0;
}

static int top_field(const char *key, struct fy_node *v, void *ctx)
{
	static const char *const storage_keys[] = {"path", NULL};
	static const char *const limits_keys[] = {"max_body_bytes", "threads", "connection_timeout",
	                                          "connection_limit", NULL};
	static const char *const audit_keys[] = {"forced", "dir", "sink", NULL};
	struct kw_daemon_conf *c = ctx;
	char level[16];
	int r;

	if (strcmp(key, "storage") == 0)
		return mapping_walk(v, "storage", storage_keys, storage_field, c);
	if (strcmp(key, "listeners") == 0)
		return listeners_load(v, c);
	if (strcmp(key, "limits") == 0)
		return mapping_walk(v, "limits", limits_keys, limits_field, c);
	if (strcmp(key, "audit") == 0)
		return mapping_walk(v, "audit", audit_keys, audit_field, c);
	if ((r = scalar(v, "log_level", level, sizeof(level))) != 0)
		return r;
	if (kw_log_level_from_name(level, &c->log_level) != 0) {
		kw_error("config: log_level must be debug, info, warn or error");
		return KW_ERR_CONFIG;
	}
	return 0;
}

int kw_config_load(const char *path, struct kw_daemon_conf *c)
{
	static const char *const keys[] = {"storage", "listeners", "limits",
	                                   "audit",   "log_level", NULL};
	struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2};
	struct fy_document *doc = fy_document_build_from_file(&pcfg, path);
	int r;

	if (doc == NULL) {
		kw_error("config: cannot read %s as YAML", path);
		return KW_ERR_CONFIG;
	}
	r = mapping_walk(fy_document_root(doc), "the configuration", keys, top_field, c);
	fy_document_destroy(doc);
	return r;
}
