/* crypto_tests.h: the crypto test program's test functions, one file per family. */
#ifndef KW_CRYPTO_TESTS_H
#define KW_CRYPTO_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/crypto/crypto.h"

/* A test registered under its path name ("/crypto/aead-roundtrip"). */
#define KW_TEST(path, fn)                                                                          \
	{                                                                                          \
		path, fn, NULL, NULL, NULL                                                         \
	}

/* test_keys.c */
void test_key_type_names(void **state);
void test_hash_names(void **state);
void test_hash_digest(void **state);
void test_random(void **state);
void test_key_roundtrip(void **state);
void test_key_decode_checks_type(void **state);
void test_key_decode_rejects_garbage(void **state);
void test_hmac_key_sizes(void **state);
void test_public_der_verify_only(void **state);
void test_public_text(void **state);
void test_export_text(void **state);

/* test_aead.c */
void test_aead_roundtrip(void **state);
void test_aead_tamper(void **state);
void test_aead_wrong_key_type(void **state);
void test_aead_raw_params(void **state);
void test_aead_open_raw_wipes(void **state);
void test_rsa_oaep_roundtrip(void **state);
void test_wrap_roundtrip(void **state);
void test_wrap_wrong_aad(void **state);
void test_wrap_tamper(void **state);
void test_hmac_vectors(void **state);
void test_selftest(void **state);

/* test_sig.c */
void test_sign_roundtrip(void **state);
void test_sign_prehashed(void **state);
void test_sign_misuse(void **state);
void test_ecdsa_jws_format(void **state);
void test_rsa_pss_salt(void **state);
void test_sign_concurrent(void **state);

/* test_shamir.c */
void test_shamir_every_subset(void **state);
void test_shamir_too_few(void **state);
void test_shamir_duplicate_x(void **state);
void test_shamir_bad_args(void **state);
void test_shamir_one_of_one(void **state);
void test_shamir_x_coordinates(void **state);
void test_shamir_known_shares(void **state);

/* test_wycheproof.c */
void test_wp_aes_gcm(void **state);
void test_wp_aes_gcm_other_iv(void **state);
void test_wp_hmac_sha256(void **state);
void test_wp_hmac_sha384(void **state);
void test_wp_hmac_sha512(void **state);
void test_wp_ecdsa_p256_der(void **state);
void test_wp_ecdsa_p256_p1363(void **state);
void test_wp_ecdsa_p384_der(void **state);
void test_wp_ecdsa_p384_p1363(void **state);
void test_wp_ed25519(void **state);
void test_wp_rsa_pkcs1_verify(void **state);
void test_wp_rsa_pss_verify(void **state);
void test_wp_rsa_oaep_decrypt(void **state);
void test_wp_rsa_pkcs1_sign(void **state);

/* test_p11crypto.c */
void test_p11_wp_aes_kw(void **state);
void test_p11_wp_aes_kwp(void **state);
void test_p11_wp_ecdh_point(void **state);
void test_p11_wp_ecdh_spki(void **state);
void test_p11_ecdh_misuse(void **state);
void test_p11_x963_kdf(void **state);
void test_p11_wp_oaep_label(void **state);
void test_p11_wp_pkcs1_sign_raw(void **state);
void test_p11_digestinfo_check(void **state);
void test_p11_sign_raw_misuse(void **state);
void test_p11_pkcs1_implicit_rejection(void **state);
void test_p11_aes_modes_kat(void **state);
void test_p11_aes_cbc_pad(void **state);
void test_p11_aes_mode_misuse(void **state);

/* Helpers (test_main.c). */
/* Hex to a malloc'd buffer; fails the test on bad hex. */
uint8_t *t_unhex(const char *hex, size_t *len);

#endif
