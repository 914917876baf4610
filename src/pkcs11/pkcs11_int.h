/*
 * pkcs11/: libkeyward-pkcs11.so, the PKCS#11 v2.40 module over libkeyward.
 * It runs inside the application's process and never aborts or exits there.
 * Keys stay in keywardd: the module holds only names, public keys and the
 * caller's token (the PIN), which is secret — kept in one allocation per slot,
 * wiped on logout and finalize, never logged. With automatic login (an empty
 * PIN: a Kubernetes service-account token exchanged at the kubernetes auth
 * method, or a configured token) the module keeps the login alive itself
 * (auth.c, slots.c).
 *
 * State (struct p11_state, one per process): the configured slots, each with
 * its base client handle, a small pool of idle handles and its login; a table
 * of sessions; a table of objects. One module lock (the caller's mutex
 * functions or pthread) guards the tables and is never held across a network
 * call. A session has its own lock so one operation runs on it at a time;
 * sessions and keys are reference counted so a C_CloseSession in one thread
 * cannot free what a C_Sign in another is using.
 *
 * Objects: each keyward key is a private+public key pair (asymmetric) or a
 * secret key, CKA_LABEL = key name, CKA_ID = its pkcs11_id (else the name).
 * Certificates and data objects live in the server's object store
 * (objects_store.c). Object handles are never reused within a
 * C_Initialize..C_Finalize. mech.c's table is the single place that says
 * which mechanism does what: signing (sign.c), RSA and AES encryption and
 * decryption (crypt.c, rsa.c, aes.c), ECDH (derive.c), key wrap (wrap.c).
 *
 * Fork: the state records the pid that initialised it. In a child every call
 * answers CKR_CRYPTOKI_NOT_INITIALIZED until the child calls C_Initialize,
 * which abandons the parent's state without touching its connections (a TLS
 * close_notify from the child would break the parent's stream).
 */
#ifndef KW_PKCS11_INT_H
#define KW_PKCS11_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "keyward.h"

#define P11_SLOTS_MAX       8
#define P11_SESSIONS_MAX    4095 /* handle = generation << 12 | index + 1 */
#define P11_SESSION_BITS    12
#define P11_OBJECTS_MAX     65536
#define P11_IDLE_MAX        32         /* idle client handles kept per slot */
#define P11_DATA_MAX        (1u << 20) /* one operation's buffered input */
#define P11_LABEL_BYTES     32
#define P11_FIND_MAX        4096
#define P11_DEFAULT_CONF    "/etc/keyward/pkcs11.conf"
#define P11_DEFAULT_LABEL   "keyward"
#define P11_LIB_DESCRIPTION "keyward PKCS#11 module"
#define P11_MANUFACTURER    "keyward"
#define P11_ID_MAX          64 /* CKA_ID bytes the server keeps */
#define P11_GCM_IV_MAX      128
#define P11_AES_BLOCK       16
#define P11_K8S_MOUNT       "kubernetes"
#define P11_SA_TOKEN_FILE   "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define P11_MOUNT_MAX       64
#define P11_JWT_MAX         (16u << 10) /* a projected token is ~1 KiB */
#define P11_RENEW_MIN_MS    1000        /* never log in again by the clock more often */
#define P11_RETRY_MS        5000        /* after a failed renewal, before the next try */

