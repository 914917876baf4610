/*
 * auth: proves who is calling. Verifies the credentials a caller presents —
 * JWTs (Kubernetes service-account tokens, any OIDC issuer's tokens) against
 * configured public keys and JWKS — and turns them into claims and an
 * identity (k8s:<namespace>/<serviceaccount>); matches names, claims and
 * SPIFFE IDs against a role's bindings with Vault's globs. It owns key sets
 * (public keys only) and, in jwks_fetch.c, the HTTPS fetch of a JWKS with a
 * rate-limited refresh on an unknown kid. It decides no policy: the caller
 * sends the identity and claims to the keeper, which decides and audits.
 *
 * Runs in the front process (DESIGN: the front proves who is calling; the
 * keeper never parses a JWT). Tests and tools may link it too. Depends on
 * common, crypto (hashes), jansson, OpenSSL and libcurl.
 *
 * Secrets: a presented token is a bearer credential. It is never logged and
 * never copied into an error: a rejection returns KW_ERR_AUTH and a
 * kw_auth_reason whose text is fixed. The module's copies of token parts are
 * wiped before free. Claims of a verified token are not secret (they go to
 * the audit log). Keys are public; a PEM private key given by mistake is
 * refused and its decoded bytes wiped.
 *
 * Threads: a key set is reference-counted and immutable once shared
 * (kw_auth_keyset_ref; adding to a shared set is refused), so many threads
 * verify against one set while a refresher builds the next one and swaps it
 * in. Verification, claims and matching are reentrant and keep no global
 * state. A JWKS source is thread-safe (a lock over its state, one fetch at a
 * time); the process calls curl_global_init() once before starting threads.
 *
 * Time: every check takes `now` (unix seconds) from the caller, so tests can
 * verify 2017 tokens; production passes kw_now().
 */
#ifndef KW_AUTH_H
#define KW_AUTH_H

#include <jansson.h>

#include "../common/common.h"

/* ---- why a credential was refused ---- */

/*
 * One reason per check. The code is stable (audit entries, error replies);
 * the text is for a person. Neither ever contains any part of the token.
 */
#define KW_AUTH_REASON_LIST(X)                                                                     \
	X(OK, "ok", "ok")                                                                          \
	X(TOO_LARGE, "token_too_large", "token too large")                                         \
	X(MALFORMED, "token_malformed", "token is not a compact JWS (three parts)")                \
	X(BAD_BASE64, "bad_base64url", "token part is not strict base64url")                       \
	X(BAD_HEADER, "bad_header", "token header is not a valid JOSE header")                     \
	X(DUPLICATE_KEY, "duplicate_json_key", "duplicate key in token JSON")                      \
	X(CRIT, "crit_header", "token has critical header extensions")                             \
	X(ALG_NONE, "alg_none", "unsigned token (alg none) refused")                               \
	X(ALG_NOT_ALLOWED, "alg_not_allowed", "alg not allowed")                                   \
	X(NO_KEYS, "no_keys", "no verification keys configured")                                   \
	X(KID_UNKNOWN, "unknown_kid", "no key with this kid")                                      \
	X(ALG_KEY_MISMATCH, "alg_key_mismatch", "alg not allowed for this key")                    \
	X(SIG_LENGTH, "bad_signature_length", "signature has the wrong length")                    \
	X(SIG_DER, "ecdsa_signature_der", "ECDSA signature is DER; JWS needs raw r||s")            \
	X(SIG_INVALID, "bad_signature", "signature invalid")                                       \
	X(BAD_PAYLOAD, "bad_payload", "token payload is not a JSON object")                        \
	X(BAD_TIME, "bad_time_claim", "exp, nbf or iat is not a NumericDate")                      \
	X(BAD_CLAIM, "bad_claim", "iss or aud has the wrong type")                                 \
	X(EXP_MISSING, "exp_missing", "token has no exp claim")                                    \
	X(EXPIRED, "token_expired", "token expired")                                               \
	X(NOT_YET_VALID, "token_not_yet_valid", "token not valid yet (nbf)")                       \
	X(ISSUED_IN_FUTURE, "issued_in_future", "token issued in the future (iat)")                \
	X(ISS_MISMATCH, "issuer_mismatch", "issuer mismatch")                                      \
	X(AUD_MISMATCH, "audience_mismatch", "audience mismatch")                                  \
	X(SUB_NOT_STRING, "bad_sub", "sub claim missing or not a string")                          \
	X(K8S_MISSING, "not_service_account_token", "kubernetes claims missing")                   \
	X(K8S_INVALID, "bad_kubernetes_claims", "kubernetes claims malformed")                     \
	X(K8S_SUB_MISMATCH, "kubernetes_sub_mismatch", "sub does not match the kubernetes claims")

