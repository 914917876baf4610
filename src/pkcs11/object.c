/*
 * object.c: keyward keys as PKCS#11 objects. The key-type table (transit
 * type <-> CKK and curve), keys built from a key-read reply (public parts
 * only), each object's attributes, template matching, the object handle
 * table, and C_FindObjects*, C_GetAttributeValue, C_SetAttributeValue,
 * C_GetObjectSize, C_DestroyObject.
 *
 * Every key is a token object whose secret parts answer
 * CKR_ATTRIBUTE_SENSITIVE (v2.40 4.9): CKA_SENSITIVE and CKA_ALWAYS_SENSITIVE
 * are TRUE; CKA_EXTRACTABLE is the key's exportable flag (only such keys can
 * be wrapped) and CKA_NEVER_EXTRACTABLE its opposite. Objects are not
 * modifiable. CKA_ID is the key's pkcs11_id, or its name when it has none
 * (keys made before ids existed, or by transit clients). Stored
 * certificates and data objects share the handle table (objects_store.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pkcs11_int.h"

/* DER OIDs (CKA_EC_PARAMS): RFC 5480 and RFC 8410. */
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
/* GnuPG's OID for Ed25519, which OpenSC's pkcs11-tool sends as "edwards25519". */
static const uint8_t oid_ed25519_gnupg[] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x04,
                                            0x01, 0xda, 0x47, 0x0f, 0x01};

static const struct p11_ktype ktypes[] = {
    {"ecdsa-p256", CKK_EC, 256, oid_p256, sizeof(oid_p256), 64, true, true},
    {"ecdsa-p384", CKK_EC, 384, oid_p384, sizeof(oid_p384), 96, true, true},
    {"ecdsa-p521", CKK_EC, 521, oid_p521, sizeof(oid_p521), 132, true, true},
    {"ed25519", CKK_EC_EDWARDS, 255, oid_ed25519, sizeof(oid_ed25519), 64, true, true},
    {"rsa-2048", CKK_RSA, 2048, NULL, 0, 0, true, true},
    {"rsa-3072", CKK_RSA, 3072, NULL, 0, 0, true, true},
    {"rsa-4096", CKK_RSA, 4096, NULL, 0, 0, true, true},
    {"aes128-gcm96", CKK_AES, 128, NULL, 0, 0, false, false},
    {"aes256-gcm96", CKK_AES, 256, NULL, 0, 0, false, false},
    {"hmac", CKK_GENERIC_SECRET, 256, NULL, 0, 0, false, true},
};

const struct p11_ktype *p11_ktype_find(const char *transit)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(ktypes); i++)
		if (strcmp(ktypes[i].transit, transit) == 0)
			return &ktypes[i];
	return NULL;
}

static bool bytes_eq(const uint8_t *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

const struct p11_ktype *p11_ktype_from_ec_params(const uint8_t *p, size_t len, CK_KEY_TYPE ckk)
{
	/* v3.0 2.3.10: Edwards curves may be named by a PrintableString. */
	static const uint8_t name_ed25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
	                                       'd',  's',  '2', '5', '5', '1', '9'};

	if (ckk == CKK_EC_EDWARDS) {
		if (bytes_eq(p, len, oid_ed25519, sizeof(oid_ed25519)) ||
		    bytes_eq(p, len, oid_ed25519_gnupg, sizeof(oid_ed25519_gnupg)) ||
		    bytes_eq(p, len, name_ed25519, sizeof(name_ed25519)))
			return p11_ktype_find("ed25519");
		return NULL;
	}
	for (size_t i = 0; i < KW_ARRAY_LEN(ktypes); i++)
		if (ktypes[i].ckk == CKK_EC &&
		    bytes_eq(p, len, ktypes[i].params, ktypes[i].params_len))
			return &ktypes[i];
	return NULL;
}

/* ---- keys -------------------------------------------------------------- */

struct p11_key *p11_key_get(struct p11_key *k)
{
	__atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
	return k;
}

void p11_key_put(struct p11_key *k)
{
	if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	EVP_PKEY_free(k->pub);
	free(k->name);
	free(k->ec_point);
	free(k->modulus);
	free(k->exponent);
	free(k->spki);
	free(k->id);
	free(k);
}

