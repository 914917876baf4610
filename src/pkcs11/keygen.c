/*
 * keygen.c: what the server generates — C_GenerateKeyPair and C_GenerateKey
 * (a transit key named by CKA_LABEL, of the type the mechanism and template
 * choose) and C_GenerateRandom (transit random).
 *
 * Templates are checked before anything is created: a value the module
 * cannot honour is refused rather than silently dropped — session objects
 * (CKA_TOKEN FALSE), extractable or non-sensitive keys, unknown attributes.
 * CKA_ID becomes the key's pkcs11_id, kept by the server with the key.
 * Usage flags (CKA_SIGN...) are accepted; a key's uses follow from its type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

struct gen_req {
	const CK_ATTRIBUTE *label;
	const CK_ATTRIBUTE *id;
	const CK_ATTRIBUTE *ec_params;
	CK_ULONG modulus_bits;
	CK_ULONG value_len;
};

static CK_RV check_bool(const CK_ATTRIBUTE *a, int want)
{
	CK_BBOOL b;
	CK_RV rv = p11_attr_bool(a, &b);

	if (rv == CKR_OK && want >= 0 && b != (CK_BBOOL)want)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	return rv;
}

static CK_RV check_ulong(const CK_ATTRIBUTE *a, CK_ULONG want)
{
	CK_ULONG v;
	CK_RV rv = p11_attr_ulong(a, &v);

	return rv == CKR_OK && v != want ? CKR_TEMPLATE_INCONSISTENT : rv;
}

static CK_RV check_exponent(const CK_ATTRIBUTE *a)
{
	const uint8_t *p = a->pValue;
	size_t n = a->ulValueLen;

	/* The server's RSA keys use e = 65537. */
	while (n > 0 && p != NULL && *p == 0)
		p++, n--;
	if (p == NULL || n != 3 || p[0] != 0x01 || p[1] != 0x00 || p[2] != 0x01)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	return CKR_OK;
}

/* One attribute of a template for an object of class cls and key type ckk. */
static CK_RV scan_attr(const CK_ATTRIBUTE *a, CK_OBJECT_CLASS cls, CK_KEY_TYPE ckk,
                       struct gen_req *g)
{
	bool pub = cls == CKO_PUBLIC_KEY;

	switch (a->type) {
	case CKA_CLASS:
		return check_ulong(a, cls);
	case CKA_KEY_TYPE:
		return check_ulong(a, ckk);
	case CKA_TOKEN:
		return check_bool(a, 1); /* every keyward key is a token object */
	case CKA_SENSITIVE:
		return check_bool(a, pub ? -1 : 1);
	case CKA_EXTRACTABLE:
		return check_bool(a, 0);
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
		return check_bool(a, -1);
	case CKA_LABEL:
		g->label = a;
		return CKR_OK;
	case CKA_ID:
		g->id = a;
		return CKR_OK;
	case CKA_EC_PARAMS:
		if (!pub || (ckk != CKK_EC && ckk != CKK_EC_EDWARDS))
			return CKR_ATTRIBUTE_TYPE_INVALID;
		g->ec_params = a;
		return CKR_OK;
	case CKA_MODULUS_BITS:
		if (!pub || ckk != CKK_RSA)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return p11_attr_ulong(a, &g->modulus_bits);
	case CKA_PUBLIC_EXPONENT:
		if (!pub || ckk != CKK_RSA)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return check_exponent(a);
	case CKA_VALUE_LEN:
		if (cls != CKO_SECRET_KEY)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return p11_attr_ulong(a, &g->value_len);
	default:
		return CKR_ATTRIBUTE_TYPE_INVALID;
	}
}

static CK_RV scan_template(const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_CLASS cls, CK_KEY_TYPE ckk,
                           struct gen_req *g)
{
	const CK_ATTRIBUTE *label = g->label, *id = g->id;
	CK_RV rv;

	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	g->label = g->id = NULL;
	for (CK_ULONG i = 0; i < n; i++)
		if ((rv = scan_attr(&t[i], cls, ckk, g)) != CKR_OK)
			return rv;
	/* The two halves of a pair name one key. */
	if (label != NULL && g->label != NULL &&
	    (label->ulValueLen != g->label->ulValueLen ||
	     memcmp(label->pValue, g->label->pValue, label->ulValueLen) != 0))
		return CKR_TEMPLATE_INCONSISTENT;
	if (id != NULL && g->id != NULL &&
	    (id->ulValueLen != g->id->ulValueLen ||
	     (id->ulValueLen > 0 && memcmp(id->pValue, g->id->pValue, id->ulValueLen) != 0)))
		return CKR_TEMPLATE_INCONSISTENT;
	if (g->label == NULL)
		g->label = label;
	if (g->id == NULL)
		g->id = id;
	return CKR_OK;
}

