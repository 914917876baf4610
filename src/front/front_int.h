/*
 * front_int.h: what the front's files share, and the pure helpers the unit
 * tests drive directly (address parsing, route matching, vault-text parsing,
 * JSON field extraction, the error -> HTTP status table, the body limit,
 * request ids).
 *
 * A request is one struct kw_req, built by http.c on its connection's thread,
 * routed by route.c to a handler (sys.c, keys.c, transit.c, token.c, audit.c) that
 * turns JSON into one or more keeper IPC calls (request.c) and the replies
 * into JSON (reply.c). A handler returns 0 with a response, or a negative
 * KW_ERR_* with an optional sentence in r->fail; route.c turns the latter
 * into {"errors":[...],"code":...} with the status from kw_http_status().
 *
 * Secrets: plaintexts, data keys, exported keys, unseal shares and tokens
 * pass through here. Decoded bytes live in struct kw_bytes (wiped on purge),
 * and jansson allocates through kw_json_wipe_init()'s allocator, which wipes
 * every block it frees. Messages in r->fail name fields and ids, never values.
 */
#ifndef KW_FRONT_INT_H
#define KW_FRONT_INT_H

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <jansson.h>

#include "../ipc/ipc.h"
#include "../auth/auth.h"
#include "front.h"

#define KW_FRONT_VERSION        "keyward-0.1.0"
#define KW_FRONT_CLUSTER        "keyward"
#define KW_UUID_BYTES           37 /* 36 characters and a NUL */
#define KW_REMOTE_BYTES         64 /* an IPv6 address text, or "unix" */
#define KW_DETAIL_BYTES         256
#define KW_ROUTE_ARGS_MAX       4 /* ":x" segments in one pattern */
#define KW_RANDOM_BYTES_MAX     131072
#define KW_RANDOM_BYTES_DEFAULT 32
#define KW_POLICIES_MAX         256 /* per token: stays far below KW_IPC_FIELDS_MAX */
#define KW_TIMEOUT_DEFAULT      60  /* seconds, when the config says 0 */
#define KW_PEM_MAX              (1u * 1024 * 1024)

/* ---- errors with a sentence (request.c) ---- */

struct kw_fail {
	int err;                   /* which error msg belongs to */
	char msg[KW_DETAIL_BYTES]; /* "" = use kw_err_str(err) */
};
/* Record err with a sentence naming fields or ids only; returns err. */
int kw_fail_set(struct kw_fail *f, int err, const char *fmt, ...) KW_PRINTF(3, 4);
void kw_fail_clear(struct kw_fail *f);
/* The sentence for err: ours if it was recorded for err, else the table's. */
const char *kw_fail_text(const struct kw_fail *f, int err);

/* ---- HTTP methods and routes (route.c) ---- */

enum kw_method {
	KW_M_GET = 1 << 0,
	KW_M_HEAD = 1 << 1, /* served wherever GET is */
	KW_M_POST = 1 << 2, /* PUT is the same thing, as in Vault */
	KW_M_DELETE = 1 << 3,
	KW_M_LIST = 1 << 4, /* Vault's LIST verb, or GET with ?list=true */
};
/* "GET", "PUT"... to one KW_M_* bit; list_query turns GET into LIST.
 * KW_ERR_UNSUPPORTED for any other method. */
int kw_method_parse(const char *method, bool list_query, unsigned *out) KW_MUST_CHECK;
/* "GET, HEAD, POST" for an Allow header. */
void kw_method_names(unsigned mask, char *buf, size_t buflen);

struct kw_req;
struct kw_resp;
typedef int (*kw_handler)(struct kw_req *r, struct kw_resp *out);

struct kw_route {
	unsigned methods;    /* KW_M_* mask */
	const char *pattern; /* after "/v1/"; ":x" matches one segment */
	kw_handler fn;
};

struct kw_route_args {
	char *buf;                        /* the path, split at '/' */
	const char *v[KW_ROUTE_ARGS_MAX]; /* ":x" segments, in order */
	bool is_name[KW_ROUTE_ARGS_MAX];  /* pattern said ":name" */
	size_t n;
};
void kw_route_args_cleanup(struct kw_route_args *a);

/*
 * Find the route for method and path (no "/v1/" prefix, no query). 0 with
 * *route and *args filled; KW_ERR_NOT_FOUND if no pattern matches the path;
 * KW_ERR_UNSUPPORTED if some pattern matches but not with this method (then
 * *allowed is the mask that would). args must be cleaned up on success.
 */
