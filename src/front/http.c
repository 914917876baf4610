/*
 * http.c: the front's server — listener addresses and sockets, the
 * acceptor and its connection daemons, body accumulation, and kw_front_run's
 * wait for a stop.
 *
 * Per listener: one acceptor thread accepts every connection and hands it
 * to a libmicrohttpd daemon that gives each connection a thread of its own
 * (TLS when configured). The connection's thread reads a request, borrows a
 * keeper channel, waits for the keeper's answer (a group commit of the audit
 * log among other things) and writes the reply: a request costs two thread
 * wake-ups in this process and no more. An earlier design parsed on a few
 * epoll workers and queued requests to a pool of request threads; its four
 * hand-overs per request (queue, suspend, resume, the worker's wake-up) were
 * a third of the CPU a sign cost, and thread wake-ups are dear in a VM. The
 * number of threads is bounded by the listener's connection limit, and an
 * idle connection is closed after the connection timeout.
 *
 * Stopping: SIGTERM/SIGINT are blocked before any MHD thread starts (so
 * connection threads inherit the mask) and read through a signalfd; a thread
 * whose keeper channel broke writes an eventfd. The main thread polls both
 * and then stops the daemons, which lets requests in flight finish and joins
 * the connection threads.
 *
 * Plain HTTP is refused on anything but loopback and unix sockets: tokens
 * and plaintexts cross this socket.
 *
 * Client certificates: a listener with client auth gives libmicrohttpd its
 * CA bundle as the trust list, which makes GnuTLS ask every client for a
 * certificate (and name those CAs). Each request then reads the chain the
 * client sent from its GnuTLS session into kw_req.peer; with "require" a
 * request without a chain that verifies against the bundle is refused
 * before routing.
 *
 * Network identities: a listener that grants one accepts connections only
 * from its allow ranges. The acceptor checks the source address right after
 * accept() and closes anything else before a TLS byte is read, so a stranger
 * costs no handshake; it counts the refusals and logs them at most once a
 * second (the address and the running count: nothing secret).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "../auth/auth.h"
#include "front_int.h"

/* TLS 1.2 and 1.3 only; GnuTLS's NORMAL set otherwise. */
#define KW_TLS_PRIORITIES   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define KW_LISTEN_BACKLOG   128
#define KW_SOCKET_MODE      0660
#define KW_CHANNELS_DEFAULT 32

struct kw_listener {
	struct kw_front *front;
	const char *address; /* the config text, for messages */
	struct kw_addr addr;
	int fd;      /* listening socket, -1 when closed */
	int wake_fd; /* eventfd: stop the acceptor */
	pthread_t acceptor;
	bool acceptor_running;
	struct MHD_Daemon *daemon; /* a thread per connection */
	uint32_t port;
	char *cert; /* PEM, NUL-terminated; MHD reads them at start */
	char *key;  /* secret: kw_secure_alloc'd */
	size_t key_size;
	enum kw_client_auth client_auth;
	char *client_ca;                             /* PEM bundle when client_auth != NONE */
	const struct kw_listener_identity *identity; /* NULL: none */
	/* Connections refused for their source address; the acceptor's own. */
	uint64_t refused;
	time_t refused_logged;
};

/* One request, from its first callback to completion. */
struct conn_state {
	struct kw_body body;
	struct kw_req req;
	struct kw_resp resp;
	char *path;
	uint64_t start_ns; /* the request's first byte (monotonic), for its duration */
};

struct kw_front {
	const struct kw_front_conf *conf;
	struct kw_listener l[KW_LISTENERS_MAX];
	size_t body_max;
	struct kw_chanpool pool; /* the keeper channels */
	struct kw_ratelimit rl;  /* per client address (limits.rate) */
	int stop_fd;             /* eventfd written by kw_front_fatal */
};

void kw_front_fatal(struct kw_front *front)
{
	uint64_t one = 1;

	if (write(front->stop_fd, &one, sizeof(one)) < 0)
		kw_error("cannot signal the stop: %s", strerror(errno));
}

/* ---- addresses ---- */

static bool v4_loopback(const struct in_addr *a)
{
	return (ntohl(a->s_addr) >> 24) == 127;
}

static int addr_unix(const char *path, struct kw_addr *a)
{
	struct sockaddr_un *su = (struct sockaddr_un *)&a->ss;

	if (path[0] != '/' || kw_strlcpy(a->path, path, sizeof(a->path)) != 0)
		return KW_ERR_CONFIG;
	a->family = AF_UNIX;
	su->sun_family = AF_UNIX;
	memcpy(su->sun_path, a->path, strlen(a->path) + 1);
	a->sslen = (socklen_t)sizeof(*su);
	a->loopback = true;
	return 0;
}

