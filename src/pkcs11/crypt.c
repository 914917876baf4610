/*
 * crypt.c: C_Encrypt*, C_Decrypt*, C_WrapKey. In this phase the only
 * encryption is CKM_RSA_PKCS_OAEP with a public key, done here by OpenSSL
 * (public data, no round trip). Decryption needs the server's raw RSA and
 * caller-chosen AES IVs (phase 2: /v1/keyward/decrypt); until then every
 * C_DecryptInit answers CKR_MECHANISM_INVALID, as C_GetMechanismInfo says.
 * Every keyward key is unextractable, so C_WrapKey of one is
 * CKR_KEY_UNEXTRACTABLE whatever the mechanism.
 *
 * Buffered plaintext is wiped when the operation ends (session.c).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rsa.h>

#include "pkcs11_int.h"

static CK_RV oaep_params(struct p11_op *op, const CK_MECHANISM *m)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;
	CK_MECHANISM_TYPE mgf;

	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	if ((op->oaep_md = p11_md_from_ckm(p->hashAlg, NULL)) == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	switch (p->mgf) {
	case CKG_MGF1_SHA256:
		mgf = CKM_SHA256;
		break;
	case CKG_MGF1_SHA384:
		mgf = CKM_SHA384;
		break;
	case CKG_MGF1_SHA512:
		mgf = CKM_SHA512;
		break;
	default:
		return CKR_MECHANISM_PARAM_INVALID;
	}
	op->oaep_mgf = p11_md_from_ckm(mgf, NULL);
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

CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	op = &s->op;
	if (op->kind != P11_OP_NONE) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	if (pMechanism == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	op->mech = p11_mech_find(pMechanism->mechanism);
	if (op->mech == NULL || !(op->mech->info.flags & CKF_ENCRYPT)) {
		rv = CKR_MECHANISM_INVALID;
		goto fail;
	}
	if ((rv = p11_key_for_handle(s, hKey, &cls, &op->key)) != CKR_OK)
		goto fail;
	if (op->key->type->ckk != op->mech->ckk) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto fail;
	}
	if (cls != CKO_PUBLIC_KEY) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto fail;
	}
	if ((rv = oaep_params(op, pMechanism)) != CKR_OK)
		goto fail;
	op->kind = P11_OP_ENCRYPT;
	goto out;
fail:
	p11_op_end(op);
out:
	p11_session_put(s);
	return rv;
}

static CK_RV oaep_encrypt(struct p11_op *op, uint8_t *out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(op->key->pub, NULL);
	size_t hl = (size_t)EVP_MD_get_size(op->oaep_md);
	uint8_t *label = NULL;
	CK_RV rv = CKR_FUNCTION_FAILED;

	/* RFC 8017 7.1.1: at most k - 2hLen - 2 bytes. */
	if (op->len + 2 * hl + 2 > op->key->modulus_len) {
		rv = CKR_DATA_LEN_RANGE;
		goto out;
	}
	if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, op->oaep_md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->oaep_mgf) <= 0)
		goto out;
	if (op->label_len > 0) {
		/* OpenSSL takes ownership of the label. */
		if ((label = OPENSSL_memdup(op->label, op->label_len)) == NULL ||
		    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)op->label_len) <= 0) {
			OPENSSL_free(label);
			goto out;
		}
	}
	if (EVP_PKEY_encrypt(ctx, out, outlen, op->buf ? op->buf : (const uint8_t *)"", op->len) >
	    0)
		rv = CKR_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

static CK_RV encrypt_finish(struct p11_op *op, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	size_t n = op->key->modulus_len;
	CK_RV rv;

	if (outlen == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_out_check(out, outlen, n)) != CKR_OK || out == NULL)
		return rv;
	if ((rv = oaep_encrypt(op, out, &n)) == CKR_OK)
		*outlen = n;
	return rv;
}

static CK_RV crypt_get(CK_SESSION_HANDLE h, enum p11_op_kind kind, struct p11_session **out)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(h, &s)) != CKR_OK)
		return rv;
	if (s->op.kind != kind) {
		p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	*out = s;
	return CKR_OK;
}

static CK_RV crypt_done(struct p11_session *s, CK_RV rv, bool keep)
{
	if (!keep)
		p11_op_end(&s->op);
	p11_session_put(s);
	return rv;
}

static bool keeps(CK_RV rv, const void *out)
{
	return rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = crypt_get(hSession, P11_OP_ENCRYPT, &s)) != CKR_OK)
		return rv;
	if (s->op.multi)
		return crypt_done(s, CKR_OPERATION_ACTIVE, true);
	if (pData == NULL && ulDataLen > 0)
		return crypt_done(s, CKR_ARGUMENTS_BAD, false);
	s->op.len = 0; /* a call after a length query brings the data again */
	rv = p11_rv(p11_op_append(&s->op, pData, ulDataLen));
	if (rv == CKR_OK)
		rv = encrypt_finish(&s->op, pEncryptedData, pulEncryptedDataLen);
	return crypt_done(s, rv, keeps(rv, pEncryptedData));
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                      CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = crypt_get(hSession, P11_OP_ENCRYPT, &s)) != CKR_OK)
		return rv;
	if ((pPart == NULL && ulPartLen > 0) || pulEncryptedPartLen == NULL)
		return crypt_done(s, CKR_ARGUMENTS_BAD, false);
	/* OAEP is one block: everything comes out at C_EncryptFinal. */
	s->op.multi = true;
	rv = p11_rv(p11_op_append(&s->op, pPart, ulPartLen));
	if (rv == CKR_OK)
		*pulEncryptedPartLen = 0;
	return crypt_done(s, rv, rv == CKR_OK);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                     CK_ULONG_PTR pulLastEncryptedPartLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = crypt_get(hSession, P11_OP_ENCRYPT, &s)) != CKR_OK)
		return rv;
	rv = encrypt_finish(&s->op, pLastEncryptedPart, pulLastEncryptedPartLen);
	return crypt_done(s, rv, keeps(rv, pLastEncryptedPart));
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (s->op.kind != P11_OP_NONE)
		rv = CKR_OPERATION_ACTIVE;
	else if (pMechanism == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else /* no mechanism has CKF_DECRYPT yet (phase 2) */
		rv = CKR_MECHANISM_INVALID;
	p11_session_put(s);
	return rv;
}

CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = crypt_get(hSession, P11_OP_DECRYPT, &s)) != CKR_OK)
		return rv;
	return crypt_done(s, CKR_FUNCTION_FAILED, false); /* unreachable: no init succeeds */
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	return C_Decrypt(hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
	return C_Decrypt(hSession, NULL, 0, pLastPart, pulLastPartLen);
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
                CK_ULONG_PTR pulWrappedKeyLen)
{
	struct p11_session *s;
	struct p11_key *k = NULL;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pMechanism == NULL || pulWrappedKeyLen == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = p11_key_for_handle(s, hKey, &cls, &k)) != CKR_OK)
		goto out;
	/* CKA_EXTRACTABLE is FALSE on every key (v2.40 5.14 C_WrapKey). */
	if (cls != CKO_PUBLIC_KEY)
		rv = CKR_KEY_UNEXTRACTABLE;
	else
		rv = CKR_KEY_NOT_WRAPPABLE;
out:
	p11_key_put(k);
	p11_session_put(s);
	return rv;
}