int kw_route_find(unsigned method, const char *path, const struct kw_route **route,
                  struct kw_route_args *args, unsigned *allowed) KW_MUST_CHECK;
const struct kw_route *kw_routes(size_t *n); /* the whole table, for tests */

/* ---- responses (reply.c) ---- */

struct kw_resp {
	unsigned status; /* HTTP status */
	json_t *json;    /* owned; NULL = no body */
	char *text;      /* owned, text_len bytes: a body that is not JSON */
	size_t text_len;
	const char *content_type; /* of text (a literal) */
	char allow[64];           /* Allow header for 405, "" otherwise */
	unsigned retry_after;     /* Retry-After seconds (429), 0 = none */
};
void kw_resp_cleanup(struct kw_resp *out);
/* The one table from KW_ERR_* to HTTP status. */
unsigned kw_http_status(int err);
/* {"errors":[text],"code":code}; NULL without memory. */
json_t *kw_error_json(const char *text, const char *code);
/* Vault's envelope around data (stolen; NULL reads as out of memory). */
int kw_resp_data(const struct kw_req *r, struct kw_resp *out, json_t *data) KW_MUST_CHECK;
/* Vault's envelope with "data": null and an "auth" block (stolen). */
int kw_resp_auth(const struct kw_req *r, struct kw_resp *out, json_t *auth) KW_MUST_CHECK;
/* A bare JSON body (stolen) with this status. */
int kw_resp_json(struct kw_resp *out, unsigned status, json_t *body) KW_MUST_CHECK;
/* A copy of len bytes of text, sent as content_type (a literal). Never
 * for secrets: the copy is freed without wiping. */
int kw_resp_text(struct kw_resp *out, unsigned status, const char *content_type, const char *text,
                 size_t len) KW_MUST_CHECK;
void kw_resp_empty(struct kw_resp *out); /* 204 */
/* An error response for err with r's sentence. */
int kw_resp_error(struct kw_resp *out, int err, const struct kw_fail *f) KW_MUST_CHECK;
/* A LIST answer: {"data":{"keys":[...]}} or Vault's 404 {"errors":[]}. */
int kw_resp_list(const struct kw_req *r, struct kw_resp *out, json_t *keys) KW_MUST_CHECK;
/* Bytes as a JSON string, base64 or hex; the text in between may be secret
 * (plaintexts, unseal shares) and is wiped. NULL on failure. */
json_t *kw_json_bytes(const uint8_t *p, size_t n, bool hex);
/* json_object_set_new that reports failure as KW_ERR_NOMEM. */
int kw_jset(json_t *o, const char *key, json_t *v) KW_MUST_CHECK;
/* Route jansson through an allocator that wipes what it frees. Call once,
 * before any thread uses jansson. */
void kw_json_wipe_init(void);
/* Serialise compactly; free with kw_json_text_free (wipes). */
char *kw_json_text(const json_t *j, size_t *len);
void kw_json_text_free(void *p);

/* ---- input parsing (parse.c) ---- */

struct kw_opt_u64 {
	bool set;
	uint64_t v;
};
struct kw_opt_bool {
	bool set;
	bool v;
};
/* Decoded bytes that may be secret: purge wipes and frees. */
struct kw_bytes {
	bool set;
	uint8_t *p;
	size_t len;
};
void kw_bytes_purge(struct kw_bytes *b);

/* The request body: {} when empty; KW_ERR_INVALID unless a JSON object. */
int kw_body_json(const uint8_t *p, size_t n, json_t **out, struct kw_fail *f) KW_MUST_CHECK;

/*
 * Field getters. Absent and JSON null both mean "not given" (clients such
 * as hvac send null for unset options). A wrong type is KW_ERR_INVALID with
 * a sentence naming the field, never echoing its value. Integers and
 * booleans may also arrive as strings ("3", "true"), as Vault accepts.
 */
int kw_jfield_str(const json_t *o, const char *key, bool required, const char **out,
                  struct kw_fail *f) KW_MUST_CHECK;
int kw_jfield_u64(const json_t *o, const char *key, uint64_t max, struct kw_opt_u64 *out,
                  struct kw_fail *f) KW_MUST_CHECK;