/* DER OCTET STRING around p (CKA_EC_POINT, v2.40 2.3.3). */
static int der_octet_string(const uint8_t *p, size_t n, uint8_t **out, size_t *outlen)
{
	size_t hdr = n < 0x80 ? 2 : n < 0x100 ? 3 : 4;
	uint8_t *b;

	if (n > 0xffff || (b = malloc(hdr + n)) == NULL)
		return KW_ERR_NOMEM;
	b[0] = 0x04;
	if (hdr == 2) {
		b[1] = (uint8_t)n;
	} else if (hdr == 3) {
		b[1] = 0x81;
		b[2] = (uint8_t)n;
	} else {
		b[1] = 0x82;
		b[2] = (uint8_t)(n >> 8);
		b[3] = (uint8_t)n;
	}
	memcpy(b + hdr, p, n);
	*out = b;
	*outlen = hdr + n;
	return 0;
}

static int bn_param(const EVP_PKEY *pk, const char *name, uint8_t **out, size_t *outlen)
{
	BIGNUM *bn = NULL;
	uint8_t *b;
	int n;

	if (!EVP_PKEY_get_bn_param(pk, name, &bn))
		return KW_ERR_CRYPTO;
	n = BN_num_bytes(bn);
	if ((b = malloc((size_t)n + 1)) == NULL) {
		BN_free(bn);
		return KW_ERR_NOMEM;
	}
	BN_bn2bin(bn, b);
	BN_free(bn);
	*out = b;
	*outlen = (size_t)n;
	return 0;
}

