/*
 * newkey.c: the template of a key the server makes from something else —
 * C_DeriveKey (ECDH) and C_UnwrapKey — read into what keyward/derive and
 * keyward/unwrap take: a name (CKA_LABEL), a pkcs11_id (CKA_ID), a key type
 * and whether it is exportable.
 *
 * As in keygen.c, what cannot be honoured is refused, never dropped:
 * session objects (CKA_TOKEN FALSE), non-sensitive keys (their CKA_VALUE
 * would have to be readable here), unknown attributes. CKA_EXTRACTABLE TRUE
 * makes an exportable key where the server can (derive); unwrap always makes
 * a non-exportable one, so there it is CKR_TEMPLATE_INCONSISTENT.
 */
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

static CK_RV want_bool(const CK_ATTRIBUTE *a, int want, CK_RV wrong)
{
	CK_BBOOL b;
	CK_RV rv = p11_attr_bool(a, &b);

	if (rv == CKR_OK && want >= 0 && b != (CK_BBOOL)want)
		return wrong;
	return rv;
}

static CK_RV scan_attr(const CK_ATTRIBUTE *a, struct p11_newkey *nk)
{
	CK_BBOOL b;
	CK_RV rv;

	switch (a->type) {
	case CKA_CLASS:
		return p11_attr_ulong(a, &nk->cls);
	case CKA_KEY_TYPE:
		return p11_attr_ulong(a, &nk->ckk);
	case CKA_VALUE_LEN:
		return p11_attr_ulong(a, &nk->value_len);
	case CKA_MODULUS_BITS:
		return p11_attr_ulong(a, &nk->modulus_bits);
	case CKA_LABEL:
		nk->label = a;
		return CKR_OK;
	case CKA_ID:
		nk->id = a;
		return CKR_OK;
	case CKA_EC_PARAMS:
		nk->ec_params = a;
		return CKR_OK;
	case CKA_TOKEN:
		return want_bool(a, 1, CKR_ATTRIBUTE_VALUE_INVALID);
	case CKA_SENSITIVE:
		return want_bool(a, 1, CKR_TEMPLATE_INCONSISTENT);
	case CKA_EXTRACTABLE:
		if ((rv = p11_attr_bool(a, &b)) == CKR_OK)
			nk->extractable = b;
		return rv;
	case CKA_PRIVATE:
	case CKA_SIGN:
	case CKA_VERIFY:
	case CKA_ENCRYPT:
	case CKA_DECRYPT:
	case CKA_WRAP:
	case CKA_UNWRAP:
	case CKA_DERIVE:
	case CKA_SIGN_RECOVER:
	case CKA_VERIFY_RECOVER:
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
		return want_bool(a, -1, CKR_OK);
	default:
		return CKR_ATTRIBUTE_TYPE_INVALID;
	}
}

CK_RV p11_newkey_scan(const CK_ATTRIBUTE *t, CK_ULONG n, struct p11_newkey *nk)
{
	CK_RV rv;

	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	memset(nk, 0, sizeof(*nk));
	nk->cls = CKO_SECRET_KEY;
	nk->ckk = CKK_VENDOR_DEFINED;
	for (CK_ULONG i = 0; i < n; i++)
		if ((rv = scan_attr(&t[i], nk)) != CKR_OK)
			return rv;
	if (nk->ckk == CKK_VENDOR_DEFINED)
		return CKR_TEMPLATE_INCOMPLETE; /* v2.40 5.14: the key type is the caller's */
	return CKR_OK;
}

static const struct p11_ktype *secret_type(const struct p11_newkey *nk)
{
	if (nk->ckk == CKK_AES)
		return nk->value_len == 16   ? p11_ktype_find("aes128-gcm96")
		       : nk->value_len == 32 ? p11_ktype_find("aes256-gcm96")
		                             : NULL;
	/* keyward's HMAC keys are shown as 32 bytes (CKA_VALUE_LEN). */
	if (nk->ckk == CKK_GENERIC_SECRET && (nk->value_len == 0 || nk->value_len == 32))
		return p11_ktype_find("hmac");
	return NULL;
}

static const struct p11_ktype *private_type(const struct p11_newkey *nk)
{
	const CK_ATTRIBUTE *p = nk->ec_params;

	if (nk->ckk == CKK_EC || nk->ckk == CKK_EC_EDWARDS)
		return p && p->pValue ? p11_ktype_from_ec_params(p->pValue, p->ulValueLen, nk->ckk)
		                      : NULL;
	if (nk->ckk != CKK_RSA)
		return NULL;
	switch (nk->modulus_bits) {
	case 2048:
		return p11_ktype_find("rsa-2048");
	case 3072:
		return p11_ktype_find("rsa-3072");
	case 4096:
		return p11_ktype_find("rsa-4096");
	default:
		return NULL;
	}
}

CK_RV p11_newkey_type(const struct p11_newkey *nk, bool secret_only, const struct p11_ktype **out)
{
	const struct p11_ktype *t = NULL;

	if (nk->cls == CKO_SECRET_KEY) {
		if (nk->ckk != CKK_AES && nk->ckk != CKK_GENERIC_SECRET)
			return CKR_TEMPLATE_INCONSISTENT;
		if (nk->ckk == CKK_AES && nk->value_len == 0)
			return CKR_TEMPLATE_INCOMPLETE;
		t = secret_type(nk);
	} else if (nk->cls == CKO_PRIVATE_KEY && !secret_only) {
		if (nk->ckk == CKK_RSA && nk->modulus_bits == 0)
			return CKR_TEMPLATE_INCOMPLETE;
		if (nk->ckk != CKK_RSA && nk->ec_params == NULL)
			return CKR_TEMPLATE_INCOMPLETE;
		t = private_type(nk);
	} else {
		return CKR_TEMPLATE_INCONSISTENT;
	}
	if (t == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*out = t;
	return CKR_OK;
}