/* v3.0's interface discovery; Debian 12's p11-kit header predates it. */
#ifndef CKF_INTERFACE_FORK_SAFE
typedef struct CK_INTERFACE {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;
#define CKF_INTERFACE_FORK_SAFE 0x00000001UL
#endif

/* ---- lock.c-like helpers live in module.c ---- */
struct p11_lock;
int p11_lock_new(struct p11_lock **out) KW_MUST_CHECK;
void p11_lock_free(struct p11_lock *l);
void p11_lock(struct p11_lock *l);
void p11_unlock(struct p11_lock *l);

/* ---- config.c ---- */
struct p11_server {
	char *label; /* token label, <= P11_LABEL_BYTES */
	char *address;
	char *ca_cert;
	char *client_cert;
	char *client_key;
	char *token;      /* secret: configured token (file or env) */
	char *token_file; /* re-read at each C_Login and when it changes */
	char *k8s_role;   /* kubernetes auto-login (auth.c) when set */
	char *k8s_mount;
	char *sa_token_file;
};
struct p11_conf {
	struct p11_server servers[P11_SLOTS_MAX];
	size_t nservers;
};
/* The file named by KEYWARD_PKCS11_CONF, else P11_DEFAULT_CONF (absent is
 * fine), then the environment over the first server. */
int p11_conf_load(struct p11_conf *out) KW_MUST_CHECK;
/* Parse one file's text into out (exposed for the unit tests). */
int p11_conf_parse(const char *text, struct p11_conf *out) KW_MUST_CHECK;
void p11_conf_cleanup(struct p11_conf *c);
/* Is a login with an empty PIN possible (auth.c does it)? */
bool p11_server_auto_login(const struct p11_server *s);
/* A whole small file, NUL-terminated, malloc'd (wipe before free). */
int p11_file_read(const char *path, size_t max, char **out) KW_MUST_CHECK;

/* ---- automatic login (auth.c) ---- */
/* Which version of a credential file a login used: a replaced or rewritten
 * file (kubelet swaps a symlink) has another stamp; the digest tells a real
 * change from a touch. */
struct p11_stamp {
	bool set;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint8_t digest[32];
};
struct p11_login {
	char *token;      /* secret */
	int64_t renew_ms; /* monotonic time to log in again; 0: never by the clock */
	struct p11_stamp stamp;
};
/* Log in with no PIN from what srv configures: the kubernetes method with
 * the service-account token, else token_file, else KEYWARD_TOKEN. The
 * server is asked only for kubernetes (the caller checks a plain token). */
CK_RV p11_auth_login(struct kw_client *base, const struct p11_server *srv, struct p11_login *out);
void p11_login_cleanup(struct p11_login *l);
/* The credential file behind srv's automatic login; NULL if none. */
const char *p11_auth_file(const struct p11_server *srv);
/* Has the file at path changed since *st? true only when its content did;
 * a new stamp for the same content is written to *st. */
bool p11_auth_file_changed(const char *path, struct p11_stamp *st);
int64_t p11_now_ms(void);

/* ---- keys and objects (object.c) ---- */
struct p11_ktype {
	const char *transit; /* "ecdsa-p256" */
	CK_KEY_TYPE ckk;
	CK_ULONG bits;         /* modulus/field/key bits */
	const uint8_t *params; /* DER CKA_EC_PARAMS, NULL for non-EC */
	size_t params_len;
	size_t sig_bytes; /* PKCS#11 signature length; 0 for RSA (modulus) */
	bool asym;
	bool can_sign;
};
const struct p11_ktype *p11_ktype_find(const char *transit);
/* The transit type for an EC curve given as CKA_EC_PARAMS (OID or name). */
const struct p11_ktype *p11_ktype_from_ec_params(const uint8_t *p, size_t len, CK_KEY_TYPE ckk);

struct p11_key {
	unsigned refs; /* atomic */
	CK_SLOT_ID slot;
	char *name;
	const struct p11_ktype *type;
	EVP_PKEY *pub;     /* NULL for secret keys */
	uint8_t *ec_point; /* DER OCTET STRING, EC and EdDSA */
	size_t ec_point_len;
	uint8_t *modulus;
	size_t modulus_len;
	uint8_t *exponent;
	size_t exponent_len;
	uint8_t *spki; /* DER SubjectPublicKeyInfo (CKA_PUBLIC_KEY_INFO) */
	size_t spki_len;
	uint8_t *id; /* CKA_ID from the key's pkcs11_id; NULL: the name */
	size_t id_len;
	bool exportable; /* CKA_EXTRACTABLE: wrap (C_WrapKey) may export it */
};
/* A key from a transit key-read reply. */
int p11_key_from_info(CK_SLOT_ID slot, const char *name, const json_t *info,
                      struct p11_key **out) KW_MUST_CHECK;
struct p11_key *p11_key_get(struct p11_key *k);
void p11_key_put(struct p11_key *k);

struct p11_sobj;
/* A key's object (key set) or a stored certificate or data object (sobj set). */
struct p11_object {
	CK_OBJECT_CLASS cls;
	struct p11_key *key;
	struct p11_sobj *sobj;
};
CK_SLOT_ID p11_object_slot(const struct p11_object *o);
/* One attribute's value (object.c, objects_store.c). */
enum p11_attr_status { P11_ATTR_OK, P11_ATTR_SENSITIVE, P11_ATTR_INVALID };
struct p11_attr_val {
	const void *p;
	size_t len;
	CK_BBOOL b;
	CK_ULONG ul;
};
enum p11_attr_status p11_val_bool(struct p11_attr_val *v, bool b);
enum p11_attr_status p11_val_ulong(struct p11_attr_val *v, CK_ULONG ul);
enum p11_attr_status p11_val_bytes(struct p11_attr_val *v, const void *p, size_t len);
/* Attribute values of an object: CKR_OK, or the first per-attribute failure
 * (ATTRIBUTE_SENSITIVE, ATTRIBUTE_TYPE_INVALID, BUFFER_TOO_SMALL) with every
 * attribute still processed (PKCS#11 v2.40 5.7 C_GetAttributeValue). */
CK_RV p11_object_get_attrs(const struct p11_object *o, CK_ATTRIBUTE_PTR t, CK_ULONG n);
/* Does o match every attribute of the template (C_FindObjectsInit)? */
bool p11_object_match(const struct p11_object *o, const CK_ATTRIBUTE *t, CK_ULONG n);
/* Template helpers. */
const CK_ATTRIBUTE *p11_attr_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type);
CK_RV p11_attr_bool(const CK_ATTRIBUTE *a, CK_BBOOL *out);
CK_RV p11_attr_ulong(const CK_ATTRIBUTE *a, CK_ULONG *out);