enum kw_auth_reason {
#define KW_AUTH_REASON_ENUM(name, code, text) KW_AUTH_##name,
	KW_AUTH_REASON_LIST(KW_AUTH_REASON_ENUM)
#undef KW_AUTH_REASON_ENUM
};

/* Stable code ("token_expired"); "unknown" outside the table. */
const char *kw_auth_reason_code(enum kw_auth_reason r);
/* Text for a person ("token expired"). */
const char *kw_auth_reason_str(enum kw_auth_reason r);

/* ---- key sets (keyset.c) ---- */

#define KW_AUTH_KID_MAX         256  /* longest kid kept, in bytes */
#define KW_AUTH_DERIVED_KID_LEN 43   /* base64url of a SHA-256 */
#define KW_AUTH_RSA_MIN_BITS    2048 /* shorter RSA keys are refused (NIST SP 800-131A) */
#define KW_AUTH_RSA_MAX_BITS    8192 /* longer ones cost a verifier too much */
#define KW_AUTH_KEYSET_KEYS_MAX 128  /* keys in one set */
#define KW_AUTH_ERR_BYTES       160  /* room for a load error message */

/*
 * A set of public verification keys. Two sources: PEM (SubjectPublicKeyInfo
 * "PUBLIC KEY" or an X.509 "CERTIFICATE" — its key is used, its validity
 * dates are not), as Vault's pem_keys and kube-apiserver's
 * --service-account-key-file; and JWKS documents (RSA n/e; EC P-256, P-384,
 * P-521 x/y), as an OIDC jwks_uri serves.
 *
 * kid: a JWKS key has the kid of its entry; a PEM key gets the kid
 * kube-apiserver derives (KW_AUTH_DERIVED_KID_LEN chars of base64url SHA-256
 * of the SPKI DER) unless one is given. PEM keys are "static", like Vault's
 * pem_keys: a token whose kid names no key of the set is still tried against
 * them (managed clusters use other kid schemes).
 */
struct kw_auth_keyset;

int kw_auth_keyset_new(struct kw_auth_keyset **out) KW_MUST_CHECK;
/* Another reference; the set is shared (and frozen) from now on. */
struct kw_auth_keyset *kw_auth_keyset_ref(struct kw_auth_keyset *ks);
/* Drop one reference; the last one frees. NULL is fine. */
void kw_auth_keyset_free(struct kw_auth_keyset *ks);
/*
 * Add every key of a PEM text (one or more blocks). kid NULL = derive it.
 * All or nothing. KW_ERR_INVALID for a set that is shared or text that holds
 * no key, KW_ERR_UNSUPPORTED for a key type or size we do not verify with
 * (a private key included); err (may be NULL) gets a sentence saying which
 * block and why.
 */
int kw_auth_keyset_add_pem(struct kw_auth_keyset *ks, const char *pem, size_t len, const char *kid,
                           char *err, size_t errlen) KW_MUST_CHECK;

struct kw_auth_jwks_stats {
	unsigned added;       /* keys now in the set */
	unsigned unknown_kty; /* entries of a kty we do not know (OKP, oct, ...): ignored */
	unsigned not_for_sig; /* "use" other than "sig", or a curve we do not verify: ignored */
};
/*
 * Add the keys of a JWKS document ({"keys":[...]}). Entries of unknown kty
 * or for another use are counted and skipped; a malformed entry (missing or
 * non-base64url n/e/x/y, wrong coordinate length, point not on the curve,
 * RSA key out of range, duplicate JSON key) refuses the whole document with
 * KW_ERR_INVALID and a sentence naming the entry; KW_ERR_LIMIT past
 * KW_AUTH_KEYSET_KEYS_MAX entries. All or nothing. A key's "alg", when
 * given, is the only alg it verifies.
 */
int kw_auth_keyset_add_jwks(struct kw_auth_keyset *ks, const char *json, size_t len,
                            struct kw_auth_jwks_stats *stats, char *err,
                            size_t errlen) KW_MUST_CHECK;
size_t kw_auth_keyset_count(const struct kw_auth_keyset *ks);
/* kid of key i ("" when the JWKS entry had none); NULL if i is out of range. */
const char *kw_auth_keyset_kid(const struct kw_auth_keyset *ks, size_t i);
/* True if some key has exactly this kid. */
bool kw_auth_keyset_has_kid(const struct kw_auth_keyset *ks, const char *kid);
/* kube-apiserver's kid for a key: base64url(SHA-256(SPKI DER)), NUL-terminated. */
int kw_auth_kid_derive(const uint8_t *spki_der, size_t len,
                       char out[KW_AUTH_DERIVED_KID_LEN + 1]) KW_MUST_CHECK;

