/*
 * ecdh.c: ECDH key agreement for PKCS#11's CKM_ECDH1_DERIVE, and the ANSI
 * X9.63 KDF its CKD_SHA*_KDF options name.
 *
 * The peer key is untrusted input: it is decoded on our own key's curve and
 * checked by OpenSSL (EVP_PKEY_derive_set_peer_ex with validation), so an
 * invalid-curve point never meets the private scalar.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "crypto_impl.h"

#define SEC1_UNCOMPRESSED 0x04
#define EC_GROUP_NAME_MAX 32

static int group_name(EVP_PKEY *pkey, char *name, size_t len)
{
	size_t n = 0;

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, len, &n) != 1)
		return KW_ERR_CRYPTO;
	return 0;
}

/* An uncompressed point on our curve as a public-only EVP_PKEY. */
static int peer_from_point(const char *group, const uint8_t *pt, size_t len, EVP_PKEY **out)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pkey = NULL;
	int rc = KW_ERR_INVALID;

	if (ctx == NULL)
		return KW_ERR_NOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1) {
		*out = pkey;
		rc = 0;
	}
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/*
 * SubjectPublicKeyInfo DER: id-ecPublicKey with our curve's *named* OID
 * (RFC 5480 2.1.1); explicit parameters are refused, whatever curve they
 * claim, so a peer cannot bring its own cofactor or generator. The point
 * inside is then decoded as a bare point on our curve.
 */
static int peer_from_spki(const char *group, const uint8_t *der, size_t len, EVP_PKEY **out)
{
	const uint8_t *p = der, *pt = NULL;
	const ASN1_OBJECT *alg = NULL;
	const void *pval = NULL;
	X509_ALGOR *algor = NULL;
	X509_PUBKEY *xpk;
	int ptype = 0, ptlen = 0, rc = KW_ERR_INVALID;

	if (!kw_fits_int(len))
		return KW_ERR_INVALID;
	xpk = d2i_X509_PUBKEY(NULL, &p, (long)len);
	if (xpk == NULL || p != der + len ||
	    X509_PUBKEY_get0_param(NULL, &pt, &ptlen, &algor, xpk) != 1)
		goto out;
	X509_ALGOR_get0(&alg, &ptype, &pval, algor);
	if (OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey || ptype != V_ASN1_OBJECT ||
	    OBJ_obj2nid(pval) != OBJ_txt2nid(group) || ptlen <= 0)
		goto out;
	rc = peer_from_point(group, pt, (size_t)ptlen, out);
out:
	X509_PUBKEY_free(xpk);
	return rc;
}

static int peer_decode(EVP_PKEY *ours, const uint8_t *peer, size_t len, EVP_PKEY **out)
{
	char group[EC_GROUP_NAME_MAX];

	if (peer == NULL || len == 0)
		return KW_ERR_INVALID;
	if (group_name(ours, group, sizeof(group)) != 0)
		return KW_ERR_CRYPTO;
	/* SEC1 points start with 0x04; DER starts with a SEQUENCE (0x30).
	 * Compressed points (02/03) are refused: PKCS#11 passes uncompressed. */
	if (peer[0] == SEC1_UNCOMPRESSED)
		return peer_from_point(group, peer, len, out);
	return peer_from_spki(group, peer, len, out);
}

int kw_ecdh_derive(const struct kw_key *k, const uint8_t *peer, size_t peerlen, uint8_t **secret,
                   size_t *secretlen)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (k == NULL || !kw_key_type_is_ecdsa(kw_key_type_of(k)) || !kw_key_has_private(k))
		return KW_ERR_KEY_TYPE;
	if ((rc = peer_decode(kw_key_pkey(k), peer, peerlen, &pk)) != 0)
		goto out;
	rc = KW_ERR_NOMEM;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kw_key_pkey(k), NULL)) == NULL)
		goto out;
	rc = KW_ERR_CRYPTO;
	if (EVP_PKEY_derive_init(ctx) != 1)
		goto out;
	/* validate = 1: OpenSSL checks the point is on the curve and not at
	 * infinity before using it. */
	rc = KW_ERR_INVALID;
	if (EVP_PKEY_derive_set_peer_ex(ctx, pk, 1) != 1)
		goto out;
	rc = KW_ERR_CRYPTO;
	if (EVP_PKEY_derive(ctx, NULL, &len) != 1 || len == 0)
		goto out;
	rc = KW_ERR_NOMEM;
	if ((buf = kw_secure_alloc(len)) == NULL)
		goto out;
	rc = KW_ERR_CRYPTO;
	if (EVP_PKEY_derive(ctx, buf, &len) != 1)
		goto out;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	if (rc != 0) {
		kw_secure_free(buf, len);
		return rc;
	}
	*secret = buf;
	*secretlen = len;
	return 0;
}

int kw_x963_kdf(enum kw_hash h, const uint8_t *z, size_t zlen, const uint8_t *info, size_t infolen,
                uint8_t *out, size_t outlen)
{
	const EVP_MD *md = kw_hash_md(h);
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[4], *p = params;
	int rc = KW_ERR_CRYPTO;

	if (md == NULL)
		return KW_ERR_UNSUPPORTED;
	if (z == NULL || zlen == 0 || out == NULL || outlen == 0 || (info == NULL && infolen > 0))
		return KW_ERR_INVALID;
	if ((kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL)) == NULL)
		return KW_ERR_CRYPTO;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md),
	                                        0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
	if (infolen > 0)
		*p++ =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();
	if ((ctx = EVP_KDF_CTX_new(kdf)) != NULL && EVP_KDF_derive(ctx, out, outlen, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	ERR_clear_error();
	return rc;
}