int kw_jfield_bool(const json_t *o, const char *key, struct kw_opt_bool *out,
                   struct kw_fail *f) KW_MUST_CHECK;
/* Standard base64 text to bytes; KW_ERR_BASE64 naming the field. */
int kw_jfield_b64(const json_t *o, const char *key, bool required, struct kw_bytes *out,
                  struct kw_fail *f) KW_MUST_CHECK;
/* Seconds: an integer or a Vault duration string ("1h", "768h"). */
int kw_jfield_duration(const json_t *o, const char *key, struct kw_opt_u64 *out,
                       struct kw_fail *f) KW_MUST_CHECK;

/* 1..KW_NAME_MAX characters of [A-Za-z0-9._-]. */
bool kw_name_valid(const char *s);
/* A decimal integer in [min, max], nothing else. */
int kw_uint_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out) KW_MUST_CHECK;

/*
 * Vault's text form of ciphertexts, signatures and MACs: "vault:v<N>:" and
 * standard base64, or base64url without padding when url (ECDSA signatures
 * marshalled as JWS). Parsing: KW_ERR_INVALID for a bad prefix or version
 * (N is 1..UINT32_MAX, no leading zero), KW_ERR_BASE64 for the rest. *raw
 * is malloc'd; wipe before free.
 */
int kw_vault_text_parse(const char *s, bool url, uint32_t *version,
                        struct kw_bytes *raw) KW_MUST_CHECK;
int kw_vault_text_format(uint32_t version, const uint8_t *raw, size_t len, bool url,
                         char **out) KW_MUST_CHECK;
/* An unseal key share as hex (tried first, as Vault does) or base64. */
int kw_share_decode(const char *s, struct kw_bytes *out) KW_MUST_CHECK;

/* ---- listeners (http.c) ---- */

struct kw_addr {
	int family; /* AF_INET, AF_INET6 or AF_UNIX */
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint16_t port; /* 0 for unix sockets (and "pick one" for TCP) */
	bool loopback; /* 127/8, ::1 or a unix socket: plain HTTP allowed */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};
/* "127.0.0.1:8200", "[::1]:8200", "localhost:8200", "unix:/run/kw.sock". */
int kw_addr_parse(const char *s, struct kw_addr *out) KW_MUST_CHECK;

/* Request body accumulation, bounded by max: never buffers past it. */
struct kw_body {
	struct kw_buf buf;
	size_t max;
	bool too_large;
};
void kw_body_init(struct kw_body *b, size_t max);
void kw_body_cleanup(struct kw_body *b);
/* Check a Content-Length header (NULL = none) against max before reading. */
int kw_body_expect(const char *content_length, size_t max) KW_MUST_CHECK;
/* Append a chunk; past max, drop everything and return KW_ERR_TOO_LARGE. */
int kw_body_append(struct kw_body *b, const void *p, size_t n) KW_MUST_CHECK;

/* ---- keeper channels (chanpool.c) ---- */

struct kw_chanpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int *fds; /* stack of idle channels */
	size_t n, cap;
	bool failed; /* a channel broke: the front is stopping */
};
int kw_chanpool_init(struct kw_chanpool *p, const int *fds, size_t n) KW_MUST_CHECK;
void kw_chanpool_cleanup(struct kw_chanpool *p);
/* Borrow a channel, waiting for one; KW_ERR_UNAVAILABLE once failed. */
int kw_chanpool_get(struct kw_chanpool *p, int *fd) KW_MUST_CHECK;
void kw_chanpool_put(struct kw_chanpool *p, int fd);
/* Mark failed and wake waiters; true only for the first caller. */
bool kw_chanpool_fail(struct kw_chanpool *p);

/* ---- a request (request.c) ---- */

struct kw_front; /* http.c: listeners, the pool, the stop signal */

/* The TLS client's certificate chain, leaf first, DER, pointing into the
 * TLS session (valid while the request runs); n = 0 when none was sent or
 * the listener does not ask for one. Set by http.c; read by the cert method. */
struct kw_peer_chain {
	const uint8_t *der[8];
	size_t len[8];
	size_t n;
};

