/*
 * config.c: where the module finds its servers. The file named by
 * KEYWARD_PKCS11_CONF, else /etc/keyward/pkcs11.conf (absent is fine), holds
 * one "[server]" section per slot of "key = value" lines:
 *
 *   [server]
 *   label       = prod            # token label, at most 32 bytes
 *   address     = https://keyward.example:8200
 *   ca_cert     = /etc/keyward/ca.pem
 *   client_cert = /etc/keyward/client.pem   # mTLS, with client_key
 *   client_key  = /etc/keyward/client.key
 *   token_file  = /run/secrets/keyward-token  # read at each C_Login
 *   kubernetes_role = payments                 # auto-login (auth.c)
 *   kubernetes_mount = kubernetes
 *   service_account_token_file = /var/run/secrets/kubernetes.io/serviceaccount/token
 *
 * Lines before the first section belong to the first server. Then the
 * environment (KEYWARD_ADDR, KEYWARD_CACERT, KEYWARD_CLIENT_CERT/KEY,
 * KEYWARD_TOKEN, KEYWARD_TOKEN_FILE, KEYWARD_KUBERNETES_ROLE,
 * KEYWARD_KUBERNETES_MOUNT, KEYWARD_SERVICE_ACCOUNT_TOKEN_FILE; VAULT_* as
 * fallback for the client settings) overrides the first server. With
 * neither, one slot talks to KW_CLIENT_DEFAULT_ADDR. Tokens are never
 * accepted in the file itself (files get copied around); a token from the
 * environment or token_file is secret and wiped on cleanup. A kubernetes
 * mount and the service-account token file get their defaults when a role
 * is set.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

#define CONF_FILE_MAX (64u << 10)

static void str_purge(char **s, bool secret)
{
	if (*s == NULL)
		return;
	if (secret)
		kw_wipe(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

void p11_conf_cleanup(struct p11_conf *c)
{
	for (size_t i = 0; i < P11_SLOTS_MAX; i++) {
		struct p11_server *s = &c->servers[i];

		str_purge(&s->label, false);
		str_purge(&s->address, false);
		str_purge(&s->ca_cert, false);
		str_purge(&s->client_cert, false);
		str_purge(&s->client_key, false);
		str_purge(&s->token_file, false);
		str_purge(&s->k8s_role, false);
		str_purge(&s->k8s_mount, false);
		str_purge(&s->sa_token_file, false);
		str_purge(&s->token, true);
	}
	c->nservers = 0;
}

static int str_set(char **dst, const char *v, size_t len)
{
	char *s = strndup(v, len);

	if (s == NULL)
		return KW_ERR_NOMEM;
	str_purge(dst, false);
	*dst = s;
	return 0;
}

static char **server_field(struct p11_server *s, const char *key, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
	    {"label", offsetof(struct p11_server, label)},
	    {"address", offsetof(struct p11_server, address)},
	    {"ca_cert", offsetof(struct p11_server, ca_cert)},
	    {"client_cert", offsetof(struct p11_server, client_cert)},
	    {"client_key", offsetof(struct p11_server, client_key)},
	    {"token_file", offsetof(struct p11_server, token_file)},
	    {"kubernetes_role", offsetof(struct p11_server, k8s_role)},
	    {"kubernetes_mount", offsetof(struct p11_server, k8s_mount)},
	    {"service_account_token_file", offsetof(struct p11_server, sa_token_file)},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(fields); i++)
		if (strlen(fields[i].name) == len && memcmp(fields[i].name, key, len) == 0)
			return (char **)((char *)s + fields[i].off);
	return NULL;
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && isspace((unsigned char)**b))
		(*b)++;
	while (*e > *b && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* One line (without its newline) into out. */
static int conf_line(const char *b, const char *e, struct p11_conf *out)
{
	const char *hash = memchr(b, '#', (size_t)(e - b));
	const char *eq, *kb, *ke, *vb, *ve;
	char **field;

	if (hash != NULL)
		e = hash;
	trim(&b, &e);
	if (b == e)
		return 0;
	if (e - b == 8 && memcmp(b, "[server]", 8) == 0) {
		if (out->nservers == P11_SLOTS_MAX)
			return KW_ERR_LIMIT;
		out->nservers++;
		return 0;
	}
	if ((eq = memchr(b, '=', (size_t)(e - b))) == NULL)
		return KW_ERR_CONFIG;
	kb = b, ke = eq, vb = eq + 1, ve = e;
	trim(&kb, &ke);
	trim(&vb, &ve);
	if (out->nservers == 0)
		out->nservers = 1;
	field = server_field(&out->servers[out->nservers - 1], kb, (size_t)(ke - kb));
	if (field == NULL || vb == ve)
		return KW_ERR_CONFIG;
	return str_set(field, vb, (size_t)(ve - vb));
}

/* An auth mount is one path segment of 1 to 64 [A-Za-z0-9_-] (docs/api.md). */
static bool mount_valid(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > P11_MOUNT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)m[i]) && m[i] != '_' && m[i] != '-')
			return false;
	return true;
}