static int pub_from_text(const struct p11_ktype *t, const char *text, EVP_PKEY **out)
{
	EVP_PKEY *pk = NULL;

	if (t->ckk == CKK_EC_EDWARDS) {
		/* Transit gives Ed25519 keys as base64 of the raw 32 bytes. */
		uint8_t *raw = NULL;
		size_t len = 0;

		if (kw_base64_decode(text, strlen(text), &raw, &len) != 0)
			return KW_ERR_INVALID;
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
		free(raw);
	} else {
		BIO *bio = BIO_new_mem_buf(text, -1);

		if (bio == NULL)
			return KW_ERR_NOMEM;
		pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (pk == NULL)
		return KW_ERR_INVALID;
	*out = pk;
	return 0;
}

static int key_public_parts(struct p11_key *k)
{
	const struct p11_ktype *t = k->type;
	uint8_t pt[256];
	size_t ptlen = 0;
	unsigned char *spki = NULL;
	int n, r;

	if ((n = i2d_PUBKEY(k->pub, &spki)) <= 0)
		return KW_ERR_CRYPTO;
	k->spki = malloc((size_t)n);
	if (k->spki != NULL)
		memcpy(k->spki, spki, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(spki);
	if (k->spki == NULL)
		return KW_ERR_NOMEM;
	if (t->ckk == CKK_RSA) {
		if ((r = bn_param(k->pub, OSSL_PKEY_PARAM_RSA_N, &k->modulus, &k->modulus_len)) !=
		    0)
			return r;
		return bn_param(k->pub, OSSL_PKEY_PARAM_RSA_E, &k->exponent, &k->exponent_len);
	}
	if (t->ckk == CKK_EC_EDWARDS) {
		ptlen = sizeof(pt);
		if (!EVP_PKEY_get_raw_public_key(k->pub, pt, &ptlen))
			return KW_ERR_CRYPTO;
	} else if (!EVP_PKEY_get_octet_string_param(k->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
	                                            sizeof(pt), &ptlen)) {
		return KW_ERR_CRYPTO;
	}
	return der_octet_string(pt, ptlen, &k->ec_point, &k->ec_point_len);
}

/* The latest version's public key from a key-read "data" object. */
static const char *latest_public_key(const json_t *info)
{
	json_t *keys = json_object_get(info, "keys");
	json_int_t latest = json_integer_value(json_object_get(info, "latest_version"));
	char num[24];

	snprintf(num, sizeof(num), "%lld", (long long)latest);
	return json_string_value(json_object_get(json_object_get(keys, num), "public_key"));
}

/* The server's pkcs11_id (lower-case hex, "" or absent for none). */
static int key_id_parse(struct p11_key *k, const char *hex)
{
	size_t n = hex ? strlen(hex) : 0;
	uint8_t *id;

	if (n == 0)
		return 0;
	if (n % 2 != 0 || n / 2 > P11_ID_MAX)
		return KW_ERR_INVALID;
	if ((id = malloc(n / 2)) == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			free(id);
			return KW_ERR_INVALID;
		}
		id[i] = (uint8_t)v;
	}
	k->id = id;
	k->id_len = n / 2;
	return 0;
}

int p11_key_from_info(CK_SLOT_ID slot, const char *name, const json_t *info, struct p11_key **out)
{
	const char *type = json_string_value(json_object_get(info, "type"));
	const struct p11_ktype *t = type ? p11_ktype_find(type) : NULL;
	struct p11_key *k;
	const char *pem;
	int r = 0;

	if (t == NULL)
		return KW_ERR_UNSUPPORTED;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return KW_ERR_NOMEM;
	k->refs = 1;
	k->slot = slot;
	k->type = t;
	if ((k->name = strdup(name)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	k->exportable = json_is_true(json_object_get(info, "exportable"));
	if ((r = key_id_parse(k, json_string_value(json_object_get(info, "pkcs11_id")))) != 0)
		goto out;
	if (t->asym) {
		if ((pem = latest_public_key(info)) == NULL) {
			r = KW_ERR_INVALID;
			goto out;
		}
		if ((r = pub_from_text(t, pem, &k->pub)) != 0 || (r = key_public_parts(k)) != 0)
			goto out;
	}
	*out = k;
	k = NULL;
out:
	if (k != NULL)
		p11_key_put(k);
	return r;
}

/* ---- attributes -------------------------------------------------------- */

enum p11_attr_status p11_val_bool(struct p11_attr_val *v, bool b)
{
	v->b = b ? CK_TRUE : CK_FALSE;
	v->p = &v->b;
	v->len = sizeof(v->b);
	return P11_ATTR_OK;
}

enum p11_attr_status p11_val_ulong(struct p11_attr_val *v, CK_ULONG ul)
{
	v->ul = ul;
	v->p = &v->ul;
	v->len = sizeof(v->ul);
	return P11_ATTR_OK;
}

enum p11_attr_status p11_val_bytes(struct p11_attr_val *v, const void *p, size_t len)
{
	v->p = p;
	v->len = len;
	return P11_ATTR_OK;
}

static CK_MECHANISM_TYPE gen_mech(const struct p11_ktype *t)
{
	switch (t->ckk) {
	case CKK_EC:
		return CKM_EC_KEY_PAIR_GEN;
	case CKK_EC_EDWARDS:
		return CKM_EC_EDWARDS_KEY_PAIR_GEN;
	case CKK_RSA:
		return CKM_RSA_PKCS_KEY_PAIR_GEN;
	case CKK_AES:
		return CKM_AES_KEY_GEN;
	default:
		return CKM_GENERIC_SECRET_KEY_GEN;
	}
}

/* Attributes every key object has (v2.40 4.4, 4.7, 4.8). */
static bool attr_common(const struct p11_object *o, CK_ATTRIBUTE_TYPE a, struct p11_attr_val *v,
                        enum p11_attr_status *st)
{
	const struct p11_key *k = o->key;

	switch (a) {
	case CKA_CLASS:
		*st = p11_val_ulong(v, o->cls);
		return true;
	case CKA_TOKEN:
	case CKA_LOCAL:
		*st = p11_val_bool(v, true);
		return true;
	case CKA_PRIVATE:
		*st = p11_val_bool(v, o->cls != CKO_PUBLIC_KEY);
		return true;
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
		*st = p11_val_bool(v, false);
		return true;
	case CKA_DESTROYABLE:
		*st = p11_val_bool(v, o->cls != CKO_PUBLIC_KEY);
		return true;
	case CKA_LABEL:
		*st = p11_val_bytes(v, k->name, strlen(k->name));
		return true;
	case CKA_ID:
		if (k->id != NULL)
			*st = p11_val_bytes(v, k->id, k->id_len);
		else
			*st = p11_val_bytes(v, k->name, strlen(k->name));
		return true;
	case CKA_KEY_TYPE:
		*st = p11_val_ulong(v, k->type->ckk);
		return true;
	case CKA_KEY_GEN_MECHANISM:
		*st = p11_val_ulong(v, gen_mech(k->type));
		return true;
	case CKA_START_DATE:
	case CKA_END_DATE:
		*st = p11_val_bytes(v, "", 0);
		return true;
	default:
		return false;
	}
}

/* What the key material looks like from outside: public parts readable. */
static bool attr_public_parts(const struct p11_key *k, CK_ATTRIBUTE_TYPE a, struct p11_attr_val *v,
                              enum p11_attr_status *st)
{
	CK_KEY_TYPE ckk = k->type->ckk;

	if (ckk == CKK_RSA && a == CKA_MODULUS)
		*st = p11_val_bytes(v, k->modulus, k->modulus_len);
	else if (ckk == CKK_RSA && a == CKA_PUBLIC_EXPONENT)
		*st = p11_val_bytes(v, k->exponent, k->exponent_len);
	else if (ckk == CKK_RSA && a == CKA_MODULUS_BITS)
		*st = p11_val_ulong(v, k->type->bits);
	else if ((ckk == CKK_EC || ckk == CKK_EC_EDWARDS) && a == CKA_EC_PARAMS)
		*st = p11_val_bytes(v, k->type->params, k->type->params_len);
	else if (a == CKA_PUBLIC_KEY_INFO)
		*st = p11_val_bytes(v, k->spki, k->spki_len);
	else
		return false;
	return true;
}

static enum p11_attr_status attr_private(const struct p11_key *k, CK_ATTRIBUTE_TYPE a,
                                         struct p11_attr_val *v)
{
	enum p11_attr_status st;

	if (a != CKA_MODULUS_BITS && attr_public_parts(k, a, v, &st))
		return st;
	switch (a) {
	case CKA_SUBJECT:
		return p11_val_bytes(v, "", 0);
	case CKA_SENSITIVE:
	case CKA_ALWAYS_SENSITIVE:
		return p11_val_bool(v, true);
	case CKA_NEVER_EXTRACTABLE:
		return p11_val_bool(v, !k->exportable);
	case CKA_EXTRACTABLE:
		return p11_val_bool(v, k->exportable);
	case CKA_SIGN:
		return p11_val_bool(v, k->type->can_sign);
	case CKA_DECRYPT:
		return p11_val_bool(v, k->type->ckk == CKK_RSA); /* keyward/decrypt */
	case CKA_DERIVE:
		return p11_val_bool(v, k->type->ckk == CKK_EC); /* keyward/derive */
	case CKA_UNWRAP:
	case CKA_SIGN_RECOVER:
	case CKA_WRAP_WITH_TRUSTED:
	case CKA_ALWAYS_AUTHENTICATE:
		return p11_val_bool(v, false);
	case CKA_VALUE:
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
		/* Key material never leaves keyward (v2.40 4.9). */
		return P11_ATTR_SENSITIVE;
	default:
		return P11_ATTR_INVALID;
	}
}

static enum p11_attr_status attr_public(const struct p11_key *k, CK_ATTRIBUTE_TYPE a,
                                        struct p11_attr_val *v)
{
	enum p11_attr_status st;

	if (attr_public_parts(k, a, v, &st))
		return st;
	if ((k->type->ckk == CKK_EC || k->type->ckk == CKK_EC_EDWARDS) && a == CKA_EC_POINT)
		return p11_val_bytes(v, k->ec_point, k->ec_point_len);
	switch (a) {
	case CKA_SUBJECT:
		return p11_val_bytes(v, "", 0);
	case CKA_VERIFY:
		return p11_val_bool(v, true);
	case CKA_ENCRYPT:
		/* OAEP runs here with the public key. */
		return p11_val_bool(v, k->type->ckk == CKK_RSA);
	case CKA_VERIFY_RECOVER:
	case CKA_WRAP:
	case CKA_TRUSTED:
	case CKA_DERIVE:
		return p11_val_bool(v, false);
	default:
		return P11_ATTR_INVALID;
	}
}

static enum p11_attr_status attr_secret(const struct p11_key *k, CK_ATTRIBUTE_TYPE a,
                                        struct p11_attr_val *v)
{
	bool hmac = k->type->ckk == CKK_GENERIC_SECRET;

	switch (a) {
	case CKA_SENSITIVE:
	case CKA_ALWAYS_SENSITIVE:
		return p11_val_bool(v, true);
	case CKA_NEVER_EXTRACTABLE:
		return p11_val_bool(v, !k->exportable);
	case CKA_EXTRACTABLE:
		return p11_val_bool(v, k->exportable);
	case CKA_SIGN:
	case CKA_VERIFY:
		return p11_val_bool(v, hmac);
	case CKA_ENCRYPT:
	case CKA_DECRYPT:
	case CKA_WRAP:
	case CKA_UNWRAP:
		/* keyward/cipher, wrap and unwrap take the AES keys. */
		return p11_val_bool(v, !hmac);
	case CKA_DERIVE:
	case CKA_TRUSTED:
	case CKA_WRAP_WITH_TRUSTED:
	case CKA_ALWAYS_AUTHENTICATE:
		return p11_val_bool(v, false);
	case CKA_VALUE_LEN:
		return p11_val_ulong(v, k->type->bits / 8);
	case CKA_VALUE:
		return P11_ATTR_SENSITIVE;
	default:
		return P11_ATTR_INVALID;
	}
}

static enum p11_attr_status attr_value(const struct p11_object *o, CK_ATTRIBUTE_TYPE a,
                                       struct p11_attr_val *v)
{
	enum p11_attr_status st;

	if (o->sobj != NULL)
		return p11_sobj_attr(o, a, v);
	if (attr_common(o, a, v, &st))
		return st;
	if (o->cls == CKO_PRIVATE_KEY)
		return attr_private(o->key, a, v);
	if (o->cls == CKO_PUBLIC_KEY)
		return attr_public(o->key, a, v);
	return attr_secret(o->key, a, v);
}

CK_RV p11_object_get_attrs(const struct p11_object *o, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_RV rv = CKR_OK;

	/* Every attribute is processed; the last failure is reported
	 * (v2.40 5.7: the codes are of equal rank). */
	for (CK_ULONG i = 0; i < n; i++) {
		struct p11_attr_val v = {0};
		enum p11_attr_status st = attr_value(o, t[i].type, &v);

		if (st == P11_ATTR_SENSITIVE) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_SENSITIVE;
		} else if (st == P11_ATTR_INVALID) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (t[i].pValue == NULL) {
			t[i].ulValueLen = v.len;
		} else if (t[i].ulValueLen < v.len) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (v.len > 0)
				memcpy(t[i].pValue, v.p, v.len);
			t[i].ulValueLen = v.len;
		}
	}
	return rv;
}

bool p11_object_match(const struct p11_object *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++) {
		struct p11_attr_val v = {0};

		if (attr_value(o, t[i].type, &v) != P11_ATTR_OK || v.len != t[i].ulValueLen)
			return false;
		if (v.len > 0 && (t[i].pValue == NULL || memcmp(v.p, t[i].pValue, v.len) != 0))
			return false;
	}
	return true;
}

