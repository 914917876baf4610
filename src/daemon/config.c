/*
 * config.c: the YAML file, read into the daemon's configuration.
 *
 *   storage: { path: /var/lib/keyward/keyward.db }
 *   listeners:
 *     - address: 0.0.0.0:8200
 *       tls_cert_file: /etc/keyward/tls.crt
 *       tls_key_file: /etc/keyward/tls.key
 *       tls_client_ca_file: /etc/keyward/clients-ca.crt
 *       tls_client_auth: request        # none | request | require
 *     - address: 0.0.0.0:7443           # one port per key: a network identity
 *       tls_cert_file: /etc/keyward/tls.crt
 *       tls_key_file: /etc/keyward/tls.key
 *       identity: { name: payments-signer, policies: [payments-sign],
 *                   allow: ["10.20.0.0/16"] }
 *     - address: unix:/run/keyward/keyward.sock
 *   limits: { max_body_bytes: 1048576, threads: 4, connection_timeout: 60,
 *             connection_limit: 1024 }
 *   audit: { forced: true, dir: /var/lib/keyward/audit, sink: stdout }
 *   log_level: info
 *
 * A listener's identity goes to two places: the front's listener conf (it
 * refuses other source addresses before TLS) and the keeper's net_ids,
 * keyed by the listener's port (the keeper grants "net:<name>" and checks
 * the address again).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "config.h"

/* The front's and the keeper's copies of an identity must hold the same. */
_Static_assert(KW_LISTENER_ALLOW_MAX == KW_NET_CIDRS_MAX, "allow ranges: front vs keeper");
_Static_assert(sizeof(((struct kw_listener_identity *)0)->policies) ==
                   sizeof(((struct kw_net_identity *)0)->policies),
               "policies: front vs keeper");
_Static_assert(KW_NET_IDS_MAX >= KW_LISTENERS_MAX, "one identity per listener");

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

/* 1..KW_NAME_MAX characters of [A-Za-z0-9._-], as policy names. */
static bool name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KW_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* Call item() on each scalar of a sequence. */
static int sequence_walk(struct fy_node *seq, const char *where,
                         int (*item)(const char *v, void *ctx), void *ctx)
{
	struct fy_node *n;
	void *iter = NULL;
	char v[256];
	int r;

	if (seq == NULL || !fy_node_is_sequence(seq)) {
		kw_error("config: %s must be a list", where);
		return KW_ERR_CONFIG;
	}
	while ((n = fy_node_sequence_iterate(seq, &iter)) != NULL) {
		if ((r = scalar(n, where, v, sizeof(v))) != 0 || (r = item(v, ctx)) != 0)
			return r;
	}
	return 0;
}

/* A listener being read: its conf and what the YAML said explicitly. */
struct listener_ctx {
	struct kw_listener_conf *l;
	bool auth_given;
	bool identity_given;
};

static int policy_item(const char *v, void *ctx)
{
	struct kw_listener_identity *id = ctx;
	size_t used = strlen(id->policies);

	if (!name_valid(v)) {
		kw_error("config: listeners[].identity.policies: '%s' is not a policy name "
		         "(letters, digits, '.', '_', '-')",
		         v);
		return KW_ERR_CONFIG;
	}
	if (used + (used > 0) + strlen(v) >= sizeof(id->policies)) {
		kw_error("config: listeners[].identity.policies: the list is too long");
		return KW_ERR_CONFIG;
	}
	if (used > 0)
		strcat(id->policies, ",");
	strcat(id->policies, v);
	return 0;
}

static int allow_item(const char *v, void *ctx)
{
	struct kw_listener_identity *id = ctx;

	if (id->nallow >= KW_LISTENER_ALLOW_MAX) {
		kw_error("config: listeners[].identity.allow: at most %d ranges",
		         KW_LISTENER_ALLOW_MAX);
		return KW_ERR_CONFIG;
	}
	if (kw_cidr_parse(v, &id->allow[id->nallow]) != 0) {
		kw_error("config: listeners[].identity.allow: '%s' is not an address range such "
		         "as 10.0.0.0/8 or fd00::/8 (host bits after the prefix must be zero)",
		         v);
		return KW_ERR_CONFIG;
	}
	id->nallow++;
	return 0;
}

static int identity_field(const char *key, struct fy_node *v, void *ctx)
{
	struct kw_listener_identity *id = ctx;
	int r;

	if (strcmp(key, "name") == 0) {
		if ((r = scalar(v, "listeners[].identity.name", id->name, sizeof(id->name))) != 0)
			return r;
		if (!name_valid(id->name)) {
			kw_error("config: listeners[].identity.name must be letters, digits, '.', "
			         "'_' or '-' (the identity is net:<name>)");
			return KW_ERR_CONFIG;
		}
		return 0;
	}
	if (strcmp(key, "policies") == 0)
		return sequence_walk(v, "listeners[].identity.policies", policy_item, id);
	return sequence_walk(v, "listeners[].identity.allow", allow_item, id);
}

