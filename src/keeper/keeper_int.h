/*
 * keeper_int.h: what the keeper's files share. Not included outside
 * src/keeper/.
 *
 * Locking: one rwlock (k->lock) guards the seal state, the root key and the
 * key cache. Operations that only use keys hold it for reading (so signs run
 * in parallel); init, unseal, seal and every key-changing call hold it for
 * writing. Slow work (RSA key generation) happens before the write lock.
 * Tokens and policies have their own mutex (k->auth_lock); the auth mount
 * cache has k->mount_mu. Neither is taken while holding the other.
 */
#ifndef KW_KEEPER_INT_H
#define KW_KEEPER_INT_H

#include <pthread.h>

#include "../audit/audit.h"
#include "../crypto/crypto.h"
#include "../ipc/ipc.h"
#include "../store/store.h"
#include "keeper.h"

/* Bounds of keeper.answered: message ids and -KW_ERR_* both stay below. */
#define KEEPER_METRICS_TYPES      128
#define KEEPER_METRICS_RESULTS    32
#define KEEPER_KEY_BUCKETS        1024
#define KEEPER_AUTH_BUCKETS       256
#define KEEPER_VERSION_HMAC_BYTES 32
#define KEEPER_TOKEN_PREFIX       "kws."
#define KEEPER_TOKEN_TTL_DEFAULT  (768 * 3600)
#define KEEPER_RANDOM_MAX         (128 * 1024)
#define KEEPER_MOUNT_MAX          64 /* one path segment: [A-Za-z0-9_-] */

/* Capabilities of Vault's ACL policies, as bits. */
enum {
	CAP_CREATE = 1 << 0,
	CAP_READ = 1 << 1,
	CAP_UPDATE = 1 << 2,
	CAP_DELETE = 1 << 3,
	CAP_LIST = 1 << 4,
	CAP_SUDO = 1 << 5,
	CAP_DENY = 1 << 6,
};

struct keeper_version {
	uint32_t version;
	int64_t created;
	struct kw_key *key;
	uint8_t *hmac_key; /* secure, KEEPER_VERSION_HMAC_BYTES */
	char *public_text; /* NULL for symmetric keys */
};

struct keeper_key {
	struct keeper_key *next; /* bucket chain */
	struct kw_store_key meta;
	struct keeper_version *versions; /* index v-1 for version v; NULL slots trimmed */
	size_t nversions;
};

/* A caller, as proven to the keeper: a token (its own, or one a login
 * issued), an implicit certificate login, or a network identity. */
struct keeper_identity {
	char method[16]; /* "token", "kubernetes", "jwt", "cert", "network" */
	char display_name[KW_STORE_DISPLAY_NAME_MAX + 1]; /* the audit subject */
	char accessor[2 * KW_ACCESSOR_BYTES + 1];         /* "" without a token */
	char mount[KW_NAME_MAX + 1]; /* auth mount it came through, "" = none */
	uint8_t token_hash[KW_TOKEN_HASH_BYTES];
	char *policies; /* comma-separated, owned */
	char *claims;   /* JSON object text for the audit entry, owned, or NULL */
	int64_t expires, created, ttl;
	bool root;
	bool has_token; /* false for implicit and network identities */
};

struct keeper_token {
	struct keeper_token *next;
	struct kw_store_token t;
};

struct keeper_policy_rule {
	char *pattern;
	unsigned caps;
};

struct keeper_policy {
	struct keeper_policy *next;
	char name[KW_NAME_MAX + 1];
	struct keeper_policy_rule *rules;
	size_t nrules;
};

struct keeper {
	const struct kw_keeper_conf *conf;
	struct kw_store *store;

	pthread_rwlock_t lock;
	bool initialized;
	bool sealed;
	uint8_t *root_key; /* secure, KW_ROOT_KEY_BYTES; NULL while sealed */
	unsigned shares, threshold;
	uint8_t *progress[KW_SHAMIR_SHARES_MAX]; /* shares given so far, secure */
	size_t progress_len;
	unsigned nprogress;
	const char *selftest_failed; /* NULL when the power-up self-tests passed */
	pthread_mutex_t cache_mu;    /* the bucket chains below, for lookup and insert */
	struct keeper_key *keys[KEEPER_KEY_BUCKETS];