static int addr_ip(const char *host, bool bracketed, uint16_t port, struct kw_addr *a)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

	if (bracketed) {
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return KW_ERR_CONFIG;
		a->family = AF_INET6;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		a->sslen = (socklen_t)sizeof(*s6);
		a->loopback =
		    IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
	} else {
		/* "localhost" only: other names would need DNS at start-up. */
		if (strcmp(host, "localhost") == 0)
			host = "127.0.0.1";
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return KW_ERR_CONFIG;
		a->family = AF_INET;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		a->sslen = (socklen_t)sizeof(*s4);
		a->loopback = v4_loopback(&s4->sin_addr);
	}
	a->port = port;
	return 0;
}

int kw_addr_parse(const char *s, struct kw_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs = s;
	bool bracketed = false;
	struct kw_addr a;
	uint64_t port;
	size_t hlen;
	int err;

	memset(&a, 0, sizeof(a));
	if (strncmp(s, "unix:", 5) == 0) {
		if ((err = addr_unix(s + 5, &a)) != 0)
			return err;
		*out = a;
		return 0;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return KW_ERR_CONFIG;
		hs = s + 1;
		colon = close + 1;
		hlen = (size_t)(close - hs);
		bracketed = true;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return KW_ERR_CONFIG;
		hlen = (size_t)(colon - s);
		/* An IPv6 address needs its brackets, or the port is ambiguous. */
		if (memchr(s, ':', hlen) != NULL)
			return KW_ERR_CONFIG;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return KW_ERR_CONFIG;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (kw_uint_parse(colon + 1, 0, 65535, &port) != 0)
		return KW_ERR_CONFIG;
	if ((err = addr_ip(host, bracketed, (uint16_t)port, &a)) != 0)
		return err;
	*out = a;
	return 0;
}

int kw_listener_address_port(const char *address, uint16_t *port)
{
	struct kw_addr a;

	if (kw_addr_parse(address, &a) != 0)
		return KW_ERR_CONFIG;
	if (a.family == AF_UNIX)
		return KW_ERR_INVALID;
	*port = a.port;
	return 0;
}

/* ---- request bodies ---- */

void kw_body_init(struct kw_body *b, size_t max)
{
	kw_buf_init(&b->buf);
	b->max = max;
	b->too_large = false;
}

void kw_body_cleanup(struct kw_body *b)
{
	kw_buf_cleanup(&b->buf);
}

int kw_body_expect(const char *content_length, size_t max)
{
	uint64_t n;

	if (content_length == NULL)
		return 0;
	if (kw_uint_parse(content_length, 0, UINT64_MAX, &n) != 0)
		return KW_ERR_INVALID;
	return n > max ? KW_ERR_TOO_LARGE : 0;
}

int kw_body_append(struct kw_body *b, const void *p, size_t n)
{
	if (!b->too_large && n > b->max - b->buf.len) {
		/* What we hold is useless now: wipe it rather than keep it. */
		b->too_large = true;
		kw_buf_cleanup(&b->buf);
	}
	if (b->too_large)
		return KW_ERR_TOO_LARGE;
	return kw_buf_append(&b->buf, p, n);
}

/* ---- answering ---- */

/* Every answer goes out here, counted by status for sys/metrics. */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, struct MHD_Response *mr)
{
	enum MHD_Result ret = MHD_queue_response(c, status, mr);

	if (ret == MHD_YES)
		kw_metrics_response(status);
	return ret;
}

static const char nomem_body[] = "{\"errors\":[\"out of memory\"],\"code\":\"out_of_memory\"}";

