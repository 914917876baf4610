/*
 * client.c: the client handle's life: settings from the environment, the
 * shared pool (curl share, idle connections), easy-handle setup, tokens and
 * the per-handle error record.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
	/* Never cleaned up: a library cannot know when its host stops using curl. */
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *env_first(const char *a, const char *b)
{
	const char *v = getenv(a);

	if (v != NULL && *v != '\0')
		return v;
	v = getenv(b);
	return (v != NULL && *v != '\0') ? v : NULL;
}

int kw_client_opts_from_env(struct kw_client_opts *o)
{
	struct kw_client_opts r = {0};
	const char *timeout;

	r.address = env_first("KEYWARD_ADDR", "VAULT_ADDR");
	r.token = env_first("KEYWARD_TOKEN", "VAULT_TOKEN");
	r.ca_cert = env_first("KEYWARD_CACERT", "VAULT_CACERT");
	r.client_cert = env_first("KEYWARD_CLIENT_CERT", "VAULT_CLIENT_CERT");
	r.client_key = env_first("KEYWARD_CLIENT_KEY", "VAULT_CLIENT_KEY");
	timeout = env_first("KEYWARD_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT");
	if (timeout != NULL) {
		int64_t s;

		if (kw_duration_parse(timeout, &s) != 0 || s <= 0 || s > 86400)
			return KW_ERR_CONFIG;
		r.timeout_ms = (long)s * 1000;
	}
	*o = r;
	return 0;
}

/* --- pool -------------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct client_pool *p = userp;

	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&p->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
	struct client_pool *p = userp;

	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&p->share_locks[data]);
}

static void pool_destroy(struct client_pool *p)
{
	for (size_t i = 0; i < p->nidle; i++)
		curl_easy_cleanup(p->idle[i]);
	/* Only after every easy handle is gone: curl refuses to free a share in use. */
	if (p->share != NULL)
		curl_share_cleanup(p->share);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->share_locks[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->base_url);
	free(p->unix_path);
	free(p->ca_cert);
	free(p->client_cert);
	free(p->client_key);
	free(p);
}

static int pool_share_init(struct client_pool *p)
{
	p->share = curl_share_init();
	if (p->share == NULL)
		return KW_ERR_NOMEM;
	/*
	 * DNS and TLS sessions only. The connection cache is not shared:
	 * libcurl does not support one used by concurrent threads
	 * (CURLSHOPT_SHARE, KNOWN_BUGS "A shared connection cache is not
	 * thread-safe"); idle connections are pooled as whole easy handles.
	 */
	if (curl_share_setopt(p->share, CURLSHOPT_USERDATA, p) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
		return KW_ERR_INTERNAL;
	return 0;
}

int kw_client_opts_check(const struct kw_client_opts *o, const char **why)
{
	struct client_addr a = {0};
	const char *w = NULL;

	if (client_addr_parse(o->address ? o->address : KW_CLIENT_DEFAULT_ADDR, &a) != 0)
		w = "the address must be http://HOST[:PORT], https://HOST[:PORT] or unix:/PATH";
	else if (o->token != NULL && !client_token_valid(o->token))
		w = "the token must be 1 to 4096 printable ASCII characters without spaces";
	else if ((o->client_cert == NULL) != (o->client_key == NULL))
		w = "a client certificate needs its key, and a key its certificate";
	else if (o->connect_timeout_ms < 0 || o->timeout_ms < 0)
		w = "timeouts cannot be negative";
	client_addr_cleanup(&a);
	if (w == NULL)
		return 0;
	if (why != NULL)
		*why = w;
	return KW_ERR_CONFIG;
}

static int pool_copy_settings(struct client_pool *p, const struct kw_client_opts *o)
{
	struct client_addr a;
	int r;

	if ((r = kw_client_opts_check(o, NULL)) != 0)
		return r;
	r = client_addr_parse(o->address ? o->address : KW_CLIENT_DEFAULT_ADDR, &a);
	if (r != 0)
		return r;
	p->base_url = a.base_url;
	p->unix_path = a.unix_path;
	p->ca_cert = kw_strdup(o->ca_cert);
	p->client_cert = kw_strdup(o->client_cert);
	p->client_key = kw_strdup(o->client_key);
	if ((o->ca_cert && !p->ca_cert) || (o->client_cert && !p->client_cert) ||
	    (o->client_key && !p->client_key))
		return KW_ERR_NOMEM;
	p->connect_timeout_ms =
	    o->connect_timeout_ms ? o->connect_timeout_ms : KW_CLIENT_CONNECT_TIMEOUT_MS_DEFAULT;
	p->timeout_ms = o->timeout_ms ? o->timeout_ms : KW_CLIENT_TIMEOUT_MS_DEFAULT;
	return 0;
}

static int pool_new(const struct kw_client_opts *o, struct client_pool **out)
{
	struct client_pool *p;
	int r;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&p->lock, NULL);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->share_locks[i], NULL);
	p->refs = 1;
	if ((r = pool_copy_settings(p, o)) != 0)
		goto out;
	r = pool_share_init(p);
