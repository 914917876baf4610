/*
 * test_main.c: the crypto unit test program — the test table, the group
 * set-up (secure heap) and helpers shared by the other files.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto_tests.h"

#if defined(__SANITIZE_ADDRESS__)
#define KW_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KW_TEST_ASAN 1
#endif
#endif

uint8_t *t_unhex(const char *hex, size_t *len)
{
	uint8_t *d = NULL;

	assert_int_equal(kw_hex_decode(hex, strlen(hex), &d, len), 0);
	return d;
}

static int group_setup(void **state)
{
	/*
	 * Run as the keeper does, with the secure heap — except under ASan:
	 * the secure heap is one mmap'd arena ASan cannot see into, and plain
	 * malloc lets it check every secret buffer for overruns.
	 */
#ifndef KW_TEST_ASAN
	if (kw_secure_heap_init(1 << 22) != 0)
		return -1;
#endif
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    KW_TEST("/crypto/key-type-names", test_key_type_names),
	    KW_TEST("/crypto/hash-names", test_hash_names),
	    KW_TEST("/crypto/hash-digest", test_hash_digest),
	    KW_TEST("/crypto/random", test_random),
	    KW_TEST("/crypto/key-roundtrip", test_key_roundtrip),
	    KW_TEST("/crypto/key-decode-checks-type", test_key_decode_checks_type),
	    KW_TEST("/crypto/key-decode-rejects-garbage", test_key_decode_rejects_garbage),
	    KW_TEST("/crypto/hmac-key-sizes", test_hmac_key_sizes),
	    KW_TEST("/crypto/public-der-verify-only", test_public_der_verify_only),
	    KW_TEST("/crypto/public-text", test_public_text),
	    KW_TEST("/crypto/export-text", test_export_text),
	    KW_TEST("/crypto/aead-roundtrip", test_aead_roundtrip),
	    KW_TEST("/crypto/aead-tamper", test_aead_tamper),
	    KW_TEST("/crypto/aead-wrong-key-type", test_aead_wrong_key_type),
	    KW_TEST("/crypto/aead-raw-params", test_aead_raw_params),
	    KW_TEST("/crypto/aead-open-raw-wipes", test_aead_open_raw_wipes),
	    KW_TEST("/crypto/rsa-oaep-roundtrip", test_rsa_oaep_roundtrip),
	    KW_TEST("/crypto/wrap-roundtrip", test_wrap_roundtrip),
	    KW_TEST("/crypto/wrap-wrong-aad", test_wrap_wrong_aad),
	    KW_TEST("/crypto/wrap-tamper", test_wrap_tamper),
	    KW_TEST("/crypto/hmac-vectors", test_hmac_vectors),
	    KW_TEST("/crypto/sign-roundtrip", test_sign_roundtrip),
	    KW_TEST("/crypto/sign-prehashed", test_sign_prehashed),
	    KW_TEST("/crypto/sign-misuse", test_sign_misuse),
	    KW_TEST("/crypto/ecdsa-jws-format", test_ecdsa_jws_format),
	    KW_TEST("/crypto/rsa-pss-salt", test_rsa_pss_salt),
	    KW_TEST("/crypto/sign-concurrent", test_sign_concurrent),
	    KW_TEST("/crypto/shamir-every-subset", test_shamir_every_subset),
	    KW_TEST("/crypto/shamir-too-few", test_shamir_too_few),
	    KW_TEST("/crypto/shamir-duplicate-x", test_shamir_duplicate_x),
	    KW_TEST("/crypto/shamir-bad-args", test_shamir_bad_args),
	    KW_TEST("/crypto/shamir-one-of-one", test_shamir_one_of_one),
	    KW_TEST("/crypto/shamir-x-coordinates", test_shamir_x_coordinates),
	    KW_TEST("/crypto/shamir-known-shares", test_shamir_known_shares),
	    KW_TEST("/crypto/selftest", test_selftest),
	    KW_TEST("/crypto/wycheproof-aes-gcm", test_wp_aes_gcm),
	    KW_TEST("/crypto/wycheproof-aes-gcm-other-iv", test_wp_aes_gcm_other_iv),
	    KW_TEST("/crypto/wycheproof-hmac-sha256", test_wp_hmac_sha256),
	    KW_TEST("/crypto/wycheproof-hmac-sha384", test_wp_hmac_sha384),
	    KW_TEST("/crypto/wycheproof-hmac-sha512", test_wp_hmac_sha512),
	    KW_TEST("/crypto/wycheproof-ecdsa-p256-der", test_wp_ecdsa_p256_der),
	    KW_TEST("/crypto/wycheproof-ecdsa-p256-p1363", test_wp_ecdsa_p256_p1363),
	    KW_TEST("/crypto/wycheproof-ecdsa-p384-der", test_wp_ecdsa_p384_der),
	    KW_TEST("/crypto/wycheproof-ecdsa-p384-p1363", test_wp_ecdsa_p384_p1363),
	    KW_TEST("/crypto/wycheproof-ed25519", test_wp_ed25519),
	    KW_TEST("/crypto/wycheproof-rsa-pkcs1-verify", test_wp_rsa_pkcs1_verify),
	    KW_TEST("/crypto/wycheproof-rsa-pss-verify", test_wp_rsa_pss_verify),
	    KW_TEST("/crypto/wycheproof-rsa-oaep-decrypt", test_wp_rsa_oaep_decrypt),
	    KW_TEST("/crypto/wycheproof-rsa-pkcs1-sign", test_wp_rsa_pkcs1_sign),
	    KW_TEST("/crypto/p11/wycheproof-aes-kw", test_p11_wp_aes_kw),
	    KW_TEST("/crypto/p11/wycheproof-aes-kwp", test_p11_wp_aes_kwp),
	    KW_TEST("/crypto/p11/wycheproof-ecdh-point", test_p11_wp_ecdh_point),
	    KW_TEST("/crypto/p11/wycheproof-ecdh-spki", test_p11_wp_ecdh_spki),
	    KW_TEST("/crypto/p11/ecdh-misuse", test_p11_ecdh_misuse),
	    KW_TEST("/crypto/p11/x963-kdf", test_p11_x963_kdf),
	    KW_TEST("/crypto/p11/wycheproof-oaep-label", test_p11_wp_oaep_label),
	    KW_TEST("/crypto/p11/wycheproof-pkcs1-sign-raw", test_p11_wp_pkcs1_sign_raw),
	    KW_TEST("/crypto/p11/digestinfo-check", test_p11_digestinfo_check),
	    KW_TEST("/crypto/p11/sign-raw-misuse", test_p11_sign_raw_misuse),
	    KW_TEST("/crypto/p11/pkcs1-implicit-rejection", test_p11_pkcs1_implicit_rejection),
	    KW_TEST("/crypto/p11/aes-modes-sp800-38a", test_p11_aes_modes_kat),
	    KW_TEST("/crypto/p11/aes-cbc-pad", test_p11_aes_cbc_pad),
	    KW_TEST("/crypto/p11/aes-mode-misuse", test_p11_aes_mode_misuse),
	};
	/* Run one test (or a glob of them) by path: test_crypto '/crypto/shamir-*'. */
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("crypto", tests, group_setup, NULL);
}
