/*
 * libkeyward: the C client of keyward's REST API (Vault-transit compatible),
 * over libcurl. Used by the keyward CLI, the PKCS#11 module and the KMS
 * plugin, all of which run it in their own (client) process; it never sees
 * key material, only what the server returns: ciphertexts, signatures,
 * plaintexts the caller asked for, tokens and unseal shares.
 *
 * Shape: a handle (struct kw_client) holds the server address, TLS settings,
 * a token and one libcurl easy handle, so successive requests reuse one
 * keep-alive connection. kw_client_call() is the generic request; the typed
 * helpers below build each operation's body and return the server's answer
 * as a jansson object the caller frees with kw_client_json_free().
 *
 * Errors: every function returns 0 or a negative KW_ERR_* (common.h). After a
 * failed request the handle keeps the stable code and the server's sentence
 * (kw_client_error_code(), kw_client_error()); for a real Vault, which sends
 * no code, the code is derived from the HTTP status. Out-parameters are
 * written only on success.
 *
 * Threads: a handle is used by one thread at a time. kw_client_dup() gives
 * another thread its own handle that shares the first one's settings, DNS
 * cache, TLS session cache and pool of idle connections. Connections
 * themselves are never used by two threads at once: libcurl does not support
 * a connection cache shared between concurrent threads (its KNOWN_BUGS), so
 * each handle owns its connection and hands it back to the shared idle pool
 * when freed, where a later kw_client_dup() picks it up still open.
 *
 * Secrets: the token is kept in one allocation and wiped on free; request
 * bodies (base64 plaintext, shares) and raw replies are wiped before free,
 * and kw_client_json_free() wipes every string of a reply before releasing
 * it. Nothing here logs; error sentences never contain the token or data.
 */
#ifndef KEYWARD_H
#define KEYWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/common.h"

#define KW_CLIENT_DEFAULT_ADDR               "http://127.0.0.1:8200"
#define KW_CLIENT_CONNECT_TIMEOUT_MS_DEFAULT 10000L
#define KW_CLIENT_TIMEOUT_MS_DEFAULT         60000L
#define KW_CLIENT_TOKEN_MAX                  4096        /* longest token accepted, in bytes */
#define KW_CLIENT_NAME_MAX                   512         /* longest key or policy name, in bytes */
#define KW_CLIENT_REPLY_MAX                  (64u << 20) /* a 32 MiB plaintext is ~43 MiB in base64 JSON */
#define KW_CLIENT_ERROR_MAX                  512 /* error sentence kept per handle, with its NUL */
#define KW_CLIENT_CODE_MAX                   64

struct kw_client;

/*
 * Connection settings. Strings are borrowed for the duration of
 * kw_client_new(), which copies what it keeps.
 *
 * address: "http://host:port", "https://host:port" (an optional path prefix
 * is kept) or "unix:/path/to.sock" (plain HTTP over a unix socket).
 */
struct kw_client_opts {
	const char *address;     /* NULL: KW_CLIENT_DEFAULT_ADDR */
	const char *token;       /* NULL: send no token */
	const char *ca_cert;     /* PEM bundle to verify the server; NULL: system store */
	const char *client_cert; /* PEM, for mTLS; needs client_key */
	const char *client_key;
	long connect_timeout_ms; /* 0: default */
	long timeout_ms;         /* whole request; 0: default */
};

/*
 * Fill o from the environment, KEYWARD_* first and VAULT_* as fallback:
 * ADDR, TOKEN, CACERT, CLIENT_CERT, CLIENT_KEY, CLIENT_TIMEOUT (a duration:
 * "30s", "2m"). Empty variables count as unset. The strings point into the
 * environment and stay valid until it is changed. KW_ERR_CONFIG if
 * CLIENT_TIMEOUT does not parse.
 */
int kw_client_opts_from_env(struct kw_client_opts *o) KW_MUST_CHECK;

/* KW_ERR_CONFIG for a bad address, a token with characters a header cannot
 * carry, or a client cert without its key; *why (if not NULL) then points to
 * a static sentence saying which. kw_client_new() runs the same check. */
int kw_client_opts_check(const struct kw_client_opts *o, const char **why) KW_MUST_CHECK;
int kw_client_new(const struct kw_client_opts *o, struct kw_client **out) KW_MUST_CHECK;
int kw_client_new_from_env(struct kw_client **out) KW_MUST_CHECK;
/* Another handle with the same settings and token, sharing the pool. */
int kw_client_dup(const struct kw_client *c, struct kw_client **out) KW_MUST_CHECK;
/* Wipes the token; returns the connection to the shared pool. NULL is fine. */
void kw_client_free(struct kw_client *c);

