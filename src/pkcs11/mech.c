/*
 * mech.c: the mechanisms this module offers, as one table — what
 * C_GetMechanismList and C_GetMechanismInfo report and what every *Init
 * looks up. A mechanism is listed only for the functions the server (or, for
 * public-key operations, OpenSSL here) can really perform.
 */
#include <string.h>

#include "pkcs11_int.h"

/* CKF_HW: the operation runs in keywardd, not in this library. Tools such as
 * pkcs11-tool --test look for it before they try a signing mechanism. */
#define SV       (CKF_HW | CKF_SIGN | CKF_VERIFY)
#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
#define ED       (CKF_HW | CKF_ENCRYPT | CKF_DECRYPT)
#define AES(m, mode)                                                                               \
	{                                                                                          \
		m, {16, 32, ED}, CKK_AES, NULL, NULL, false, false, mode                           \
	}

static const struct p11_mech mechs[] = {
    {CKM_EC_KEY_PAIR_GEN,
     {256, 521, CKF_HW | CKF_GENERATE_KEY_PAIR | EC_FLAGS},
     CKK_EC,
     NULL,
     NULL,
     false,
     false,
     NULL},
    {CKM_EC_EDWARDS_KEY_PAIR_GEN,
     {255, 255, CKF_HW | CKF_GENERATE_KEY_PAIR},
     CKK_EC_EDWARDS,
     NULL,
     NULL,
     false,
     false,
     NULL},
    {CKM_RSA_PKCS_KEY_PAIR_GEN,
     {2048, 4096, CKF_HW | CKF_GENERATE_KEY_PAIR},
     CKK_RSA,
     NULL,
     NULL,
     false,
     false,
     NULL},
    {CKM_AES_KEY_GEN, {16, 32, CKF_HW | CKF_GENERATE}, CKK_AES, NULL, NULL, false, false, NULL},
    {CKM_GENERIC_SECRET_KEY_GEN,
     {32, 32, CKF_HW | CKF_GENERATE},
     CKK_GENERIC_SECRET,
     NULL,
     NULL,
     false,
     false,
     NULL},

    {CKM_ECDSA, {256, 521, SV | EC_FLAGS}, CKK_EC, NULL, NULL, true, false, NULL},
    {CKM_ECDSA_SHA256,
     {256, 521, SV | EC_FLAGS},
     CKK_EC,
     "sha2-256",
     EVP_sha256,
     false,
     false,
     NULL},
    {CKM_ECDSA_SHA384,
     {256, 521, SV | EC_FLAGS},
     CKK_EC,
     "sha2-384",
     EVP_sha384,
     false,
     false,
     NULL},
    {CKM_ECDSA_SHA512,
     {256, 521, SV | EC_FLAGS},
     CKK_EC,
     "sha2-512",
     EVP_sha512,
     false,
     false,
     NULL},
    {CKM_EDDSA, {255, 255, SV}, CKK_EC_EDWARDS, NULL, NULL, false, false, NULL},

    /* Signing: any input (keyward/sign-raw). Encryption with the public
     * key here, decryption in keyward. */
    {CKM_RSA_PKCS, {2048, 4096, SV | ED}, CKK_RSA, NULL, NULL, true, false, NULL},
    {CKM_SHA256_RSA_PKCS, {2048, 4096, SV}, CKK_RSA, "sha2-256", EVP_sha256, false, false, NULL},
    {CKM_SHA384_RSA_PKCS, {2048, 4096, SV}, CKK_RSA, "sha2-384", EVP_sha384, false, false, NULL},
    {CKM_SHA512_RSA_PKCS, {2048, 4096, SV}, CKK_RSA, "sha2-512", EVP_sha512, false, false, NULL},
    {CKM_RSA_PKCS_PSS, {2048, 4096, SV}, CKK_RSA, NULL, NULL, true, true, NULL},
    {CKM_SHA256_RSA_PKCS_PSS, {2048, 4096, SV}, CKK_RSA, "sha2-256", EVP_sha256, false, true, NULL},
    {CKM_SHA384_RSA_PKCS_PSS, {2048, 4096, SV}, CKK_RSA, "sha2-384", EVP_sha384, false, true, NULL},
    {CKM_SHA512_RSA_PKCS_PSS, {2048, 4096, SV}, CKK_RSA, "sha2-512", EVP_sha512, false, true, NULL},
    {CKM_RSA_PKCS_OAEP, {2048, 4096, ED}, CKK_RSA, NULL, NULL, false, false, NULL},

    /* keyward/cipher; ECB is behind its own policy path on the server. */
    AES(CKM_AES_GCM, "gcm"),
    AES(CKM_AES_CBC, "cbc"),
    AES(CKM_AES_CBC_PAD, "cbc-pad"),
    AES(CKM_AES_CTR, "ctr"),
    AES(CKM_AES_ECB, "ecb"),
    {CKM_AES_KEY_WRAP,
     {16, 32, CKF_HW | CKF_WRAP | CKF_UNWRAP},
     CKK_AES,
     NULL,
     NULL,
     false,
     false,
     "kw"},
    {CKM_AES_KEY_WRAP_PAD,
     {16, 32, CKF_HW | CKF_WRAP | CKF_UNWRAP},
     CKK_AES,
     NULL,
     NULL,
     false,
     false,
     "kwp"},
    {CKM_ECDH1_DERIVE,
     {256, 521, CKF_HW | CKF_DERIVE | EC_FLAGS},
     CKK_EC,
     NULL,
     NULL,
     false,
     false,
     NULL},

    /* HMAC lengths in bytes of key, as v2.40 4.x general-length MACs. */
    {CKM_SHA256_HMAC, {32, 32, SV}, CKK_GENERIC_SECRET, "sha2-256", EVP_sha256, false, false, NULL},
    {CKM_SHA384_HMAC, {32, 32, SV}, CKK_GENERIC_SECRET, "sha2-384", EVP_sha384, false, false, NULL},
    {CKM_SHA512_HMAC, {32, 32, SV}, CKK_GENERIC_SECRET, "sha2-512", EVP_sha512, false, false, NULL},

    {CKM_SHA256,
     {0, 0, CKF_DIGEST},
     CKK_VENDOR_DEFINED,
     "sha2-256",
     EVP_sha256,
     false,
     false,
     NULL},
    {CKM_SHA384,
     {0, 0, CKF_DIGEST},
     CKK_VENDOR_DEFINED,
     "sha2-384",
     EVP_sha384,
     false,
     false,
     NULL},
    {CKM_SHA512,
     {0, 0, CKF_DIGEST},
     CKK_VENDOR_DEFINED,
     "sha2-512",
     EVP_sha512,
     false,
     false,
     NULL},
};

const struct p11_mech *p11_mech_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(mechs); i++)
		if (mechs[i].type == type)
			return &mechs[i];
	return NULL;
}

size_t p11_mech_count(void)
{
	return KW_ARRAY_LEN(mechs);
}

const struct p11_mech *p11_mech_at(size_t i)
{
	return &mechs[i];
}

const EVP_MD *p11_md_from_ckm(CK_MECHANISM_TYPE hash, const char **transit)
{
	const struct p11_mech *m = p11_mech_find(hash);

	if (m == NULL || !(m->info.flags & CKF_DIGEST))
		return NULL;
	if (transit != NULL)
		*transit = m->hash;
	return m->md();
}
