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
 *
 * Lines before the first section belong to the first server. Then the
 * environment (KEYWARD_ADDR, KEYWARD_CACERT, KEYWARD_CLIENT_CERT/KEY,
 * KEYWARD_TOKEN, KEYWARD_TOKEN_FILE; VAULT_* as fallback) overrides the first
 * server. With neither, one slot talks to KW_CLIENT_DEFAULT_ADDR. Tokens are
 * never accepted in the file itself (files get copied around); a token from
 * the environment or token_file is secret and wiped on cleanup.
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
	for (size_t i = 0; r == 0 && i < out->nservers; i++) {
		const char *l = out->servers[i].label;

		if (l != NULL && strlen(l) > P11_LABEL_BYTES)
			r = KW_ERR_CONFIG;
	}
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

static int env_override(struct p11_server *s)
{
	struct kw_client_opts o = {0};
	const char *tf = getenv("KEYWARD_TOKEN_FILE");
	int r;

	if ((r = kw_client_opts_from_env(&o)) != 0)
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
	return s->token != NULL || s->token_file != NULL;
}

int p11_server_token(const struct p11_server *s, char **out)
{
	char *t = NULL;
	size_t n;
	int r;

	if (s->token_file != NULL) {
		/* Re-read each time: rotated tokens replace the file. */
		if ((r = file_read(s->token_file, KW_CLIENT_TOKEN_MAX + 2, false, &t)) != 0)
			return r;
		n = strlen(t);
		while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r'))
			t[--n] = '\0';
		*out = t;
		return 0;
	}
	if (s->token == NULL)
		return KW_ERR_NOT_FOUND;
	if ((t = strdup(s->token)) == NULL)
		return KW_ERR_NOMEM;
	*out = t;
	return 0;
}