/* ---- mechanisms (mech.c) ---- */
enum p11_mclass { P11_M_GEN, P11_M_SIGN, P11_M_ENCRYPT, P11_M_DIGEST };
struct p11_mech {
	CK_MECHANISM_TYPE type;
	CK_MECHANISM_INFO info;
	CK_KEY_TYPE ckk;           /* key type it works on; CKK_VENDOR_DEFINED: none */
	const char *hash;          /* transit hash name, NULL when the input is the message */
	const EVP_MD *(*md)(void); /* local digest for hash-then-sign */
	bool prehash_input;        /* the input is already a digest (CKM_ECDSA, CKM_RSA_PKCS_PSS) */
	bool pss;
	const char *aes_mode; /* keyward/cipher mode; key wraps: "kw" or "kwp" */
};
const struct p11_mech *p11_mech_find(CK_MECHANISM_TYPE type);
size_t p11_mech_count(void);
const struct p11_mech *p11_mech_at(size_t i);
/* Transit hash name and digest for CKM_SHA256 etc. */
const EVP_MD *p11_md_from_ckm(CK_MECHANISM_TYPE hash, const char **transit);

/* ---- sessions and operations (session.c) ---- */
enum p11_op_kind {
	P11_OP_NONE,
	P11_OP_FIND,
	P11_OP_SIGN,
	P11_OP_VERIFY,
	P11_OP_ENCRYPT,
	P11_OP_DECRYPT,
	P11_OP_DIGEST
};
struct p11_op {
	enum p11_op_kind kind;
	const struct p11_mech *mech;
	struct p11_key *key;
	EVP_MD_CTX *md; /* running digest (hash-then-sign, C_Digest*) */
	uint8_t *buf;   /* buffered input for single-shot mechanisms; wiped */
	size_t len, cap;
	bool multi;    /* C_*Update was called: C_Sign/C_Digest no longer allowed */
	CK_ULONG salt; /* PSS */
	const EVP_MD *pss_md;
	const char *pss_hash;
	const EVP_MD *oaep_md; /* OAEP */
	const EVP_MD *oaep_mgf;
	uint8_t *label;
	size_t label_len;
	const char *oaep_hash; /* keyward/decrypt names */
	const char *oaep_mgf_hash;
	uint8_t *iv; /* AES */
	size_t iv_len;
	uint8_t *aad;
	size_t aad_len;
	unsigned tag_bits;
	CK_ULONG ctr_bits; /* CKM_AES_CTR ulCounterBits */
	uint8_t *out;      /* the server's result, kept for a repeated call; wiped */
	size_t out_len;
	bool have_out;
	CK_OBJECT_HANDLE *found;
	size_t nfound, pos;
};
void p11_op_end(struct p11_op *op);
int p11_op_append(struct p11_op *op, const uint8_t *p, size_t n) KW_MUST_CHECK;

struct p11_session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	unsigned refs; /* under the module lock */
	bool closed;
	struct p11_lock *lock;
	struct p11_op op;
};

