/*
 * http.c: the bench's minimal HTTP/1.1 client over OpenSSL (or plain TCP).
 * Keep-alive connections, blocking I/O with a timeout, Content-Length
 * responses only: exactly what is needed to drive keywardd, nothing a
 * general client would need.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "bench.h"

static int url_split_hostport(const char *hp, struct bench_url *u)
{
	const char *colon;
	size_t hlen;

	if (hp[0] == '[') {
		/* [v6]:port */
		const char *close = strchr(hp, ']');
		if (!close || close[1] != ':')
			return KW_ERR_INVALID;
		hlen = (size_t)(close - hp - 1);
		hp++;
		colon = close + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon)
			return KW_ERR_INVALID;
		hlen = (size_t)(colon - hp);
	}
	if (hlen == 0 || hlen > BENCH_HOST_MAX)
		return KW_ERR_INVALID;
	memcpy(u->host, hp, hlen);
	u->host[hlen] = '\0';
	if (kw_strlcpy(u->port, colon + 1, sizeof(u->port)) < 0 || u->port[0] == '\0')
		return KW_ERR_INVALID;
	return 0;
}

int bench_url_parse(const char *s, struct bench_url *out)
{
	struct bench_url u;
	const char *rest;
	char hp[BENCH_HOST_MAX + BENCH_PORT_MAX + 4];
	size_t len;
	int rc;

	memset(&u, 0, sizeof(u));
	if (strncmp(s, "https://", 8) == 0) {
		u.tls = true;
		rest = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		rest = s + 7;
	} else {
		return KW_ERR_INVALID;
	}
	/* A trailing slash is harmless; any other path is not ours to ignore. */
	len = strcspn(rest, "/");
	if (rest[len] != '\0' && strcmp(rest + len, "/") != 0)
		return KW_ERR_INVALID;
	if (len >= sizeof(hp))
		return KW_ERR_INVALID;
	memcpy(hp, rest, len);
	hp[len] = '\0';
	rc = url_split_hostport(hp, &u);
	if (rc < 0)
		return rc;
	*out = u;
	return 0;
}

int bench_client_init(struct bench_client *c, const char *addr, const char *cacert)
{
	struct bench_client n;
	int rc;

	memset(&n, 0, sizeof(n));
	rc = bench_url_parse(addr, &n.url);
	if (rc < 0) {
		fprintf(stderr, "keyward-bench: bad -addr %s (want https://HOST:PORT)\n", addr);
		return rc;
	}
	if (n.url.tls) {
		n.ctx = SSL_CTX_new(TLS_client_method());
		if (!n.ctx)
			return KW_ERR_NOMEM;
		SSL_CTX_set_min_proto_version(n.ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(n.ctx, SSL_VERIFY_PEER, NULL);
		if (cacert ? SSL_CTX_load_verify_locations(n.ctx, cacert, NULL) != 1
		           : SSL_CTX_set_default_verify_paths(n.ctx) != 1) {
			fprintf(stderr, "keyward-bench: cannot load CA certificates from %s\n",
			        cacert ? cacert : "the system store");
			SSL_CTX_free(n.ctx);
			return KW_ERR_CONFIG;
		}
	}
	*c = n;
	return 0;
}

void bench_client_cleanup(struct bench_client *c)
{
	SSL_CTX_free(c->ctx);
	c->ctx = NULL;
}

static int socket_tune(int fd)
{
	int one = 1;
	struct timeval tv = {.tv_sec = BENCH_IO_TIMEOUT_S};

	/* Requests are written in one piece and latency is what we measure:
	 * Nagle's delay would only add noise. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return KW_ERR_IO;
	return 0;
}

static int tcp_connect(const struct bench_url *u, int *out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	int fd = -1, rc = KW_ERR_IO;

	if (getaddrinfo(u->host, u->port, &hints, &res) != 0)
		return KW_ERR_IO;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 && socket_tune(fd) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		goto out;
	*out = fd;
	rc = 0;
out:
	freeaddrinfo(res);
	return rc;
}

static bool host_is_ip(const char *host)
{
	uint8_t tmp[16];

	return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static int tls_start(const struct bench_client *c, int fd, SSL **out)
{
	SSL *ssl = SSL_new(c->ctx);
	int rc = KW_ERR_IO;

	if (!ssl)
		return KW_ERR_NOMEM;
	/* Check the server's name or address against its certificate. */
	if (host_is_ip(c->url.host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->url.host) != 1)
			goto out;
	} else if (SSL_set1_host(ssl, c->url.host) != 1 ||
	           SSL_set_tlsext_host_name(ssl, c->url.host) != 1) {
		goto out;
	}
	if (SSL_set_fd(ssl, fd) != 1)
		goto out;
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		fprintf(stderr, "keyward-bench: TLS handshake with %s:%s failed: %s\n", c->url.host,
		        c->url.port,
		        v != X509_V_OK ? X509_verify_cert_error_string(v)
		                       : ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
		goto out;
	}
	*out = ssl;
	ssl = NULL;
	rc = 0;
out:
	SSL_free(ssl);
	return rc;
}

