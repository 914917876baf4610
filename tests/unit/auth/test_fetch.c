/*
 * test_fetch.c: JWKS over HTTPS and OIDC discovery, against a small HTTPS
 * server each test starts on 127.0.0.1 in a thread (OpenSSL, a self-signed
 * certificate made here). It stands in for an issuer's jwks_uri; it counts
 * requests so the rate limit on unknown-kid refreshes can be checked, and
 * its documents can be changed mid-test to play a key rotation.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "auth_tests.h"

#define SRV_ROUTES_MAX  4
#define SRV_REQUEST_MAX 8192

struct srv {
	SSL_CTX *ctx;
	int fd;
	int port;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock; /* routes and requests */
	const char *paths[SRV_ROUTES_MAX];
	char *bodies[SRV_ROUTES_MAX];
	unsigned requests;
	char *cert_pem; /* the CA a client must trust */
	char url[64];   /* https://127.0.0.1:<port> */
};

/* A self-signed certificate for 127.0.0.1, PEM, and its key. */
static X509 *cert_make(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX v3;
	X509_EXTENSION *san;

	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                            (const unsigned char *)"keyward test issuer",
	                                            -1, -1, 0),
	                 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
	assert_non_null(san);
	assert_int_equal(X509_add_ext(x, san, -1), 1);
	X509_EXTENSION_free(san);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static char *cert_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *s;
	long n;

	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &p);
	s = strndup(p, (size_t)n);
	BIO_free(bio);
	return s;
}

/* Another certificate, for "the wrong CA". */
static char *stranger_cert_pem(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = cert_make(key);
	char *s = cert_pem(x);

	X509_free(x);
	EVP_PKEY_free(key);
	return s;
}

static void srv_route(struct srv *s, const char *path, const char *body)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < SRV_ROUTES_MAX; i++) {
		if (s->paths[i] == NULL || strcmp(s->paths[i], path) == 0) {
			s->paths[i] = path;
			free(s->bodies[i]);
			s->bodies[i] = strdup(body);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static unsigned srv_requests(struct srv *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* The reply to "GET <path> ...": 200 with the route's body, or 404. */
static char *srv_reply(struct srv *s, const char *req)
{
	char path[256] = "", *out = NULL;
	const char *body = NULL;

	if (sscanf(req, "GET %255s ", path) != 1)
		path[0] = '\0';
	pthread_mutex_lock(&s->lock);
	s->requests++;
	for (size_t i = 0; i < SRV_ROUTES_MAX && body == NULL; i++)
		if (s->paths[i] != NULL && strcmp(s->paths[i], path) == 0)
			body = s->bodies[i];
	if (body != NULL)
		assert_true(asprintf(&out,
		                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		                     strlen(body), body) > 0);
	else
		out = strdup("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
		             "Connection: close\r\n\r\n");
	pthread_mutex_unlock(&s->lock);
	return out;
}

static void srv_serve_one(struct srv *s, int c)
{
	SSL *ssl = SSL_new(s->ctx);
	char req[SRV_REQUEST_MAX + 1];
	size_t got = 0;
	char *reply;

	SSL_set_fd(ssl, c);
	if (SSL_accept(ssl) != 1)
		goto out;
	while (got < SRV_REQUEST_MAX) {
		int n = SSL_read(ssl, req + got, (int)(SRV_REQUEST_MAX - got));

		if (n <= 0)
			goto out;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	reply = srv_reply(s, req);
	SSL_write(ssl, reply, (int)strlen(reply));
	free(reply);
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(c);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c >= 0)
			srv_serve_one(s, c);
	}
	return NULL;
}

static void srv_start(struct srv *s)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = cert_make(key);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, key), 1);
	s->cert_pem = cert_pem(x);
	X509_free(x);
	EVP_PKEY_free(key);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", s->port);
	atomic_init(&s->stop, false);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
	SSL_CTX_free(s->ctx);
	for (size_t i = 0; i < SRV_ROUTES_MAX; i++)
		free(s->bodies[i]);
	free(s->cert_pem);
	pthread_mutex_destroy(&s->lock);
}