const CK_ATTRIBUTE *p11_attr_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	for (CK_ULONG i = 0; i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

CK_RV p11_attr_bool(const CK_ATTRIBUTE *a, CK_BBOOL *out)
{
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_BBOOL))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*out = *(const CK_BBOOL *)a->pValue ? CK_TRUE : CK_FALSE;
	return CKR_OK;
}

CK_RV p11_attr_ulong(const CK_ATTRIBUTE *a, CK_ULONG *out)
{
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(out, a->pValue, sizeof(*out));
	return CKR_OK;
}

/* ---- the handle table (module lock held) ------------------------------- */

CK_RV p11_object_add(struct p11_object *o, CK_OBJECT_HANDLE *out)
{
	struct p11_state *st = p11;

	if (st->nobjects == st->objects_cap) {
		size_t cap = st->objects_cap ? st->objects_cap * 2 : 64;
		struct p11_object **n;

		if (cap > P11_OBJECTS_MAX)
			return CKR_DEVICE_MEMORY;
		if ((n = realloc(st->objects, cap * sizeof(*n))) == NULL)
			return CKR_HOST_MEMORY;
		st->objects = n;
		st->objects_cap = cap;
	}
	st->objects[st->nobjects++] = o;
	*out = st->nobjects; /* index + 1: 0 is CK_INVALID_HANDLE */
	return CKR_OK;
}