	/* Audit (audit.c): the log is thread-safe on its own; the key lives
	 * under k->lock like the root key. */
	struct kw_audit_log *audit;
	char node_id[2 * 16 + 1];
	char audit_origin[64];
	struct kw_key *audit_key; /* NULL while sealed */
	uint8_t audit_public[KW_AUDIT_ED25519_PUBLIC_BYTES];
	struct keeper_sink *sink; /* JSON lines for a SIEM, or NULL */
	pthread_t audit_thread;
	bool audit_thread_running;
	pthread_mutex_t audit_mu;
	pthread_cond_t audit_cv;
	bool audit_stop;

	pthread_mutex_t auth_lock;
	struct keeper_token *tokens[KEEPER_AUTH_BUCKETS];
	struct keeper_policy *policies[KEEPER_AUTH_BUCKETS];
	/* Bumped under auth_lock by every revocation: a lookup that read the
	 * store before one does not put its (maybe revoked) record in the cache. */
	uint64_t token_gen;

	/* Auth mounts with their roles (auth.c), loaded whole on first use and
	 * dropped on every change: logins never read the store. */
	pthread_mutex_t mount_mu;
	struct keeper_mounts *mounts; /* NULL = not loaded */

	/* Requests answered, by message type and result (0 = ok, else
	 * -KW_ERR_*), counted atomically for GET sys/metrics (metrics.c). */
	uint64_t answered[KEEPER_METRICS_TYPES][KEEPER_METRICS_RESULTS];
};

/* A request being answered: the message, its reply, who asked. */
/*
 * One request read from a channel, and its reply. Whoever sends the reply
 * frees it: the channel's thread, or with forced audit the audit log's
 * syncer once the request's entry is durable (keeper_call_answer), so that a
 * channel thread never sleeps waiting for the disk. A deferred call has two
 * holders, the dispatching thread (until it is done with msg and reply) and
 * the log (until the entry is durable); the last to let go sends.
 */
struct keeper_call {
	struct keeper *k;
	int fd;
	size_t chan;
	struct kw_ipc_msg msg, reply;
	int refs;     /* atomic; 2 once deferred */
	int audit_rc; /* the log's answer, set before its reference goes */
};

struct kreq {
	struct keeper *k;
	const struct kw_ipc_msg *msg;
	struct kw_ipc_msg *reply;
	struct keeper_call *call; /* the audit log may take it (deferred) */
	bool deferred;            /* it did: the reply is not ours to send */
	const char *req_id;
	const char *name; /* NAME field or NULL */
	struct keeper_identity id;
	bool authed;
	char path[2 * KW_NAME_MAX + 64]; /* canonical path checked, for the audit entry */
	/* The audit entry of a login names who logged in (id), its operation
	 * and reason, though nobody was authenticated by the request itself. */
	bool audit_subject;
	const char *audit_operation;   /* NULL = the message's name */
	const char *audit_result_code; /* NULL = the status's code */
};

/* keeper.c: send c's reply on its channel and free c. */
void keeper_call_send(struct keeper_call *c);

/* dispatch.c: answer c->msg into c->reply. True when the reply was deferred
 * (forced audit): c belongs to the audit log, which sends it once the entry
 * is durable; false: the caller sends it. */
bool keeper_dispatch(struct keeper_call *c);
/* The audit log's answer for a deferred call: rc 0 lets the reply go as it
 * is, an error withholds the result (UNAVAILABLE). Drops the log's hold. */
void keeper_call_answer(void *call, int rc);
/* Fail with a reason: sets the reply's status and detail, returns status. */
int kreq_fail(struct kreq *r, int status, const char *fmt, ...) KW_PRINTF(3, 4);
int kreq_need_name(struct kreq *r);
/* NOT_INIT or SEALED (with the reply set), or 0; k->lock held. */
int keeper_check_unsealed(struct kreq *r);

/* seal.c */
int keeper_seal_open(struct keeper *k) KW_MUST_CHECK;
int keeper_dev_setup(struct keeper *k) KW_MUST_CHECK;
void keeper_seal_wipe(struct keeper *k);
int keeper_answer_seal_status(struct kreq *r);
int keeper_answer_init(struct kreq *r);
int keeper_answer_unseal(struct kreq *r);
int keeper_answer_seal(struct kreq *r);

