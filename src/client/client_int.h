/*
 * client_int.h: libkeyward's private parts, shared by its .c files and its
 * unit tests, never installed or included by other modules. The pure helpers
 * (address parsing, path escaping, error-reply parsing, retry rule) are here
 * so tests can reach them without a server.
 */
#ifndef KW_CLIENT_INT_H
#define KW_CLIENT_INT_H

#include <pthread.h>

#include <curl/curl.h>

#include "keyward.h"

#define CLIENT_IDLE_MAX 16 /* idle connections kept per pool */

/*
 * What a handle family shares: immutable settings, the curl share (DNS and
 * TLS sessions, one mutex per kind of data as libcurl asks) and the idle easy
 * handles whose connections are still open. lock guards refs and idle.
 */
struct client_pool {
	pthread_mutex_t lock;
	unsigned refs;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	CURL *idle[CLIENT_IDLE_MAX];
	size_t nidle;

	char *base_url;  /* "https://host:8200" or "http://localhost" for unix sockets */
	char *unix_path; /* NULL unless unix: */
	char *ca_cert;
	char *client_cert;
	char *client_key;
	long connect_timeout_ms;
	long timeout_ms;
};

struct kw_client {
	struct client_pool *pool;
	CURL *curl;
	struct curl_slist *headers; /* one of them carries the token: wiped on free */
	char *token;
	size_t token_len;

	long status;
	char code[KW_CLIENT_CODE_MAX];
	char error[KW_CLIENT_ERROR_MAX];
	char curl_error[CURL_ERROR_SIZE];
};

/* A reply as received: any status. */
struct client_reply {
	long status;
	json_t *body;  /* NULL when empty or not JSON */
	bool not_json; /* there were bytes, but not JSON */
};

/* Parsed "unix:/p", "http://h", "https://h". out fields are malloc'd. */
struct client_addr {
	char *base_url;
	char *unix_path;
};
int client_addr_parse(const char *address, struct client_addr *out) KW_MUST_CHECK;
void client_addr_cleanup(struct client_addr *a);

/* base + "/v1/" + path, malloc'd. */
int client_url_build(const char *base, const char *path, char **out) KW_MUST_CHECK;
/* Check a key or policy name (see keyward.h) and percent-escape it (RFC 3986:
 * everything but unreserved characters). */
int client_name_escape(const char *name, char **out) KW_MUST_CHECK;
/* prefix + escaped name + suffix ("transit/keys/" "web" "/rotate"). */
int client_path_build(const char *prefix, const char *name, const char *suffix,
                      char **out) KW_MUST_CHECK;
/* client_path_build that records a bad name on c. */
int client_name_path(struct kw_client *c, const char *prefix, const char *name, const char *suffix,
                     char **out) KW_MUST_CHECK;
/* POST <op><escaped name> with body (consumed) and take the reply's data:
 * the shape of every keyed operation ("transit/sign/", "keyward/decrypt/"). */
int client_post_named(struct kw_client *c, const char *op, const char *name, json_t *body,
                      json_t **data) KW_MUST_CHECK;
/* Header-safe token: visible ASCII only, 1..KW_CLIENT_TOKEN_MAX bytes. */
bool client_token_valid(const char *token);

/* Error reply -> KW_ERR_*, stable code and a printable sentence. body may be
 * NULL (no JSON). */
struct client_error {
	int err;
	char code[KW_CLIENT_CODE_MAX];
	char msg[KW_CLIENT_ERROR_MAX];
};
void client_error_parse(long status, const json_t *body, struct client_error *out);
int client_err_from_status(long status);
/* Copy s into dst (dstlen > 0), control characters as '?', truncated with
 * "..." if it does not fit: a server's sentence must not drive a terminal. */
void client_text_sanitize(char *dst, size_t dstlen, const char *s);

/* Whether a failed transfer may be sent again: GET/LIST on connection errors. */
bool client_should_retry(const char *method, CURLcode rc);
int client_err_from_curl(CURLcode rc);

/* Record a failure on c: code from err, sentence from fmt. */
void client_fail(struct kw_client *c, int err, const char *fmt, ...) KW_PRINTF(3, 4);
void client_clear_error(struct kw_client *c);

/* Perform one request; 0 when a reply (of any status) came back. */
int client_perform(struct kw_client *c, const char *method, const char *path, const json_t *body,
                   struct client_reply *out) KW_MUST_CHECK;
void client_reply_cleanup(struct client_reply *r);

/* Request helpers for the typed calls. The body is consumed (wiped and
 * released) whatever happens. take picks the object returned: the reply's
 * "data", its "auth", or the whole body. */
enum client_take { CLIENT_TAKE_DATA, CLIENT_TAKE_AUTH, CLIENT_TAKE_BODY, CLIENT_TAKE_NONE };
int client_do(struct kw_client *c, const char *method, const char *path, json_t *body,
              enum client_take take, bool required, json_t **out) KW_MUST_CHECK;
/* A typed call giving up before its request: release body, make sure the
 * handle records why, return r. */
int client_abort(struct kw_client *c, json_t *body, int r);
/* LIST returning data.keys, an empty array for Vault's 404 {"errors":[]}. */
int client_list(struct kw_client *c, const char *path, json_t **names) KW_MUST_CHECK;
/* Add a base64 field to obj; KW_ERR_NOMEM. */
int client_json_set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n) KW_MUST_CHECK;
/* A text field; KW_ERR_INVALID (recorded on c) for NULL or non-UTF-8. */
int client_json_set_str(struct kw_client *c, json_t *obj, const char *key,
                        const char *s) KW_MUST_CHECK;
/* Serialise j into out (a wiping buffer); not NUL-terminated. */
int client_json_dump(const json_t *j, size_t flags, struct kw_buf *out) KW_MUST_CHECK;
/* json_object_set_new that reports failure (and releases v). */
int client_json_set(json_t *obj, const char *key, json_t *v) KW_MUST_CHECK;

#endif