CK_SLOT_ID p11_object_slot(const struct p11_object *o)
{
	return o->key != NULL ? o->key->slot : p11_sobj_slot(o->sobj);
}

struct p11_object *p11_object_find(CK_OBJECT_HANDLE h, CK_SLOT_ID slot, bool logged_in)
{
	struct p11_object *o;

	if (h == CK_INVALID_HANDLE || h > p11->nobjects)
		return NULL;
	o = p11->objects[h - 1];
	if (o == NULL || p11_object_slot(o) != slot)
		return NULL;
	/* Private objects do not exist for a session that is not logged in
	 * (v2.40 4.4, CKA_PRIVATE); stored objects are public. */
	if (o->cls != CKO_PUBLIC_KEY && o->sobj == NULL && !logged_in)
		return NULL;
	return o;
}

void p11_object_free(struct p11_object *o)
{
	if (o == NULL)
		return;
	p11_key_put(o->key);
	p11_sobj_free(o->sobj);
	free(o);
}

void p11_objects_free(struct p11_state *st)
{
	for (size_t i = 0; i < st->nobjects; i++)
		p11_object_free(st->objects[i]);
	free(st->objects);
	st->objects = NULL;
	st->nobjects = st->objects_cap = 0;
}

static bool slot_has_key(CK_SLOT_ID slot, const char *name)
{
	for (size_t i = 0; i < p11->nobjects; i++) {
		struct p11_object *o = p11->objects[i];

		if (o != NULL && o->key != NULL && o->key->slot == slot &&
		    strcmp(o->key->name, name) == 0)
			return true;
	}
	return false;
}