/* keys.c: the key cache and lifecycle. Callers hold k->lock as noted. */
/* Find or load (unwrap) a key; requires the read lock, may drop and retake it. */
int keeper_key_get(struct kreq *r, struct keeper_key **out) KW_MUST_CHECK;
/* The same for a key other than the request's NAME. */
int keeper_key_get_named(struct kreq *r, const char *name, struct keeper_key **out) KW_MUST_CHECK;
const struct keeper_version *keeper_key_version(const struct keeper_key *kk, uint32_t v);
/* KEY_INFO fields of kk into the reply. */
int keeper_put_key_info(struct kreq *r, const struct keeper_key *kk);
/* PKCS11_ID of the request (optional, at most KW_STORE_PKCS11_ID_MAX) into m. */
int keeper_pkcs11_id_param(struct kreq *r, struct kw_store_key *m);
/* Store *key (stolen, freed whatever happens) as version 1 of a new key
 * described by m, wrapped like a generated one; KW_ERR_EXISTS if the name is
 * taken. Write lock held. Puts the new key's KEY_INFO fields in the reply. */
int keeper_key_adopt(struct kreq *r, struct kw_store_key *m, struct kw_key **key);
void keeper_keys_purge(struct keeper *k); /* write lock */
int keeper_answer_key_create(struct kreq *r);
int keeper_answer_key_read(struct kreq *r);
int keeper_answer_key_list(struct kreq *r);
int keeper_answer_key_delete(struct kreq *r);
int keeper_answer_key_config(struct kreq *r);
int keeper_answer_key_rotate(struct kreq *r);
int keeper_answer_key_export(struct kreq *r);

/* ops.c */
int keeper_answer_encrypt(struct kreq *r);
int keeper_answer_decrypt(struct kreq *r);
int keeper_answer_rewrap(struct kreq *r);
int keeper_answer_datakey(struct kreq *r);
int keeper_answer_sign(struct kreq *r);
int keeper_answer_verify(struct kreq *r);
int keeper_answer_hmac(struct kreq *r);
int keeper_answer_random(struct kreq *r);
int keeper_answer_hash(struct kreq *r);

/* p11ops.c: the PKCS#11 operations Vault lacks (keyward/...). */
int keeper_answer_p11_sign_raw(struct kreq *r);
int keeper_answer_p11_decrypt(struct kreq *r);
int keeper_answer_p11_derive(struct kreq *r);
int keeper_answer_p11_cipher(struct kreq *r);
int keeper_answer_p11_wrap(struct kreq *r);
int keeper_answer_p11_unwrap(struct kreq *r);
int keeper_answer_p11_object_put(struct kreq *r);
int keeper_answer_p11_object_get(struct kreq *r);
int keeper_answer_p11_object_delete(struct kreq *r);
int keeper_answer_p11_object_list(struct kreq *r);

/* ---- metrics.c ---- */
void keeper_metrics_count(struct keeper *k, uint16_t type, int status);
int keeper_answer_metrics(struct kreq *r);

/* audit.c */
int keeper_audit_open(struct keeper *k) KW_MUST_CHECK;
void keeper_audit_close(struct keeper *k);
int keeper_audit_unsealed(struct keeper *k) KW_MUST_CHECK; /* write lock */
void keeper_audit_sealing(struct keeper *k);               /* write lock */
void keeper_audit_checkpoint(struct keeper *k);            /* read or write lock */
bool keeper_audit_broken(struct keeper *k);
/* Append r's entry. With forced audit it is committed asynchronously:
 * r->deferred then says the log holds r->call and will let its reply go
 * once the entry is durable. */
int keeper_audit_record(struct kreq *r, int status);
int keeper_answer_audit_checkpoint(struct kreq *r);
int keeper_answer_audit_entries(struct kreq *r);
int keeper_answer_audit_inclusion(struct kreq *r);
int keeper_answer_audit_consistency(struct kreq *r);
int keeper_answer_audit_search(struct kreq *r);

/* sink.c: a copy of each entry as one JSON line (file, stdout or syslog).
 * Best effort: the Merkle log is the record; a failing sink is logged. */
struct keeper_sink;
int keeper_sink_open(const char *where, struct keeper_sink **out) KW_MUST_CHECK;
void keeper_sink_write(struct keeper_sink *s, const struct kw_audit_entry *e);
void keeper_sink_close(struct keeper_sink *s);

/* token.c */
int keeper_token_issue(struct keeper *k, const char *fixed_id, const char *display_name,
                       const char *policies, int64_t ttl, char *out_token, size_t out_len,
                       struct kw_store_token *out_rec) KW_MUST_CHECK;