/* Replace the token (after a login or init); NULL removes it. KW_ERR_INVALID
 * if it holds characters a header cannot carry. */
int kw_client_set_token(struct kw_client *c, const char *token) KW_MUST_CHECK;

/* The last failure on this handle: HTTP status (0 if no reply came), the
 * stable code ("not_found", "unavailable") and a sentence for a person.
 * Empty strings when the last call succeeded. */
long kw_client_status(const struct kw_client *c);
const char *kw_client_error_code(const struct kw_client *c);
const char *kw_client_error(const struct kw_client *c);

/*
 * Generic request. method: GET, LIST, POST, PUT or DELETE; path relative to
 * /v1/ ("transit/keys/web"), already escaped; body may be NULL, and only
 * POST and PUT carry one (KW_ERR_INVALID otherwise). On a 2xx
 * reply, *reply is the parsed body (NULL if the server sent none). Any other
 * status returns the KW_ERR_* for the reply's code (or status). GET and LIST
 * are retried once on a connection error; the others never are, since the
 * server may have acted on them.
 */
int kw_client_call(struct kw_client *c, const char *method, const char *path, const json_t *body,
                   json_t **reply) KW_MUST_CHECK;

/* Wipe every string in j (reply data may hold plaintext or tokens) and
 * release it. Subtrees someone else also holds are released unwiped. */
void kw_client_json_free(json_t *j);
/* Typed field access for replies: KW_ERR_INVALID if absent or another type. */
int kw_client_json_string(const json_t *obj, const char *key, const char **out) KW_MUST_CHECK;
/* A base64 field, decoded into malloc'd memory (wipe it before free). */
int kw_client_json_bytes(const json_t *obj, const char *key, uint8_t **out,
                         size_t *outlen) KW_MUST_CHECK;

/*
 * sys/: initialisation and the seal. The replies are the server's top-level
 * objects (Vault puts these outside "data"): init gives keys, keys_base64 and
 * root_token (all secret), the others the seal status (sealed, t, n,
 * progress...). seal-status and unseal need no token.
 */
int kw_client_sys_init(struct kw_client *c, unsigned shares, unsigned threshold,
                       json_t **reply) KW_MUST_CHECK;
int kw_client_sys_unseal(struct kw_client *c, const char *share, json_t **status) KW_MUST_CHECK;
/* Forget the shares given so far. */
int kw_client_sys_unseal_reset(struct kw_client *c, json_t **status) KW_MUST_CHECK;
int kw_client_sys_seal(struct kw_client *c) KW_MUST_CHECK;
int kw_client_sys_seal_status(struct kw_client *c, json_t **status) KW_MUST_CHECK;

/*
 * transit/keys. Names: 1..KW_CLIENT_NAME_MAX bytes, no '/', no control
 * characters, not "." or ".." (KW_ERR_INVALID); escaped into the path here.
 * Where a reply is optional (info may be NULL) the key's state is returned
 * if the server sent one, else *info is set to NULL.
 */
struct kw_client_key_opts {
	const char *type; /* NULL: the server's default (aes256-gcm96) */
	bool exportable;
	const char *pkcs11_id; /* CKA_ID as hex (keyward extension); NULL: none */
};
struct kw_client_key_config {
	bool set_deletion_allowed;
	bool deletion_allowed;
	bool set_min_decryption_version;
	uint32_t min_decryption_version;
	bool set_exportable; /* exportable can only be turned on */
};
int kw_client_key_create(struct kw_client *c, const char *name, const struct kw_client_key_opts *o,
                         json_t **info) KW_MUST_CHECK;
int kw_client_key_read(struct kw_client *c, const char *name, json_t **info) KW_MUST_CHECK;
/* *names is a JSON array of strings (empty when there are no keys). */
int kw_client_key_list(struct kw_client *c, json_t **names) KW_MUST_CHECK;
int kw_client_key_rotate(struct kw_client *c, const char *name, json_t **info) KW_MUST_CHECK;
int kw_client_key_delete(struct kw_client *c, const char *name) KW_MUST_CHECK;
int kw_client_key_config(struct kw_client *c, const char *name,
                         const struct kw_client_key_config *cfg, json_t **info) KW_MUST_CHECK;

/*
 * transit/ crypto. Inputs are raw bytes (base64-encoded here); replies are the
 * "data" objects: encrypt {ciphertext, key_version}, decrypt {plaintext
 * (base64, secret)}, sign {signature, key_version}, verify {valid},
 * hmac {hmac, key_version}.
 */