static enum MHD_Result queue_static(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;

	mr = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (mr == NULL)
		return MHD_NO;
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = respond(c, status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result queue(struct MHD_Connection *c, const struct kw_resp *resp)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;

	if (resp->json != NULL) {
		size_t len;
		char *text = kw_json_text(resp->json, &len);

		if (text == NULL)
			return queue_static(c, 500, nomem_body);
		/* The body may hold plaintext or keys: wiped when MHD is done. */
		mr = MHD_create_response_from_buffer_with_free_callback(len, text,
		                                                        kw_json_text_free);
		if (mr == NULL) {
			kw_json_text_free(text);
			return MHD_NO;
		}
		/* Exactly this value: hvac reads error bodies only if it matches. */
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	} else if (resp->text != NULL) {
		mr = MHD_create_response_from_buffer(resp->text_len, resp->text,
		                                     MHD_RESPMEM_MUST_COPY);
		if (mr == NULL)
			return MHD_NO;
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	} else {
		mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (mr == NULL)
			return MHD_NO;
	}
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (resp->allow[0] != '\0')
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->retry_after != 0) {
		char secs[16];

		snprintf(secs, sizeof(secs), "%u", resp->retry_after);
		MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	ret = respond(c, resp->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, int err)
{
	struct kw_resp resp = {0};
	enum MHD_Result ret;

	if (kw_resp_error(&resp, err, NULL) != 0)
		return queue_static(c, 500, nomem_body);
	ret = queue(c, &resp);
	kw_resp_cleanup(&resp);
	return ret;
}

/* A refusal made before routing, with a front-only code. */
static enum MHD_Result queue_refusal(struct MHD_Connection *c, unsigned status, const char *text,
                                     const char *code)
{
	struct kw_resp resp = {.status = status};
	enum MHD_Result ret;

	if ((resp.json = kw_error_json(text, code)) == NULL)
		return queue_static(c, 500, nomem_body);
	ret = queue(c, &resp);
	kw_resp_cleanup(&resp);
	return ret;
}

/* 429 with the seconds until this address may try again. */
static enum MHD_Result queue_rate_limited(struct MHD_Connection *c, unsigned wait)
{
	struct kw_resp resp = {.status = 429, .retry_after = wait};
	enum MHD_Result ret;
	char text[160];

	snprintf(text, sizeof(text),
	         "rate limit exceeded: too many requests from this address; retry in %u s", wait);
	if ((resp.json = kw_error_json(text, "rate_limited")) == NULL)
		return queue_static(c, 500, nomem_body);
	ret = queue(c, &resp);
	kw_resp_cleanup(&resp);
	return ret;
}

/* Probes and scrapes are not limited: a busy client must not get its
 * kubelet to restart keyward, nor blind its monitoring. */
static bool rate_exempt(const char *path)
{
	return strcmp(path, "sys/health") == 0 || strcmp(path, "sys/seal-status") == 0 ||
	       strcmp(path, "sys/metrics") == 0;
}

/* ---- one request ---- */

static void remote_text(struct MHD_Connection *c, const struct kw_listener *l, char *out)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, KW_REMOTE_BYTES, "unix");
	if (l->addr.family == AF_UNIX)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
		          KW_REMOTE_BYTES);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
		          KW_REMOTE_BYTES);
}

/* X-Vault-Token wins; "Authorization: Bearer <t>" otherwise. */
static const char *token_of(struct MHD_Connection *c)
{
	const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Vault-Token");

	if (t != NULL && t[0] != '\0')
		return t;
	t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (t == NULL || strncasecmp(t, "Bearer ", 7) != 0)
		return NULL;
	t += 7;
	while (*t == ' ')
		t++;
	return t[0] != '\0' ? t : NULL;
}

static bool list_query(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "list");

	return v != NULL && strcmp(v, "true") == 0;
}

static void state_release(struct conn_state *st)
{
	kw_resp_cleanup(&st->resp);
	kw_req_cleanup(&st->req);
	free(st->path);
	st->path = NULL;
}

/* ---- client certificates ---- */

/*
 * The chain the client sent, leaf first, pointing into its GnuTLS session
 * (which outlives the request: the request runs on the connection's thread).
 * KW_ERR_TOO_LARGE past KW_AUTH_CERT_CHAIN_MAX certificates.
 */
static int peer_chain(struct MHD_Connection *c, struct kw_peer_chain *out)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *certs;
	gnutls_session_t s;
	unsigned n = 0;

	out->n = 0;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || (s = ci->tls_session) == NULL)
		return 0;
	if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509)
		return 0;
	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0)
		return 0;
	if (n > KW_AUTH_CERT_CHAIN_MAX || n > sizeof(out->der) / sizeof(out->der[0]))
		return KW_ERR_TOO_LARGE;
	for (unsigned i = 0; i < n; i++) {
		out->der[i] = certs[i].data;
		out->len[i] = certs[i].size;
	}
	out->n = n;
	return 0;
}

/* With "require": a chain that verifies against the listener's bundle. */
static int peer_required(const struct kw_listener *l, const struct kw_peer_chain *p, char *why,
                         size_t whylen)
{
	struct kw_auth_cert_id id;

	if (p->n == 0) {
		snprintf(why, whylen, "this listener requires a TLS client certificate");
		return KW_ERR_AUTH;
	}
	return kw_auth_cert_verify(p->der, p->len, p->n, l->client_ca, kw_now(), &id, why, whylen);
}

/* Fill r->peer; 0, or -1 once a refusal is queued (*ret). */
static int client_cert_check(struct kw_listener *l, struct MHD_Connection *c, struct kw_req *r,
                             enum MHD_Result *ret)
{
	char why[160], text[200];
	int err;