struct kw_req {
	struct kw_front *front;       /* NULL in unit tests */
	struct kw_chanpool *pool;     /* keeper channels; NULL: none */
	void *conn;                   /* struct MHD_Connection, for query args */
	unsigned method;              /* one KW_M_* bit */
	const char *path;             /* after "/v1/" */
	const struct kw_route *route; /* set once matched */
	struct kw_route_args args;    /* ":x" segments of the matched route */
	json_t *body;                 /* the JSON object; {} when empty */
	const char *token;            /* caller's token or NULL; never logged */
	char id[KW_UUID_BYTES];       /* request id, sent to the keeper */
	char remote[KW_REMOTE_BYTES];
	uint32_t port;    /* listener port, 0 for unix sockets */
	int chan;         /* borrowed keeper channel, -1 if none */
	bool chan_broken; /* do not return chan to the pool */
	struct kw_fail fail;
	struct kw_peer_chain peer;
};

/* A random UUID v4 in lowercase text. */
int kw_uuid_v4(char out[KW_UUID_BYTES]) KW_MUST_CHECK;
void kw_req_init(struct kw_req *r, struct kw_front *front, struct kw_chanpool *pool);
void kw_req_cleanup(struct kw_req *r); /* returns the channel */
/* An empty message that kw_ipc_msg_cleanup accepts: every handler zeroes
 * its messages first so one out: label can clean up whatever happened. */
static inline void kw_msg_zero(struct kw_ipc_msg *m)
{
	kw_buf_init(&m->buf);
	m->nfields = 0;
}
/* A query parameter, or NULL. */
const char *kw_req_query(const struct kw_req *r, const char *key);
/* Start an IPC request carrying REQ_ID, TOKEN, REMOTE_ADDR, LISTENER_PORT. */
int kw_req_msg(struct kw_req *r, struct kw_ipc_msg *m, uint16_t type) KW_MUST_CHECK;
/*
 * Send req to the keeper and wait. 0 when the keeper answered status 0;
 * the keeper's KW_ERR_* (its ERROR_DETAIL in r->fail) otherwise. A broken
 * channel stops the front and reads as KW_ERR_UNAVAILABLE. reply must be
 * cleaned up whatever the result.
 */
int kw_req_call(struct kw_req *r, struct kw_ipc_msg *req, struct kw_ipc_msg *reply) KW_MUST_CHECK;
/* Send a list message (KEY_LIST, POLICY_LIST) and collect its NAME fields
 * into a new JSON array. */
int kw_req_names(struct kw_req *r, uint16_t type, json_t **out) KW_MUST_CHECK;

/* http.c: stop the front after a keeper channel broke. */
void kw_front_fatal(struct kw_front *front);

/* Route, parse and run one request; always fills out. */
void kw_dispatch(struct kw_req *r, const struct kw_body *body, struct kw_resp *out);

/* ---- handlers: sys.c ---- */
/* ---- ratelimit.c: a token bucket per client address ---- */
#define RL_STRIPES      64 /* mutexes */
#define RL_STRIPE_SLOTS 64 /* addresses remembered per stripe */
#define RL_PROBE        8  /* slots an address may sit in */
struct kw_rl_slot {
	char addr[KW_REMOTE_BYTES];
	double tokens;
	uint64_t last_ns; /* monotonic; 0 = free */
};
struct kw_ratelimit {
	double rate, burst; /* rate 0: off */
	struct kw_rl_slot *slots;
	pthread_mutex_t mu[RL_STRIPES];
};
/* rate requests a second per address, burst at once (0 = rate); rate 0
 * turns the limiter off. */
int kw_ratelimit_init(struct kw_ratelimit *rl, unsigned rate, unsigned burst) KW_MUST_CHECK;
void kw_ratelimit_cleanup(struct kw_ratelimit *rl);
/* 0: addr may make a request now (it used a token); otherwise the whole
 * seconds until it may (a Retry-After). */
unsigned kw_ratelimit_take(struct kw_ratelimit *rl, const char *addr, uint64_t now_ns);

int kw_h_health(struct kw_req *r, struct kw_resp *out);
/* metrics.c: the handler, and the front's two counters. */
int kw_h_metrics(struct kw_req *r, struct kw_resp *out);
void kw_metrics_response(unsigned status);
void kw_metrics_duration(uint64_t us);
int kw_h_seal_status(struct kw_req *r, struct kw_resp *out);
int kw_h_init_get(struct kw_req *r, struct kw_resp *out);
int kw_h_init_put(struct kw_req *r, struct kw_resp *out);
int kw_h_unseal(struct kw_req *r, struct kw_resp *out);
int kw_h_seal(struct kw_req *r, struct kw_resp *out);
int kw_h_policy_list(struct kw_req *r, struct kw_resp *out);
int kw_h_policy_get(struct kw_req *r, struct kw_resp *out);
int kw_h_policy_put(struct kw_req *r, struct kw_resp *out);
int kw_h_policy_delete(struct kw_req *r, struct kw_resp *out);
int kw_h_legacy_policy_list(struct kw_req *r, struct kw_resp *out);
int kw_h_legacy_policy_get(struct kw_req *r, struct kw_resp *out);

