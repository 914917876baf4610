/*
 * crypt.c: C_Encrypt* and C_Decrypt* — the session rules shared by every
 * cipher mechanism; the mechanisms themselves are in rsa.c (OAEP and PKCS#1
 * v1.5: public-key encryption here, decryption by keyward/decrypt) and aes.c
 * (keyward/cipher).
 *
 * Input is buffered (at most P11_DATA_MAX bytes) and goes to the server in
 * one request when the operation finishes: C_Encrypt/C_Decrypt, or
 * C_*Final after C_*Update, whose parts produce no output. A length query
 * (NULL buffer) is answered without a request — exactly, or for RSA and
 * CBC-PAD decryption with an upper bound, as v2.40 5.2 allows. The server's
 * answer is kept in the operation until the caller has room for it, so a
 * CKR_BUFFER_TOO_SMALL after the request costs no second request (nor a
 * second audit entry). Buffered input and kept output are wiped when the
 * operation ends (session.c).
 */
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

/* Which object class may do it (CKA_ENCRYPT / CKA_DECRYPT, v2.40 4.8-4.10). */
static CK_RV class_allows(CK_KEY_TYPE ckk, CK_OBJECT_CLASS cls, bool decrypt)
{
	if (ckk == CKK_AES)
		return cls == CKO_SECRET_KEY ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (decrypt)
		return cls == CKO_PRIVATE_KEY ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
	return cls == CKO_PUBLIC_KEY ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
}

static CK_RV crypt_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pm, CK_OBJECT_HANDLE hKey,
                        bool decrypt)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = p11_op_start(h, pm, hKey, decrypt ? CKF_DECRYPT : CKF_ENCRYPT, &s, &cls)) !=
	    CKR_OK)
		return rv;
	op = &s->op;
	if ((rv = class_allows(op->mech->ckk, cls, decrypt)) != CKR_OK)
		goto fail;
	rv = op->mech->ckk == CKK_AES ? p11_aes_params(op, pm) : p11_rsa_params(op, pm);
	if (rv != CKR_OK)
		goto fail;
	op->kind = decrypt ? P11_OP_DECRYPT : P11_OP_ENCRYPT;
	goto out;
fail:
	p11_op_end(op);
out:
	p11_session_put(s);
	return rv;
}

/* The output length for the buffered input; *exact false for a bound. */
static CK_RV out_len(const struct p11_op *op, bool decrypt, size_t *n, bool *exact)
{
	if (op->have_out) {
		*n = op->out_len;
		*exact = true;
		return CKR_OK;
	}
	*exact = !decrypt || (op->mech->ckk == CKK_AES && op->mech->type != CKM_AES_CBC_PAD);
	if (op->mech->ckk == CKK_AES)
		return p11_aes_out_len(op, decrypt, n);
	return p11_rsa_out_len(op, decrypt, n);
}

/* Run the operation once; the result stays in op->out. */
static CK_RV crypt_run(struct p11_session *s, bool decrypt)
{
	struct p11_op *op = &s->op;
	uint8_t *out = NULL;
	size_t n = 0;
	CK_RV rv;

	if (op->have_out)
		return CKR_OK;
	if (op->mech->ckk == CKK_AES)
		rv = p11_aes_run(op, s->slot, decrypt, &out, &n);
	else if (decrypt)
		rv = p11_rsa_decrypt(op, s->slot, &out, &n);
	else
		rv = p11_rsa_encrypt(op, &out, &n);
	if (rv != CKR_OK)
		return rv;
	op->out = out;
	op->out_len = n;
	op->have_out = true;
	return CKR_OK;
}

static CK_RV crypt_finish(struct p11_session *s, bool decrypt, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct p11_op *op = &s->op;
	size_t n = 0;
	bool exact;
	CK_RV rv;

	if (outlen == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = out_len(op, decrypt, &n, &exact)) != CKR_OK)
		return rv;
	/* A query, or a buffer known to be short, costs no request. */
	if (out == NULL || (exact && *outlen < n))
		return p11_out_check(out, outlen, n);
	if ((rv = crypt_run(s, decrypt)) != CKR_OK)
		return rv;
	if ((rv = p11_out_check(out, outlen, op->out_len)) != CKR_OK)
		return rv;
	if (op->out_len > 0)
		memcpy(out, op->out, op->out_len);
	return CKR_OK;
}

/* A length query or a short buffer keeps the operation (v2.40 5.2). */
static bool keeps(CK_RV rv, const void *out)
{
	return rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL);
}

static CK_RV crypt_single(CK_SESSION_HANDLE h, bool decrypt, CK_BYTE_PTR in, CK_ULONG inlen,
                          CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(h, decrypt ? P11_OP_DECRYPT : P11_OP_ENCRYPT, &s)) != CKR_OK)
		return rv;
	/* C_Encrypt cannot finish a multi-part operation (v2.40 5.8). */
	if (s->op.multi)
		return p11_session_put_op(s, CKR_OPERATION_ACTIVE, true);
	if (in == NULL && inlen > 0)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	s->op.len = 0; /* a call after a length query brings the data again */
	rv = p11_rv(p11_op_append(&s->op, in, inlen));
	if (rv == CKR_OK)
		rv = crypt_finish(s, decrypt, out, outlen);
	return p11_session_put_op(s, rv, keeps(rv, out));
}

static CK_RV crypt_update(CK_SESSION_HANDLE h, bool decrypt, CK_BYTE_PTR in, CK_ULONG inlen,
                          CK_ULONG_PTR outlen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(h, decrypt ? P11_OP_DECRYPT : P11_OP_ENCRYPT, &s)) != CKR_OK)
		return rv;
	if ((in == NULL && inlen > 0) || outlen == NULL)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	/* Everything comes out at the final call: the server takes one input. */
	s->op.multi = true;
	rv = p11_rv(p11_op_append(&s->op, in, inlen));
	if (rv == CKR_OK)
		*outlen = 0;
	return p11_session_put_op(s, rv, rv == CKR_OK);
}

static CK_RV crypt_final(CK_SESSION_HANDLE h, bool decrypt, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(h, decrypt ? P11_OP_DECRYPT : P11_OP_ENCRYPT, &s)) != CKR_OK)
		return rv;
	rv = crypt_finish(s, decrypt, out, outlen);
	return p11_session_put_op(s, rv, keeps(rv, out));
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return crypt_init(hSession, pMechanism, hKey, false);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
	return crypt_single(hSession, false, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                      CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	return crypt_update(hSession, false, pPart, ulPartLen, pulEncryptedPartLen);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                     CK_ULONG_PTR pulLastEncryptedPartLen)
{
	return crypt_final(hSession, false, pLastEncryptedPart, pulLastEncryptedPartLen);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return crypt_init(hSession, pMechanism, hKey, true);
}

CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	return crypt_single(hSession, true, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	return crypt_update(hSession, true, pEncryptedPart, ulEncryptedPartLen, pulPartLen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
	return crypt_final(hSession, true, pLastPart, pulLastPartLen);
}
