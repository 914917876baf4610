/*
 * bench: keyward-bench, a load generator for keywardd's transit API that
 * measures, in the same run, what raw OpenSSL does with the same operation on
 * one thread, so every figure comes with its baseline and a ratio.
 *
 * http.c is a deliberately small HTTP/1.1 client on OpenSSL's SSL_* API (or
 * plain TCP for http:// dev listeners): persistent keep-alive connections,
 * one request at a time, Content-Length responses only. A benchmark client
 * must cost far less than the server it drives, so no libcurl here.
 * raw.c holds the OpenSSL baselines; keyward-bench.c the arguments, the
 * worker threads (one per connection) and the table.
 *
 * Secrets: the bench holds the caller's token (sent, never printed) and
 * throw-away keys it generates for the baselines; nothing it handles is
 * worth protecting beyond that.
 *
 * Threads: a struct bench_client is shared read-only by all workers (an
 * SSL_CTX is thread-safe once configured); a struct bench_conn belongs to
 * one thread.
 */
#ifndef KW_BENCH_H
#define KW_BENCH_H

#include <openssl/ssl.h>

#include "../src/common/common.h"

#define BENCH_HOST_MAX     255
#define BENCH_PORT_MAX     15
#define BENCH_RBUF_BYTES   16384              /* response headers must fit in it */
#define BENCH_BODY_MAX     (4u * 1024 * 1024) /* largest response body we accept */
#define BENCH_IO_TIMEOUT_S 30                 /* a stuck server fails the run, not hangs it */

#define BENCH_SIGN_INPUT_BYTES 64
#define BENCH_PLAINTEXT_BYTES  1024
#define BENCH_JWT_INPUT_BYTES  900 /* header.payload of a projected SA token */

struct bench_url {
	bool tls;
	char host[BENCH_HOST_MAX + 1];
	char port[BENCH_PORT_MAX + 1];
};

struct bench_client {
	struct bench_url url;
	SSL_CTX *ctx; /* NULL for http:// */
};

struct bench_conn {
	int fd;
	SSL *ssl; /* NULL for http:// */
	uint8_t rbuf[BENCH_RBUF_BYTES];
	size_t rpos;
	size_t rlen;
};

struct bench_response {
	int status;
	bool close;         /* the server said Connection: close */
	struct kw_buf body; /* NUL-terminated after the last byte, not counted in len */
};

/* http.c */
int bench_url_parse(const char *s, struct bench_url *out) KW_MUST_CHECK;
int bench_client_init(struct bench_client *c, const char *addr, const char *cacert) KW_MUST_CHECK;
void bench_client_cleanup(struct bench_client *c);
int bench_conn_open(const struct bench_client *c, struct bench_conn *conn) KW_MUST_CHECK;
void bench_conn_close(struct bench_conn *conn);
/* A complete request (head and JSON body) ready to be sent as many times as
 * needed; out is initialised here. */
int bench_request_format(const struct bench_client *c, const char *method, const char *path,
                         const char *token, const char *body, struct kw_buf *out) KW_MUST_CHECK;
/* Send req and read one response into resp (whose body buffer is reused). */
int bench_conn_roundtrip(struct bench_conn *conn, const struct kw_buf *req,
                         struct bench_response *resp) KW_MUST_CHECK;
void bench_response_init(struct bench_response *resp);
void bench_response_cleanup(struct bench_response *resp);

/* raw.c: single-thread OpenSSL rate of one operation, for `seconds`. */
enum bench_raw_op {
	BENCH_RAW_ECDSA_P256,
	BENCH_RAW_ED25519,
	BENCH_RAW_RSA2048_PSS,
	BENCH_RAW_AES256_GCM,
	BENCH_RAW_RS256_VERIFY, /* a service-account token's signature */
	BENCH_RAW_NONE,         /* compared with another keyward figure instead */
};
int bench_raw_rate(enum bench_raw_op op, double seconds, double *ops_per_s) KW_MUST_CHECK;

/* auth.c: a kubernetes auth mount for the login benchmarks. */
struct bench_k8s {
	EVP_PKEY *key; /* RSA-2048, signs the service-account tokens */
	char kid[64];
	char *token; /* a login token for the identity-cost run (secret) */
};
/* Create (or reuse) mount bench-k8s trusting a fresh key, a role "bench"
 * granting policy bench-signer (sign with bench-ecdsa-p256), and log in
 * once for a token. root_token sets it up. */
int bench_k8s_setup(const struct bench_client *c, const char *root_token,
                    struct bench_k8s *out) KW_MUST_CHECK;
void bench_k8s_cleanup(struct bench_k8s *k);
/* A projected service-account token, RS256, valid for life seconds. */
int bench_k8s_jwt(const struct bench_k8s *k, int64_t life, char **out) KW_MUST_CHECK;
/* One request on a fresh connection (keyward-bench.c). */
int bench_request_once(const struct bench_client *c, const char *method, const char *path,
                       const char *token, const char *body,
                       struct bench_response *resp) KW_MUST_CHECK;

#endif