	if (peer_chain(c, &r->peer) != 0) {
		snprintf(text, sizeof(text), "the client sent more than %d certificates",
		         KW_AUTH_CERT_CHAIN_MAX);
		*ret = queue_refusal(c, 400, text, "client_certificate_chain_too_long");
		return -1;
	}
	if (l->client_auth != KW_CLIENT_AUTH_REQUIRE)
		return 0;
	if ((err = peer_required(l, &r->peer, why, sizeof(why))) != 0) {
		/* why is a fixed sentence: never certificate bytes. */
		kw_info("listener %s: refused a request from %s: %s", l->address, r->remote,
		        err == KW_ERR_AUTH ? why : kw_err_str(err));
		if (err != KW_ERR_AUTH) {
			*ret = queue_error(c, err);
			return -1;
		}
		snprintf(text, sizeof(text), "client certificate refused: %s", why);
		*ret = queue_refusal(c, 403, text, "client_certificate_refused");
		return -1;
	}
	return 0;
}

/* What needs no keeper. 0 = go on to the handler; otherwise the refusal
 * was queued and *ret says how that went. */
static int prepare(struct kw_listener *l, struct MHD_Connection *c, const char *url,
                   const char *method, struct conn_state *st, enum MHD_Result *ret)
{
	struct kw_req *r = &st->req;
	unsigned wait;
	size_t n;

	kw_req_init(r, l->front, &l->front->pool);
	r->conn = c;
	r->port = l->port;
	remote_text(c, l, r->remote);
	r->token = token_of(c);
	if (kw_uuid_v4(r->id) != 0) {
		*ret = queue_error(c, KW_ERR_CRYPTO);
		return -1;
	}
	if (l->client_auth != KW_CLIENT_AUTH_NONE && client_cert_check(l, c, r, ret) != 0)
		return -1;
	if (kw_method_parse(method, list_query(c), &r->method) != 0) {
		*ret = queue_refusal(c, 405, "that HTTP method is not supported",
		                     "method_not_allowed");
		return -1;
	}
	if (strncmp(url, "/v1/", 4) != 0) {
		*ret = queue_refusal(c, 404, "unsupported path: keyward serves /v1/ only",
		                     "unsupported_path");
		return -1;
	}
	if ((st->path = strdup(url + 4)) == NULL) {
		*ret = queue_static(c, 500, nomem_body);
		return -1;
	}
	/* Vault's CLI lists with a trailing slash ("transit/keys/"). */
	n = strlen(st->path);
	if (n > 0 && st->path[n - 1] == '/')
		st->path[n - 1] = '\0';
	r->path = st->path;
	if (l->front->rl.rate > 0 && !rate_exempt(r->path) &&
	    (wait = kw_ratelimit_take(&l->front->rl, r->remote, kw_monotonic_ns())) != 0) {
		*ret = queue_rate_limited(c, wait);
		return -1;
	}
	return 0;
}

/* The handler, on the connection's own thread, and its reply queued. */
static enum MHD_Result run(struct MHD_Connection *c, struct conn_state *st)
{
	enum MHD_Result ret;

	kw_dispatch(&st->req, &st->body, &st->resp);
	/* The route's pattern, never the path: a path is client text and
	 * could carry a secret (a token pasted into a URL). */
	kw_debug("%s -> %u (request %s)", st->req.route ? st->req.route->pattern : "(no route)",
	         st->resp.status, st->req.id);
	ret = st->resp.json || st->resp.text || st->resp.status == 204
	          ? queue(c, &st->resp)
	          : queue_static(c, 500, nomem_body);
	state_release(st);
	return ret;
}

