/*
 * common: the few things every keyward module needs — error codes, logging,
 * growable buffers that wipe themselves, base64/hex, secure memory and time.
 *
 * Depends on nothing else in keyward (OpenSSL only, for cleanse and the secure
 * heap). Used in both processes and in the client library.
 *
 * Secrets: kw_buf may carry secrets in transit (plaintext, data keys), so
 * kw_buf_cleanup() always wipes before freeing. Key material proper lives in
 * kw_secure_alloc() memory (OpenSSL's secure heap: mlocked, excluded from core
 * dumps). Nothing here logs buffer contents.
 *
 * Threads: everything is thread-safe; logging takes one lock per line.
 */
#ifndef KW_COMMON_H
#define KW_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_MUST_CHECK   __attribute__((warn_unused_result))
#define KW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define KW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Errors: 0 or a negative KW_ERR_*. One table: the stable machine-readable
 * code (sent to clients, never renumbered in meaning) and a sentence a person
 * can act on. HTTP status, CK_RV and exit codes are chosen at the edges.
 */
#define KW_ERR_LIST(X)                                                                             \
	X(INTERNAL, -1, "internal", "internal error; see the server log")                          \
	X(NOMEM, -2, "out_of_memory", "out of memory")                                             \
	X(INVALID, -3, "invalid_request", "the request is malformed")                              \
	X(BASE64, -4, "bad_base64", "a field is not valid base64")                                 \
	X(TOO_LARGE, -5, "too_large", "the request is larger than the configured limit")           \
	X(NOT_FOUND, -6, "not_found", "no such key or object")                                     \
	X(EXISTS, -7, "already_exists", "an object with that name already exists")                 \
	X(KEY_TYPE, -8, "wrong_key_type", "the key's type does not support this operation")        \
	X(DENIED, -9, "permission_denied", "permission denied")                                    \
	X(AUTH, -10, "bad_token", "missing, unknown or expired token")                             \
	X(SEALED, -11, "sealed", "keyward is sealed; unseal it with the key shares")               \
	X(NOT_INIT, -12, "not_initialized", "keyward is not initialized; run operator init")       \
	X(ALREADY_INIT, -13, "already_initialized", "keyward is already initialized")              \
	X(INTEGRITY, -14, "integrity", "stored key material failed its integrity check")           \
	X(DECRYPT, -15, "decryption_failed",                                                       \
	  "the ciphertext is invalid or was not made by this key")                                 \
	X(VERSION, -16, "bad_key_version", "that key version is not available for this operation") \
	X(NOT_EXPORTABLE, -17, "not_exportable", "the key is not exportable")                      \
	X(DELETE_DENIED, -18, "deletion_not_allowed",                                              \
	  "deletion is not allowed for this key; set deletion_allowed first")                      \
	X(STORE, -19, "storage", "the key store could not be read or written")                     \
	X(CRYPTO, -20, "crypto", "the cryptographic operation failed")                             \
	X(SELFTEST, -21, "self_test_failed",                                                       \
	  "a cryptographic self-test failed; refusing to unseal")                                  \
	X(BAD_SHARE, -22, "bad_unseal_key", "that is not a valid unseal key share")                \
	X(IPC, -23, "ipc", "the key-holding process did not answer")                               \
	X(UNSUPPORTED, -24, "unsupported", "that parameter value is not supported")                \
	X(CONFIG, -25, "bad_config", "the configuration is invalid")                               \
	X(IO, -26, "io", "an input/output error occurred")                                         \
	X(UNAVAILABLE, -27, "unavailable", "the service is not available; try again")              \
	X(LIMIT, -28, "limit_exceeded", "a size or count limit was exceeded")

enum kw_err {
	KW_OK = 0,
#define KW_ERR_ENUM(name, val, code, msg) KW_ERR_##name = (val),
	KW_ERR_LIST(KW_ERR_ENUM)
#undef KW_ERR_ENUM
};

/* Stable code ("not_found"); "unknown" for a value outside the table. */
const char *kw_err_code(int err);
/* The sentence for a person. */
const char *kw_err_str(int err);
/* Reverse of kw_err_code(), KW_ERR_INTERNAL if unknown. */
int kw_err_from_code(const char *code);

/* Logging: one line to stderr, "time level [proc] message". */
enum kw_log_level { KW_LOG_DEBUG, KW_LOG_INFO, KW_LOG_WARN, KW_LOG_ERR };
void kw_log_set_level(enum kw_log_level level);
int kw_log_level_from_name(const char *name, enum kw_log_level *out) KW_MUST_CHECK;
void kw_log_set_proc(const char *name); /* "front", "keeper", "parent" */
void kw_log(enum kw_log_level level, const char *fmt, ...) KW_PRINTF(2, 3);
#define kw_debug(...) kw_log(KW_LOG_DEBUG, __VA_ARGS__)
#define kw_info(...)  kw_log(KW_LOG_INFO, __VA_ARGS__)
#define kw_warn(...)  kw_log(KW_LOG_WARN, __VA_ARGS__)
#define kw_error(...) kw_log(KW_LOG_ERR, __VA_ARGS__)
/* Log and exit(1): for broken invariants inside the boundary (relayd fatalx). */
void kw_fatal(const char *fmt, ...) KW_PRINTF(1, 2) __attribute__((noreturn));