/* A new random token as spec says; mount and meta may be NULL. */
struct keeper_token_spec {
	const char *display_name;
	const char *policies;
	int64_t ttl; /* 0 = never expires */
	const char *mount;
	const char *meta;
};
int keeper_token_mint(struct keeper *k, const struct keeper_token_spec *spec, char *out_token,
                      size_t out_len, struct kw_store_token *out_rec) KW_MUST_CHECK;
/* TOKEN_INFO fields of t into the reply. */
int keeper_put_token_info(struct kreq *r, const struct kw_store_token *t);
/* Who is calling: TOKEN, else CALLER_* (implicit cert login), else the
 * listener's network identity; fills r->id. */
int keeper_identify(struct kreq *r) KW_MUST_CHECK;
void keeper_identity_cleanup(struct keeper_identity *id);
void keeper_tokens_purge(struct keeper *k);
/* Drop cached tokens of a disabled mount (the store has deleted them). */
void keeper_tokens_forget_mount(struct keeper *k, const char *mount);
bool keeper_policy_listed(const char *list, const char *name);
int keeper_answer_token_create(struct kreq *r);
int keeper_answer_token_lookup_self(struct kreq *r);
int keeper_answer_token_revoke_self(struct kreq *r);
int keeper_answer_token_revoke(struct kreq *r);
int keeper_answer_token_lookup(struct kreq *r);

/* policy.c */
/* Identify the caller and check caps on the canonical path; sets the reply. */
int keeper_authorize(struct kreq *r, const char *path, unsigned caps) KW_MUST_CHECK;
/* The same, needing every cap of all and at least one of any (0 = none):
 * Vault's "create or update" writes. */
int keeper_authorize_any(struct kreq *r, const char *path, unsigned all,
                         unsigned any) KW_MUST_CHECK;
int keeper_policy_compile(const char *name, const char *json, struct keeper_policy **out, char *why,
                          size_t whylen) KW_MUST_CHECK;
void keeper_policy_free(struct keeper_policy *p);
unsigned keeper_policy_caps(const struct keeper_policy *p, const char *path);
void keeper_policies_purge(struct keeper *k);
int keeper_answer_policy_put(struct kreq *r);
int keeper_answer_policy_get(struct kreq *r);
int keeper_answer_policy_list(struct kreq *r);
int keeper_answer_policy_delete(struct kreq *r);

/* auth.c: auth mounts, roles, logins. */
/* What a role grants: policies (with "default" unless the role refuses
 * it), TTLs; and the mount's type. missing names what was not found. */
struct keeper_grant {
	char type[KW_STORE_AUTH_TYPE_MAX + 1];
	char *policies; /* owned */
	int64_t ttl, max_ttl;
	const char *missing; /* "mount" or "role" on KW_ERR_NOT_FOUND */
};
int keeper_auth_grant(struct keeper *k, const char *mount, const char *role,
                      struct keeper_grant *out) KW_MUST_CHECK;
void keeper_grant_cleanup(struct keeper_grant *g);
/* The type of mount path (KW_ERR_NOT_FOUND). */
int keeper_auth_mount_type(struct keeper *k, const char *path, char *type,
                           size_t len) KW_MUST_CHECK;
/* The claims of a caller of mount/role: {"method","mount","role"} and the
 * CALLER_META fields. KW_ERR_INVALID or KW_ERR_TOO_LARGE with why set. */
int keeper_caller_claims(const struct kw_ipc_msg *m, const char *mount, const char *role,
                         const char *method, char **out, const char **why) KW_MUST_CHECK;
/* A caller id the front proved: non-empty, bounded, no control characters. */
bool keeper_caller_id_ok(const char *id);
bool keeper_mount_name_ok(const char *name);
void keeper_mounts_purge(struct keeper *k);
int keeper_answer_auth_list(struct kreq *r);
int keeper_answer_auth_enable(struct kreq *r);
int keeper_answer_auth_disable(struct kreq *r);
int keeper_answer_auth_config_put(struct kreq *r);
int keeper_answer_auth_config_get(struct kreq *r);
int keeper_answer_auth_role_put(struct kreq *r);
int keeper_answer_auth_role_get(struct kreq *r);
int keeper_answer_auth_role_list(struct kreq *r);
int keeper_answer_auth_role_delete(struct kreq *r);
int keeper_answer_auth_load(struct kreq *r);
int keeper_answer_auth_login(struct kreq *r);
int keeper_answer_auth_login_failed(struct kreq *r);

uint32_t keeper_hash_str(const char *s);

#endif