/* ---- handlers: keys.c ---- */
int kw_h_key_list(struct kw_req *r, struct kw_resp *out);
int kw_h_key_create(struct kw_req *r, struct kw_resp *out);
int kw_h_key_read(struct kw_req *r, struct kw_resp *out);
int kw_h_key_delete(struct kw_req *r, struct kw_resp *out);
int kw_h_key_config(struct kw_req *r, struct kw_resp *out);
int kw_h_key_rotate(struct kw_req *r, struct kw_resp *out);
int kw_h_key_export(struct kw_req *r, struct kw_resp *out);
/* Key-type facts Vault reports; NULL for an unknown type name. */
struct kw_key_type {
	const char *name;       /* "ecdsa-p256" */
	const char *curve_name; /* per-version "name" in a key read, NULL if symmetric */
	bool encrypt, sign;
};
const struct kw_key_type *kw_key_type_find(const char *name);

/* ---- handlers: transit.c ---- */
int kw_h_encrypt(struct kw_req *r, struct kw_resp *out);
int kw_h_decrypt(struct kw_req *r, struct kw_resp *out);
int kw_h_rewrap(struct kw_req *r, struct kw_resp *out);
int kw_h_datakey(struct kw_req *r, struct kw_resp *out);
int kw_h_sign(struct kw_req *r, struct kw_resp *out);
int kw_h_verify(struct kw_req *r, struct kw_resp *out);
int kw_h_hmac(struct kw_req *r, struct kw_resp *out);
int kw_h_random(struct kw_req *r, struct kw_resp *out);
int kw_h_hash(struct kw_req *r, struct kw_resp *out);

/* Key read JSON (Vault's shape plus "pkcs11_id") from a KEY_INFO reply. */
int kw_key_info_json(const struct kw_ipc_msg *m, const char *name, json_t **out) KW_MUST_CHECK;

/* ---- handlers: p11ops.c (keyward/ operations for the PKCS#11 module) ---- */
#define KW_PKCS11_ID_MAX 64 /* CKA_ID bytes, as the keeper's store allows */
/* A hex field (either case) of at most max decoded bytes; KW_ERR_INVALID
 * naming the field otherwise. */
int kw_jfield_hex(const json_t *o, const char *key, size_t max, struct kw_bytes *out,
                  struct kw_fail *f) KW_MUST_CHECK;
