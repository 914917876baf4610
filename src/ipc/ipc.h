/*
 * ipc: the front<->keeper message codec. The only door into the process that
 * holds keys, so it is small, bounded and strict.
 *
 * Used by both processes over a SOCK_STREAM socketpair per front worker: the
 * front sends one request and blocks for its reply on the same channel; the
 * keeper answers each channel from its own thread.
 *
 * Frame (all integers big-endian):
 *
 *	u32 body_len | u16 type | u16 flags | i32 status | body
 *	body = field*, field = u16 tag | u32 len | value[len]
 *
 * Limits: body_len <= KW_IPC_FRAME_MAX, checked on send and receive; at most
 * KW_IPC_FIELDS_MAX fields; every field's kind (see KW_IPC_TAG_LIST) fixes
 * its shape: U32 is 4 bytes, U64 8, STR is UTF-8 text with one trailing NUL
 * and no other NUL, BYTES anything. An unknown type or tag, a bad length or a
 * flag we do not know is malformed; inside the boundary that is fatal (the
 * receiver treats the peer as compromised, logs and exits), never "skipped".
 *
 * Secrets: frames carry plaintext and data keys, so message buffers are
 * wiped on cleanup. Tokens travel to the keeper, which alone can look them up.
 *
 * Threads: a struct kw_ipc_msg belongs to one thread; a channel fd is used by
 * one thread at a time.
 */
#ifndef KW_IPC_H
#define KW_IPC_H

#include "../common/common.h"

#define KW_IPC_HEADER_BYTES 12
#define KW_IPC_FRAME_MAX    (40u * 1024 * 1024) /* above the largest body limit (32 MiB) */
#define KW_IPC_FIELDS_MAX   1024
#define KW_IPC_F_REPLY      0x0001
/* SALT_LEN (RSA-PSS): absent = "auto" (sign: hash length; verify: any
 * length), KW_SALT_LEN_HASH = the hash length, else a byte count. */
#define KW_SALT_LEN_HASH UINT32_MAX
/* Most audit entries one AUDIT_ENTRIES or AUDIT_SEARCH reply carries. */
#define KW_AUDIT_PAGE_MAX 1000

/*
 * Message types: id, name. Ids are explicit and never renumbered; a reply
 * carries its request's type with KW_IPC_F_REPLY set and status 0 or a
 * KW_ERR_*. Shapes (request -> reply) are in the comment per group; every
 * request may carry the common fields REQ_ID, TOKEN, REMOTE_ADDR,
 * LISTENER_PORT. An error reply carries ERROR_DETAIL, a sentence naming only
 * non-secret ids.
 */
