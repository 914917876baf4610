/*
 * digest.c: C_Digest* computed locally with OpenSSL — a digest involves no
 * key, so there is nothing to ask the server. C_DigestKey would need the
 * key's bytes, which never leave keyward: CKR_KEY_INDIGESTIBLE.
 */
#include <string.h>

#include "pkcs11_int.h"

CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	struct p11_session *s;
	struct p11_op *op;
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
	if (op->mech == NULL || !(op->mech->info.flags & CKF_DIGEST))
		rv = CKR_MECHANISM_INVALID;
	else if (pMechanism->pParameter != NULL || pMechanism->ulParameterLen != 0)
		rv = CKR_MECHANISM_PARAM_INVALID;
	else if ((op->md = EVP_MD_CTX_new()) == NULL ||
	         !EVP_DigestInit_ex(op->md, op->mech->md(), NULL))
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		op->kind = P11_OP_DIGEST;
	else
		p11_op_end(op);
out:
	p11_session_put(s);
	return rv;
}

static size_t digest_len(const struct p11_op *op)
{
	return (size_t)EVP_MD_get_size(op->mech->md());
}

static CK_RV digest_final(struct p11_op *op, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	unsigned n = 0;

	if (!EVP_DigestFinal_ex(op->md, out, &n))
		return CKR_FUNCTION_FAILED;
	*outlen = n;
	return CKR_OK;
}

CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_DIGEST, &s)) != CKR_OK)
		return rv;
	if (s->op.multi)
		return p11_session_put_op(s, CKR_OPERATION_ACTIVE, true);
	if ((pData == NULL && ulDataLen > 0) || pulDigestLen == NULL)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	/* Length known up front: a query or short buffer hashes nothing. */
	rv = p11_out_check(pDigest, pulDigestLen, digest_len(&s->op));
	if (rv != CKR_OK || pDigest == NULL)
		return p11_session_put_op(s, rv, true);
	if (!EVP_DigestUpdate(s->op.md, pData, ulDataLen))
		rv = CKR_FUNCTION_FAILED;
	else
		rv = digest_final(&s->op, pDigest, pulDigestLen);
	return p11_session_put_op(s, rv, false);
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_DIGEST, &s)) != CKR_OK)
		return rv;
	if (pPart == NULL && ulPartLen > 0)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	s->op.multi = true;
	rv = EVP_DigestUpdate(s->op.md, pPart, ulPartLen) ? CKR_OK : CKR_FUNCTION_FAILED;
	return p11_session_put_op(s, rv, rv == CKR_OK);
}

CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
	struct p11_session *s;
	struct p11_key *k = NULL;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_DIGEST, &s)) != CKR_OK)
		return rv;
	rv = p11_key_for_handle(s, hKey, &cls, &k);
	if (rv == CKR_OK)
		rv = CKR_KEY_INDIGESTIBLE;
	p11_key_put(k);
	return p11_session_put_op(s, rv, false);
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_DIGEST, &s)) != CKR_OK)
		return rv;
	if (pulDigestLen == NULL)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	rv = p11_out_check(pDigest, pulDigestLen, digest_len(&s->op));
	if (rv != CKR_OK || pDigest == NULL)
		return p11_session_put_op(s, rv, true);
	rv = digest_final(&s->op, pDigest, pulDigestLen);
	return p11_session_put_op(s, rv, false);
}