int bench_conn_open(const struct bench_client *c, struct bench_conn *conn)
{
	int fd = -1, rc;
	SSL *ssl = NULL;

	rc = tcp_connect(&c->url, &fd);
	if (rc < 0) {
		fprintf(stderr, "keyward-bench: cannot connect to %s:%s: %s\n", c->url.host,
		        c->url.port, strerror(errno));
		return rc;
	}
	if (c->ctx) {
		rc = tls_start(c, fd, &ssl);
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	conn->fd = fd;
	conn->ssl = ssl;
	conn->rpos = 0;
	conn->rlen = 0;
	return 0;
}

void bench_conn_close(struct bench_conn *conn)
{
	if (conn->ssl) {
		/* No close_notify round trip: the server may already be gone and
		 * we do not want to wait for it. */
		SSL_set_quiet_shutdown(conn->ssl, 1);
		SSL_free(conn->ssl);
		conn->ssl = NULL;
	}
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

static int conn_write(struct bench_conn *conn, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t done = 0;
		if (conn->ssl) {
			if (SSL_write_ex(conn->ssl, p, n, &done) != 1) {
				ERR_clear_error();
				return KW_ERR_IO;
			}
		} else {
			ssize_t w = write(conn->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return KW_ERR_IO;
			done = (size_t)w;
		}
		p += done;
		n -= done;
	}
	return 0;
}

/* Read what is available (at least one byte) into p; 0 bytes means the peer
 * closed, reported as KW_ERR_IO since a response was due. */
static int conn_read_some(struct bench_conn *conn, uint8_t *p, size_t cap, size_t *got)
{
	for (;;) {
		size_t n = 0;
		if (conn->ssl) {
			if (SSL_read_ex(conn->ssl, p, cap, &n) != 1) {
				ERR_clear_error();
				return KW_ERR_IO;
			}
		} else {
			ssize_t r = read(conn->fd, p, cap);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return KW_ERR_IO;
			n = (size_t)r;
		}
		*got = n;
		return 0;
	}
}

/* Make sure the buffered bytes contain the whole response head; returns its
 * length (through the blank line) in *head_len. */
static int read_head(struct bench_conn *conn, size_t *head_len)
{
	for (;;) {
		uint8_t *start = conn->rbuf + conn->rpos;
		uint8_t *end = memmem(start, conn->rlen - conn->rpos, "\r\n\r\n", 4);
		size_t got;
		int rc;

		if (end) {
			*head_len = (size_t)(end - start) + 4;
			return 0;
		}
		if (conn->rpos > 0) {
			memmove(conn->rbuf, start, conn->rlen - conn->rpos);
			conn->rlen -= conn->rpos;
			conn->rpos = 0;
		}
		if (conn->rlen == sizeof(conn->rbuf))
			return KW_ERR_TOO_LARGE;
		rc = conn_read_some(conn, conn->rbuf + conn->rlen, sizeof(conn->rbuf) - conn->rlen,
		                    &got);
		if (rc < 0)
			return rc;
		conn->rlen += got;
	}
}

struct head_info {
	int status;
	bool has_length;
	size_t length;
	bool close;
	bool chunked;
};

static bool header_is(const char *line, size_t len, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	*value = line + n + 1;
	while (**value == ' ' || **value == '\t')
		(*value)++;
	return true;
}

static int parse_header_line(const char *line, size_t len, struct head_info *h)
{
	const char *v;

	if (header_is(line, len, "Content-Length", &v)) {
		char *end;
		unsigned long long n;
		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno != 0 || end == v || n > BENCH_BODY_MAX)
			return KW_ERR_INVALID;
		h->has_length = true;
		h->length = (size_t)n;
	} else if (header_is(line, len, "Connection", &v)) {
		h->close = strncasecmp(v, "close", 5) == 0;
	} else if (header_is(line, len, "Transfer-Encoding", &v)) {
		h->chunked = true;
	}
	return 0;
}

static int parse_head(const char *head, size_t len, struct head_info *out)
{
	struct head_info h = {0};
	const char *p = head, *end = head + len, *eol;
	int rc;

	/* "HTTP/1.1 200 OK" */
	if (len < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return KW_ERR_INVALID;
	h.status = atoi(p + 9);
	if (h.status < 100 || h.status > 599)
		return KW_ERR_INVALID;
	/* HTTP/1.0 responses close unless told otherwise; keywardd speaks 1.1. */
	h.close = p[7] == '0';
	for (;;) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol || eol == p)
			break;
		if (p != head) {
			rc = parse_header_line(p, (size_t)(eol - p), &h);
			if (rc < 0)
				return rc;
		}
		p = eol + 2;
	}
	*out = h;
	return 0;
}