#define KW_MSG_LIST(X)                                                                             \
	/* seal: -> INITIALIZED SEALED SHARES THRESHOLD PROGRESS */                                \
	X(SEAL_STATUS, 1, "seal-status")                                                           \
	/* SHARES THRESHOLD -> UNSEAL_KEY* (raw share bytes) ROOT_TOKEN */                         \
	X(INIT, 2, "init")                                                                         \
	/* UNSEAL_KEY | RESET -> as SEAL_STATUS */                                                 \
	X(UNSEAL, 3, "unseal")                                                                     \
	/* (root or sudo on sys/seal) -> nothing */                                                \
	X(SEAL, 4, "seal")                                                                         \
	/* NAME KEY_TYPE [EXPORTABLE ALLOW_PLAINTEXT_BACKUP KEY_SIZE AUTO_ROTATE_PERIOD] -> */     \
	X(KEY_CREATE, 10, "key-create")                                                            \
	/* NAME -> KEY_INFO fields (see below) VERSION_INFO* */                                    \
	X(KEY_READ, 11, "key-read")                                                                \
	/* -> NAME* */                                                                             \
	X(KEY_LIST, 12, "key-list")                                                                \
	/* NAME -> */                                                                              \
	X(KEY_DELETE, 13, "key-delete")                                                            \
	/* NAME [MIN_DECRYPTION_VERSION MIN_ENCRYPTION_VERSION DELETION_ALLOWED EXPORTABLE         \
	 *  ALLOW_PLAINTEXT_BACKUP AUTO_ROTATE_PERIOD] -> KEY_INFO fields VERSION_INFO* */         \
	X(KEY_CONFIG, 14, "key-config")                                                            \
	/* NAME -> KEY_INFO fields VERSION_INFO* */                                                \
	X(KEY_ROTATE, 15, "key-rotate")                                                            \
	/* NAME EXPORT_TYPE [VERSION (0 = all, else one)] -> KEY_TYPE EXPORT_ITEM* */              \
	X(KEY_EXPORT, 16, "key-export")                                                            \
	/* NAME PLAINTEXT [AAD VERSION PADDING] -> CIPHERTEXT VERSION */                           \
	X(ENCRYPT, 20, "encrypt")                                                                  \
	/* NAME CIPHERTEXT VERSION [AAD PADDING] -> PLAINTEXT */                                   \
	X(DECRYPT, 21, "decrypt")                                                                  \
	/* NAME CIPHERTEXT VERSION [AAD TARGET_VERSION] -> CIPHERTEXT VERSION */                   \
	X(REWRAP, 22, "rewrap")                                                                    \
	/* NAME BITS WITH_PLAINTEXT [AAD VERSION] -> CIPHERTEXT VERSION [PLAINTEXT] */             \
	X(DATAKEY, 23, "datakey")                                                                  \
	/* NAME INPUT [VERSION HASH PREHASHED SIG_ALG MARSHAL SALT_LEN] -> SIGNATURE VERSION */    \
	X(SIGN, 24, "sign")                                                                        \
	/* NAME INPUT VERSION (SIGNATURE | MAC) [HASH PREHASHED SIG_ALG MARSHAL SALT_LEN] -> VALID \
	 */                                                                                        \
	X(VERIFY, 25, "verify")                                                                    \
	/* NAME INPUT [VERSION HASH] -> MAC VERSION */                                             \
	X(HMAC, 26, "hmac")                                                                        \
	/* BYTES -> OUTPUT */                                                                      \
	X(RANDOM, 27, "random")                                                                    \
	/* INPUT HASH -> OUTPUT */                                                                 \
	X(HASH, 28, "hash")                                                                        \
	/* [POLICY* TTL DISPLAY_NAME NO_DEFAULT_POLICY] -> TOKEN_INFO fields TOKEN */              \
	X(TOKEN_CREATE, 40, "token-create")                                                        \
	/* -> TOKEN_INFO fields: ACCESSOR POLICY* TTL CREATED EXPIRES DISPLAY_NAME */              \
	X(TOKEN_LOOKUP_SELF, 41, "token-lookup-self")                                              \
	/* -> */                                                                                   \
	X(TOKEN_REVOKE_SELF, 42, "token-revoke-self")                                              \
	/* TARGET_TOKEN | ACCESSOR -> */                                                           \
	X(TOKEN_REVOKE, 43, "token-revoke")                                                        \
	/* TARGET_TOKEN | ACCESSOR -> TOKEN_INFO fields */                                         \
	X(TOKEN_LOOKUP, 44, "token-lookup")                                                        \
	/* NAME POLICY_TEXT -> */                                                                  \
	X(POLICY_PUT, 50, "policy-put")                                                            \
	/* NAME -> NAME POLICY_TEXT */                                                             \
	X(POLICY_GET, 51, "policy-get")                                                            \
	/* -> NAME* */                                                                             \
	X(POLICY_LIST, 52, "policy-list")                                                          \
	/* NAME -> */                                                                              \
	X(POLICY_DELETE, 53, "policy-delete")                                                      \
	/* audit (sudo on keyward/audit/<what>):                                                   \
	 * -> CHECKPOINT (newest signed note) PUBLIC_KEY (PEM) VERIFIER (C2SP key string) */       \
	X(AUDIT_CHECKPOINT, 60, "audit-checkpoint")                                                \
	/* START [END (exclusive; default and cap START + KW_AUDIT_PAGE_MAX)] -> ENTRY* TREE_SIZE  \
	 */                                                                                        \
	X(AUDIT_ENTRIES, 61, "audit-entries")                                                      \
	/* INDEX TREE_SIZE -> PROOF_HASH* (bottom-up) */                                           \
	X(AUDIT_INCLUSION, 62, "audit-inclusion")                                                  \
	/* FIRST SECOND -> PROOF_HASH* */                                                          \
	X(AUDIT_CONSISTENCY, 63, "audit-consistency")                                              \
	/* [NAME IDENTITY OPERATION SINCE UNTIL (unix us) CURSOR LIMIT] -> ENTRY* NEXT */          \
	X(AUDIT_SEARCH, 64, "audit-search")                                                        \
	/* auth mounts (sudo on sys/auth/<mount>); configs and roles are JSON the front            \
	 * validated and normalised. -> (MOUNT AUTH_TYPE DESCRIPTION)* */                          \
	X(AUTH_LIST, 70, "auth-list")                                                              \
	/* MOUNT AUTH_TYPE [DESCRIPTION] -> */                                                     \
	X(AUTH_ENABLE, 71, "auth-enable")                                                          \
	/* MOUNT -> (its roles go, and the tokens it issued are revoked) */                        \
	X(AUTH_DISABLE, 72, "auth-disable")                                                        \
	/* MOUNT AUTH_CONFIG -> */                                                                 \
	X(AUTH_CONFIG_PUT, 73, "auth-config-put")                                                  \
	/* MOUNT -> AUTH_TYPE AUTH_CONFIG */                                                       \
	X(AUTH_CONFIG_GET, 74, "auth-config-get")                                                  \
	/* MOUNT ROLE AUTH_ROLE -> */                                                              \
	X(AUTH_ROLE_PUT, 75, "auth-role-put")                                                      \
	/* MOUNT ROLE -> AUTH_ROLE */                                                              \
	X(AUTH_ROLE_GET, 76, "auth-role-get")                                                      \
	/* MOUNT -> ROLE* */                                                                       \
	X(AUTH_ROLE_LIST, 77, "auth-role-list")                                                    \
	/* MOUNT ROLE -> */                                                                        \
	X(AUTH_ROLE_DELETE, 78, "auth-role-delete")                                                \
	/* No TOKEN: the front filling its cache of a mount, to verify logins.                     \
	 * MOUNT -> AUTH_TYPE AUTH_CONFIG (ROLE AUTH_ROLE)*; or AUTH_TYPE -> MOUNT* (the           \
	 * mounts of that type, for implicit cert logins) */                                       \
	X(AUTH_LOAD, 79, "auth-load")                                                              \
	/* No TOKEN: the front verified a credential for a role.                                   \
	 * MOUNT ROLE CALLER_ID [CALLER_META CALLER_EXPIRES] -> TOKEN_INFO fields TOKEN */         \
	X(AUTH_LOGIN, 80, "login")                                                                 \
	/* No TOKEN: a refused login, for the audit log. MOUNT [ROLE CALLER_ID] AUTH_REASON        \
	 * FAIL_STATUS -> status -FAIL_STATUS */                                                   \
	X(AUTH_LOGIN_FAILED, 81, "login-failed")                                                   \
	/* PKCS#11 operations Vault lacks (policy paths keyward/<op>/<name>). Data in INPUT,       \
	 * CIPHERTEXT or PLAINTEXT and out in SIGNATURE, PLAINTEXT or OUTPUT, so the audit         \
	 * entry hashes them as for transit. NAME INPUT (a DigestInfo) [VERSION] ->                \
	 * SIGNATURE VERSION */                                                                    \
	X(P11_SIGN_RAW, 90, "p11-sign-raw")                                                        \
	/* NAME CIPHERTEXT PADDING ("oaep" | "pkcs1v15") [HASH MGF_HASH LABEL VERSION] ->          \
	 * PLAINTEXT VERSION */                                                                    \
	X(P11_DECRYPT, 91, "p11-decrypt")                                                          \
	/* NAME INPUT (peer public key) DERIVED_NAME KEY_TYPE [KDF SHARED_INFO KEY_SIZE            \
	 * EXPORTABLE PKCS11_ID VERSION] -> KEY_INFO fields of the new key, VERSION (of NAME) */   \
	X(P11_DERIVE, 92, "p11-derive")                                                            \
	/* NAME OPERATION ("encrypt" | "decrypt") MODE INPUT [IV AAD TAG_BITS VERSION] ->          \
	 * OUTPUT VERSION [IV (generated GCM IV)] */                                               \
	X(P11_CIPHER, 93, "p11-cipher")                                                            \
	/* NAME TARGET_KEY MODE ("kw" | "kwp") [VERSION] -> OUTPUT VERSION */                      \
	X(P11_WRAP, 94, "p11-wrap")                                                                \
	/* NAME CIPHERTEXT (wrapped) MODE DERIVED_NAME KEY_TYPE [PKCS11_ID VERSION] ->             \
	 * KEY_INFO fields of the new key */                                                       \
	X(P11_UNWRAP, 95, "p11-unwrap")                                                            \
	/* NAME OBJ_CLASS OBJ_KEY OBJ_ID OBJ_LABEL INPUT (value) OBJ_ATTRS -> */                   \
	X(P11_OBJECT_PUT, 96, "p11-object-put")                                                    \
	/* NAME -> NAME OBJ_CLASS OBJ_KEY OBJ_ID OBJ_LABEL OUTPUT (value) OBJ_ATTRS */             \
	X(P11_OBJECT_GET, 97, "p11-object-get")                                                    \
	/* NAME -> */                                                                              \
	X(P11_OBJECT_DELETE, 98, "p11-object-delete")                                              \
	/* -> NAME* */                                                                             \
	X(P11_OBJECT_LIST, 99, "p11-object-list")                                                  \
	/* (read on sys/metrics) -> METRICS_TEXT: the keeper's Prometheus text lines */            \
	X(METRICS, 100, "metrics")