static struct kw_auth_jwks_source *source_for(struct srv *s, const char *path, const char *ca)
{
	struct kw_auth_jwks_source *src = NULL;
	struct kw_auth_jwks_conf c;
	char url[128];

	snprintf(url, sizeof(url), "%s%s", s->url, path);
	kw_auth_jwks_conf_init(&c);
	c.url = url; /* copied by the source */
	c.ca_pem = ca;
	c.timeout_ms = 5000;
	assert_int_equal(kw_auth_jwks_source_new(&c, &src), 0);
	return src;
}

/* JWKS text holding the keys of several test keys. */
static char *jwks_of(const struct t_key *a, const struct t_key *b)
{
	json_t *doc = json_loads(a->jwks, 0, NULL), *other;
	char *s;

	if (b != NULL) {
		other = json_loads(b->jwks, 0, NULL);
		json_array_extend(json_object_get(doc, "keys"), json_object_get(other, "keys"));
		json_decref(other);
	}
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static int source_verify(struct kw_auth_jwks_source *src, const char *tok, int64_t now,
                         enum kw_auth_reason *why)
{
	struct kw_auth_jwt_opts o;
	struct kw_auth_jwt *jwt = NULL;
	int r;

	t_opts(&o);
	r = kw_auth_jwks_source_verify(src, &o, tok, strlen(tok), now, &jwt, why);
	assert_true((r == 0) == (jwt != NULL));
	kw_auth_jwt_free(jwt);
	return r;
}

void test_fetch_jwks(void **state)
{
	struct srv s;
	struct kw_auth_jwks_source *src;
	struct kw_auth_keyset *ks = NULL;
	enum kw_auth_reason why;
	char *jwks = jwks_of(&t_fx.rs, &t_fx.es256), *tok = t_token_default(&t_fx.es256);

	srv_start(&s);
	srv_route(&s, "/openid/v1/jwks", jwks);
	src = source_for(&s, "/openid/v1/jwks", s.cert_pem);
	assert_int_equal(source_verify(src, tok, T_NOW, &why), 0);
	assert_int_equal(source_verify(src, tok, T_NOW + 1, &why), 0);
	/* One fetch served both: the set is cached until max_age. */
	assert_int_equal(kw_auth_jwks_source_fetches(src), 1);
	assert_int_equal(srv_requests(&s), 1);
	assert_int_equal(kw_auth_jwks_source_keyset(src, T_NOW + 2, &ks), 0);
	assert_int_equal(kw_auth_keyset_count(ks), 2);
	kw_auth_keyset_free(ks);
	assert_int_equal(kw_auth_jwks_source_keyset(src, T_NOW + KW_AUTH_JWKS_MAX_AGE_DEFAULT, &ks),
	                 0);
	kw_auth_keyset_free(ks);
	assert_int_equal(srv_requests(&s), 2);
	kw_auth_jwks_source_free(src);
	srv_stop(&s);
	free(jwks);
	free(tok);
}

void test_fetch_unknown_kid_refresh(void **state)
{
	struct srv s;
	struct kw_auth_jwks_source *src;
	enum kw_auth_reason why;
	char *before = jwks_of(&t_fx.rs, NULL), *after = jwks_of(&t_fx.rs, &t_fx.es384);
	char *tok = t_token_default(&t_fx.es384), *stranger = t_token_default(&t_fx.stranger);
	int64_t now = T_NOW;

	srv_start(&s);
	srv_route(&s, "/jwks", before);
	src = source_for(&s, "/jwks", s.cert_pem);
	/* First use fetches; the unknown kid cannot fetch again at once. */
	assert_int_equal(source_verify(src, tok, now, &why), KW_ERR_AUTH);
	assert_int_equal(why, KW_AUTH_KID_UNKNOWN);
	assert_int_equal(srv_requests(&s), 1);
	/* The issuer rotates its keys. Inside refresh_min nobody refetches,
	 * however many made-up kids arrive. */
	srv_route(&s, "/jwks", after);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(source_verify(src, stranger, now + 1, &why), KW_ERR_AUTH);
		assert_int_equal(why, KW_AUTH_KID_UNKNOWN);
	}
	assert_int_equal(source_verify(src, tok, now + 1, &why), KW_ERR_AUTH);
	assert_int_equal(srv_requests(&s), 1);
	assert_int_equal(kw_auth_jwks_source_refresh(src, now + 2), KW_ERR_LIMIT);
	/* After the interval the unknown kid triggers one fetch, and the new
	 * key verifies. */
	now += KW_AUTH_JWKS_REFRESH_MIN_DEFAULT;
	assert_int_equal(source_verify(src, tok, now, &why), 0);
	assert_int_equal(srv_requests(&s), 2);
	assert_int_equal(kw_auth_jwks_source_fetches(src), 2);
	kw_auth_jwks_source_free(src);
	srv_stop(&s);
	free(before);
	free(after);
	free(tok);
	free(stranger);
}