static int identity_load(struct fy_node *v, struct kw_listener_identity *id)
{
	static const char *const keys[] = {"name", "policies", "allow", NULL};
	int r;

	memset(id, 0, sizeof(*id));
	if ((r = mapping_walk(v, "listeners[].identity", keys, identity_field, id)) != 0)
		return r;
	if (id->name[0] == '\0') {
		kw_error("config: listeners[].identity needs a name");
		return KW_ERR_CONFIG;
	}
	/* An identity open to nobody is a typo, and one open to all must say
	 * so (0.0.0.0/0): there is no default. */
	if (id->nallow == 0) {
		kw_error("config: the network identity %s needs allow: a list of source ranges",
		         id->name);
		return KW_ERR_CONFIG;
	}
	return 0;
}

static int client_auth_parse(struct fy_node *v, enum kw_client_auth *out)
{
	char mode[16];
	int r;

	if ((r = scalar(v, "listeners[].tls_client_auth", mode, sizeof(mode))) != 0)
		return r;
	if (strcmp(mode, "none") == 0)
		*out = KW_CLIENT_AUTH_NONE;
	else if (strcmp(mode, "request") == 0)
		*out = KW_CLIENT_AUTH_REQUEST;
	else if (strcmp(mode, "require") == 0)
		*out = KW_CLIENT_AUTH_REQUIRE;
	else {
		kw_error("config: listeners[].tls_client_auth must be none, request or require");
		return KW_ERR_CONFIG;
	}
	return 0;
}

static int listener_field(const char *key, struct fy_node *v, void *ctx)
{
	struct listener_ctx *lx = ctx;
	struct kw_listener_conf *l = lx->l;

	if (strcmp(key, "address") == 0)
		return scalar(v, "listeners[].address", l->address, sizeof(l->address));
	if (strcmp(key, "tls_cert_file") == 0)
		return scalar(v, "listeners[].tls_cert_file", l->tls_cert_file,
		              sizeof(l->tls_cert_file));
	if (strcmp(key, "tls_client_ca_file") == 0)
		return scalar(v, "listeners[].tls_client_ca_file", l->tls_client_ca_file,
		              sizeof(l->tls_client_ca_file));
	if (strcmp(key, "tls_client_auth") == 0) {
		lx->auth_given = true;
		return client_auth_parse(v, &l->client_auth);
	}
	if (strcmp(key, "identity") == 0) {
		lx->identity_given = true;
		return identity_load(v, &l->identity);
	}
	return scalar(v, "listeners[].tls_key_file", l->tls_key_file, sizeof(l->tls_key_file));
}

/* A CA file alone means "request"; a mode that asks needs the file and TLS. */
static int listener_client_auth_check(struct listener_ctx *lx)
{
	struct kw_listener_conf *l = lx->l;
	bool has_ca = l->tls_client_ca_file[0] != '\0';

	if (has_ca && !lx->auth_given)
		l->client_auth = KW_CLIENT_AUTH_REQUEST;
	if (has_ca && l->client_auth == KW_CLIENT_AUTH_NONE) {
		kw_error("config: listener %s: tls_client_ca_file is set but tls_client_auth is "
		         "none; remove one of them",
		         l->address);
		return KW_ERR_CONFIG;
	}
	if (l->client_auth != KW_CLIENT_AUTH_NONE && !has_ca) {
		kw_error("config: listener %s: tls_client_auth %s needs tls_client_ca_file (the "
		         "CAs clients are asked for)",
		         l->address,
		         l->client_auth == KW_CLIENT_AUTH_REQUIRE ? "require" : "request");
		return KW_ERR_CONFIG;
	}
	if (l->client_auth != KW_CLIENT_AUTH_NONE && l->tls_cert_file[0] == '\0') {
		kw_error("config: listener %s: client certificates need TLS (tls_cert_file and "
		         "tls_key_file)",
		         l->address);
		return KW_ERR_CONFIG;
	}
	return 0;
}