enum kw_msg_type {
#define KW_MSG_ENUM(name, id, str) KW_MSG_##name = (id),
	KW_MSG_LIST(KW_MSG_ENUM)
#undef KW_MSG_ENUM
};
const char *kw_msg_name(uint16_t type); /* NULL if unknown */

enum kw_ipc_kind { KW_IPC_U32 = 1, KW_IPC_U64, KW_IPC_STR, KW_IPC_BYTES };

/*
 * Field tags: tag, id, kind. Booleans are U32 0/1. KEY_INFO fields, sent by
 * KEY_READ/CONFIG/ROTATE: NAME KEY_TYPE LATEST_VERSION MIN_DECRYPTION_VERSION
 * MIN_ENCRYPTION_VERSION MIN_AVAILABLE_VERSION EXPORTABLE DELETION_ALLOWED
 * ALLOW_PLAINTEXT_BACKUP AUTO_ROTATE_PERIOD CREATED [PKCS11_ID]. KEY_CREATE takes
 * PKCS11_ID too.
 * VERSION_INFO (BYTES): u32 version | u64 created (unix s) | public key text
 * (Vault's form, empty for symmetric keys).
 * EXPORT_ITEM (BYTES): u32 version | key text (Vault's export form). Secret.
 * ENTRY (BYTES): u64 index | the audit leaf (src/audit/audit.h encoding).
 */
