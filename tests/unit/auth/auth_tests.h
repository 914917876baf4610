/* auth_tests.h: the auth test program's test functions and shared helpers. */
#ifndef KW_AUTH_TESTS_H
#define KW_AUTH_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "../../../src/auth/auth.h"

/* A test registered under its path name ("/auth/minted-expired"). */
#define KW_TEST(path, fn)                                                                          \
	{                                                                                          \
		path, fn, NULL, NULL, NULL                                                         \
	}

/* ---- mint.c: keys and tokens made in the test, in Kubernetes' shape ---- */

/* How a minted token is signed. */
enum t_sig {
	T_SIG_OK,        /* as the alg says (ES*: raw r||s) */
	T_SIG_DER,       /* ES*: DER instead of raw r||s */
	T_SIG_NONE,      /* empty signature */
	T_SIG_HMAC_PEM,  /* HS256 keyed with the public key's PEM text */
	T_SIG_PSS_SALT0, /* PS256 with a zero-length salt */
};

struct t_key {
	EVP_PKEY *pkey;
	const char *alg; /* the alg this key signs with */
	char kid[KW_AUTH_DERIVED_KID_LEN + 1];
	char *pem;  /* SPKI PEM of the public key */
	char *jwks; /* one-key JWKS with kid and alg */
};

/* type: "RSA", "P-256", "P-384", "P-521"; alg the key signs with. */
void t_key_make(struct t_key *k, const char *type, const char *alg);
void t_key_cleanup(struct t_key *k);
/* The keys every minted-token test uses, made once by the group set-up. */
struct t_fixture {
	struct t_key rs;       /* RSA-2048, RS256 */
	struct t_key ps;       /* RSA-2048, PS256 */
	struct t_key es256;    /* P-256, ES256 */
	struct t_key es384;    /* P-384, ES384 */
	struct t_key stranger; /* RSA-2048, RS256, in no key set */
};
extern struct t_fixture t_fx;

/* A one-key set from k's PEM (static key) or JWKS (kid-bound key). */
struct kw_auth_keyset *t_keyset_pem(const struct t_key *k);
struct kw_auth_keyset *t_keyset_jwks(const struct t_key *k);

/* header.payload.signature from JSON texts, signed by k as alg. */
char *t_token(const char *header, const char *payload, const struct t_key *k, const char *alg,
              enum t_sig how);
/* {"alg":alg,"kid":kid} as kube-apiserver writes it. */
char *t_header(const char *alg, const char *kid);

/* The claims of a projected token for payments/api, bound to a pod. */
#define T_NOW INT64_C(1700000000)
#define T_ISS "https://kubernetes.default.svc.cluster.local"
#define T_AUD "keyward"
struct t_claims {
	int64_t iat, nbf, exp;
	const char *iss, *aud, *ns, *sa;
	const char *pad; /* an extra claim "pad" (to make large tokens), or NULL */
};
void t_claims_default(struct t_claims *c);
char *t_payload(const struct t_claims *c);
/* A valid token for k with the default claims. */
char *t_token_default(const struct t_key *k);
/* Options binding T_ISS and T_AUD. */
void t_opts(struct kw_auth_jwt_opts *o);

/* Verify; assert it fails with KW_ERR_AUTH and reason want. */
void t_expect_refused(const struct kw_auth_keyset *ks, const struct kw_auth_jwt_opts *o,
                      const char *token, int64_t now, enum kw_auth_reason want);
/* Verify; assert success and return the token. */
struct kw_auth_jwt *t_expect_valid(const struct kw_auth_keyset *ks,
                                   const struct kw_auth_jwt_opts *o, const char *token,
                                   int64_t now);

/* Read a file under KW_VECTORS_DIR/k8s-tokens; NUL-terminated. */
char *t_vector_read(const char *rel, size_t *len);

/* test_vectors.c */
void test_vectors_verify_own_key(void **state);
void test_vectors_fail_other_keys(void **state);
void test_vectors_expired_at_real_clock(void **state);
void test_vectors_negative_token(void **state);
void test_vectors_legacy_needs_opt_in(void **state);
void test_vectors_derived_kid(void **state);
void test_vectors_cert_key(void **state);

/* test_minted.c */
void test_minted_valid(void **state);
void test_minted_cross_keys(void **state);
void test_minted_expired(void **state);
void test_minted_nbf_future(void **state);
void test_minted_iat_future(void **state);
void test_minted_wrong_aud(void **state);
void test_minted_wrong_iss(void **state);
void test_minted_unknown_kid(void **state);
void test_minted_alg_none(void **state);
void test_minted_hs256_public_key(void **state);
void test_minted_rs256_on_ec_key(void **state);
void test_minted_payload_edited(void **state);
void test_minted_signature_truncated(void **state);
void test_minted_too_large(void **state);
void test_minted_bad_base64url(void **state);
void test_minted_duplicate_keys(void **state);
void test_minted_sub_not_string(void **state);
void test_minted_es256_der(void **state);
void test_minted_header_checks(void **state);
void test_minted_claim_types(void **state);
void test_minted_pss_salt(void **state);
void test_minted_key_alg_restricts(void **state);
void test_minted_reasons_distinct(void **state);
void test_minted_mutations(void **state);

/* test_keyset.c */
void test_keyset_jwks_stats(void **state);
void test_keyset_jwks_malformed(void **state);
void test_keyset_pem_refusals(void **state);
void test_keyset_shared_is_frozen(void **state);
void test_keyset_p521_loads_es512_refused(void **state);

/* test_claims.c */
void test_claims_find(void **state);
void test_claims_string(void **state);
void test_claims_match(void **state);
void test_k8s_projected(void **state);
void test_k8s_legacy(void **state);
void test_k8s_refusals(void **state);

/* test_match.c */
void test_glob(void **state);
void test_spiffe_ids(void **state);
void test_spiffe_match(void **state);

/* test_fetch.c */
void test_fetch_jwks(void **state);
void test_fetch_unknown_kid_refresh(void **state);
void test_fetch_refusals(void **state);
void test_fetch_oidc_discovery(void **state);
void test_fetch_concurrent(void **state);

#endif