out:
	if (r != 0)
		pool_destroy(p);
	else
		*out = p;
	return r;
}

static void pool_ref(struct client_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->refs++;
	pthread_mutex_unlock(&p->lock);
}

/* Give back an easy handle (its connection stays open) and drop a reference. */
static void pool_release(struct client_pool *p, CURL *h)
{
	bool last;

	pthread_mutex_lock(&p->lock);
	if (h != NULL) {
		/* Forget pointers into the old handle's memory (headers, buffers). */
		curl_easy_reset(h);
		if (p->nidle < CLIENT_IDLE_MAX)
			p->idle[p->nidle++] = h;
		else
			curl_easy_cleanup(h);
	}
	last = --p->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last)
		pool_destroy(p);
}

static CURL *pool_take(struct client_pool *p)
{
	CURL *h = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->nidle > 0)
		h = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	return h ? h : curl_easy_init();
}

/* --- handle ------------------------------------------------------------ */

static int easy_setup(struct kw_client *c)
{
	struct client_pool *p = c->pool;
	CURL *h = c->curl;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(h, opt, val);                                        \
	} while (0)
	SET(CURLOPT_SHARE, p->share);
	/* Threads: no SIGALRM-based DNS timeouts. */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	/* A redirect would carry the token elsewhere. */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, p->timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_USERAGENT, "keyward/"
	                       "0.1.0");
	SET(CURLOPT_ERRORBUFFER, c->curl_error);
	if (p->unix_path != NULL)
		SET(CURLOPT_UNIX_SOCKET_PATH, p->unix_path);
	if (p->ca_cert != NULL)
		SET(CURLOPT_CAINFO, p->ca_cert);
	if (p->client_cert != NULL) {
		SET(CURLOPT_SSLCERT, p->client_cert);
		SET(CURLOPT_SSLKEY, p->client_key);
	}
	SET(CURLOPT_HTTPHEADER, c->headers);
#undef SET
	return rc == CURLE_OK ? 0 : KW_ERR_CONFIG;
}

static void headers_purge(struct curl_slist **list)
{
	/* curl_slist_append copied the token header; wipe that copy ourselves. */
	for (struct curl_slist *s = *list; s != NULL; s = s->next)
		kw_wipe(s->data, strlen(s->data));
	curl_slist_free_all(*list);
	*list = NULL;
}