#define KW_IPC_TAG_LIST(X)                                                                         \
	X(REQ_ID, 1, STR)                                                                          \
	X(TOKEN, 2, STR)                                                                           \
	X(REMOTE_ADDR, 3, STR)                                                                     \
	X(LISTENER_PORT, 4, U32)                                                                   \
	X(ERROR_DETAIL, 5, STR)                                                                    \
	X(NAME, 10, STR)                                                                           \
	X(KEY_TYPE, 11, STR)                                                                       \
	X(VERSION, 12, U32)                                                                        \
	X(TARGET_VERSION, 13, U32)                                                                 \
	X(LATEST_VERSION, 14, U32)                                                                 \
	X(MIN_DECRYPTION_VERSION, 15, U32)                                                         \
	X(MIN_ENCRYPTION_VERSION, 16, U32)                                                         \
	X(MIN_AVAILABLE_VERSION, 17, U32)                                                          \
	X(EXPORTABLE, 18, U32)                                                                     \
	X(DELETION_ALLOWED, 19, U32)                                                               \
	X(ALLOW_PLAINTEXT_BACKUP, 20, U32)                                                         \
	X(AUTO_ROTATE_PERIOD, 21, U64)                                                             \
	X(KEY_SIZE, 22, U32)                                                                       \
	X(CREATED, 23, U64)                                                                        \
	X(VERSION_INFO, 24, BYTES)                                                                 \
	X(EXPORT_TYPE, 25, STR)                                                                    \
	X(EXPORT_ITEM, 26, BYTES)                                                                  \
	X(PLAINTEXT, 30, BYTES)                                                                    \
	X(CIPHERTEXT, 31, BYTES)                                                                   \
	X(AAD, 32, BYTES)                                                                          \
	X(PADDING, 33, STR)                                                                        \
	X(BITS, 34, U32)                                                                           \
	X(WITH_PLAINTEXT, 35, U32)                                                                 \
	X(INPUT, 40, BYTES)                                                                        \
	X(HASH, 41, STR)                                                                           \
	X(PREHASHED, 42, U32)                                                                      \
	X(SIG_ALG, 43, STR)                                                                        \
	X(MARSHAL, 44, STR)                                                                        \
	X(SALT_LEN, 45, U32)                                                                       \
	X(SIGNATURE, 46, BYTES)                                                                    \
	X(MAC, 47, BYTES)                                                                          \
	X(VALID, 48, U32)                                                                          \
	X(BYTES, 49, U32)                                                                          \
	X(OUTPUT, 50, BYTES)                                                                       \
	X(INITIALIZED, 60, U32)                                                                    \
	X(SEALED, 61, U32)                                                                         \
	X(SHARES, 62, U32)                                                                         \
	X(THRESHOLD, 63, U32)                                                                      \
	X(PROGRESS, 64, U32)                                                                       \
	X(UNSEAL_KEY, 65, BYTES)                                                                   \
	X(RESET, 66, U32)                                                                          \
	X(ROOT_TOKEN, 67, STR)                                                                     \
	X(POLICY, 70, STR)                                                                         \
	X(TTL, 71, U64)                                                                            \
	X(DISPLAY_NAME, 72, STR)                                                                   \
	X(ACCESSOR, 73, STR)                                                                       \
	X(EXPIRES, 74, U64)                                                                        \
	X(TARGET_TOKEN, 75, STR)                                                                   \
	X(NO_DEFAULT_POLICY, 76, U32)                                                              \
	X(POLICY_TEXT, 77, STR)                                                                    \
	X(CHECKPOINT, 80, STR)                                                                     \
	X(PUBLIC_KEY, 81, STR)                                                                     \
	X(VERIFIER, 82, STR)                                                                       \
	X(START, 83, U64)                                                                          \
	X(END, 84, U64)                                                                            \
	X(ENTRY, 85, BYTES)                                                                        \
	X(INDEX, 86, U64)                                                                          \
	X(TREE_SIZE, 87, U64)                                                                      \
	X(FIRST, 88, U64)                                                                          \
	X(SECOND, 89, U64)                                                                         \
	X(PROOF_HASH, 90, BYTES)                                                                   \
	X(IDENTITY, 91, STR)                                                                       \
	X(OPERATION, 92, STR)                                                                      \
	X(SINCE, 93, U64)                                                                          \
	X(UNTIL, 94, U64)                                                                          \
	X(CURSOR, 95, U64)                                                                         \
	X(LIMIT, 96, U32)                                                                          \
	X(NEXT, 97, U64)                                                                           \
	X(MOUNT, 100, STR)     /* auth mount path, one segment: "kubernetes", "k8s-prod" */        \
	X(AUTH_TYPE, 101, STR) /* "kubernetes", "jwt", "cert" */                                   \
	X(DESCRIPTION, 102, STR)                                                                   \
	X(AUTH_CONFIG, 103, STR) /* JSON object */                                                 \
	X(ROLE, 104, STR)        /* role (or cert entry) name */                                   \
	X(AUTH_ROLE, 105, STR)   /* JSON object */                                                 \
	X(AUTH_REASON, 106, STR) /* kw_auth_reason code of a refused login */                      \
	X(FAIL_STATUS, 107, U32) /* -KW_ERR_* a refused login is answered with */                  \
	/* The caller as the front proved it, on AUTH_LOGIN and, with no TOKEN, on                 \
	 * any request (implicit cert login: CALLER_MOUNT + CALLER_ROLE name the role              \
	 * whose policies apply). */                                                               \
	X(CALLER_MOUNT, 110, STR)                                                                  \
	X(CALLER_ROLE, 111, STR)                                                                   \
	X(CALLER_ID, 112, STR)      /* "k8s:ns/sa", "spiffe://td/...", "jwt:mount/sub" */          \
	X(CALLER_META, 113, STR)    /* JSON object of non-secret claims (pod name, uid ...) */     \
	X(CALLER_EXPIRES, 114, U64) /* the credential's end, unix seconds */                       \
	/* PKCS#11 operations (P11_*). */                                                          \
	X(MGF_HASH, 120, STR)     /* OAEP MGF1 hash; absent = HASH */                              \
	X(LABEL, 121, BYTES)      /* OAEP label */                                                 \
	X(DERIVED_NAME, 122, STR) /* the key a derive or unwrap creates */                         \
	X(KDF, 123, STR)          /* "null", "sha1", "sha224", "sha256", "sha384", "sha512" */     \
	X(SHARED_INFO, 124, BYTES)                                                                 \
	X(MODE, 125, STR) /* "gcm" "cbc" "cbc-pad" "ctr" "ecb"; "kw" "kwp" */                      \
	X(IV, 126, BYTES)                                                                          \
	X(TAG_BITS, 127, U32)                                                                      \
	X(TARGET_KEY, 128, STR)  /* the key a wrap exports */                                      \
	X(PKCS11_ID, 129, BYTES) /* CKA_ID, at most KW_STORE_PKCS11_ID_MAX bytes */                \
	X(OBJ_CLASS, 130, STR)   /* "certificate" | "data" */                                      \
	X(OBJ_KEY, 131, STR)     /* the key an object belongs to, "" = none */                     \
	X(OBJ_ID, 132, BYTES)                                                                      \
	X(OBJ_LABEL, 133, STR)                                                                     \
	X(OBJ_ATTRS, 134, STR) /* JSON object of strings the front validated */                    \
	X(METRICS_TEXT, 135, STR)