static void slot_drop_key(CK_SLOT_ID slot, const char *name)
{
	for (size_t i = 0; i < p11->nobjects; i++) {
		struct p11_object *o = p11->objects[i];

		if (o != NULL && o->key != NULL && o->key->slot == slot &&
		    strcmp(o->key->name, name) == 0) {
			p11_object_free(o);
			p11->objects[i] = NULL;
		}
	}
}

static CK_RV object_new(CK_OBJECT_CLASS cls, struct p11_key *k, CK_OBJECT_HANDLE *out)
{
	struct p11_object *o = calloc(1, sizeof(*o));
	CK_RV rv;

	if (o == NULL)
		return CKR_HOST_MEMORY;
	o->cls = cls;
	o->key = p11_key_get(k);
	if ((rv = p11_object_add(o, out)) != CKR_OK)
		p11_object_free(o);
	return rv;
}

/* Under the module lock. */
static CK_RV objects_add_locked(struct p11_key *k, CK_OBJECT_HANDLE *priv, CK_OBJECT_HANDLE *pub)
{
	CK_OBJECT_HANDLE a = CK_INVALID_HANDLE, b = CK_INVALID_HANDLE;
	CK_RV rv;

	slot_drop_key(k->slot, k->name);
	rv = object_new(k->type->asym ? CKO_PRIVATE_KEY : CKO_SECRET_KEY, k, &a);
	if (rv == CKR_OK && k->type->asym)
		rv = object_new(CKO_PUBLIC_KEY, k, &b);
	if (rv != CKR_OK) {
		slot_drop_key(k->slot, k->name);
		return rv;
	}
	if (priv != NULL)
		*priv = a;
	if (pub != NULL)
		*pub = b;
	return CKR_OK;
}

CK_RV p11_key_adopt(CK_SLOT_ID slot, const char *name, const json_t *info, CK_OBJECT_HANDLE *out)
{
	struct p11_key *k = NULL;
	CK_RV rv;
	int r;

	if ((r = p11_key_from_info(slot, name, info, &k)) != 0) {
		p11_debug("key '%.64s': unusable reply (%s)", name, kw_err_str(r));
		return CKR_DEVICE_ERROR;
	}
	rv = p11_objects_add_key(k, out, NULL);
	p11_key_put(k);
	return rv;
}

