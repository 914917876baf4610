/*
 * wrap.c: C_WrapKey and C_UnwrapKey with CKM_AES_KEY_WRAP (RFC 3394) and
 * CKM_AES_KEY_WRAP_PAD (RFC 5649) through keyward/wrap and keyward/unwrap.
 * The wrapping key is a keyward AES key. Only exportable keys can be
 * wrapped (CKA_EXTRACTABLE, v2.40 4.9); the server exports raw bytes for
 * secret keys and PKCS#8 for private keys. An unwrapped key is a new keyward
 * key, never exportable, named by CKA_LABEL.
 */
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

/* The wrap mechanism; both take only their default IV (v2.40 2.14.3). */
static CK_RV wrap_mech(const CK_MECHANISM *m, CK_FLAGS need, const struct p11_mech **out)
{
	const struct p11_mech *mech = p11_mech_find(m->mechanism);

	if (mech == NULL || !(mech->info.flags & need))
		return CKR_MECHANISM_INVALID;
	if (m->pParameter != NULL || m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	*out = mech;
	return CKR_OK;
}

static CK_RV wrapping_key(struct p11_session *s, CK_OBJECT_HANDLE h, bool unwrap,
                          struct p11_key **out)
{
	CK_OBJECT_CLASS cls;

	if (p11_key_for_handle(s, h, &cls, out) != CKR_OK)
		return unwrap ? CKR_UNWRAPPING_KEY_HANDLE_INVALID : CKR_WRAPPING_KEY_HANDLE_INVALID;
	if (cls != CKO_SECRET_KEY || (*out)->type->ckk != CKK_AES)
		return unwrap ? CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT
		              : CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	return CKR_OK;
}

/* How long the wrapped key is: exact for secret keys, a bound for PKCS#8. */
static size_t wrapped_len(const struct p11_key *k, const struct p11_mech *m)
{
	size_t n;

	if (!k->type->asym)
		n = k->type->bits / 8;
	else if (k->type->ckk == CKK_RSA)
		n = 5 * k->modulus_len + 64; /* n, e, d, p, q, dp, dq, qinv and DER */
	else
		n = 256; /* an EC PrivateKeyInfo with its public point */
	n = (n + 7) / 8 * 8;
	return n + 8 + (strcmp(m->aes_mode, "kwp") == 0 && k->type->asym ? 8 : 0);
}

struct wrap_call {
	const char *kek, *key, *mode;
	json_t *data;
};

static int wrap_fn(struct kw_client *c, void *arg)
{
	struct wrap_call *w = arg;

	return kw_client_wrap(c, w->kek, w->key, w->mode, &w->data);
}

static CK_RV wrap_run(struct p11_session *s, struct wrap_call *w, CK_BYTE_PTR out,
                      CK_ULONG_PTR outlen)
{
	uint8_t *b = NULL;
	size_t n = 0;
	CK_RV rv;
	int r;

	r = p11_call(s->slot, "wrap", wrap_fn, w, &rv);
	if (r == KW_ERR_NOT_EXPORTABLE)
		return CKR_KEY_UNEXTRACTABLE;
	if (r != 0)
		return rv;
	if (kw_client_json_bytes(w->data, "wrapped", &b, &n) != 0)
		return CKR_DEVICE_ERROR;
	if ((rv = p11_out_check(out, outlen, n)) == CKR_OK)
		memcpy(out, b, n);
	free(b); /* wrapped: not secret */
	return rv;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
                CK_ULONG_PTR pulWrappedKeyLen)
{
	struct p11_session *s;
	const struct p11_mech *m = NULL;
	struct p11_key *kek = NULL, *k = NULL;
	struct wrap_call w = {0};
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pMechanism == NULL || pulWrappedKeyLen == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = wrap_mech(pMechanism, CKF_WRAP, &m)) != CKR_OK ||
	    (rv = wrapping_key(s, hWrappingKey, false, &kek)) != CKR_OK ||
	    (rv = p11_key_for_handle(s, hKey, &cls, &k)) != CKR_OK)
		goto out;
	/* A public key is no secret to wrap; the rest need CKA_EXTRACTABLE. */
	if (cls == CKO_PUBLIC_KEY) {
		rv = CKR_KEY_NOT_WRAPPABLE;
		goto out;
	}
	if (!k->exportable) {
		rv = CKR_KEY_UNEXTRACTABLE;
		goto out;
	}
	if (pWrappedKey == NULL) {
		rv = p11_out_check(NULL, pulWrappedKeyLen, wrapped_len(k, m));
		goto out;
	}
	w = (struct wrap_call){.kek = kek->name, .key = k->name, .mode = m->aes_mode};
	rv = wrap_run(s, &w, pWrappedKey, pulWrappedKeyLen);