/* ---- slots (slots.c) ---- */
struct p11_client {
	struct kw_client *c;
	unsigned gen; /* token generation it carries */
};
struct p11_slot {
	struct p11_server *srv;
	struct kw_client *base;
	struct p11_client idle[P11_IDLE_MAX];
	size_t nidle;
	char *token; /* secret: the logged-in token; NULL when logged out */
	unsigned gen;
	bool logged_in;
	unsigned nsessions;
	/* An automatic login (empty PIN) is renewed by the module: before
	 * renew_ms, when its file changes, or when the server calls the token
	 * bad. login_lock lets one thread at a time do it. */
	bool auto_login;
	int64_t renew_ms;
	int64_t retry_ms;
	struct p11_stamp stamp;
	struct p11_lock *login_lock;
};

struct p11_state {
	pid_t pid;
	struct p11_lock *lock;
	struct p11_conf conf;
	struct p11_slot slots[P11_SLOTS_MAX];
	size_t nslots;
	struct p11_session *sessions[P11_SESSIONS_MAX];
	uint32_t session_gen;
	struct p11_object **objects;
	size_t nobjects, objects_cap;
};

extern struct p11_state *p11;
extern CK_FUNCTION_LIST p11_function_list;

/* Lock helpers and the checks every entry point starts with. */
CK_RV p11_enter(void); /* initialised in this process: module lock taken */
void p11_leave(void);
CK_RV p11_rv(int kw_err); /* KW_ERR_* -> CK_RV, one table */
void p11_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* slots.c */
CK_RV p11_slot_check(CK_SLOT_ID id); /* under the lock */
int p11_slots_open(struct p11_state *st) KW_MUST_CHECK;
void p11_slots_close(struct p11_state *st);
/* A client handle carrying the slot's current token; back with _put.
 * Both take the module lock themselves. */
CK_RV p11_client_take(CK_SLOT_ID id, struct p11_client *out);
void p11_client_put(CK_SLOT_ID id, struct p11_client *pc, bool broken);
/* After a request on pc failed with err: true when the server called the
 * token bad and the slot's automatic login has been renewed since, so the
 * caller may put pc back, take another handle and send the request once
 * more (a refused request did nothing). */
bool p11_client_renew(CK_SLOT_ID id, const struct p11_client *pc, int err);
void p11_slot_logout(struct p11_slot *s); /* under the lock */
void p11_fill_padded(CK_UTF8CHAR *dst, size_t len, const char *src);

/* session.c: lookup takes a reference and the session's lock. */
CK_RV p11_session_get(CK_SESSION_HANDLE h, struct p11_session **out);
void p11_session_put(struct p11_session *s);
/* The common start and end of C_Encrypt/C_Sign/C_Digest... after Init:
 * the session with its operation of this kind (else
 * CKR_OPERATION_NOT_INITIALIZED), and back, ending the operation unless
 * keep (a length query or a short buffer keeps it, v2.40 5.2). */
CK_RV p11_session_get_op(CK_SESSION_HANDLE h, enum p11_op_kind kind, struct p11_session **out);
CK_RV p11_session_put_op(struct p11_session *s, CK_RV rv, bool keep);
/* The common start of C_*Init (session.c); see there. */
CK_RV p11_op_start(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pm, CK_OBJECT_HANDLE hKey, CK_FLAGS flag,
                   struct p11_session **out, CK_OBJECT_CLASS *cls);
bool p11_session_rw(const struct p11_session *s);
bool p11_logged_in(CK_SLOT_ID slot); /* under the lock */

/* object.c: handle table (under the lock) and the key refresh. */
CK_RV p11_object_add(struct p11_object *o, CK_OBJECT_HANDLE *out);
struct p11_object *p11_object_find(CK_OBJECT_HANDLE h, CK_SLOT_ID slot, bool logged_in);
void p11_objects_free(struct p11_state *st);
/* Bring the slot's objects in line with the server's key list. */
CK_RV p11_objects_refresh(CK_SLOT_ID slot);
/* Add a freshly created key's objects; handles of its private (or secret)
 * and public object. */
CK_RV p11_objects_add_key(struct p11_key *k, CK_OBJECT_HANDLE *priv, CK_OBJECT_HANDLE *pub);
/* A reference to the key behind handle h if the session may use it. */
CK_RV p11_key_for_handle(struct p11_session *s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS *cls,
                         struct p11_key **out);