CK_RV p11_objects_add_key(struct p11_key *k, CK_OBJECT_HANDLE *priv, CK_OBJECT_HANDLE *pub)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	rv = objects_add_locked(k, priv, pub);
	p11_leave();
	return rv;
}

static bool names_has(const json_t *names, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(names, i, v) if (json_is_string(v) &&
	                                    strcmp(json_string_value(v), name) == 0) return true;
	return false;
}

/* Objects of keys that are gone from the server disappear. */
static void objects_prune(CK_SLOT_ID slot, const json_t *names)
{
	for (size_t i = 0; i < p11->nobjects; i++) {
		struct p11_object *o = p11->objects[i];

		if (o != NULL && o->key != NULL && o->key->slot == slot &&
		    !names_has(names, o->key->name))
			slot_drop_key(slot, o->key->name);
	}
}

static CK_RV refresh_one(struct kw_client *c, CK_SLOT_ID slot, const char *name)
{
	struct p11_key *k = NULL;
	json_t *info = NULL;
	bool known;
	CK_RV rv = CKR_OK;
	int r;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	known = slot_has_key(slot, name);
	p11_leave();
	if (known)
		return CKR_OK;
	r = kw_client_key_read(c, name, &info);
	if (r == KW_ERR_NOT_FOUND || r == KW_ERR_DENIED)
		goto out; /* deleted meanwhile, or listable but not readable */
	if (r != 0) {
		rv = p11_rv(r);
		goto out;
	}
	r = p11_key_from_info(slot, name, info, &k);
	if (r == KW_ERR_UNSUPPORTED)
		goto out; /* a type PKCS#11 cannot show (chacha20-poly1305) */
	if (r != 0) {
		p11_debug("key '%.64s': unusable reply (%s)", name, kw_err_str(r));
		goto out;
	}
	if ((rv = p11_enter()) != CKR_OK)
		goto out;
	if (!slot_has_key(slot, name)) /* another thread may have added it */
		rv = objects_add_locked(k, NULL, NULL);
	p11_leave();
out:
	p11_key_put(k);
	kw_client_json_free(info);
	return rv;
}

CK_RV p11_objects_refresh(CK_SLOT_ID slot)
{
	struct p11_client pc = {0};
	json_t *names = NULL;
	size_t i;
	json_t *v;
	CK_RV rv;
	int r;

	for (int attempt = 0;; attempt++) {
		if ((rv = p11_client_take(slot, &pc)) != CKR_OK)
			return rv;
		r = kw_client_key_list(pc.c, &names);
		if (r == 0 || attempt > 0 || !p11_client_renew(slot, &pc, r))
			break;
		p11_client_put(slot, &pc, false);
	}
	if (r != 0) {
		p11_debug("key list failed (%s)", kw_client_error_code(pc.c));
		rv = p11_rv(r);
		goto out;
	}
	json_array_foreach(names, i, v)
	{
		if (!json_is_string(v))
			continue;
		if ((rv = refresh_one(pc.c, slot, json_string_value(v))) != CKR_OK)
			goto out;
	}
	if ((rv = p11_enter()) != CKR_OK)
		goto out;
	objects_prune(slot, names);
	p11_leave();
out:
	kw_client_json_free(names);
	p11_client_put(slot, &pc, rv != CKR_OK);
	return rv;
}

CK_RV p11_key_for_handle(struct p11_session *s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS *cls,
                         struct p11_key **out)
{
	struct p11_object *o;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	o = p11_object_find(h, s->slot, p11_logged_in(s->slot));
	if (o == NULL || o->key == NULL) {
		rv = CKR_KEY_HANDLE_INVALID;
	} else {
		*cls = o->cls;
		*out = p11_key_get(o->key);
	}
	p11_leave();
	return rv;
}

/* ---- entry points ------------------------------------------------------ */

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct p11_session *s;
	struct p11_object *o;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	p11_enter();
	o = p11_object_find(hObject, s->slot, p11_logged_in(s->slot));
	rv = o ? p11_object_get_attrs(o, pTemplate, ulCount) : CKR_OBJECT_HANDLE_INVALID;
	p11_leave();