struct kw_client_crypt_opts {
	uint32_t key_version; /* 0: latest (encrypt only) */
	const uint8_t *aad;   /* AEAD associated data; NULL for none */
	size_t aad_len;
};
struct kw_client_sign_opts {
	const char *hash;                 /* "sha2-256"...; NULL: server default */
	const char *signature_algorithm;  /* RSA: "pss" or "pkcs1v15" */
	const char *marshaling_algorithm; /* ECDSA: "asn1" or "jws" */
	bool prehashed;
	uint32_t key_version; /* 0: latest */
	bool hmac;            /* verify: the signature is an HMAC from kw_client_hmac */
};
int kw_client_encrypt(struct kw_client *c, const char *name, const uint8_t *pt, size_t len,
                      const struct kw_client_crypt_opts *o, json_t **data) KW_MUST_CHECK;
int kw_client_decrypt(struct kw_client *c, const char *name, const char *ciphertext,
                      const struct kw_client_crypt_opts *o, json_t **data) KW_MUST_CHECK;
int kw_client_sign(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                   const struct kw_client_sign_opts *o, json_t **data) KW_MUST_CHECK;
int kw_client_verify(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                     const char *signature, const struct kw_client_sign_opts *o,
                     json_t **data) KW_MUST_CHECK;
int kw_client_hmac(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                   const struct kw_client_sign_opts *o, json_t **data) KW_MUST_CHECK;

/*
 * auth/token and sys/policies/acl. token_create returns the reply's "auth"
 * object (client_token is secret). Policy text (a Vault ACL policy; keyward
 * takes the JSON form) is sent as given; policy_read returns data
 * {name, policy}.
 */
struct kw_client_token_opts {
	const char *const *policies;
	size_t npolicies;
	const char *ttl; /* Vault duration ("1h"); NULL: the server's default */
	const char *display_name;
	bool no_default_policy;
};
int kw_client_token_create(struct kw_client *c, const struct kw_client_token_opts *o,
                           json_t **auth) KW_MUST_CHECK;
int kw_client_policy_write(struct kw_client *c, const char *name, const char *text) KW_MUST_CHECK;
int kw_client_policy_read(struct kw_client *c, const char *name, json_t **data) KW_MUST_CHECK;
int kw_client_policy_list(struct kw_client *c, json_t **names) KW_MUST_CHECK;

/*
 * keyward/audit: the verifiable audit log (keyward's own API; Vault has
 * none). Needs a token with sudo on keyward/audit/<what>. Replies are the
 * "data" objects: checkpoint {checkpoint (signed note), public_key (PEM),
 * verifier_key}; entries {entries: [{index, leaf (base64), entry}],
 * tree_size}; proofs {hashes: [base64...]}; search {entries, next_cursor}.
 * Nothing here is secret: entries carry digests and token accessors only.
 */
struct kw_client_audit_query {
	const char *key;       /* key name; NULL: any */
	const char *identity;  /* subject or token accessor; NULL: any */
	const char *operation; /* "sign", "key-create"...; NULL: any */
	uint64_t since_us;     /* unix microseconds, inclusive; 0: no bound */
	uint64_t until_us;     /* exclusive; 0: no bound */
};
int kw_client_audit_checkpoint(struct kw_client *c, json_t **data) KW_MUST_CHECK;
/* Entries [start, end); end 0 lets the server choose the page. */
int kw_client_audit_entries(struct kw_client *c, uint64_t start, uint64_t end,
                            json_t **data) KW_MUST_CHECK;
int kw_client_audit_inclusion(struct kw_client *c, uint64_t index, uint64_t tree_size,
                              json_t **data) KW_MUST_CHECK;
int kw_client_audit_consistency(struct kw_client *c, uint64_t first, uint64_t second,
                                json_t **data) KW_MUST_CHECK;
/* One page of matches at index >= cursor; limit 0: the server's default. */
int kw_client_audit_search(struct kw_client *c, const struct kw_client_audit_query *q,
                           uint64_t cursor, unsigned limit, json_t **data) KW_MUST_CHECK;
/* A time as RFC 3339 ("2026-11-28T14:00:00Z", any offset, a fraction to the
 * microsecond) or unix seconds, to unix microseconds; KW_ERR_INVALID. */
int kw_client_audit_time_parse(const char *s, uint64_t *us) KW_MUST_CHECK;
/* Unix microseconds as "2026-11-28T14:00:00.000000Z" (buf >= 32 bytes). */
void kw_client_audit_time_format(uint64_t us, char *buf, size_t len);

/*
 * Additions for the PKCS#11 module. sign_pss signs a digest (prehashed) with
 * RSA-PSS and an explicit salt length, as CK_RSA_PKCS_PSS_PARAMS give it.
 * random returns n (1..KW_CLIENT_RANDOM_MAX) bytes from the server's
 * generator in malloc'd memory. token_lookup_self checks the handle's token
 * (KW_ERR_AUTH when it is bad) and returns its "data". vault_decode splits
 * "vault:vN:base64" into N and the decoded bytes (wipe them before free).
 */