/*
 * Growable byte buffer. Any buffer may carry secrets in transit, so cleanup
 * always wipes. Appends are all-or-nothing.
 */
struct kw_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
void kw_buf_init(struct kw_buf *b);
int kw_buf_reserve(struct kw_buf *b, size_t extra) KW_MUST_CHECK;
int kw_buf_append(struct kw_buf *b, const void *p, size_t n) KW_MUST_CHECK;
int kw_buf_append_str(struct kw_buf *b, const char *s) KW_MUST_CHECK;
int kw_buf_appendf(struct kw_buf *b, const char *fmt, ...) KW_MUST_CHECK
    __attribute__((format(printf, 2, 3)));
int kw_buf_append_u8(struct kw_buf *b, uint8_t v) KW_MUST_CHECK;
int kw_buf_append_u16(struct kw_buf *b, uint16_t v) KW_MUST_CHECK; /* big-endian */
int kw_buf_append_u32(struct kw_buf *b, uint32_t v) KW_MUST_CHECK;
int kw_buf_append_u64(struct kw_buf *b, uint64_t v) KW_MUST_CHECK;
void kw_buf_reset(struct kw_buf *b); /* wipe contents, keep allocation */
void kw_buf_cleanup(struct kw_buf *b);

/* Big-endian readers for decoders that have already checked the length. */
uint16_t kw_load_u16(const uint8_t *p);
uint32_t kw_load_u32(const uint8_t *p);
uint64_t kw_load_u64(const uint8_t *p);
void kw_store_u16(uint8_t *p, uint16_t v);
void kw_store_u32(uint8_t *p, uint32_t v);
void kw_store_u64(uint8_t *p, uint64_t v);

/*
 * Base64 (RFC 4648). Encoders return a NUL-terminated malloc'd string.
 * kw_base64_decode is strict: standard alphabet, padding required, no
 * whitespace; KW_ERR_BASE64 otherwise. The url variant takes the URL-safe
 * alphabet with padding optional. Decoded output is malloc'd; callers holding
 * secrets wipe it (kw_wipe) before free.
 */
int kw_base64_encode(const uint8_t *in, size_t len, char **out) KW_MUST_CHECK;
int kw_base64url_encode(const uint8_t *in, size_t len, char **out) KW_MUST_CHECK;
int kw_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
int kw_base64url_decode(const char *in, size_t len, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
size_t kw_base64_decoded_max(size_t len);
int kw_hex_encode(const uint8_t *in, size_t len, char **out) KW_MUST_CHECK;
int kw_hex_decode(const char *in, size_t len, uint8_t **out, size_t *outlen) KW_MUST_CHECK;
int kw_hex_value(char c); /* 0..15, or -1 if c is not a hex digit */

/* Secure memory: OpenSSL's secure heap when initialised, else plain memory. */
int kw_secure_heap_init(size_t bytes) KW_MUST_CHECK;
bool kw_secure_heap_active(void);
void *kw_secure_alloc(size_t n);                          /* zeroed; NULL on failure */
void kw_secure_free(void *p, size_t n);                   /* wipes then frees; NULL is fine */
void kw_wipe(void *p, size_t n);                          /* OPENSSL_cleanse */
bool kw_ct_equal(const void *a, const void *b, size_t n); /* constant time */

/* Make this process unable to dump core or be ptraced by its peers. */
int kw_process_harden(void) KW_MUST_CHECK;

/* Time. */
uint64_t kw_now_us(void); /* wall clock, microseconds since the epoch */
int64_t kw_now(void);     /* wall clock, seconds */
uint64_t kw_monotonic_ns(void);
/* RFC 3339 UTC with seconds ("2026-11-28T14:00:00Z") into buf (>= 32 bytes). */
void kw_time_format(int64_t unix_seconds, char *buf, size_t buflen);

/* Longest key, policy, role and mount name. */
#define KW_NAME_MAX 128

/* Strings. */
char *kw_strdup(const char *s); /* NULL on NULL or failure */
/* Copy with truncation check: KW_ERR_LIMIT if src does not fit. */
int kw_strlcpy(char *dst, const char *src, size_t dstlen) KW_MUST_CHECK;
/* Parse a Vault duration ("30s", "15m", "1h", "768h", "3600") to seconds. */
int kw_duration_parse(const char *s, int64_t *seconds) KW_MUST_CHECK;

/*
 * Address ranges (cidr.c), for listener-bound network identities: the front
 * refuses other sources before TLS and the keeper checks again. An IPv4
 * address never matches an IPv6 range (no mapped-address guessing), except
 * that "::ffff:a.b.c.d" is read as the IPv4 address it carries, since that
 * is how a dual-stack socket reports an IPv4 client.
 */
struct kw_cidr {
	uint8_t addr[16]; /* network address, host bits zero */
	uint8_t prefix;   /* 0..32 or 0..128 */
	bool v6;
};
/* "10.0.0.0/8", "127.0.0.2" (= /32), "fd00::/8", "::1". KW_ERR_INVALID for
 * anything else, host bits set after the prefix included (a typo we refuse). */
int kw_cidr_parse(const char *s, struct kw_cidr *out) KW_MUST_CHECK;
/* Is the textual address addr (no port) inside c? False if it does not parse. */
bool kw_cidr_match(const struct kw_cidr *c, const char *addr);
bool kw_cidr_match_any(const struct kw_cidr *c, size_t n, const char *addr);

#endif