void test_fetch_refusals(void **state)
{
	struct kw_auth_jwks_source *src = NULL;
	struct kw_auth_jwks_conf c;
	struct kw_auth_keyset *ks = NULL;
	enum kw_auth_reason why;
	struct srv s;
	char *wrong_ca = stranger_cert_pem(), *tok = t_token_default(&t_fx.rs);
	char *jwks = jwks_of(&t_fx.rs, NULL);

	kw_auth_jwks_conf_init(&c);
	c.url = "http://127.0.0.1/jwks";
	assert_int_equal(kw_auth_jwks_source_new(&c, &src), KW_ERR_CONFIG);
	c.url = "https://";
	assert_int_equal(kw_auth_jwks_source_new(&c, &src), KW_ERR_CONFIG);
	srv_start(&s);
	srv_route(&s, "/jwks", jwks);
	srv_route(&s, "/not-jwks", "{\"keys\":7}");
	/* A server whose certificate the configured CA did not issue. */
	src = source_for(&s, "/jwks", wrong_ca);
	assert_int_equal(source_verify(src, tok, T_NOW, &why), KW_ERR_UNAVAILABLE);
	assert_int_equal(why, KW_AUTH_NO_KEYS);
	kw_auth_jwks_source_free(src);
	/* Nor does the system store know a self-signed test CA. */
	src = source_for(&s, "/jwks", NULL);
	assert_int_equal(kw_auth_jwks_source_refresh(src, T_NOW), KW_ERR_UNAVAILABLE);
	kw_auth_jwks_source_free(src);
	/* 404, and a document that is not a JWKS. */
	src = source_for(&s, "/missing", s.cert_pem);
	assert_int_equal(kw_auth_jwks_source_refresh(src, T_NOW), KW_ERR_UNAVAILABLE);
	kw_auth_jwks_source_free(src);
	src = source_for(&s, "/not-jwks", s.cert_pem);
	assert_int_equal(kw_auth_jwks_source_refresh(src, T_NOW), KW_ERR_INVALID);
	assert_int_equal(kw_auth_jwks_source_keyset(src, T_NOW, &ks), KW_ERR_LIMIT);
	kw_auth_jwks_source_free(src);
	/* A body over the limit. */
	kw_auth_jwks_conf_init(&c);
	{
		char url[128];

		snprintf(url, sizeof(url), "%s/jwks", s.url);
		c.url = url;
		c.ca_pem = s.cert_pem;
		c.max_bytes = 64;
		assert_int_equal(kw_auth_jwks_source_new(&c, &src), 0);
		assert_int_equal(kw_auth_jwks_source_refresh(src, T_NOW), KW_ERR_UNAVAILABLE);
		kw_auth_jwks_source_free(src);
		/* The same URL with the default limit works: the size refused it. */
		c.max_bytes = KW_AUTH_JWKS_BYTES_MAX;
		assert_int_equal(kw_auth_jwks_source_new(&c, &src), 0);
		assert_int_equal(kw_auth_jwks_source_refresh(src, T_NOW), 0);
		kw_auth_jwks_source_free(src);
	}
	srv_stop(&s);
	free(wrong_ca);
	free(tok);
	free(jwks);
}