#define KW_CLIENT_RANDOM_MAX 131072
int kw_client_sign_pss(struct kw_client *c, const char *name, const uint8_t *digest, size_t len,
                       const char *hash, unsigned salt_length, json_t **data) KW_MUST_CHECK;
int kw_client_random(struct kw_client *c, size_t n, uint8_t **out) KW_MUST_CHECK;
int kw_client_token_lookup_self(struct kw_client *c, json_t **data) KW_MUST_CHECK;
int kw_client_vault_decode(const char *s, uint32_t *version, uint8_t **out,
                           size_t *outlen) KW_MUST_CHECK;

/*
 * Log in with a JWT at a kubernetes or jwt auth mount: POST
 * auth/<mount>/login {role, jwt}, sent without a token. The reply is the
 * "auth" object (client_token is secret; lease_duration in seconds). The JWT
 * is a credential: the request body is wiped, and nothing here keeps it.
 */
int kw_client_jwt_login(struct kw_client *c, const char *mount, const char *role, const char *jwt,
                        json_t **auth) KW_MUST_CHECK;

/*
 * keyward/ operations for the PKCS#11 module (docs/api.md, "keyward
 * operations for PKCS#11"). Replies are the "data" objects: sign_raw
 * {signature}, rsa_decrypt {plaintext (secret)}, cipher {output (may be
 * plaintext), iv when the server drew it}, wrap {wrapped}; derive and unwrap
 * return the new key as a key read does. Byte fields are base64 here;
 * NULL optional fields are left out so the server's defaults apply.
 */
struct kw_client_rsa_opts {
	const char *padding;  /* "oaep" or "pkcs1v15" */
	const char *hash;     /* OAEP: "sha1"... "sha512"; NULL: server default */
	const char *mgf_hash; /* OAEP MGF1 hash; NULL: hash */
	const uint8_t *label; /* OAEP label; NULL: none */
	size_t label_len;
};
struct kw_client_new_key {
	const char *name;
	const char *type;      /* "aes256-gcm96", "hmac", ... */
	const char *pkcs11_id; /* hex; NULL: none */
};
struct kw_client_derive_opts {
	const uint8_t *peer; /* SEC1 uncompressed point or SubjectPublicKeyInfo DER */
	size_t peer_len;
	struct kw_client_new_key key;
	const char *kdf; /* "null", "sha256"...; NULL: null */
	const uint8_t *shared_info;
	size_t shared_info_len;
	unsigned key_size; /* hmac only; 0: default */
	bool exportable;
};
struct kw_client_cipher_opts {
	bool decrypt;
	const char *mode; /* "gcm", "cbc", "cbc-pad", "ctr", "ecb" */
	const uint8_t *iv;
	size_t iv_len;
	const uint8_t *aad;
	size_t aad_len;
	unsigned tag_bits; /* gcm; 0: default */
};
struct kw_client_object {
	const char *cls; /* "certificate" or "data" */
	const char *key; /* the key it belongs to; NULL: none */
	const char *id_hex;
	const char *label;
	const uint8_t *value;
	size_t value_len;
	const json_t *attributes; /* flat {name: string}; NULL: none */
};
int kw_client_sign_raw(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                       json_t **data) KW_MUST_CHECK;
int kw_client_rsa_decrypt(struct kw_client *c, const char *name, const uint8_t *ct, size_t len,
                          const struct kw_client_rsa_opts *o, json_t **data) KW_MUST_CHECK;
int kw_client_derive(struct kw_client *c, const char *name, const struct kw_client_derive_opts *o,
                     json_t **info) KW_MUST_CHECK;
int kw_client_cipher(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                     const struct kw_client_cipher_opts *o, json_t **data) KW_MUST_CHECK;
/* mode "kw" or "kwp"; NULL: kwp. */
int kw_client_wrap(struct kw_client *c, const char *name, const char *key, const char *mode,
                   json_t **data) KW_MUST_CHECK;
int kw_client_unwrap(struct kw_client *c, const char *name, const uint8_t *wrapped, size_t len,
                     const char *mode, const struct kw_client_new_key *k,
                     json_t **info) KW_MUST_CHECK;
int kw_client_object_put(struct kw_client *c, const char *name,
                         const struct kw_client_object *o) KW_MUST_CHECK;
int kw_client_object_get(struct kw_client *c, const char *name, json_t **data) KW_MUST_CHECK;
int kw_client_object_delete(struct kw_client *c, const char *name) KW_MUST_CHECK;
/* *names is a JSON array of object names (empty when there are none). */
int kw_client_object_list(struct kw_client *c, json_t **names) KW_MUST_CHECK;

#endif