out:
	p11_session_put(s);
	return rv;
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	p11_enter();
	if (p11_object_find(hObject, s->slot, p11_logged_in(s->slot)) == NULL)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (pTemplate == NULL && ulCount > 0)
		rv = CKR_ARGUMENTS_BAD;
	else /* CKA_MODIFIABLE is FALSE for every object (v2.40 4.4.1). */
		rv = CKR_ACTION_PROHIBITED;
	p11_leave();
	p11_session_put(s);
	return rv;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	p11_enter();
	if (p11_object_find(hObject, s->slot, p11_logged_in(s->slot)) == NULL)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (pulSize == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else
		*pulSize = CK_UNAVAILABLE_INFORMATION;
	p11_leave();
	p11_session_put(s);
	return rv;
}

static bool is_stored(struct p11_session *s, CK_OBJECT_HANDLE h)
{
	struct p11_object *o;
	bool stored;

	p11_enter();
	o = p11_object_find(h, s->slot, p11_logged_in(s->slot));
	stored = o != NULL && o->sobj != NULL;
	p11_leave();
	return stored;
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	struct p11_session *s;
	struct p11_client pc = {0};
	struct p11_key *k = NULL;
	CK_OBJECT_CLASS cls;
	int r;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (is_stored(s, hObject)) {
		rv = p11_sobj_destroy(s, hObject);
		goto out;
	}
	if ((rv = p11_key_for_handle(s, hObject, &cls, &k)) != CKR_OK) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	/* Token objects change only in R/W sessions (v2.40 5.7). */
	if (!p11_session_rw(s)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	/* A public key is the key pair's other half: it goes with its key. */
	if (cls == CKO_PUBLIC_KEY) {
		rv = CKR_ACTION_PROHIBITED;
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		if ((rv = p11_client_take(s->slot, &pc)) != CKR_OK)
			goto out;
		r = kw_client_key_delete(pc.c, k->name);
		if (r == 0 || attempt > 0 || !p11_client_renew(s->slot, &pc, r))
			break;
		p11_client_put(s->slot, &pc, false);
	}
	if (r == KW_ERR_DELETE_DENIED)
		rv = CKR_ACTION_PROHIBITED;
	else if (r != 0)
		rv = p11_rv(r);
	p11_client_put(s->slot, &pc, r != 0 && rv == CKR_DEVICE_ERROR);
	if (rv == CKR_OK && p11_enter() == CKR_OK) {
		slot_drop_key(s->slot, k->name);
		p11_leave();
	}
out:
	p11_key_put(k);
	p11_session_put(s);
	return rv;
}

static CK_RV find_collect(struct p11_session *s, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	struct p11_op *op = &s->op;
	bool in = p11_logged_in(s->slot);

	op->found = calloc(p11->nobjects + 1, sizeof(*op->found));
	if (op->found == NULL)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < p11->nobjects; i++) {
		struct p11_object *o = p11_object_find(i + 1, s->slot, in);

		if (o != NULL && p11_object_match(o, t, n))
			op->found[op->nfound++] = i + 1;
	}
	return CKR_OK;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct p11_session *s;
	bool in;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (s->op.kind != P11_OP_NONE) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	p11_enter();
	in = p11_logged_in(s->slot);
	p11_leave();
	/* The key list needs a token; before login the cached objects serve. */
	if (in && ((rv = p11_objects_refresh(s->slot)) != CKR_OK ||
	           (rv = p11_sobjs_refresh(s->slot)) != CKR_OK))
		goto out;
	p11_enter();
	rv = find_collect(s, pTemplate, ulCount);
	p11_leave();
	if (rv == CKR_OK)
		s->op.kind = P11_OP_FIND;
	else
		p11_op_end(&s->op);
out:
	p11_session_put(s);
	return rv;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	op = &s->op;
	if (op->kind != P11_OP_FIND) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if (pulObjectCount == NULL || (phObject == NULL && ulMaxObjectCount > 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	*pulObjectCount = 0;
	while (*pulObjectCount < ulMaxObjectCount && op->pos < op->nfound)
		phObject[(*pulObjectCount)++] = op->found[op->pos++];
out:
	p11_session_put(s);
	return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (s->op.kind != P11_OP_FIND)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else
		p11_op_end(&s->op);
	p11_session_put(s);
	return rv;
}