static int headers_build(const char *token, struct curl_slist **out)
{
	static const char *const fixed[] = {
	    "X-Vault-Request: true", "Content-Type: application/json",
	    /* Skip curl's 100-continue round trip on large bodies. */
	    "Expect:"};
	struct curl_slist *list = NULL, *next;
	int r = KW_ERR_NOMEM;
	char *h = NULL;
	size_t hlen = 0;

	for (size_t i = 0; i < KW_ARRAY_LEN(fixed); i++) {
		if ((next = curl_slist_append(list, fixed[i])) == NULL)
			goto out;
		list = next;
	}
	if (token != NULL) {
		hlen = strlen("X-Vault-Token: ") + strlen(token) + 1;
		if ((h = malloc(hlen)) == NULL)
			goto out;
		snprintf(h, hlen, "X-Vault-Token: %s", token);
		if ((next = curl_slist_append(list, h)) == NULL)
			goto out;
		list = next;
	}
	*out = list;
	list = NULL;
	r = 0;
out:
	if (h != NULL) {
		kw_wipe(h, hlen);
		free(h);
	}
	headers_purge(&list);
	return r;
}

static void token_purge(struct kw_client *c)
{
	if (c->token != NULL) {
		kw_wipe(c->token, c->token_len);
		free(c->token);
	}
	c->token = NULL;
	c->token_len = 0;
}

int kw_client_set_token(struct kw_client *c, const char *token)
{
	struct curl_slist *headers = NULL;
	char *copy = NULL;
	int r;

	if (token != NULL && !client_token_valid(token))
		return KW_ERR_INVALID;
	if (token != NULL && (copy = strdup(token)) == NULL)
		return KW_ERR_NOMEM;
	if ((r = headers_build(token, &headers)) != 0)
		goto out;
	if (curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK) {
		r = KW_ERR_INTERNAL;
		goto out;
	}
	headers_purge(&c->headers);
	token_purge(c);
	c->headers = headers;
	headers = NULL;
	c->token = copy;
	c->token_len = copy ? strlen(copy) : 0;
	copy = NULL;
out:
	headers_purge(&headers);
	if (copy != NULL) {
		kw_wipe(copy, strlen(copy));
		free(copy);
	}
	return r;
}

/* A handle on pool p (whose reference the handle takes over) with token. */
static int client_open(struct client_pool *p, const char *token, struct kw_client **out)
{
	struct kw_client *c;
	int r;

	if (token != NULL && !client_token_valid(token)) {
		pool_release(p, NULL);
		return KW_ERR_CONFIG;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		pool_release(p, NULL);
		return KW_ERR_NOMEM;
	}
	c->pool = p;
	c->curl = pool_take(p);
	if (c->curl == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = easy_setup(c)) != 0)
		goto out;
	r = kw_client_set_token(c, token);
out:
	if (r != 0)
		kw_client_free(c);
	else
		*out = c;
	return r;
}

int kw_client_new(const struct kw_client_opts *o, struct kw_client **out)
{
	struct client_pool *p;
	int r;

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return KW_ERR_INTERNAL;
	if ((r = pool_new(o, &p)) != 0)
		return r;
	return client_open(p, o->token, out);
}

int kw_client_new_from_env(struct kw_client **out)
{
	struct kw_client_opts o;
	int r;

	if ((r = kw_client_opts_from_env(&o)) != 0)
		return r;
	return kw_client_new(&o, out);
}

int kw_client_dup(const struct kw_client *c, struct kw_client **out)
{
	pool_ref(c->pool);
	return client_open(c->pool, c->token, out);
}

void kw_client_free(struct kw_client *c)
{
	if (c == NULL)
		return;
	pool_release(c->pool, c->curl);
	headers_purge(&c->headers);
	token_purge(c);
	free(c);
}

/* --- errors ------------------------------------------------------------ */

long kw_client_status(const struct kw_client *c)
{
	return c->status;
}

const char *kw_client_error_code(const struct kw_client *c)
{
	return c->code;
}

const char *kw_client_error(const struct kw_client *c)
{
	return c->error;
}

void client_clear_error(struct kw_client *c)
{
	c->status = 0;
	c->code[0] = '\0';
	c->error[0] = '\0';
}

void client_fail(struct kw_client *c, int err, const char *fmt, ...)
{
	char raw[KW_CLIENT_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	client_text_sanitize(c->error, sizeof(c->error), raw);
	snprintf(c->code, sizeof(c->code), "%s", kw_err_code(err));
}