/* The keeper's copy of a listener's identity, keyed by its port. */
static int listener_identity_add(struct kw_daemon_conf *c, const struct kw_listener_conf *l)
{
	struct kw_net_identity *n;
	uint16_t port;
	int r;

	r = kw_listener_address_port(l->address, &port);
	if (r == KW_ERR_INVALID) {
		kw_error("config: listener %s: a unix socket has no source address and cannot "
		         "carry a network identity",
		         l->address);
		return KW_ERR_CONFIG;
	}
	if (r != 0) {
		kw_error("config: listener %s: expected host:port or [v6]:port", l->address);
		return KW_ERR_CONFIG;
	}
	if (port == 0) {
		kw_error("config: listener %s: a listener with a network identity needs a fixed "
		         "port (the keeper knows the identity by it)",
		         l->address);
		return KW_ERR_CONFIG;
	}
	if (c->keeper.n_net_ids >= KW_NET_IDS_MAX) {
		kw_error("config: at most %d network identities", KW_NET_IDS_MAX);
		return KW_ERR_CONFIG;
	}
	n = &c->keeper.net_ids[c->keeper.n_net_ids];
	memset(n, 0, sizeof(*n));
	n->port = port;
	memcpy(n->name, l->identity.name, sizeof(n->name));
	memcpy(n->policies, l->identity.policies, sizeof(n->policies));
	memcpy(n->allow, l->identity.allow, sizeof(n->allow));
	n->nallow = l->identity.nallow;
	c->keeper.n_net_ids++;
	return 0;
}

/*
 * The keeper knows an identity by port alone, so no other listener may
 * share the port of one that carries an identity (say 127.0.0.1:7443 beside
 * 10.0.0.1:7443): its clients would be granted the identity too.
 */
static int identity_ports_check(const struct kw_daemon_conf *c)
{
	for (size_t i = 0; i < c->keeper.n_net_ids; i++) {
		const struct kw_net_identity *n = &c->keeper.net_ids[i];
		size_t holders = 0;

		for (size_t j = 0; j < c->front.nlisteners; j++) {
			uint16_t port;

			if (kw_listener_address_port(c->front.listeners[j].address, &port) == 0 &&
			    port == n->port)
				holders++;
		}
		if (holders > 1) {
			kw_error("config: port %u carries the network identity %s and is used by "
			         "another listener too; give the identity a port of its own",
			         n->port, n->name);
			return KW_ERR_CONFIG;
		}
	}
	return 0;
}

static int listener_load(struct fy_node *item, struct kw_daemon_conf *c, struct kw_listener_conf *l)
{
	static const char *const keys[] = {"address",
	                                   "tls_cert_file",
	                                   "tls_key_file",
	                                   "tls_client_ca_file",
	                                   "tls_client_auth",
	                                   "identity",
	                                   NULL};
	struct listener_ctx lx = {.l = l};
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = mapping_walk(item, "a listener", keys, listener_field, &lx)) != 0)
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
	if ((r = listener_client_auth_check(&lx)) != 0)
		return r;
	return lx.identity_given ? listener_identity_add(c, l) : 0;
}

static int listeners_load(struct fy_node *seq, struct kw_daemon_conf *c)
{
	struct fy_node *item;
	void *iter = NULL;
	int r;

	if (seq == NULL || !fy_node_is_sequence(seq)) {
		kw_error("config: listeners must be a list");
		return KW_ERR_CONFIG;
	}
	c->front.nlisteners = 0;
	c->keeper.n_net_ids = 0;
	while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
		if (c->front.nlisteners >= KW_LISTENERS_MAX) {
			kw_error("config: at most %d listeners", KW_LISTENERS_MAX);
			return KW_ERR_CONFIG;
		}
		if ((r = listener_load(item, c, &c->front.listeners[c->front.nlisteners])) != 0)
			return r;
		c->front.nlisteners++;
	}
	return identity_ports_check(c);
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
	} else if (strcmp(key, "rate") == 0) {
		if ((r = number(v, "limits.rate", 1000000, &n)) != 0)
			return r;
		c->front.rate = (unsigned)n;
	} else if (strcmp(key, "burst") == 0) {
		if ((r = number(v, "limits.burst", 1000000, &n)) != 0)
			return r;
		c->front.burst = (unsigned)n;
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
	static const char *const limits_keys[] = {
	    "max_body_bytes", "threads", "connection_timeout", "connection_limit", "rate",
	    "burst",          NULL};
	static const char *const audit_keys[] = {"forced", "dir", "sink", NULL};
	struct kw_daemon_conf *c = ctx;
	char level[16];
	int r;

	if (strcmp(key, "storage") == 0)
		return mapping_walk(v, "storage", storage_keys, storage_field, c);
	if (strcmp(key, "listeners") == 0)
		return listeners_load(v, c);
	if (strcmp(key, "limits") == 0) {
		if ((r = mapping_walk(v, "limits", limits_keys, limits_field, c)) != 0)
			return r;
		if (c->front.burst != 0 && c->front.rate == 0) {
			kw_error("config: limits.burst needs limits.rate (requests a second)");
			return KW_ERR_CONFIG;
		}
		return 0;
	}
	if (strcmp(key, "audit") == 0)
		return mapping_walk(v, "audit", audit_keys, audit_field, c);
	if (strcmp(key, "user") == 0)
		return scalar(v, "user", c->user, sizeof(c->user));
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
	static const char *const keys[] = {"storage",   "listeners", "limits", "audit",
	                                   "log_level", "user",      NULL};
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