/*
 * Percent-decoding of the path and query, in place. libmicrohttpd's own
 * decoder turns "%00" into a NUL that silently cuts the C string, so
 * "sign/app-1%00x" would act on "app-1". Here a %00 (or a malformed escape)
 * stays as written, and the name check refuses the '%'.
 */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *out = s;

	for (const char *in = s; *in != '\0'; out++) {
		int hi, lo;

		if (in[0] == '%' && (hi = kw_hex_value(in[1])) >= 0 &&
		    (lo = kw_hex_value(in[2])) >= 0 && (hi | lo) != 0) {
			*out = (char)(hi << 4 | lo);
			in += 3;
		} else {
			*out = *in++;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
	struct kw_listener *l = cls;
	struct conn_state *st = *con_cls;
	enum MHD_Result ret;
	int err;

	if (st == NULL) {
		st = calloc(1, sizeof(*st));
		if (st == NULL)
			return MHD_NO;
		kw_body_init(&st->body, l->front->body_max);
		st->start_ns = kw_monotonic_ns();
		*con_cls = st;
		/* Refuse before reading a byte; MHD then closes the connection
		 * instead of draining the body. */
		err = kw_body_expect(
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
		    st->body.max);
		return err != 0 ? queue_error(c, err) : MHD_YES;
	}
	if (*upload_size > 0) {
		/* Past the limit the rest is dropped unread into any buffer; the
		 * 413 goes out once the client has finished sending. */
		err = kw_body_append(&st->body, upload, *upload_size);
		*upload_size = 0;
		return err == 0 || err == KW_ERR_TOO_LARGE ? MHD_YES : MHD_NO;
	}
	if (prepare(l, c, url, method, st, &ret) != 0) {
		state_release(st);
		return ret;
	}
	return run(c, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct conn_state *st = *con_cls;

	if (st == NULL)
		return;
	kw_metrics_duration((kw_monotonic_ns() - st->start_ns) / 1000);
	kw_body_cleanup(&st->body);
	free(st);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	kw_warn("libmicrohttpd: %s", line);
}

/* ---- listeners ---- */

static int pem_read(const char *path, bool secret, char **out, size_t *size)
{
	struct stat st;
	size_t got = 0, cap;
	char *p = NULL;
	int fd, err = KW_ERR_CONFIG;

	/* No stdio: the key file is a secret and FILE buffers are not wiped. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > KW_PEM_MAX)
		goto out;
	cap = (size_t)st.st_size + 1;
	p = secret ? kw_secure_alloc(cap) : calloc(1, cap);
	if (p == NULL) {
		err = KW_ERR_NOMEM;
		goto out;
	}
	while (got < cap - 1) {
		ssize_t r = read(fd, p + got, cap - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != cap - 1)
		goto out;
	p[got] = '\0';
	*out = p;
	*size = cap;
	p = NULL;
	err = 0;
out:
	if (p != NULL) {
		if (secret)
			kw_secure_free(p, cap);
		else
			free(p);
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/* A socket file left by a previous run is removed; a live one is not. */
static int unix_clear(const char *path, const struct kw_addr *a)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : KW_ERR_IO;
	if (!S_ISSOCK(st.st_mode))
		return KW_ERR_CONFIG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return KW_ERR_IO;
	live = connect(fd, (const struct sockaddr *)&a->ss, a->sslen) == 0;
	close(fd);
	if (live)
		return KW_ERR_IO;
	return unlink(path) == 0 ? 0 : KW_ERR_IO;
}

static int socket_bind(struct kw_listener *l, int fd)
{
	const struct kw_addr *a = &l->addr;
	int one = 1, r;

	if (a->family == AF_UNIX) {
		/* umask, not chmod after bind: no moment with wider access. */
		mode_t old = umask(0777 & ~KW_SOCKET_MODE);

		r = bind(fd, (const struct sockaddr *)&a->ss, a->sslen);
		umask(old);
		return r; /* removed at stop by kw_front_unix_cleanup */
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		return -1;
	if (a->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		return -1;
	return bind(fd, (const struct sockaddr *)&a->ss, a->sslen);
}

static int listen_socket(struct kw_listener *l, int *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, err;

	if (l->addr.family == AF_UNIX && (err = unix_clear(l->addr.path, &l->addr)) != 0) {
		kw_error("listener %s: the socket file exists and is %s", l->address,
		         err == KW_ERR_CONFIG ? "not a socket" : "in use or cannot be removed");
		return err;
	}
	/* Non-blocking: the acceptor polls, then accepts until EAGAIN. */
	fd = socket(l->addr.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || socket_bind(l, fd) != 0 || listen(fd, KW_LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		kw_error("listener %s: cannot listen: %s", l->address, strerror(errno));
		if (fd >= 0)
			close(fd);
		return KW_ERR_IO;
	}
	if (ss.ss_family == AF_INET)
		l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	*out = fd;
	return 0;
}

static int listener_tls_load(struct kw_listener *l, const struct kw_listener_conf *lc)
{
	size_t cert_size;
	int err;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		kw_error("listener %s: this libmicrohttpd has no TLS support", l->address);
		return KW_ERR_UNSUPPORTED;
	}
	if ((err = pem_read(lc->tls_cert_file, false, &l->cert, &cert_size)) != 0) {
		kw_error("listener %s: cannot read tls_cert_file %s", l->address,
		         lc->tls_cert_file);
		return err;
	}
	if ((err = pem_read(lc->tls_key_file, true, &l->key, &l->key_size)) != 0) {
		kw_error("listener %s: cannot read tls_key_file %s", l->address, lc->tls_key_file);
		return err;
	}
	return 0;
}

/* How many certificates a PEM bundle holds (0 when it does not parse). */
static unsigned pem_cert_count(const char *pem)
{
	gnutls_datum_t d = {.data = (unsigned char *)pem, .size = (unsigned)strlen(pem)};
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;

	if (gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) < 0)
		return 0;
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return n;
}

static int listener_client_ca_load(struct kw_listener *l, const struct kw_listener_conf *lc)
{
	size_t size;
	int err;

	if (lc->client_auth == KW_CLIENT_AUTH_NONE) {
		if (lc->tls_client_ca_file[0] != '\0') {
			kw_error("listener %s: tls_client_ca_file is set but client auth is none",
			         l->address);
			return KW_ERR_CONFIG;
		}
		return 0;
	}
	if (l->cert == NULL || lc->tls_client_ca_file[0] == '\0') {
		kw_error("listener %s: client certificates need TLS (tls_cert_file, tls_key_file) "
		         "and tls_client_ca_file",
		         l->address);
		return KW_ERR_CONFIG;
	}
	if ((err = pem_read(lc->tls_client_ca_file, false, &l->client_ca, &size)) != 0) {
		kw_error("listener %s: cannot read tls_client_ca_file %s", l->address,
		         lc->tls_client_ca_file);
		return err;
	}
	if (pem_cert_count(l->client_ca) == 0) {
		kw_error("listener %s: tls_client_ca_file %s holds no PEM certificate", l->address,
		         lc->tls_client_ca_file);
		return KW_ERR_CONFIG;
	}
	l->client_auth = lc->client_auth;
	return 0;
}

static int listener_identity_check(struct kw_listener *l, const struct kw_listener_conf *lc)
{
	const struct kw_listener_identity *id = &lc->identity;

	if (id->name[0] == '\0')
		return 0;
	if (l->addr.family == AF_UNIX) {
		kw_error("listener %s: a unix socket has no source address; it cannot carry the "
		         "network identity %s",
		         l->address, id->name);
		return KW_ERR_CONFIG;
	}
	/* An identity that allows nobody is a typo, not a closed door. */
	if (id->nallow == 0 || id->nallow > KW_LISTENER_ALLOW_MAX) {
		kw_error("listener %s: the network identity %s needs between 1 and %d allowed "
		         "source ranges",
		         l->address, id->name, KW_LISTENER_ALLOW_MAX);
		return KW_ERR_CONFIG;
	}
	l->identity = id;
	return 0;
}

static int listener_check(struct kw_listener *l, const struct kw_listener_conf *lc)
{
	bool has_cert = lc->tls_cert_file[0] != '\0', has_key = lc->tls_key_file[0] != '\0';
	int err;

	if (kw_addr_parse(lc->address, &l->addr) != 0) {
		kw_error("listener %s: expected host:port, [v6]:port or unix:/path", l->address);
		return KW_ERR_CONFIG;
	}
	if (has_cert != has_key) {
		kw_error("listener %s: tls_cert_file and tls_key_file go together", l->address);
		return KW_ERR_CONFIG;
	}
	if (!has_cert && !l->addr.loopback) {
		kw_error("listener %s: plain HTTP is allowed only on loopback addresses and unix "
		         "sockets; set tls_cert_file and tls_key_file",
		         l->address);
		return KW_ERR_CONFIG;
	}
	if (has_cert && (err = listener_tls_load(l, lc)) != 0)
		return err;
	if ((err = listener_client_ca_load(l, lc)) != 0)
		return err;
	return listener_identity_check(l, lc);
}

/* The source address of an accepted connection, as remote_text writes it. */
static void source_text(const struct sockaddr_storage *ss, char out[KW_REMOTE_BYTES])
{
	out[0] = '\0';
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
		          KW_REMOTE_BYTES);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
		          KW_REMOTE_BYTES);
}

/*
 * A listener with a network identity serves its allow ranges only. Checked
 * before MHD sees the socket, so no TLS handshake happens for a stranger.
 * True = keep the connection.
 */
static bool source_allowed(struct kw_listener *l, const struct sockaddr_storage *ss)
{
	char from[KW_REMOTE_BYTES];
	time_t now;

	if (l->identity == NULL)
		return true;
	source_text(ss, from);
	if (from[0] != '\0' && kw_cidr_match_any(l->identity->allow, l->identity->nallow, from))
		return true;
	l->refused++;
	/* One line a second at most: a scan must not flood the log. */
	now = time(NULL);
	if (now != l->refused_logged) {
		l->refused_logged = now;
		kw_warn("listener %s: refused a connection from %s: outside the allowed sources of "
		        "network identity %s (%llu refused so far)",
		        l->address, from[0] ? from : "(unknown)", l->identity->name,
		        (unsigned long long)l->refused);
	}
	return false;
}

static void accept_one(struct kw_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		/* Out of descriptors: back off instead of spinning on poll. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			kw_warn("listener %s: accept: %s", l->address, strerror(errno));
			usleep(10000);
		}
		return;
	}
	if (!source_allowed(l, &ss)) {
		close(fd);
		return;
	}
	/* On failure (connection limit) MHD closes fd itself. */
	MHD_add_connection(l->daemon, fd, (struct sockaddr *)&ss, sl);
}

static void *acceptor_run(void *arg)
{
	struct kw_listener *l = arg;
	struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN},
	                      {.fd = l->wake_fd, .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			kw_error("listener %s: poll: %s", l->address, strerror(errno));
			break;
		}
		if (p[1].revents != 0)
			break;
		if (p[0].revents != 0)
			accept_one(l);
	}
	return NULL;
}