/* Defaults and checks once file and environment are in. */
static int server_finish(struct p11_server *s)
{
	if (s->label != NULL && strlen(s->label) > P11_LABEL_BYTES)
		return KW_ERR_CONFIG;
	if (s->k8s_role == NULL)
		return 0;
	if (strlen(s->k8s_role) > KW_CLIENT_NAME_MAX)
		return KW_ERR_CONFIG;
	if (s->k8s_mount == NULL &&
	    str_set(&s->k8s_mount, P11_K8S_MOUNT, strlen(P11_K8S_MOUNT)) != 0)
		return KW_ERR_NOMEM;
	if (s->sa_token_file == NULL &&
	    str_set(&s->sa_token_file, P11_SA_TOKEN_FILE, strlen(P11_SA_TOKEN_FILE)) != 0)
		return KW_ERR_NOMEM;
	return mount_valid(s->k8s_mount) ? 0 : KW_ERR_CONFIG;
}

int p11_conf_parse(const char *text, struct p11_conf *out)
{
	const char *p = text;
	int r = 0;

	while (*p != '\0' && r == 0) {
		const char *nl = strchr(p, '\n');
		const char *e = nl ? nl : p + strlen(p);

		r = conf_line(p, e, out);
		p = nl ? nl + 1 : e;
	}
	for (size_t i = 0; r == 0 && i < out->nservers; i++)
		r = server_finish(&out->servers[i]);
	return r;
}

static int file_read(const char *path, size_t max, bool missing_ok, char **out)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int r = 0;

	if (f == NULL)
		return (missing_ok && errno == ENOENT) ? KW_ERR_NOT_FOUND : KW_ERR_IO;
	if ((buf = malloc(max + 1)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		r = n > max ? KW_ERR_TOO_LARGE : KW_ERR_IO;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (buf != NULL) {
		kw_wipe(buf, max + 1);
		free(buf);
	}
	fclose(f);
	return r;
}

/* One KEYWARD_* variable over a field; empty counts as unset. */
static int env_field(char **dst, const char *var)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0')
		return 0;
	return str_set(dst, v, strlen(v));
}

static int env_override(struct p11_server *s)
{
	struct kw_client_opts o = {0};
	const char *tf = getenv("KEYWARD_TOKEN_FILE");
	int r;

	if ((r = kw_client_opts_from_env(&o)) != 0)
		return r;
	if ((r = env_field(&s->k8s_role, "KEYWARD_KUBERNETES_ROLE")) != 0 ||
	    (r = env_field(&s->k8s_mount, "KEYWARD_KUBERNETES_MOUNT")) != 0 ||
	    (r = env_field(&s->sa_token_file, "KEYWARD_SERVICE_ACCOUNT_TOKEN_FILE")) != 0)
		return r;
	if (o.address != NULL && (r = str_set(&s->address, o.address, strlen(o.address))) != 0)
		return r;
	if (o.ca_cert != NULL && (r = str_set(&s->ca_cert, o.ca_cert, strlen(o.ca_cert))) != 0)
		return r;
	if (o.client_cert != NULL &&
	    (r = str_set(&s->client_cert, o.client_cert, strlen(o.client_cert))) != 0)
		return r;
	if (o.client_key != NULL &&
	    (r = str_set(&s->client_key, o.client_key, strlen(o.client_key))) != 0)
		return r;
	if (tf != NULL && *tf != '\0' && (r = str_set(&s->token_file, tf, strlen(tf))) != 0)
		return r;
	if (o.token != NULL) {
		str_purge(&s->token, true);
		if ((s->token = strdup(o.token)) == NULL)
			return KW_ERR_NOMEM;
	}
	return 0;
}

int p11_conf_load(struct p11_conf *out)
{
	const char *path = getenv("KEYWARD_PKCS11_CONF");
	char *text = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = file_read(path && *path ? path : P11_DEFAULT_CONF, CONF_FILE_MAX, !(path && *path),
	              &text);
	if (r == 0) {
		r = p11_conf_parse(text, out);
		free(text);
	} else if (r == KW_ERR_NOT_FOUND) {
		r = 0;
	}
	if (r == 0 && out->nservers == 0)
		out->nservers = 1;
	if (r == 0)
		r = env_override(&out->servers[0]);
	if (r == 0)
		r = server_finish(&out->servers[0]);
	for (size_t i = 0; r == 0 && i < out->nservers; i++)
		if (out->servers[i].label == NULL &&
		    (out->servers[i].label = strdup(P11_DEFAULT_LABEL)) == NULL)
			r = KW_ERR_NOMEM;
	if (r != 0)
		p11_conf_cleanup(out);
	return r;
}

bool p11_server_auto_login(const struct p11_server *s)
{
	return s->token != NULL || s->token_file != NULL || s->k8s_role != NULL;
}

int p11_file_read(const char *path, size_t max, char **out)
{
	return file_read(path, max, false, out);
}
