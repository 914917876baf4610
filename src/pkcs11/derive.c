/*
 * derive.c: C_DeriveKey with CKM_ECDH1_DERIVE (CKD_NULL and CKD_SHA*_KDF)
 * through keyward/derive. The shared secret never reaches this process: the
 * server turns it into a new keyward key (AES or HMAC, from CKA_KEY_TYPE and
 * CKA_VALUE_LEN, named by CKA_LABEL) that appears here as a secret key
 * object, sensitive, and exportable only when the template sets
 * CKA_EXTRACTABLE.
 */
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

static const struct {
	ck_ec_kdf_t kdf;
	const char *name;
} kdfs[] = {
    {CKD_NULL, "null"},         {CKD_SHA1_KDF, "sha1"},     {CKD_SHA224_KDF, "sha224"},
    {CKD_SHA256_KDF, "sha256"}, {CKD_SHA384_KDF, "sha384"}, {CKD_SHA512_KDF, "sha512"},
};

/* pPublicData is the raw point, or (v2.40 2.3.16 lets either be sent) the
 * point in a DER OCTET STRING as CKA_EC_POINT holds it: unwrap that. A
 * SubjectPublicKeyInfo goes to the server as it is. */
static void peer_point(const uint8_t *p, size_t n, const uint8_t **out, size_t *outlen)
{
	size_t hdr, len;

	*out = p;
	*outlen = n;
	if (n < 2 || p[0] != 0x04)
		return;
	if (p[1] < 0x80)
		hdr = 2, len = p[1];
	else if (p[1] == 0x81 && n >= 3)
		hdr = 3, len = p[2];
	else
		return;
	if (hdr + len == n && len > 0 && p[hdr] == 0x04) {
		*out = p + hdr;
		*outlen = len;
	}
}

static CK_RV derive_params(const CK_MECHANISM *m, struct kw_client_derive_opts *o)
{
	const CK_ECDH1_DERIVE_PARAMS *p = m->pParameter;

	if (m->mechanism != CKM_ECDH1_DERIVE)
		return CKR_MECHANISM_INVALID;
	if (p == NULL || m->ulParameterLen != sizeof(*p) || p->pPublicData == NULL ||
	    p->ulPublicDataLen == 0 || (p->pSharedData == NULL && p->ulSharedDataLen > 0))
		return CKR_MECHANISM_PARAM_INVALID;
	for (size_t i = 0; i < KW_ARRAY_LEN(kdfs); i++)
		if (kdfs[i].kdf == p->kdf)
			o->kdf = kdfs[i].name;
	/* CKD_NULL takes no shared data (v2.40 2.3.8). */
	if (o->kdf == NULL || (p->kdf == CKD_NULL && p->ulSharedDataLen > 0))
		return CKR_MECHANISM_PARAM_INVALID;
	peer_point(p->pPublicData, p->ulPublicDataLen, &o->peer, &o->peer_len);
	if (p->ulSharedDataLen > 0) {
		o->shared_info = p->pSharedData;
		o->shared_info_len = p->ulSharedDataLen;
	}
	return CKR_OK;
}

static CK_RV base_key(struct p11_session *s, CK_OBJECT_HANDLE h, struct p11_key **out)
{
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = p11_key_for_handle(s, h, &cls, out)) != CKR_OK)
		return rv;
	if ((*out)->type->ckk != CKK_EC)
		return CKR_KEY_TYPE_INCONSISTENT;
	/* CKA_DERIVE is TRUE on EC private keys only. */
	return cls == CKO_PRIVATE_KEY ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
}

struct derive_call {
	const char *base;
	const struct kw_client_derive_opts *o;
	json_t *info;
};

static int derive_fn(struct kw_client *c, void *arg)
{
	struct derive_call *d = arg;

	return kw_client_derive(c, d->base, d->o, &d->info);
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
                  CK_OBJECT_HANDLE_PTR phKey)
{
	struct p11_session *s;
	struct kw_client_derive_opts o = {0};
	struct derive_call d = {.o = &o};
	struct p11_newkey nk;
	struct p11_key *k = NULL;
	const struct p11_ktype *t = NULL;
	char *name = NULL, id[2 * P11_ID_MAX + 1] = "";
	CK_RV rv;
	int r;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = derive_params(pMechanism, &o)) != CKR_OK ||
	    (rv = base_key(s, hBaseKey, &k)) != CKR_OK ||
	    (rv = p11_newkey_scan(pTemplate, ulAttributeCount, &nk)) != CKR_OK ||
	    (rv = p11_newkey_type(&nk, true, &t)) != CKR_OK ||
	    (nk.id != NULL && (rv = p11_id_hex(nk.id, id, sizeof(id))) != CKR_OK) ||
	    (rv = p11_label_name(nk.label, &name)) != CKR_OK || (rv = p11_may_create(s)) != CKR_OK)
		goto out;
	o.key = (struct kw_client_new_key){
	    .name = name, .type = t->transit, .pkcs11_id = id[0] ? id : NULL};
	o.exportable = nk.extractable;
	d.base = k->name;
	r = p11_call(s->slot, "derive", derive_fn, &d, &rv);
	if (r == 0)
		rv = p11_key_adopt(s->slot, name, d.info, phKey);
	else if (r == KW_ERR_EXISTS)
		rv = CKR_ATTRIBUTE_VALUE_INVALID; /* the label names a key already */
	else if (r == KW_ERR_INVALID || r == KW_ERR_UNSUPPORTED)
		rv = CKR_MECHANISM_PARAM_INVALID; /* a peer point not on the key's curve */
out:
	kw_client_json_free(d.info);
	free(name);
	p11_key_put(k);
	p11_session_put(s);
	return rv;
}
