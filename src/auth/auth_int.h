/*
 * auth_int.h: what the files of the auth module share and nobody else sees —
 * the key and key-set structures, the alg table and the verified-token
 * structure.
 */
#ifndef KW_AUTH_INT_H
#define KW_AUTH_INT_H

#include <stdatomic.h>

#include <openssl/evp.h>

#include "auth.h"

/* NumericDates beyond 9999-12-31T23:59:59Z are not dates we will compare. */
#define AUTH_TIME_MAX INT64_C(253402300799)

/* Refuse a credential for reason r. */
static inline int auth_refuse(enum kw_auth_reason *why, enum kw_auth_reason r)
{
	*why = r;
	return KW_ERR_AUTH;
}

/* What a key can verify: RSA of any allowed size, or ECDSA on one curve. */
enum auth_key_kind {
	AUTH_KEY_RSA,
	AUTH_KEY_P256,
	AUTH_KEY_P384,
	AUTH_KEY_P521,
};

struct auth_key {
	EVP_PKEY *pkey;
	enum auth_key_kind kind;
	char *kid;      /* never NULL; "" when the JWKS entry had none */
	char *alg;      /* JWKS "alg": the only alg this key verifies; NULL = by kind */
	bool is_static; /* from PEM: tried whatever kid the token names */
};

struct kw_auth_keyset {
	atomic_int refs;
	struct auth_key *keys;
	size_t nkeys;
};

/* One accepted JWS alg (RFC 7518 section 3.1). */
struct auth_alg {
	const char *name;
	enum auth_key_kind kind; /* for RSA: any size */
	bool pss;
	const char *md; /* OpenSSL digest name */
	size_t ec_half; /* bytes of r (and of s) for ES*, 0 for RSA */
};

/* The accepted alg named name, or NULL (none, HS*, ES512, anything else). */
const struct auth_alg *auth_alg_find(const char *name);
bool auth_key_allows(const struct auth_key *k, const struct auth_alg *a);

/* Add keys to ks, all or nothing; takes ownership of keys[] in every case. */
int auth_keyset_append(struct kw_auth_keyset *ks, struct auth_key *keys, size_t n);
void auth_key_cleanup(struct auth_key *k);

struct kw_auth_jwt {
	char *alg;
	char *kid;     /* header kid, "" if none */
	char *key_kid; /* the verifying key's kid */
	json_t *claims;
	const char *sub; /* borrowed from claims */
	const char *iss; /* borrowed from claims, may be NULL */
	int64_t exp, nbf, iat;
};

/* The claims checks of kw_auth_jwt_verify, on a parsed payload (jwt.c). */
int auth_claims_check(const struct kw_auth_jwt_opts *o, struct kw_auth_jwt *jwt, int64_t now,
                      enum kw_auth_reason *why);
int auth_jwt_opts_check(const struct kw_auth_jwt_opts *o);

/* Strict JSON object from bytes: duplicate keys refused (jwt.c). */
int auth_json_object(const uint8_t *p, size_t n, json_t **out, bool *duplicate);

/* snprintf into err if there is one. */
void auth_err(char *err, size_t errlen, const char *fmt, ...) KW_PRINTF(3, 4);

#endif