static int read_body(struct bench_conn *conn, size_t length, struct kw_buf *body)
{
	size_t have = conn->rlen - conn->rpos;
	size_t take = have < length ? have : length;
	int rc;

	kw_buf_reset(body);
	rc = kw_buf_reserve(body, length + 1);
	if (rc < 0)
		return rc;
	memcpy(body->data, conn->rbuf + conn->rpos, take);
	body->len = take;
	conn->rpos += take;
	while (body->len < length) {
		size_t got;
		rc = conn_read_some(conn, body->data + body->len, length - body->len, &got);
		if (rc < 0)
			return rc;
		body->len += got;
	}
	body->data[body->len] = '\0';
	return 0;
}

int bench_conn_roundtrip(struct bench_conn *conn, const struct kw_buf *req,
                         struct bench_response *resp)
{
	struct head_info h;
	size_t head_len;
	int rc;

	rc = conn_write(conn, req->data, req->len);
	if (rc < 0)
		return rc;
	rc = read_head(conn, &head_len);
	if (rc < 0)
		return rc;
	rc = parse_head((const char *)conn->rbuf + conn->rpos, head_len, &h);
	if (rc < 0)
		return rc;
	conn->rpos += head_len;
	if (h.chunked)
		return KW_ERR_UNSUPPORTED;
	/* 1xx, 204 and 304 have no body; anything else without a length would
	 * need read-to-close, which a keep-alive client cannot use. */
	if (!h.has_length) {
		if (h.status != 204 && h.status != 304 && h.status >= 200)
			return KW_ERR_UNSUPPORTED;
		h.length = 0;
	}
	rc = read_body(conn, h.length, &resp->body);
	if (rc < 0)
		return rc;
	resp->status = h.status;
	resp->close = h.close;
	return 0;
}

int bench_request_format(const struct bench_client *c, const char *method, const char *path,
                         const char *token, const char *body, struct kw_buf *out)
{
	struct kw_buf b;
	char head[1024];
	size_t blen = body ? strlen(body) : 0;
	int n, rc;

	n = snprintf(head, sizeof(head),
	             "%s %s HTTP/1.1\r\n"
	             "Host: %s:%s\r\n"
	             "User-Agent: keyward-bench\r\n"
	             "Accept: application/json\r\n"
	             "Content-Type: application/json\r\n"
	             "Content-Length: %zu\r\n",
	             method, path, c->url.host, c->url.port, blen);
	if (n < 0 || (size_t)n >= sizeof(head))
		return KW_ERR_LIMIT;
	kw_buf_init(&b);
	rc = kw_buf_append_str(&b, head);
	if (rc == 0 && token) {
		rc = kw_buf_append_str(&b, "X-Vault-Token: ");
		if (rc == 0)
			rc = kw_buf_append_str(&b, token);
		if (rc == 0)
			rc = kw_buf_append_str(&b, "\r\n");
	}
	if (rc == 0)
		rc = kw_buf_append_str(&b, "\r\n");
	if (rc == 0 && blen > 0)
		rc = kw_buf_append(&b, body, blen);
	if (rc < 0) {
		kw_buf_cleanup(&b);
		return rc;
	}
	*out = b;
	return 0;
}

void bench_response_init(struct bench_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	kw_buf_init(&resp->body);
}

void bench_response_cleanup(struct bench_response *resp)
{
	kw_buf_cleanup(&resp->body);
}