CK_RV p11_label_name(const CK_ATTRIBUTE *l, char **out)
{
	char *name;

	if (l == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	if (l->pValue == NULL || l->ulValueLen == 0 || l->ulValueLen > KW_CLIENT_NAME_MAX ||
	    memchr(l->pValue, '\0', l->ulValueLen) != NULL ||
	    memchr(l->pValue, '/', l->ulValueLen) != NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID; /* a key name is one path segment */
	if ((name = strndup(l->pValue, l->ulValueLen)) == NULL)
		return CKR_HOST_MEMORY;
	*out = name;
	return CKR_OK;
}

CK_RV p11_id_hex(const CK_ATTRIBUTE *a, char *hex, size_t hexlen)
{
	const uint8_t *p = a->pValue;

	if ((p == NULL && a->ulValueLen > 0) || a->ulValueLen > P11_ID_MAX ||
	    hexlen < 2 * a->ulValueLen + 1)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	for (CK_ULONG i = 0; i < a->ulValueLen; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	hex[2 * a->ulValueLen] = '\0';
	return CKR_OK;
}

/* The key name (CKA_LABEL) and its CKA_ID as hex ("" when none). */
static CK_RV gen_name(const struct gen_req *g, char **out, char *id, size_t idlen)
{
	CK_RV rv;

	id[0] = '\0';
	if (g->id != NULL && (rv = p11_id_hex(g->id, id, idlen)) != CKR_OK)
		return rv;
	return p11_label_name(g->label, out);
}

static const struct p11_ktype *rsa_type(CK_ULONG bits)
{
	switch (bits) {
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

CK_RV p11_may_create(struct p11_session *s)
{
	bool in;

	p11_enter();
	in = p11_logged_in(s->slot);
	p11_leave();
	if (!p11_session_rw(s))
		return CKR_SESSION_READ_ONLY;
	return in ? CKR_OK : CKR_USER_NOT_LOGGED_IN;
}

/* Create the transit key and make its objects. */
static CK_RV gen_create(struct p11_session *s, const char *name, const char *id,
                        const struct p11_ktype *t, CK_OBJECT_HANDLE *priv, CK_OBJECT_HANDLE *pub)
{
	struct kw_client_key_opts o = {.type = t->transit, .pkcs11_id = id[0] ? id : NULL};
	struct p11_client pc = {0};
	struct p11_key *k = NULL;
	json_t *info = NULL;
	CK_RV rv;
	int r;

	/* Creating an existing key is a no-op for transit; PKCS#11 wants new. */
	for (int attempt = 0;; attempt++) {
		if ((rv = p11_client_take(s->slot, &pc)) != CKR_OK)
			return rv;
		r = kw_client_key_read(pc.c, name, &info);
		if (r != KW_ERR_AUTH || attempt > 0 || !p11_client_renew(s->slot, &pc, r))
			break;
		p11_client_put(s->slot, &pc, false);
	}
	if (r == 0) {
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		goto out;
	}
	if (r != KW_ERR_NOT_FOUND) {
		rv = p11_rv(r);
		goto out;
	}
	if ((r = kw_client_key_create(pc.c, name, &o, NULL)) != 0 ||
	    (r = kw_client_key_read(pc.c, name, &info)) != 0) {
		p11_debug("create '%.64s' failed (%s)", name, kw_client_error_code(pc.c));
		rv = p11_rv(r);
		goto out;
	}
	if ((r = p11_key_from_info(s->slot, name, info, &k)) != 0) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	rv = p11_objects_add_key(k, priv, pub);
out:
	p11_key_put(k);
	kw_client_json_free(info);
	p11_client_put(s->slot, &pc, rv == CKR_DEVICE_ERROR);
	return rv;
}

static CK_RV pair_type(CK_MECHANISM_TYPE mech, const struct gen_req *g,
                       const struct p11_ktype **out, CK_KEY_TYPE *ckk)
{
	const struct p11_ktype *t;

	if (mech == CKM_RSA_PKCS_KEY_PAIR_GEN) {
		if (g->modulus_bits == 0)
			return CKR_TEMPLATE_INCOMPLETE;
		t = rsa_type(g->modulus_bits);
		if (t == NULL)
			return CKR_KEY_SIZE_RANGE;
	} else {
		if (g->ec_params == NULL)
			return CKR_TEMPLATE_INCOMPLETE;
		if (g->ec_params->pValue == NULL)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		t = p11_ktype_from_ec_params(g->ec_params->pValue, g->ec_params->ulValueLen, *ckk);
		if (t == NULL)
			return CKR_CURVE_NOT_SUPPORTED;
	}
	*out = t;
	return CKR_OK;
}

static CK_KEY_TYPE pair_ckk(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		return CKK_RSA;
	case CKM_EC_KEY_PAIR_GEN:
		return CKK_EC;
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
		return CKK_EC_EDWARDS;
	default:
		return CKK_VENDOR_DEFINED;
	}
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                        CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                        CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	struct p11_session *s;
	struct gen_req g = {0};
	const struct p11_ktype *t = NULL;
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	CK_KEY_TYPE ckk;
	char *name = NULL, id[2 * P11_ID_MAX + 1];
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pMechanism == NULL || phPublicKey == NULL || phPrivateKey == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	ckk = pair_ckk(pMechanism->mechanism);
	if (ckk == CKK_VENDOR_DEFINED) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	if (pMechanism->pParameter != NULL || pMechanism->ulParameterLen != 0) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	if ((rv = scan_template(pPublicKeyTemplate, ulPublicKeyAttributeCount, CKO_PUBLIC_KEY, ckk,
	                        &g)) != CKR_OK ||
	    (rv = scan_template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount, CKO_PRIVATE_KEY,
	                        ckk, &g)) != CKR_OK ||
	    (rv = pair_type(pMechanism->mechanism, &g, &t, &ckk)) != CKR_OK ||
	    (rv = gen_name(&g, &name, id, sizeof(id))) != CKR_OK ||
	    (rv = p11_may_create(s)) != CKR_OK)
		goto out;
	if ((rv = gen_create(s, name, id, t, &priv, &pub)) != CKR_OK)
		goto out;
	*phPublicKey = pub;
	*phPrivateKey = priv;
out:
	free(name);
	p11_session_put(s);
	return rv;
}

static CK_RV secret_type(CK_MECHANISM_TYPE m, CK_ULONG len, const struct p11_ktype **out)
{
	if (m == CKM_AES_KEY_GEN) {
		if (len == 0)
			return CKR_TEMPLATE_INCOMPLETE;
		*out = len == 16   ? p11_ktype_find("aes128-gcm96")
		       : len == 32 ? p11_ktype_find("aes256-gcm96")
		                   : NULL;
	} else {
		/* Transit HMAC keys are 32 bytes. */
		*out = (len == 0 || len == 32) ? p11_ktype_find("hmac") : NULL;
	}
	return *out ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct p11_session *s;
	struct gen_req g = {0};
	const struct p11_ktype *t = NULL;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_KEY_TYPE ckk;
	char *name = NULL, id[2 * P11_ID_MAX + 1];
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (pMechanism->mechanism == CKM_AES_KEY_GEN) {
		ckk = CKK_AES;
	} else if (pMechanism->mechanism == CKM_GENERIC_SECRET_KEY_GEN) {
		ckk = CKK_GENERIC_SECRET;
	} else {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	if (pMechanism->pParameter != NULL || pMechanism->ulParameterLen != 0) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	if ((rv = scan_template(pTemplate, ulCount, CKO_SECRET_KEY, ckk, &g)) != CKR_OK ||
	    (rv = secret_type(pMechanism->mechanism, g.value_len, &t)) != CKR_OK ||
	    (rv = gen_name(&g, &name, id, sizeof(id))) != CKR_OK ||
	    (rv = p11_may_create(s)) != CKR_OK)
		goto out;
	if ((rv = gen_create(s, name, id, t, &h, NULL)) != CKR_OK)
		goto out;
	*phKey = h;
out:
	free(name);
	p11_session_put(s);
	return rv;
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen)
{
	struct p11_session *s;
	struct p11_client pc = {0};
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (RandomData == NULL && ulRandomLen > 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (ulRandomLen == 0)
		goto out;
	if ((rv = p11_client_take(s->slot, &pc)) != CKR_OK)
		goto out;
	for (CK_ULONG done = 0; done < ulRandomLen && rv == CKR_OK;) {
		size_t n = ulRandomLen - done;
		uint8_t *b = NULL;
		int r;

		if (n > KW_CLIENT_RANDOM_MAX)
			n = KW_CLIENT_RANDOM_MAX;
		r = kw_client_random(pc.c, n, &b);
		if (r != 0 && p11_client_renew(s->slot, &pc, r)) {
			/* Renewed after the server refused the token: a fresh handle. */
			p11_client_put(s->slot, &pc, false);
			if ((rv = p11_client_take(s->slot, &pc)) != CKR_OK)
				goto out;
			r = kw_client_random(pc.c, n, &b);
		}
		if (r != 0) {
			rv = p11_rv(r);
			break;
		}
		memcpy(RandomData + done, b, n);
		kw_wipe(b, n);
		free(b);
		done += n;
	}
	p11_client_put(s->slot, &pc, rv == CKR_DEVICE_ERROR);
out:
	p11_session_put(s);
	return rv;
}