/* ---- crypt.c's mechanism halves (rsa.c, aes.c) ---- */
/* Parameters into op at C_EncryptInit / C_DecryptInit. */
CK_RV p11_rsa_params(struct p11_op *op, const CK_MECHANISM *m);
CK_RV p11_aes_params(struct p11_op *op, const CK_MECHANISM *m);
/* How many bytes out at most for op->len bytes in: the two-call answer. */
CK_RV p11_rsa_out_len(const struct p11_op *op, bool decrypt, size_t *out);
CK_RV p11_aes_out_len(const struct p11_op *op, bool decrypt, size_t *out);
/* The whole buffered input through: local RSA encryption, or the server. */
CK_RV p11_rsa_encrypt(struct p11_op *op, uint8_t **out, size_t *outlen);
CK_RV p11_rsa_decrypt(struct p11_op *op, CK_SLOT_ID slot, uint8_t **out, size_t *outlen);
CK_RV p11_aes_run(struct p11_op *op, CK_SLOT_ID slot, bool decrypt, uint8_t **out, size_t *outlen);

/* One server request with the slot's token, renewed once on bad_token:
 * fn(c, arg) runs on a client handle; the KW_ERR_* it returned is given
 * back (rv says why no request was made). The debug line names what. */
typedef int (*p11_call_fn)(struct kw_client *c, void *arg);
int p11_call(CK_SLOT_ID slot, const char *what, p11_call_fn fn, void *arg, CK_RV *rv);

/* A key created by the server (derive, unwrap): its objects, from the
 * reply (a key read); the handle of its private or secret object. */
CK_RV p11_key_adopt(CK_SLOT_ID slot, const char *name, const json_t *info, CK_OBJECT_HANDLE *out);
/* CKA_ID bytes as the server's lower-case hex (NUL-terminated, <= 2 *
 * P11_ID_MAX + 1 bytes); CKR_ATTRIBUTE_VALUE_INVALID when too long. */
CK_RV p11_id_hex(const CK_ATTRIBUTE *a, char *hex, size_t hexlen);
/* Session rules for creating token objects (v2.40 5.7): R/W and logged in. */
CK_RV p11_may_create(struct p11_session *s);
/* A key name from CKA_LABEL; CKR_TEMPLATE_INCOMPLETE without one. */
CK_RV p11_label_name(const CK_ATTRIBUTE *label, char **out);

/* ---- newkey.c: templates of keys made by derive and unwrap ---- */
struct p11_newkey {
	CK_OBJECT_CLASS cls; /* default CKO_SECRET_KEY */
	CK_KEY_TYPE ckk;     /* required */
	CK_ULONG value_len;
	CK_ULONG modulus_bits;
	const CK_ATTRIBUTE *label, *id, *ec_params;
	bool extractable;
};
CK_RV p11_newkey_scan(const CK_ATTRIBUTE *t, CK_ULONG n, struct p11_newkey *nk);
/* The keyward type the template asks for; secret_only: derive. */
CK_RV p11_newkey_type(const struct p11_newkey *nk, bool secret_only, const struct p11_ktype **out);

/* ---- objects_store.c: certificates and data objects ---- */
void p11_sobj_free(struct p11_sobj *so);
CK_SLOT_ID p11_sobj_slot(const struct p11_sobj *so);
void p11_object_free(struct p11_object *o);
enum p11_attr_status p11_sobj_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE a,
                                   struct p11_attr_val *v);
/* Bring the slot's stored objects in line with the server's list. */
CK_RV p11_sobjs_refresh(CK_SLOT_ID slot);
/* C_DestroyObject of a stored object (handle h, o found under the lock). */
CK_RV p11_sobj_destroy(struct p11_session *s, CK_OBJECT_HANDLE h);
/* Parse a stored object's GET reply (exposed for the unit tests). */
int p11_sobj_from_json(CK_SLOT_ID slot, const char *name, const json_t *data,
                       struct p11_sobj **out) KW_MUST_CHECK;

/* sign.c helpers also used by the tests. */
int p11_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t half, uint8_t *out) KW_MUST_CHECK;
/* Two-call length convention (PKCS#11 v2.40 5.2): NULL buffer -> length,
 * short buffer -> CKR_BUFFER_TOO_SMALL; both set *outlen. */
CK_RV p11_out_check(CK_BYTE_PTR out, CK_ULONG_PTR outlen, size_t need);

#endif
