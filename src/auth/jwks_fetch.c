/*
 * jwks_fetch.c: a JWKS URL and the key set last fetched from it (libcurl,
 * HTTPS only), refreshed when it is old or when a token names an unknown
 * kid — at most once per refresh_min, so made-up kids cannot turn keyward
 * into a flood against the issuer — and OIDC discovery of a jwks_uri.
 *
 * Locks: `lock` guards the current set and the clocks and is held only for
 * pointer swaps; `fetch_lock` lets one thread fetch while the others keep
 * verifying with the set they have. A failed fetch keeps the old set: an
 * issuer that is briefly down must not log everybody out.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "auth_int.h"

#define HTTPS_PREFIX       "https://"
#define OIDC_CONFIG_PATH   "/.well-known/openid-configuration"
#define HTTP_REDIRECTS_MAX 3L
#define OIDC_DOC_BYTES_MAX (64u * 1024)

struct kw_auth_jwks_source {
	struct kw_auth_jwks_conf conf; /* url and ca_pem point at our copies */
	char *url;
	char *ca_pem;
	pthread_mutex_t lock;
	pthread_mutex_t fetch_lock;
	struct kw_auth_keyset *set; /* NULL until the first good fetch */
	int64_t fetched_at;
	int64_t last_attempt;
	bool attempted;
	uint64_t fetches;
};

void kw_auth_jwks_conf_init(struct kw_auth_jwks_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->refresh_min = KW_AUTH_JWKS_REFRESH_MIN_DEFAULT;
	c->max_age = KW_AUTH_JWKS_MAX_AGE_DEFAULT;
	c->timeout_ms = KW_AUTH_HTTP_TIMEOUT_MS_DEFAULT;
	c->max_bytes = KW_AUTH_JWKS_BYTES_MAX;
}

static bool is_https(const char *url)
{
	return url != NULL && strncmp(url, HTTPS_PREFIX, strlen(HTTPS_PREFIX)) == 0 &&
	       url[strlen(HTTPS_PREFIX)] != '\0';
}

/* ---- one HTTPS GET ---- */

struct http_body {
	struct kw_buf buf;
	size_t max;
};

static size_t http_body_write(char *p, size_t size, size_t n, void *arg)
{
	struct http_body *b = arg;
	size_t len = size * n;

	/* Returning less than len makes curl fail the transfer. */
	if (len > b->max - b->buf.len || kw_buf_append(&b->buf, p, len) != 0)
		return 0;
	return len;
}

static int http_setup(CURL *c, const char *url, const char *ca_pem, long timeout_ms,
                      struct http_body *body)
{
	struct curl_blob ca = {(void *)ca_pem, ca_pem != NULL ? strlen(ca_pem) : 0, CURL_BLOB_COPY};
	CURLcode e = CURLE_OK;

	e |= curl_easy_setopt(c, CURLOPT_URL, url);
	/* Keys fetched in the clear could be anybody's keys. */
	e |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	e |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	e |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	e |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, HTTP_REDIRECTS_MAX);
	e |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	e |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_pem != NULL) {
		/* Trust the configured CA and nothing else. */
		e |= curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
		e |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	e |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	e |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	e |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)body->max);
	e |= curl_easy_setopt(c, CURLOPT_USERAGENT, "keyward");
	e |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body_write);
	e |= curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	return e == CURLE_OK ? 0 : KW_ERR_INTERNAL;
}