out:
	kw_client_json_free(w.data);
	p11_key_put(kek);
	p11_key_put(k);
	p11_session_put(s);
	return rv;
}

struct unwrap_call {
	const char *kek, *mode;
	const uint8_t *wrapped;
	size_t len;
	struct kw_client_new_key key;
	json_t *info;
};

static int unwrap_fn(struct kw_client *c, void *arg)
{
	struct unwrap_call *u = arg;

	return kw_client_unwrap(c, u->kek, u->wrapped, u->len, u->mode, &u->key, &u->info);
}

/* The new key's name, type and id from the template. */
static CK_RV unwrap_template(const CK_ATTRIBUTE *t, CK_ULONG n, struct unwrap_call *u, char **name,
                             char *id, size_t idlen)
{
	const struct p11_ktype *kt = NULL;
	struct p11_newkey nk;
	CK_RV rv;

	if ((rv = p11_newkey_scan(t, n, &nk)) != CKR_OK ||
	    (rv = p11_newkey_type(&nk, false, &kt)) != CKR_OK)
		return rv;
	/* keyward never makes an unwrapped key exportable. */
	if (nk.extractable)
		return CKR_TEMPLATE_INCONSISTENT;
	if (nk.id != NULL && (rv = p11_id_hex(nk.id, id, idlen)) != CKR_OK)
		return rv;
	if ((rv = p11_label_name(nk.label, name)) != CKR_OK)
		return rv;
	u->key = (struct kw_client_new_key){
	    .name = *name, .type = kt->transit, .pkcs11_id = id[0] ? id : NULL};
	return CKR_OK;
}

static CK_RV unwrap_rv(int r, CK_RV rv)
{
	if (r == KW_ERR_DECRYPT || r == KW_ERR_INVALID)
		return CKR_WRAPPED_KEY_INVALID;
	if (r == KW_ERR_EXISTS)
		return CKR_ATTRIBUTE_VALUE_INVALID; /* the label names a key already */
	return rv;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                  CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
                  CK_OBJECT_HANDLE_PTR phKey)
{
	struct p11_session *s;
	const struct p11_mech *m = NULL;
	struct p11_key *kek = NULL;
	struct unwrap_call u = {0};
	char *name = NULL, id[2 * P11_ID_MAX + 1] = "";
	CK_RV rv;
	int r;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pMechanism == NULL || phKey == NULL || (pWrappedKey == NULL && ulWrappedKeyLen > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = wrap_mech(pMechanism, CKF_UNWRAP, &m)) != CKR_OK ||
	    (rv = wrapping_key(s, hUnwrappingKey, true, &kek)) != CKR_OK ||
	    (rv = unwrap_template(pTemplate, ulAttributeCount, &u, &name, id, sizeof(id))) !=
	        CKR_OK ||
	    (rv = p11_may_create(s)) != CKR_OK)
		goto out;
	/* RFC 3394 2.2.1 and RFC 5649 4.1: whole 8-byte blocks, at least two. */
	if (ulWrappedKeyLen < 16 || ulWrappedKeyLen % 8 != 0) {
		rv = CKR_WRAPPED_KEY_LEN_RANGE;
		goto out;
	}
	u.kek = kek->name;
	u.mode = m->aes_mode;
	u.wrapped = pWrappedKey;
	u.len = ulWrappedKeyLen;
	r = p11_call(s->slot, "unwrap", unwrap_fn, &u, &rv);
	if (r == 0)
		rv = p11_key_adopt(s->slot, name, u.info, phKey);
	else
		rv = unwrap_rv(r, rv);
out:
	kw_client_json_free(u.info);
	free(name);
	p11_key_put(kek);
	p11_session_put(s);
	return rv;
}