enum kw_ipc_tag {
#define KW_TAG_ENUM(name, id, kind) KW_T_##name = (id),
	KW_IPC_TAG_LIST(KW_TAG_ENUM)
#undef KW_TAG_ENUM
};
const char *kw_ipc_tag_name(uint16_t tag); /* NULL if unknown */

struct kw_ipc_field {
	uint16_t tag;
	uint32_t len;
	const uint8_t *val; /* points into the message's buffer */
};

struct kw_ipc_msg {
	uint16_t type;
	uint16_t flags;
	int32_t status;
	struct kw_buf buf; /* header + body as encoded or received */
	struct kw_ipc_field fields[KW_IPC_FIELDS_MAX];
	size_t nfields;
};

/* Start an empty message (request, or reply with status). */
void kw_ipc_msg_init(struct kw_ipc_msg *m, uint16_t type);
void kw_ipc_reply_init(struct kw_ipc_msg *reply, const struct kw_ipc_msg *req, int status);
/* Wipe and free. */
void kw_ipc_msg_cleanup(struct kw_ipc_msg *m);

/* Append fields. KW_ERR_LIMIT past the frame or field limits. */
int kw_ipc_put(struct kw_ipc_msg *m, uint16_t tag, const void *val, size_t len) KW_MUST_CHECK;
int kw_ipc_put_str(struct kw_ipc_msg *m, uint16_t tag, const char *s) KW_MUST_CHECK;
int kw_ipc_put_u32(struct kw_ipc_msg *m, uint16_t tag, uint32_t v) KW_MUST_CHECK;
int kw_ipc_put_u64(struct kw_ipc_msg *m, uint16_t tag, uint64_t v) KW_MUST_CHECK;
/* Error reply helper: set status and ERROR_DETAIL (printf-style; no secrets). */
int kw_ipc_set_error(struct kw_ipc_msg *m, int status, const char *fmt, ...) KW_PRINTF(3, 4);