/* ---- JWT verification (jws.c, jwt.c) ---- */

#define KW_AUTH_TOKEN_MAX (16u * 1024) /* default size limit; real SA tokens are ~1 KiB */
/*
 * Default clock leeway, seconds, for exp, nbf and iat. 60 s is what
 * kube-apiserver itself allows (go-jose's DefaultLeeway) and Vault's
 * clock_skew_leeway default; Vault's jwt expiration_leeway default of 150 s
 * would keep a 10-minute projected token usable 25% past its end, for clocks
 * that NTP keeps within a second.
 */
#define KW_AUTH_LEEWAY_DEFAULT 60
#define KW_AUTH_LEEWAY_MAX     86400

struct kw_auth_jwt_opts {
	/* iss must equal one of these; none = iss not checked (only its type). */
	const char *const *issuers;
	size_t nissuers;
	/* aud (string or array) must contain one of these; none = not checked. */
	const char *const *audiences;
	size_t naudiences;
	/* Legacy Secret-based SA tokens have no exp; refused unless this is set. */
	bool allow_missing_exp;
	int64_t exp_leeway; /* seconds, 0..KW_AUTH_LEEWAY_MAX */
	int64_t nbf_leeway;
	int64_t iat_leeway;     /* how far in the future iat may be */
	size_t max_token_bytes; /* 0 = KW_AUTH_TOKEN_MAX */
};
/* Defaults: no iss/aud check, exp required, leeways KW_AUTH_LEEWAY_DEFAULT. */
void kw_auth_jwt_opts_init(struct kw_auth_jwt_opts *o);

/*
 * A verified token: its header fields and claims. Immutable; may be read
 * from several threads.
 */
struct kw_auth_jwt;

/*
 * Verify a compact JWS token against ks, then its claims per o at time now.
 * Only RS256, PS256 (salt = 32), ES256, ES384 are accepted, and only with a
 * key of the matching type and curve (and the key's own alg, if it has one);
 * the header's alg is never trusted alone. kid selects keys (all keys when
 * absent or empty; static PEM keys always). The payload is parsed only after
 * the signature verifies.
 *
 * Returns 0 and *out, or KW_ERR_AUTH with *why set to the failed check
 * (KW_ERR_INVALID for bad options, KW_ERR_NOMEM; *why is then
 * KW_AUTH_OK). *why is always written, the one exception to out-params
 * on success: callers need the reason precisely when this fails.
 */
int kw_auth_jwt_verify(const struct kw_auth_keyset *ks, const struct kw_auth_jwt_opts *o,
                       const char *token, size_t len, int64_t now, struct kw_auth_jwt **out,
                       enum kw_auth_reason *why) KW_MUST_CHECK;
void kw_auth_jwt_free(struct kw_auth_jwt *jwt);

const char *kw_auth_jwt_alg(const struct kw_auth_jwt *jwt);     /* "RS256" */
const char *kw_auth_jwt_kid(const struct kw_auth_jwt *jwt);     /* header kid, "" if none */
const char *kw_auth_jwt_key_kid(const struct kw_auth_jwt *jwt); /* kid of the key that verified */
const char *kw_auth_jwt_sub(const struct kw_auth_jwt *jwt);
const char *kw_auth_jwt_iss(const struct kw_auth_jwt *jwt); /* NULL if absent */
int64_t kw_auth_jwt_exp(const struct kw_auth_jwt *jwt);     /* 0 if absent (legacy) */
int64_t kw_auth_jwt_iat(const struct kw_auth_jwt *jwt);     /* 0 if absent */
/* The claims object, borrowed (valid while jwt lives). */
const json_t *kw_auth_jwt_claims(const struct kw_auth_jwt *jwt);

/* ---- generic claims (claims.c), for the jwt method ---- */

/*
 * Find a claim: a plain name ("email", "kubernetes.io/serviceaccount/namespace")
 * or, starting with '/', an RFC 6901 JSON pointer ("/groups/0",
 * "/kubernetes.io/pod/name"), as Vault's claim selectors. KW_ERR_NOT_FOUND.
 */
int kw_auth_jwt_claim_find(const struct kw_auth_jwt *jwt, const char *selector,
                           const json_t **out) KW_MUST_CHECK;
/*
 * A scalar as text: a string as is, an integer in decimal, a real as the
 * shortest round-trip decimal, true/false. KW_ERR_INVALID for null, arrays
 * and objects. *out malloc'd.
 */