int kw_h_p11_sign_raw(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_decrypt(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_derive(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_cipher(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_wrap(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_unwrap(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_object_put(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_object_get(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_object_delete(struct kw_req *r, struct kw_resp *out);
int kw_h_p11_object_list(struct kw_req *r, struct kw_resp *out);

/* ---- handlers: token.c ---- */
int kw_h_token_create(struct kw_req *r, struct kw_resp *out);
int kw_h_token_lookup_self(struct kw_req *r, struct kw_resp *out);
int kw_h_token_lookup(struct kw_req *r, struct kw_resp *out);
int kw_h_token_lookup_accessor(struct kw_req *r, struct kw_resp *out);
int kw_h_token_revoke(struct kw_req *r, struct kw_resp *out);
int kw_h_token_revoke_accessor(struct kw_req *r, struct kw_resp *out);
int kw_h_token_revoke_self(struct kw_req *r, struct kw_resp *out);

/* ---- handlers: audit.c (the audit log under keyward/audit/) ---- */

/* Query parameters the audit endpoints know; each endpoint takes a subset. */
enum kw_audit_param {
	KW_AP_START,
	KW_AP_END,
	KW_AP_INDEX,
	KW_AP_TREE_SIZE,
	KW_AP_FIRST,
	KW_AP_SECOND,
	KW_AP_KEY,
	KW_AP_IDENTITY,
	KW_AP_OPERATION,
	KW_AP_SINCE,
	KW_AP_UNTIL,
	KW_AP_CURSOR,
	KW_AP_LIMIT,
	KW_AP_COUNT
};
#define KW_AP(p)               (1u << (p))
#define KW_QUERY_ARGS_MAX      32 /* query parameters one request may carry */
#define KW_AUDIT_OPERATION_MAX 64 /* "key-create", "audit-search" ... */

/* One query parameter as the HTTP layer decoded it; value NULL for "?a". */
struct kw_query_arg {
	const char *key;
	const char *value;
};

/* Parsed parameters; strings point into the query. Times are unix us. */
struct kw_audit_params {
	unsigned set; /* KW_AP() bits of those given */
	uint64_t start, end, index, tree_size, first, second, cursor;
	uint64_t since_us, until_us;
	uint32_t limit;
	const char *key, *identity, *operation;
};

/* RFC 3339 ("2026-11-28T14:00:00.5+01:00") or unix seconds ("1796479200")
 * to unix microseconds, a fraction finer than 1 us rounded up. */
int kw_audit_time_parse(const char *s, uint64_t *us) KW_MUST_CHECK;
/*
 * Parse the query of an AUDIT_* request (type names the endpoint): an
 * unknown, repeated, empty or malformed parameter, a missing required one or
 * an impossible range is KW_ERR_INVALID with a sentence naming it.
 */
int kw_audit_params_parse(uint16_t type, const struct kw_query_arg *args, size_t n,
                          struct kw_audit_params *out, struct kw_fail *f) KW_MUST_CHECK;
/* Ask the keeper and answer in Vault's envelope (the handlers below call it
 * after parsing r's query). */
int kw_audit_answer(struct kw_req *r, uint16_t type, const struct kw_audit_params *p,
                    struct kw_resp *out) KW_MUST_CHECK;
/* A reply's ENTRY* fields as [{"index", "leaf" (base64), "entry" (decoded,
 * null if the leaf does not decode)}]. */
int kw_audit_entries_json(const struct kw_ipc_msg *m, json_t **out) KW_MUST_CHECK;

int kw_h_audit_checkpoint(struct kw_req *r, struct kw_resp *out);
int kw_h_audit_entries(struct kw_req *r, struct kw_resp *out);
int kw_h_audit_inclusion(struct kw_req *r, struct kw_resp *out);
int kw_h_audit_consistency(struct kw_req *r, struct kw_resp *out);
int kw_h_audit_search(struct kw_req *r, struct kw_resp *out);

/* ---- auth mounts and login methods: auth_mount.c, auth_k8s.c, auth_jwt.c,
 * auth_cert.c ----
 *
 * The front proves who is calling; the keeper stores mounts, configs and
 * roles (as JSON the front validated and normalised), decides and audits.
 * The front keeps one cache entry per mount (AUTH_LOAD): its config, roles
 * and the verification keys and JWKS sources built from them, so a login
 * costs no keeper round trip but the AUTH_LOGIN itself. An entry is dropped
 * whenever this front proxies a write to its mount. Entries are
 * reference-counted and immutable once cached, so many connection threads use
 * one while a writer drops it. The cache holds public keys and non-secret
 * settings, plus a mount's token_reviewer_jwt (a credential the keeper
 * stored; never returned, never logged, wiped on free).
 */
#define KW_MOUNT_MAX         64   /* a mount path: one segment of [A-Za-z0-9_-] */
#define KW_AUTH_ROLES_MAX    1024 /* roles one mount may hold in the cache */
#define KW_AUTH_LIST_MAX     256  /* entries in one bound_* list */
#define KW_AUTH_TEST_NOW_ENV "KEYWARD_TEST_NOW"
#define KW_CALLER_ID_MAX     2100 /* "jwt:<mount>/<claim>", a SPIFFE ID ... */

enum kw_auth_kind {
	KW_AUTH_KIND_K8S = 1,
	KW_AUTH_KIND_JWT,
	KW_AUTH_KIND_CERT,
};

struct kw_auth_role {
	char *name;
	json_t *json; /* normalised role */
};

struct kw_auth_mount {
	char name[KW_MOUNT_MAX + 1];
	enum kw_auth_kind kind;
	const struct kw_auth_method *method;
	json_t *config; /* normalised config, {} when never written */
	struct kw_auth_role *roles;
	size_t nroles;
	void *state; /* the method's keys and JWKS sources (state_new) */
	int refs;    /* under the cache lock */
};

/* A method: its Vault type name, the path word of its roles, and its
 * validation, state and login. */
struct kw_auth_method {
	const char *type; /* "kubernetes", "jwt", "cert" */
	enum kw_auth_kind kind;
	const char *role_word; /* "role" or "certs" */
	/* Fields a GET of the config never returns (credentials). */
	const char *const *config_secret;
	/* Check a written config or role and normalise it to the stored JSON.
	 * KW_ERR_INVALID with a sentence naming the field. */
	int (*config_norm)(const json_t *in, json_t **out, struct kw_fail *f);
	int (*role_norm)(const json_t *in, json_t **out, struct kw_fail *f);
	/* Build m->state from m->config (keys, JWKS sources); NULL = none. */
	int (*state_new)(struct kw_auth_mount *m, struct kw_fail *f);
	void (*state_free)(void *state);
	int (*login)(struct kw_req *r, struct kw_auth_mount *m, struct kw_resp *out);
};

extern const struct kw_auth_method kw_auth_method_k8s;
extern const struct kw_auth_method kw_auth_method_jwt;
extern const struct kw_auth_method kw_auth_method_cert;
/* The method of a type name, or NULL. */
const struct kw_auth_method *kw_auth_method_find(const char *type);

/* 1..KW_MOUNT_MAX characters of [A-Za-z0-9_-]. */
bool kw_mount_name_valid(const char *s);

/*
 * The clock logins are checked against: kw_now(), unless the environment
 * variable KW_AUTH_TEST_NOW_ENV holds unix seconds — a TEST-ONLY hook so the
 * integration tests can present real service-account tokens that have
 * expired since they were issued. It is read once, logged as a warning, and
 * moves only the front's credential checks: the keeper keeps the real
 * clock, and kw_auth_expires() turns a credential's end into real time.
 */
int64_t kw_auth_now(void);
/* A credential's end (unix seconds on kw_auth_now's clock) as real time. */
int64_t kw_auth_expires(int64_t exp);
/* Has a credential ended (exp > 0 and not after kw_auth_now)? A login that
 * an exp leeway let through is still refused: the keyward token would have
 * to outlive the credential it was issued for. */
bool kw_auth_ended(int64_t exp);

/* The mount from the cache, loading it (AUTH_LOAD) if absent. Put it back
 * with kw_auth_mount_put. KW_ERR_NOT_FOUND for no such mount. */
int kw_auth_mount_get(struct kw_req *r, const char *name, struct kw_auth_mount **out) KW_MUST_CHECK;
void kw_auth_mount_put(struct kw_auth_mount *m);
/* Forget a mount (after a write to it, or its disabling). */
void kw_auth_mount_drop(const char *name);
/* Cert mounts the front knows of (its cache and every AUTH_LIST answer it
 * saw): names copied into names[], at most max. */
size_t kw_auth_cert_mounts(struct kw_req *r, char (*names)[KW_MOUNT_MAX + 1], size_t max);
const struct kw_auth_role *kw_auth_role_find(const struct kw_auth_mount *m, const char *name);

/* ---- normalising helpers for the methods ---- */

/* Refuse any field of in not in known (NULL-terminated). */
int kw_auth_fields_known(const json_t *in, const char *const *known,
                         struct kw_fail *f) KW_MUST_CHECK;
/* A list of strings (a JSON array, or Vault's comma-separated string) into
 * a new array; absent = []. Empty entries are refused. */
int kw_auth_str_list(const json_t *in, const char *key, json_t **out,
                     struct kw_fail *f) KW_MUST_CHECK;
/* A string field copied into out (absent: def, or nothing when def NULL). */
int kw_auth_copy_str(const json_t *in, const char *key, const char *def, json_t *out,
                     struct kw_fail *f) KW_MUST_CHECK;
int kw_auth_copy_bool(const json_t *in, const char *key, bool def, json_t *out,
                      struct kw_fail *f) KW_MUST_CHECK;
/* Seconds (integer or Vault duration) into out, def when absent. */
int kw_auth_copy_duration(const json_t *in, const char *key, const char *alias, uint64_t max,
                          json_t *out, struct kw_fail *f) KW_MUST_CHECK;
/* The token_* fields every role has (aliases policies/ttl/max_ttl
 * accepted), into out; the field names go into known for the caller. */
int kw_auth_role_common(const json_t *in, json_t *out, struct kw_fail *f) KW_MUST_CHECK;
extern const char *const kw_auth_role_common_fields[];
/* Strings of a normalised array field, borrowed: up to max into v. */
size_t kw_auth_json_strs(const json_t *o, const char *key, const char **v, size_t max);

/* ---- verification keys of one issuer (auth_jwt.c), for jwt and kubernetes ---- */

struct kw_jwt_keys_conf {
	const json_t *pem_keys; /* array of PEM texts (static keys), may be NULL */
	const char *jwks_url;   /* https JWKS, fetched and refreshed */
	const char *jwks_file;  /* a JWKS document on this host, read once */
	const char *discovery;  /* OIDC issuer whose jwks_uri to discover */
	const char *ca_pem;     /* trust for jwks_url and discovery; NULL = system */
};
/* One issuer's keys: a static set (PEM keys, a JWKS file) and/or a fetched
 * JWKS source. */
struct kw_jwt_keys {
	struct kw_auth_keyset *ks;
	struct kw_auth_jwks_source *src;
};
/* Build (network: discovery only); KW_ERR_UNAVAILABLE if discovery fails,
 * KW_ERR_INVALID for bad keys, with a sentence in f. */
int kw_jwt_keys_build(const struct kw_jwt_keys_conf *c, struct kw_jwt_keys *out,
                      struct kw_fail *f) KW_MUST_CHECK;
void kw_jwt_keys_cleanup(struct kw_jwt_keys *k);
/* Check PEM keys parse (config validation, no network). */
int kw_jwt_pem_keys_check(const json_t *pem_keys, const char *field,
                          struct kw_fail *f) KW_MUST_CHECK;
/* kw_auth_jwt_verify against the static set, then the JWKS source. */
int kw_jwt_keys_verify(struct kw_jwt_keys *k, const struct kw_auth_jwt_opts *o, const char *token,
                       size_t len, int64_t now, struct kw_auth_jwt **out,
                       enum kw_auth_reason *why) KW_MUST_CHECK;
/* Bumped whenever a mount is dropped: results derived from mounts (the
 * implicit cert identities) are good only while it stays the same. */
uint64_t kw_auth_cache_gen(void);

/* ---- login outcomes (auth_mount.c) ---- */

/*
 * Refuse a login: AUTH_LOGIN_FAILED to the keeper (which audits it), then
 * err (KW_ERR_AUTH or KW_ERR_DENIED) with text in r->fail. role and
 * caller_id may be NULL. Never pass credential bytes.
 */
int kw_login_refuse(struct kw_req *r, const struct kw_auth_mount *m, const char *role,
                    const char *caller_id, const char *reason, int err, const char *text);
/* The same with the claims of a credential that verified (the pod of a
 * service account bound elsewhere), for the audit entry. */
int kw_login_refuse_meta(struct kw_req *r, const struct kw_auth_mount *m, const char *role,
                         const char *caller_id, const json_t *meta, const char *reason, int err,
                         const char *text);
/*
 * A verified credential: AUTH_LOGIN with the caller (meta: a JSON object of
 * non-secret claims; expires: the credential's end in real time, 0 = none)
 * and Vault's login reply in out.
 */
int kw_login_finish(struct kw_req *r, const struct kw_auth_mount *m, const char *role,
                    const char *caller_id, const json_t *meta, int64_t expires,
                    struct kw_resp *out) KW_MUST_CHECK;

/* ---- implicit cert identity (auth_cert.c) ---- */

/*
 * For a request with no token on a connection with a client chain: the
 * first cert role (over the cert mounts) that verifies the chain and whose
 * bindings match, as CALLER_MOUNT CALLER_ROLE CALLER_ID CALLER_EXPIRES
 * CALLER_META fields of m. 0 with nothing added when no role matches (the
 * keeper then answers as for any request without a token).
 */
int kw_cert_implicit(struct kw_req *r, struct kw_ipc_msg *m) KW_MUST_CHECK;

/* ---- handlers: auth_mount.c ---- */
int kw_h_auth_list(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_read(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_enable(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_disable(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_config_get(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_config_put(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_role_list(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_role_get(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_role_put(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_role_delete(struct kw_req *r, struct kw_resp *out);
int kw_h_auth_login(struct kw_req *r, struct kw_resp *out);

#endif