/* GET url; the body of a 200 reply into body. KW_ERR_UNAVAILABLE otherwise. */
static int http_get(const char *url, const char *ca_pem, long timeout_ms, struct http_body *body)
{
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode e;
	int r = KW_ERR_NOMEM;

	if (c == NULL)
		goto out;
	r = http_setup(c, url, ca_pem, timeout_ms, body);
	if (r != 0)
		goto out;
	e = curl_easy_perform(c);
	if (e == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r = KW_ERR_UNAVAILABLE;
	/* The URL stays out of the log: it is configuration, and may carry
	 * credentials in a query string. */
	if (e != CURLE_OK) {
		kw_warn("auth: HTTPS fetch failed: %s", curl_easy_strerror(e));
		goto out;
	}
	if (status != 200) {
		kw_warn("auth: HTTPS fetch answered status %ld", status);
		goto out;
	}
	r = 0;
out:
	curl_easy_cleanup(c);
	return r;
}

/* ---- the source ---- */

int kw_auth_jwks_source_new(const struct kw_auth_jwks_conf *c, struct kw_auth_jwks_source **out)
{
	struct kw_auth_jwks_source *src;

	if (c == NULL || !is_https(c->url) || c->refresh_min < 0 || c->max_age <= 0 ||
	    c->timeout_ms <= 0 || c->max_bytes == 0 || c->max_bytes > KW_AUTH_JWKS_BYTES_MAX)
		return KW_ERR_CONFIG;
	src = calloc(1, sizeof(*src));
	if (src == NULL)
		return KW_ERR_NOMEM;
	src->conf = *c;
	src->url = kw_strdup(c->url);
	src->ca_pem = c->ca_pem != NULL ? kw_strdup(c->ca_pem) : NULL;
	if (src->url == NULL || (c->ca_pem != NULL && src->ca_pem == NULL)) {
		free(src->url);
		free(src->ca_pem);
		free(src);
		return KW_ERR_NOMEM;
	}
	src->conf.url = src->url;
	src->conf.ca_pem = src->ca_pem;
	pthread_mutex_init(&src->lock, NULL);
	pthread_mutex_init(&src->fetch_lock, NULL);
	*out = src;
	return 0;
}

void kw_auth_jwks_source_free(struct kw_auth_jwks_source *src)
{
	if (src == NULL)
		return;
	kw_auth_keyset_free(src->set);
	pthread_mutex_destroy(&src->lock);
	pthread_mutex_destroy(&src->fetch_lock);
	free(src->url);
	free(src->ca_pem);
	free(src);
}

uint64_t kw_auth_jwks_source_fetches(struct kw_auth_jwks_source *src)
{
	uint64_t n;

	pthread_mutex_lock(&src->lock);
	n = src->fetches;
	pthread_mutex_unlock(&src->lock);
	return n;
}

/* Claim the right to fetch at now, or KW_ERR_LIMIT inside the interval. */
static int fetch_slot_take(struct kw_auth_jwks_source *src, int64_t now)
{
	int r = 0;

	pthread_mutex_lock(&src->lock);
	if (src->attempted && now - src->last_attempt < src->conf.refresh_min) {
		r = KW_ERR_LIMIT;
	} else {
		src->attempted = true;
		src->last_attempt = now;
		src->fetches++;
	}
	pthread_mutex_unlock(&src->lock);
	return r;
}

static int jwks_download(const struct kw_auth_jwks_conf *c, struct kw_auth_keyset **out)
{
	struct http_body body = {.max = c->max_bytes};
	struct kw_auth_jwks_stats st;
	struct kw_auth_keyset *ks = NULL;
	char err[KW_AUTH_ERR_BYTES] = "";
	int r;

	kw_buf_init(&body.buf);
	r = http_get(c->url, c->ca_pem, c->timeout_ms, &body);
	if (r == 0)
		r = kw_auth_keyset_new(&ks);
	if (r != 0)
		goto out;
	r = kw_auth_keyset_add_jwks(ks, (const char *)body.buf.data, body.buf.len, &st, err,
	                            sizeof(err));
	if (r != 0) {
		kw_warn("auth: fetched JWKS refused: %s", err);
		goto out;
	}
	*out = ks;
	ks = NULL;
out:
	kw_auth_keyset_free(ks);
	kw_buf_cleanup(&body.buf);
	return r;
}

int kw_auth_jwks_source_refresh(struct kw_auth_jwks_source *src, int64_t now)
{
	struct kw_auth_keyset *fresh = NULL, *old;
	int r;

	pthread_mutex_lock(&src->fetch_lock);
	r = fetch_slot_take(src, now);
	if (r == 0)
		r = jwks_download(&src->conf, &fresh);
	if (r == 0) {
		pthread_mutex_lock(&src->lock);
		old = src->set;
		src->set = fresh;
		src->fetched_at = now;
		pthread_mutex_unlock(&src->lock);
		/* Verifiers still holding the old set keep their reference. */
		kw_auth_keyset_free(old);
	}
	pthread_mutex_unlock(&src->fetch_lock);
	return r;
}

/* A reference to the current set, or NULL. */
static struct kw_auth_keyset *current_set(struct kw_auth_jwks_source *src, bool *stale, int64_t now)
{
	struct kw_auth_keyset *ks = NULL;

	pthread_mutex_lock(&src->lock);
	if (src->set != NULL)
		ks = kw_auth_keyset_ref(src->set);
	*stale = ks == NULL || now - src->fetched_at >= src->conf.max_age;
	pthread_mutex_unlock(&src->lock);
	return ks;
}

int kw_auth_jwks_source_keyset(struct kw_auth_jwks_source *src, int64_t now,
                               struct kw_auth_keyset **out)
{
	struct kw_auth_keyset *ks;
	bool stale;
	int r;

	ks = current_set(src, &stale, now);
	if (!stale) {
		*out = ks;
		return 0;
	}
	/*
	 * Whatever the refresh says, read the set again: a rate-limited
	 * refresh may mean another thread has just fetched one for us. A
	 * failed refresh leaves the old set in use.
	 */
	r = kw_auth_jwks_source_refresh(src, now);
	kw_auth_keyset_free(ks);
	ks = current_set(src, &stale, now);
	if (ks == NULL)
		return r != 0 ? r : KW_ERR_UNAVAILABLE;
	*out = ks;
	return 0;
}

int kw_auth_jwks_source_verify(struct kw_auth_jwks_source *src, const struct kw_auth_jwt_opts *o,
                               const char *token, size_t len, int64_t now, struct kw_auth_jwt **out,
                               enum kw_auth_reason *why)
{
	struct kw_auth_keyset *ks = NULL, *cur = NULL;
	int r;

	*why = KW_AUTH_OK;
	if (kw_auth_jwks_source_keyset(src, now, &ks) != 0) {
		*why = KW_AUTH_NO_KEYS;
		return KW_ERR_UNAVAILABLE;
	}
	r = kw_auth_jwt_verify(ks, o, token, len, now, out, why);
	if (r != KW_ERR_AUTH || *why != KW_AUTH_KID_UNKNOWN)
		goto out;
	/*
	 * The issuer may have rotated its keys since our last fetch. Whether
	 * we fetch now or are rate-limited because another thread just did,
	 * a set other than the one we tried deserves one more try. (We hold
	 * ks, so a new set cannot have its address.)
	 */
	if (kw_auth_jwks_source_refresh(src, now) != 0)
		kw_debug("auth: no JWKS refresh for an unknown kid (rate-limited or failed)");
	if (kw_auth_jwks_source_keyset(src, now, &cur) == 0 && cur != ks)
		r = kw_auth_jwt_verify(cur, o, token, len, now, out, why);
out:
	kw_auth_keyset_free(cur);
	kw_auth_keyset_free(ks);
	return r;
}

/* ---- OIDC discovery (OpenID Connect Discovery 1.0, section 4) ---- */

static int discovery_url(const char *issuer, char **out)
{
	size_t n = strlen(issuer);
	struct kw_buf b;
	int r;

	/* "https://host/path/" and "https://host/path" name the same document. */
	if (n > 0 && issuer[n - 1] == '/')
		n--;
	kw_buf_init(&b);
	r = kw_buf_append(&b, issuer, n);
	if (r == 0)
		r = kw_buf_append_str(&b, OIDC_CONFIG_PATH);
	if (r == 0)
		r = kw_buf_append_u8(&b, 0);
	if (r == 0)
		*out = kw_strdup((const char *)b.data);
	kw_buf_cleanup(&b);
	if (r == 0 && *out == NULL)
		r = KW_ERR_NOMEM;
	return r;
}

static int discovery_parse(const struct kw_buf *body, const char *issuer, char **jwks_uri)
{
	json_t *doc = NULL;
	const json_t *iss, *uri;
	bool dup = false;
	int r;

	r = auth_json_object(body->data, body->len, &doc, &dup);
	if (r != 0)
		goto out;
	iss = json_object_get(doc, "issuer");
	uri = json_object_get(doc, "jwks_uri");
	r = KW_ERR_INVALID;
	/* Section 4.3: the issuer must be exactly the one we asked about, or a
	 * server could hand out keys for somebody else's tokens. */
	if (!json_is_string(iss) || strcmp(json_string_value(iss), issuer) != 0 ||
	    !json_is_string(uri) || !is_https(json_string_value(uri))) {
		kw_warn("auth: OIDC discovery document has a wrong issuer or no https jwks_uri");
		goto out;
	}
	*jwks_uri = kw_strdup(json_string_value(uri));
	r = *jwks_uri != NULL ? 0 : KW_ERR_NOMEM;
out:
	json_decref(doc);
	return r;
}

int kw_auth_oidc_discover(const char *issuer, const char *ca_pem, long timeout_ms, char **jwks_uri)
{
	struct http_body body = {.max = OIDC_DOC_BYTES_MAX};
	char *url = NULL;
	int r;

	if (!is_https(issuer) || timeout_ms <= 0)
		return KW_ERR_CONFIG;
	kw_buf_init(&body.buf);
	r = discovery_url(issuer, &url);
	if (r == 0)
		r = http_get(url, ca_pem, timeout_ms, &body);
	if (r == 0)
		r = discovery_parse(&body.buf, issuer, jwks_uri);
	free(url);
	kw_buf_cleanup(&body.buf);
	return r;
}