int kw_auth_claim_string(const json_t *v, char **out) KW_MUST_CHECK;
/* kw_auth_jwt_claim_find then kw_auth_claim_string (user_claim, claim_mappings). */
int kw_auth_jwt_claim_string(const struct kw_auth_jwt *jwt, const char *selector,
                             char **out) KW_MUST_CHECK;
/*
 * bound_claims: does the claim (a scalar, or an array of scalars, any of
 * which may match) equal one of values — or glob-match one, with glob?
 * KW_ERR_NOT_FOUND if the claim is absent.
 */
int kw_auth_jwt_claim_match(const struct kw_auth_jwt *jwt, const char *selector,
                            const char *const *values, size_t nvalues, bool glob,
                            bool *matched) KW_MUST_CHECK;

/* ---- Kubernetes service-account claims (k8s.c) ---- */

#define KW_AUTH_K8S_NS_MAX       63  /* a namespace is a DNS-1123 label */
#define KW_AUTH_K8S_NAME_MAX     253 /* other object names are DNS-1123 subdomains */
#define KW_AUTH_K8S_UID_MAX      128
#define KW_AUTH_K8S_IDENTITY_MAX (4 + KW_AUTH_K8S_NS_MAX + 1 + KW_AUTH_K8S_NAME_MAX)

/* What a service-account token says; optional fields are "" when absent. */
struct kw_auth_k8s {
	char namespace[KW_AUTH_K8S_NS_MAX + 1];
	char service_account[KW_AUTH_K8S_NAME_MAX + 1];
	char service_account_uid[KW_AUTH_K8S_UID_MAX + 1];
	char pod_name[KW_AUTH_K8S_NAME_MAX + 1];
	char pod_uid[KW_AUTH_K8S_UID_MAX + 1];
	char secret_name[KW_AUTH_K8S_NAME_MAX + 1];
	char node_name[KW_AUTH_K8S_NAME_MAX + 1];
	bool legacy; /* flat kubernetes.io/serviceaccount/... claims (Secret-based token) */
	char identity[KW_AUTH_K8S_IDENTITY_MAX + 1]; /* "k8s:<namespace>/<serviceaccount>" */
};

/*
 * Read the Kubernetes claims of a verified token: the nested "kubernetes.io"
 * claim of projected tokens, or the flat legacy ones (a token with both is
 * refused). Names must be valid Kubernetes names — so an identity cannot
 * carry '/' or ':' from a claim — and sub must be exactly
 * system:serviceaccount:<namespace>:<name>. KW_ERR_AUTH with *why (always
 * written) otherwise.
 */
int kw_auth_k8s_from_jwt(const struct kw_auth_jwt *jwt, struct kw_auth_k8s *out,
                         enum kw_auth_reason *why) KW_MUST_CHECK;

/* ---- matching (match.c) ---- */

/*
 * Vault's glob (go-glob), used for bound_service_account_names/namespaces
 * and bound_claims: '*' matches any run of characters, '/' included, anywhere
 * in the pattern; "*" alone matches everything; no other metacharacter.
 */
bool kw_auth_glob_match(const char *pattern, const char *s);
/* Any pattern matches. */
bool kw_auth_glob_match_any(const char *const *patterns, size_t n, const char *s);

#define KW_AUTH_SPIFFE_ID_MAX 2048
/* A SPIFFE ID as the spec allows: spiffe://<trust domain>[/<segment>]... KW_ERR_INVALID. */
int kw_auth_spiffe_id_check(const char *id) KW_MUST_CHECK;
/*
 * An allowed_uri_sans pattern: a SPIFFE ID whose path segments may contain
 * '*'. The trust domain is literal (a wildcard there would trust other
 * domains). KW_ERR_INVALID otherwise.
 */
int kw_auth_spiffe_pattern_check(const char *pattern) KW_MUST_CHECK;
/*
 * Does a valid SPIFFE ID match a valid pattern? Segment by segment: same
 * number of segments, and each '*' matches any run of characters inside one
 * segment, never a '/' — so a pattern with '*' as its namespace and
 * service-account segments matches spiffe://td/ns/payments/sa/api and not
 * spiffe://td/ns/a/b/sa/api.
 * False for an invalid pattern or ID.
 */
bool kw_auth_spiffe_match(const char *pattern, const char *id);

/* ---- JWKS over HTTPS (jwks_fetch.c, libcurl) ---- */