static struct MHD_Daemon *daemon_start(struct kw_front *f, struct kw_listener *l)
{
	/* poll, not select: a connection's descriptor may be above FD_SETSIZE. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	unsigned limit = f->conf->connection_limit;
	struct MHD_OptionItem opts[6];
	size_t no = 0;

	if (limit > 0)
		opts[no++] =
		    (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limit, NULL};
	if (l->cert != NULL) {
		flags |= MHD_USE_TLS;
		opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, l->cert};
		opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, l->key};
		opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
		                                     (void *)KW_TLS_PRIORITIES};
		/* A trust list makes MHD set GNUTLS_CERT_REQUEST on each session:
		 * the client is asked, not forced (see client_cert_check). */
		if (l->client_ca != NULL)
			opts[no++] =
			    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, l->client_ca};
	}
	opts[no] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return MHD_start_daemon(
	    flags, 0, NULL, NULL, on_access, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    f->conf->connection_timeout ? f->conf->connection_timeout : KW_TIMEOUT_DEFAULT,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
	    NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

/* Check, bind and make ready everything but accepting (listener_serve). */
static int listener_open(struct kw_front *f, struct kw_listener *l,
                         const struct kw_listener_conf *lc)
{
	int err;

	l->front = f;
	l->address = lc->address;
	if ((err = listener_check(l, lc)) != 0)
		return err;
	if ((l->daemon = daemon_start(f, l)) == NULL) {
		kw_error("listener %s: libmicrohttpd would not start", l->address);
		return KW_ERR_INTERNAL;
	}
	if ((err = listen_socket(l, &l->fd)) != 0)
		return err;
	if ((l->wake_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		return KW_ERR_IO;
	return 0;
}

/* Start accepting: connections that came since the bind waited in the
 * backlog, so none is served before the front is confined. */
static int listener_serve(struct kw_listener *l)
{
	if (pthread_create(&l->acceptor, NULL, acceptor_run, l) != 0) {
		kw_error("listener %s: cannot start the acceptor thread", l->address);
		return KW_ERR_INTERNAL;
	}
	l->acceptor_running = true;
	kw_info("listening on %s, port %u (%s%s)", l->address, l->port,
	        l->cert ? "TLS" : "plain HTTP",
	        l->client_auth == KW_CLIENT_AUTH_REQUIRE   ? ", client certificate required"
	        : l->client_auth == KW_CLIENT_AUTH_REQUEST ? ", client certificates requested"
	                                                   : "");
	if (l->identity != NULL)
		kw_info("listener %s: network identity net:%s, %zu allowed source ranges; other "
		        "sources are refused before TLS",
		        l->address, l->identity->name, l->identity->nallow);
	return 0;
}

static void listener_stop_accepting(struct kw_listener *l)
{
	uint64_t one = 1;

	if (l->acceptor_running) {
		if (write(l->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			kw_error("listener %s: cannot wake the acceptor", l->address);
		pthread_join(l->acceptor, NULL);
		l->acceptor_running = false;
	}
	if (l->fd >= 0)
		close(l->fd);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	l->fd = l->wake_fd = -1;
}

static void listener_stop(struct kw_listener *l)
{
	listener_stop_accepting(l);
	/* Requests in flight finish; then every connection closes. */
	if (l->daemon != NULL)
		MHD_stop_daemon(l->daemon);
	l->daemon = NULL;
	free(l->cert);
	kw_secure_free(l->key, l->key_size);
	free(l->client_ca);
	l->cert = NULL;
	l->key = NULL;
	l->client_ca = NULL;
	if (l->refused > 0)
		kw_info("listener %s: %llu connections refused for their source address",
		        l->address, (unsigned long long)l->refused);
	l->refused = 0;
}

/* ---- run ---- */

/* Keeper channels: how many requests the keeper may work on at once. With
 * forced audit most of a request's time is its wait for a group commit,
 * and the more requests share one fdatasync the cheaper each is. */
unsigned kw_front_channels(const struct kw_front_conf *c)
{
	return c->threads > 0 ? c->threads : KW_CHANNELS_DEFAULT;
}

static int conf_check(const struct kw_front_conf *c, size_t nchans)
{
	if (c->nlisteners == 0 || c->nlisteners > KW_LISTENERS_MAX) {
		kw_error("between 1 and %d listeners are needed", KW_LISTENERS_MAX);
		return KW_ERR_CONFIG;
	}
	if (c->max_body_bytes > KW_BODY_MAX_LIMIT) {
		kw_error("max_body_bytes is above the limit of %u", KW_BODY_MAX_LIMIT);
		return KW_ERR_CONFIG;
	}
	if (nchans == 0) {
		kw_error("no keeper channels");
		return KW_ERR_CONFIG;
	}
	if (nchans < kw_front_channels(c))
		kw_warn("%zu keeper channels where %u were asked for; requests will wait", nchans,
		        kw_front_channels(c));
	return 0;
}

/* Block until a stop signal (0) or a broken keeper channel (KW_ERR_IPC). */
static int wait_stop(struct kw_front *f, int sigfd)
{
	struct pollfd p[2] = {{.fd = sigfd, .events = POLLIN},
	                      {.fd = f->stop_fd, .events = POLLIN}};

	for (;;) {
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			kw_error("poll: %s", strerror(errno));
			return KW_ERR_IO;
		}
		if (p[1].revents != 0)
			return KW_ERR_IPC;
		if (p[0].revents != 0 && read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			kw_info("signal %u, stopping", si.ssi_signo);
			return 0;
		}
	}
}

static int front_open(struct kw_front *f, const struct kw_front_conf *c, const int *chans,
                      size_t nchans)
{
	int err;

	f->conf = c;
	f->stop_fd = -1;
	for (size_t i = 0; i < KW_LISTENERS_MAX; i++)
		f->l[i].fd = f->l[i].wake_fd = -1;
	f->body_max = c->max_body_bytes ? c->max_body_bytes : KW_BODY_MAX_DEFAULT;
	if ((err = kw_chanpool_init(&f->pool, chans, nchans)) != 0 ||
	    (err = kw_ratelimit_init(&f->rl, c->rate, c->burst)) != 0)
		return err;
	f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return f->stop_fd < 0 ? KW_ERR_IO : 0;
}

static void front_close(struct kw_front *f)
{
	/* No new connections, then the requests in flight finish. */
	for (size_t i = 0; i < KW_LISTENERS_MAX; i++)
		listener_stop_accepting(&f->l[i]);
	for (size_t i = 0; i < KW_LISTENERS_MAX; i++)
		listener_stop(&f->l[i]);
	kw_chanpool_cleanup(&f->pool);
	kw_ratelimit_cleanup(&f->rl);
	if (f->stop_fd >= 0)
		close(f->stop_fd);
}

/*
 * Returns with SIGTERM, SIGINT and SIGPIPE still blocked: the front process
 * exits next, and a second signal during shutdown must not cut it short.
 */
int kw_front_run(const struct kw_front_conf *c, const int *chans, size_t nchans)
{
	struct kw_front *f = NULL;
	sigset_t stop, all;
	int sigfd = -1, err;

	if ((err = conf_check(c, nchans)) != 0)
		return err;
	kw_json_wipe_init();
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	all = stop;
	/* A peer that vanished is an error return, not a signal. */
	sigaddset(&all, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &all, NULL) != 0 ||
	    (sigfd = signalfd(-1, &stop, SFD_CLOEXEC)) < 0) {
		err = KW_ERR_IO;
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		err = KW_ERR_NOMEM;
		goto out;
	}
	if ((err = front_open(f, c, chans, nchans)) != 0)
		goto out;
	for (size_t i = 0; i < c->nlisteners; i++)
		if ((err = listener_open(f, &f->l[i], &c->listeners[i])) != 0)
			goto out;
	if (c->confine != NULL && (err = c->confine()) != 0)
		goto out;
	for (size_t i = 0; i < c->nlisteners; i++)
		if ((err = listener_serve(&f->l[i])) != 0)
			goto out;
	err = wait_stop(f, sigfd);
out:
	if (f != NULL) {
		front_close(f);
		free(f);
	}
	if (sigfd >= 0)
		close(sigfd);
	return err;
}

void kw_front_unix_cleanup(const struct kw_front_conf *c)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct kw_addr a;

		if (kw_addr_parse(c->listeners[i].address, &a) == 0 && a.family == AF_UNIX)
			(void)unix_clear(a.path, &a);
	}
}
