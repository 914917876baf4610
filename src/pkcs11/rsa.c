/*
 * rsa.c: CKM_RSA_PKCS_OAEP and CKM_RSA_PKCS encryption and decryption.
 * Encryption uses the public key here (public data, no round trip);
 * decryption is keyward/decrypt. The server decrypts PKCS#1 v1.5 with
 * implicit rejection (a bad padding yields a synthetic message, not an
 * error), so this module offers no padding oracle either.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rsa.h>

#include "pkcs11_int.h"

/* OAEP hashes (CK_RSA_PKCS_OAEP_PARAMS.hashAlg and .mgf), as OpenSSL digests
 * and keyward/decrypt names. SHA-1 is there because it is OAEP's default
 * (RFC 8017 A.2.1) and what most callers send. */
static const struct {
	CK_MECHANISM_TYPE hash;
	CK_RSA_PKCS_MGF_TYPE mgf;
	const char *name;
	const EVP_MD *(*md)(void);
} oaep_hashes[] = {
    {CKM_SHA_1, CKG_MGF1_SHA1, "sha1", EVP_sha1},
    {CKM_SHA224, CKG_MGF1_SHA224, "sha224", EVP_sha224},
    {CKM_SHA256, CKG_MGF1_SHA256, "sha256", EVP_sha256},
    {CKM_SHA384, CKG_MGF1_SHA384, "sha384", EVP_sha384},
    {CKM_SHA512, CKG_MGF1_SHA512, "sha512", EVP_sha512},
};

static CK_RV oaep_params(struct p11_op *op, const CK_MECHANISM *m)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;
	bool hash_ok = false, mgf_ok = false;

	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	for (size_t i = 0; i < KW_ARRAY_LEN(oaep_hashes); i++) {
		if (oaep_hashes[i].hash == p->hashAlg) {
			op->oaep_md = oaep_hashes[i].md();
			op->oaep_hash = oaep_hashes[i].name;
			hash_ok = true;
		}
		if (oaep_hashes[i].mgf == p->mgf) {
			op->oaep_mgf = oaep_hashes[i].md();
			op->oaep_mgf_hash = oaep_hashes[i].name;
			mgf_ok = true;
		}
	}
	if (!hash_ok || !mgf_ok)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->source == 0 && p->ulSourceDataLen == 0)
		return CKR_OK;
	if (p->source != CKZ_DATA_SPECIFIED || (p->pSourceData == NULL && p->ulSourceDataLen > 0))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSourceDataLen > 0) {
		if ((op->label = malloc(p->ulSourceDataLen)) == NULL)
			return CKR_HOST_MEMORY;
		memcpy(op->label, p->pSourceData, p->ulSourceDataLen);
		op->label_len = p->ulSourceDataLen;
	}
	return CKR_OK;
}

CK_RV p11_rsa_params(struct p11_op *op, const CK_MECHANISM *m)
{
	if (op->mech->type == CKM_RSA_PKCS_OAEP)
		return oaep_params(op, m);
	if (m->pParameter != NULL || m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

CK_RV p11_rsa_out_len(const struct p11_op *op, bool decrypt, size_t *out)
{
	size_t k = op->key->modulus_len;

	/* A ciphertext is exactly the modulus length (RFC 8017 7.1.2, 7.2.2). */
	if (decrypt && op->len != k)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	*out = k; /* decryption: an upper bound, as v2.40 5.2 allows */
	return CKR_OK;
}

static int oaep_setup(EVP_PKEY_CTX *ctx, const struct p11_op *op)
{
	uint8_t *label = NULL;

	if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, op->oaep_md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->oaep_mgf) <= 0)
		return KW_ERR_CRYPTO;
	if (op->label_len == 0)
		return 0;
	/* OpenSSL takes ownership of the label. */
	if ((label = OPENSSL_memdup(op->label, op->label_len)) == NULL ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)op->label_len) <= 0) {
		OPENSSL_free(label);
		return KW_ERR_CRYPTO;
	}
	return 0;
}

CK_RV p11_rsa_encrypt(struct p11_op *op, uint8_t **out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(op->key->pub, NULL);
	bool oaep = op->mech->type == CKM_RSA_PKCS_OAEP;
	size_t k = op->key->modulus_len, n = k;
	size_t over = oaep ? 2 * (size_t)EVP_MD_get_size(op->oaep_md) + 2 : 11;
	uint8_t *b = NULL;
	CK_RV rv = CKR_FUNCTION_FAILED;

	/* RFC 8017 7.1.1 and 7.2.1: at most k - 2hLen - 2 or k - 11 bytes. */
	if (op->len + over > k) {
		rv = CKR_DATA_LEN_RANGE;
		goto out;
	}
	if (ctx == NULL || (b = malloc(k)) == NULL || EVP_PKEY_encrypt_init(ctx) <= 0)
		goto out;
	if (oaep ? oaep_setup(ctx, op) != 0
	         : EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
		goto out;
	if (EVP_PKEY_encrypt(ctx, b, &n, op->buf ? op->buf : (const uint8_t *)"", op->len) <= 0)
		goto out;
	*out = b;
	*outlen = n;
	b = NULL;
	rv = CKR_OK;
out:
	free(b);
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

struct decrypt_call {
	const struct p11_op *op;
	json_t *data;
};

static int decrypt_fn(struct kw_client *c, void *arg)
{
	struct decrypt_call *d = arg;
	const struct p11_op *op = d->op;
	struct kw_client_rsa_opts o = {.padding = "pkcs1v15"};

	if (op->mech->type == CKM_RSA_PKCS_OAEP)
		o = (struct kw_client_rsa_opts){.padding = "oaep",
		                                .hash = op->oaep_hash,
		                                .mgf_hash = op->oaep_mgf_hash,
		                                .label = op->label,
		                                .label_len = op->label_len};
	return kw_client_rsa_decrypt(c, op->key->name, op->buf, op->len, &o, &d->data);
}

CK_RV p11_rsa_decrypt(struct p11_op *op, CK_SLOT_ID slot, uint8_t **out, size_t *outlen)
{
	struct decrypt_call d = {.op = op};
	CK_RV rv;

	if (p11_call(slot, "decrypt", decrypt_fn, &d, &rv) == 0 &&
	    kw_client_json_bytes(d.data, "plaintext", out, outlen) != 0)
		rv = CKR_DEVICE_ERROR;
	kw_client_json_free(d.data);
	return rv;
}
