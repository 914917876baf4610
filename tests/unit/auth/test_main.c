/*
 * test_main.c: the auth unit test program — the test table and the group
 * set-up that makes the keys the minted-token tests sign with.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "auth_tests.h"

struct t_fixture t_fx;

static int group_setup(void **state)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	t_key_make(&t_fx.rs, "RSA", "RS256");
	t_key_make(&t_fx.ps, "RSA", "PS256");
	t_key_make(&t_fx.es256, "P-256", "ES256");
	t_key_make(&t_fx.es384, "P-384", "ES384");
	t_key_make(&t_fx.stranger, "RSA", "RS256");
	return 0;
}

static int group_teardown(void **state)
{
	t_key_cleanup(&t_fx.rs);
	t_key_cleanup(&t_fx.ps);
	t_key_cleanup(&t_fx.es256);
	t_key_cleanup(&t_fx.es384);
	t_key_cleanup(&t_fx.stranger);
	curl_global_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    KW_TEST("/auth/vectors-verify-own-key", test_vectors_verify_own_key),
	    KW_TEST("/auth/vectors-fail-other-keys", test_vectors_fail_other_keys),
	    KW_TEST("/auth/vectors-expired-at-real-clock", test_vectors_expired_at_real_clock),
	    KW_TEST("/auth/vectors-negative-token", test_vectors_negative_token),
	    KW_TEST("/auth/vectors-legacy-needs-opt-in", test_vectors_legacy_needs_opt_in),
	    KW_TEST("/auth/vectors-derived-kid", test_vectors_derived_kid),
	    KW_TEST("/auth/vectors-cert-key", test_vectors_cert_key),
	    KW_TEST("/auth/minted-valid", test_minted_valid),
	    KW_TEST("/auth/minted-cross-keys", test_minted_cross_keys),
	    KW_TEST("/auth/minted-expired", test_minted_expired),
	    KW_TEST("/auth/minted-nbf-future", test_minted_nbf_future),
	    KW_TEST("/auth/minted-iat-future", test_minted_iat_future),
	    KW_TEST("/auth/minted-wrong-aud", test_minted_wrong_aud),
	    KW_TEST("/auth/minted-wrong-iss", test_minted_wrong_iss),
	    KW_TEST("/auth/minted-unknown-kid", test_minted_unknown_kid),
	    KW_TEST("/auth/minted-alg-none", test_minted_alg_none),
	    KW_TEST("/auth/minted-hs256-public-key", test_minted_hs256_public_key),
	    KW_TEST("/auth/minted-rs256-on-ec-key", test_minted_rs256_on_ec_key),
	    KW_TEST("/auth/minted-payload-edited", test_minted_payload_edited),
	    KW_TEST("/auth/minted-signature-truncated", test_minted_signature_truncated),
	    KW_TEST("/auth/minted-too-large", test_minted_too_large),
	    KW_TEST("/auth/minted-bad-base64url", test_minted_bad_base64url),
	    KW_TEST("/auth/minted-duplicate-keys", test_minted_duplicate_keys),
	    KW_TEST("/auth/minted-sub-not-string", test_minted_sub_not_string),
	    KW_TEST("/auth/minted-es256-der", test_minted_es256_der),
	    KW_TEST("/auth/minted-header-checks", test_minted_header_checks),
	    KW_TEST("/auth/minted-claim-types", test_minted_claim_types),
	    KW_TEST("/auth/minted-pss-salt", test_minted_pss_salt),
	    KW_TEST("/auth/minted-key-alg-restricts", test_minted_key_alg_restricts),
	    KW_TEST("/auth/reasons-distinct", test_minted_reasons_distinct),
	    KW_TEST("/auth/minted-mutations-refused", test_minted_mutations),
	    KW_TEST("/auth/keyset-jwks-stats", test_keyset_jwks_stats),
	    KW_TEST("/auth/keyset-jwks-malformed", test_keyset_jwks_malformed),
	    KW_TEST("/auth/keyset-pem-refusals", test_keyset_pem_refusals),
	    KW_TEST("/auth/keyset-shared-is-frozen", test_keyset_shared_is_frozen),
	    KW_TEST("/auth/keyset-p521-loads-es512-refused", test_keyset_p521_loads_es512_refused),
	    KW_TEST("/auth/claims-find", test_claims_find),
	    KW_TEST("/auth/claims-string", test_claims_string),
	    KW_TEST("/auth/claims-match", test_claims_match),
	    KW_TEST("/auth/k8s-projected", test_k8s_projected),
	    KW_TEST("/auth/k8s-legacy", test_k8s_legacy),
	    KW_TEST("/auth/k8s-refusals", test_k8s_refusals),
	    KW_TEST("/auth/glob", test_glob),
	    KW_TEST("/auth/spiffe-ids", test_spiffe_ids),
	    KW_TEST("/auth/spiffe-match", test_spiffe_match),
	    KW_TEST("/auth/fetch-jwks", test_fetch_jwks),
	    KW_TEST("/auth/fetch-unknown-kid-refresh", test_fetch_unknown_kid_refresh),
	    KW_TEST("/auth/fetch-refusals", test_fetch_refusals),
	    KW_TEST("/auth/fetch-oidc-discovery", test_fetch_oidc_discovery),
	    KW_TEST("/auth/fetch-concurrent", test_fetch_concurrent),
	};

	/* Run one test (or a glob of them) by path: test_auth '/auth/minted-*'. */
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("auth", tests, group_setup, group_teardown);
}