#define KW_AUTH_JWKS_BYTES_MAX           (1u * 1024 * 1024)
#define KW_AUTH_JWKS_REFRESH_MIN_DEFAULT 30   /* seconds between fetches an unknown kid causes */
#define KW_AUTH_JWKS_MAX_AGE_DEFAULT     3600 /* the apiserver's max-age for its JWKS */
#define KW_AUTH_HTTP_TIMEOUT_MS_DEFAULT  10000

struct kw_auth_jwks_conf {
	const char *url;     /* https:// only */
	const char *ca_pem;  /* PEM bundle to trust; NULL = the system store */
	int64_t refresh_min; /* seconds between unknown-kid refreshes */
	int64_t max_age;     /* refetch a set older than this, seconds */
	long timeout_ms;
	size_t max_bytes; /* response body limit */
};
void kw_auth_jwks_conf_init(struct kw_auth_jwks_conf *c);

/*
 * One JWKS URL and the key set last fetched from it. The set is fetched on
 * first use and when older than max_age; a token with an unknown kid
 * refreshes it at most once per refresh_min (a flood of made-up kids costs
 * the issuer one request per interval). A failed fetch keeps the old set.
 */
struct kw_auth_jwks_source;

/* Copies c. KW_ERR_CONFIG for a URL that is not https:// or bad numbers. */
int kw_auth_jwks_source_new(const struct kw_auth_jwks_conf *c,
                            struct kw_auth_jwks_source **out) KW_MUST_CHECK;
void kw_auth_jwks_source_free(struct kw_auth_jwks_source *src);
/* The current set (a new reference: kw_auth_keyset_free it), fetching if due. */
int kw_auth_jwks_source_keyset(struct kw_auth_jwks_source *src, int64_t now,
                               struct kw_auth_keyset **out) KW_MUST_CHECK;
/*
 * Fetch now unless the last fetch was less than refresh_min ago
 * (KW_ERR_LIMIT). KW_ERR_UNAVAILABLE if the server cannot be reached,
 * fails TLS verification, answers other than 200 or sends more than
 * max_bytes; KW_ERR_INVALID for a document that is not a usable JWKS.
 */
int kw_auth_jwks_source_refresh(struct kw_auth_jwks_source *src, int64_t now) KW_MUST_CHECK;
/*
 * kw_auth_jwt_verify against the current set; on KW_AUTH_KID_UNKNOWN,
 * refresh (rate-limited) and try once more. KW_ERR_UNAVAILABLE if there is
 * no set at all (*why KW_AUTH_NO_KEYS).
 */
int kw_auth_jwks_source_verify(struct kw_auth_jwks_source *src, const struct kw_auth_jwt_opts *o,
                               const char *token, size_t len, int64_t now, struct kw_auth_jwt **out,
                               enum kw_auth_reason *why) KW_MUST_CHECK;
/* Number of fetches attempted so far (for metrics and tests). */
uint64_t kw_auth_jwks_source_fetches(struct kw_auth_jwks_source *src);

/*
 * OIDC discovery: GET <issuer>/.well-known/openid-configuration, check that
 * its "issuer" is exactly issuer, and return its https jwks_uri (malloc'd).
 */
int kw_auth_oidc_discover(const char *issuer, const char *ca_pem, long timeout_ms,
                          char **jwks_uri) KW_MUST_CHECK;

/* ---- client certificates (x509.c), for the cert method ---- */

#define KW_AUTH_CERT_CHAIN_MAX 8   /* certificates a client may present */
#define KW_AUTH_CERT_CN_MAX    256 /* longest subject common name kept */

/* What a verified client certificate says. */
struct kw_auth_cert_id {
	/* The leaf's URI SAN when it is a valid SPIFFE ID (an X509-SVID has
	 * exactly one URI SAN), else "". */
	char spiffe_id[KW_AUTH_SPIFFE_ID_MAX + 1];
	char common_name[KW_AUTH_CERT_CN_MAX + 1]; /* subject CN, "" if none */
	int64_t not_after;                         /* unix seconds */
	char sha256[2 * 32 + 1];                   /* hex SHA-256 of the leaf's DER */
};

/*
 * Verify a client's chain (der[0] the leaf, then intermediates, DER) against
 * the CA certificates of ca_pem at time now: a path to one of them, every
 * certificate within its dates, the leaf usable for TLS client auth (its
 * extended key usage, when present, includes clientAuth). Returns 0 and
 * *out, or KW_ERR_AUTH with a fixed sentence in why (never certificate
 * bytes), KW_ERR_INVALID for a ca_pem holding no certificate.
 */
int kw_auth_cert_verify(const uint8_t *const *der, const size_t *len, size_t n, const char *ca_pem,
                        int64_t now, struct kw_auth_cert_id *out, char *why,
                        size_t whylen) KW_MUST_CHECK;

#endif