/*
 * Decode a whole frame (header + body) already in memory: validates header,
 * lengths, tags and kinds. The fields point into m->buf, which takes a copy.
 * KW_ERR_IPC if malformed. This is the function the fuzzer drives.
 */
int kw_ipc_decode(struct kw_ipc_msg *m, const uint8_t *frame, size_t len) KW_MUST_CHECK;

/* Blocking I/O on a stream socket, EINTR-safe. recv returns KW_ERR_IO when
 * the peer closed cleanly between frames, KW_ERR_IPC on an I/O error, a torn
 * or a malformed frame. */
int kw_ipc_send(int fd, struct kw_ipc_msg *m) KW_MUST_CHECK;
int kw_ipc_recv(int fd, struct kw_ipc_msg *m) KW_MUST_CHECK;
/* Front side: send req, receive into reply (initialised by the call), check
 * it answers req. */
int kw_ipc_call(int fd, struct kw_ipc_msg *req, struct kw_ipc_msg *reply) KW_MUST_CHECK;

/* Getters: KW_ERR_NOT_FOUND if absent, KW_ERR_IPC if the kind differs. */
const struct kw_ipc_field *kw_ipc_find(const struct kw_ipc_msg *m, uint16_t tag);
/* Iterate over repeated tags: start *pos at 0. NULL at the end. */
const struct kw_ipc_field *kw_ipc_next(const struct kw_ipc_msg *m, uint16_t tag, size_t *pos);
int kw_ipc_get_str(const struct kw_ipc_msg *m, uint16_t tag, const char **s) KW_MUST_CHECK;
int kw_ipc_get_bytes(const struct kw_ipc_msg *m, uint16_t tag, const uint8_t **p,
                     size_t *len) KW_MUST_CHECK;
int kw_ipc_get_u32(const struct kw_ipc_msg *m, uint16_t tag, uint32_t *v) KW_MUST_CHECK;
int kw_ipc_get_u64(const struct kw_ipc_msg *m, uint16_t tag, uint64_t *v) KW_MUST_CHECK;
/* Absent -> def. */
uint32_t kw_ipc_u32_or(const struct kw_ipc_msg *m, uint16_t tag, uint32_t def);
uint64_t kw_ipc_u64_or(const struct kw_ipc_msg *m, uint16_t tag, uint64_t def);
const char *kw_ipc_str_or(const struct kw_ipc_msg *m, uint16_t tag, const char *def);

#endif