void test_fetch_oidc_discovery(void **state)
{
	struct srv s;
	char *doc = NULL, *uri = NULL, *other = NULL, *slash = NULL;

	srv_start(&s);
	assert_true(asprintf(&doc,
	                     "{\"issuer\":\"%s\",\"jwks_uri\":\"%s/openid/v1/jwks\","
	                     "\"response_types_supported\":[\"id_token\"]}",
	                     s.url, s.url) > 0);
	srv_route(&s, "/.well-known/openid-configuration", doc);
	assert_int_equal(kw_auth_oidc_discover(s.url, s.cert_pem, 5000, &uri), 0);
	assert_true(strncmp(uri, s.url, strlen(s.url)) == 0);
	assert_string_equal(uri + strlen(s.url), "/openid/v1/jwks");
	free(uri);
	uri = NULL;
	/* The document must be about exactly the issuer asked for. */
	assert_true(asprintf(&slash, "%s/", s.url) > 0);
	assert_int_equal(kw_auth_oidc_discover(slash, s.cert_pem, 5000, &uri), KW_ERR_INVALID);
	assert_true(asprintf(&other,
	                     "{\"issuer\":\"https://evil.example\",\"jwks_uri\":\"%s/jwks\"}",
	                     s.url) > 0);
	srv_route(&s, "/.well-known/openid-configuration", other);
	assert_int_equal(kw_auth_oidc_discover(s.url, s.cert_pem, 5000, &uri), KW_ERR_INVALID);
	srv_route(&s, "/.well-known/openid-configuration",
	          "{\"issuer\":\"x\",\"jwks_uri\":\"http://plain/jwks\"}");
	assert_int_equal(kw_auth_oidc_discover(s.url, s.cert_pem, 5000, &uri), KW_ERR_INVALID);
	assert_int_equal(kw_auth_oidc_discover("http://127.0.0.1", s.cert_pem, 5000, &uri),
	                 KW_ERR_CONFIG);
	assert_null(uri);
	srv_stop(&s);
	free(doc);
	free(other);
	free(slash);
}

struct verifier {
	struct kw_auth_jwks_source *src;
	const char *good, *unknown;
	int ok;
};

/* Verify a good token and a made-up kid in turn, the clock stepping past
 * refresh_min each round so that refreshes swap the set under the others. */
static void *verifier_main(void *arg)
{
	struct verifier *v = arg;
	enum kw_auth_reason why;

	for (int i = 0; i < 20; i++) {
		int64_t now = T_NOW + (int64_t)i * KW_AUTH_JWKS_REFRESH_MIN_DEFAULT;

		v->ok += source_verify(v->src, v->good, now, &why) == 0;
		if (source_verify(v->src, v->unknown, now, &why) != KW_ERR_AUTH ||
		    why != KW_AUTH_KID_UNKNOWN)
			v->ok = -1000;
	}
	return NULL;
}

void test_fetch_concurrent(void **state)
{
	struct srv s;
	struct kw_auth_jwks_source *src;
	struct verifier v[4];
	pthread_t th[4];
	struct t_claims c;
	char *jwks = jwks_of(&t_fx.rs, NULL), *p, *good, *unknown, *h;

	/* Long-lived tokens: the clock runs for 20 refresh intervals. */
	t_claims_default(&c);
	c.exp = T_NOW + 3600;
	p = t_payload(&c);
	h = t_header("RS256", t_fx.rs.kid);
	good = t_token(h, p, &t_fx.rs, "RS256", T_SIG_OK);
	unknown = t_token_default(&t_fx.stranger);
	srv_start(&s);
	srv_route(&s, "/jwks", jwks);
	src = source_for(&s, "/jwks", s.cert_pem);
	for (int i = 0; i < 4; i++) {
		v[i] = (struct verifier){src, good, unknown, 0};
		assert_int_equal(pthread_create(&th[i], NULL, verifier_main, &v[i]), 0);
	}
	/* Join them all before any assertion can leave this frame. */
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(v[i].ok, 20);
	/* At most one fetch per interval, however many threads asked. */
	assert_true(kw_auth_jwks_source_fetches(src) >= 2);
	assert_true(kw_auth_jwks_source_fetches(src) <= 20);
	kw_auth_jwks_source_free(src);
	srv_stop(&s);
	free(jwks);
	free(p);
	free(h);
	free(good);
	free(unknown);
}
