/*
 * objects_store.c: certificates (CKO_CERTIFICATE, X.509) and data objects
 * (CKO_DATA), kept by keywardd in keyward/objects as public token objects —
 * C_CreateObject, C_CopyObject, their attributes, their part of
 * C_FindObjects* and C_DestroyObject. A certificate carries the CKA_ID of its
 * key, which is how Java and p11tool pair them.
 *
 * Nothing here is secret. Each object is stored under a name the module
 * draws at random ("p11-" and 16 hex digits), so two applications creating
 * objects never overwrite each other's; label, id and value go in the
 * object's fields, the other PKCS#11 attributes in its attribute map (hex
 * for byte strings). Objects are read once and cached by name: an object
 * replaced by another client under the same name shows its first version
 * until C_Finalize.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "pkcs11_int.h"

#define SOBJ_NAME_BYTES 8

struct bytes {
	uint8_t *p;
	size_t n;
};

struct p11_sobj {
	CK_SLOT_ID slot;
	char *name;
	char *key; /* the key it belongs to, "" if none */
	struct bytes id, label, value;
	/* certificates */
	CK_CERTIFICATE_TYPE ctype;
	CK_ULONG category;
	struct bytes subject, issuer, serial;
	/* data objects */
	struct bytes application, object_id;
};

static void bytes_free(struct bytes *b)
{
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

void p11_sobj_free(struct p11_sobj *so)
{
	if (so == NULL)
		return;
	free(so->name);
	free(so->key);
	bytes_free(&so->id);
	bytes_free(&so->label);
	bytes_free(&so->value);
	bytes_free(&so->subject);
	bytes_free(&so->issuer);
	bytes_free(&so->serial);
	bytes_free(&so->application);
	bytes_free(&so->object_id);
	free(so);
}

CK_SLOT_ID p11_sobj_slot(const struct p11_sobj *so)
{
	return so->slot;
}

static int bytes_set(struct bytes *b, const void *p, size_t n)
{
	/* One spare byte: an empty value still has a pointer. */
	if ((b->p = malloc(n + 1)) == NULL)
		return KW_ERR_NOMEM;
	if (n > 0)
		memcpy(b->p, p, n);
	b->n = n;
	return 0;
}

/* ---- attributes -------------------------------------------------------- */

static enum p11_attr_status val(struct p11_attr_val *v, const struct bytes *b)
{
	return p11_val_bytes(v, b->p ? (const void *)b->p : "", b->n);
}

static bool attr_storage(const struct p11_object *o, CK_ATTRIBUTE_TYPE a, struct p11_attr_val *v,
                         enum p11_attr_status *st)
{
	switch (a) {
	case CKA_CLASS:
		*st = p11_val_ulong(v, o->cls);
		return true;
	case CKA_TOKEN:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
		*st = p11_val_bool(v, true);
		return true;
	case CKA_PRIVATE:
	case CKA_MODIFIABLE:
		*st = p11_val_bool(v, false);
		return true;
	case CKA_LABEL:
		*st = val(v, &o->sobj->label);
		return true;
	case CKA_VALUE:
		*st = val(v, &o->sobj->value);
		return true;
	default:
		return false;
	}
}

static enum p11_attr_status attr_cert(const struct p11_sobj *so, CK_ATTRIBUTE_TYPE a,
                                      struct p11_attr_val *v)
{
	switch (a) {
	case CKA_CERTIFICATE_TYPE:
		return p11_val_ulong(v, so->ctype);
	case CKA_CERTIFICATE_CATEGORY:
		return p11_val_ulong(v, so->category);
	case CKA_TRUSTED:
		return p11_val_bool(v, false);
	case CKA_ID:
		return val(v, &so->id);
	case CKA_SUBJECT:
		return val(v, &so->subject);
	case CKA_ISSUER:
		return val(v, &so->issuer);
	case CKA_SERIAL_NUMBER:
		return val(v, &so->serial);
	case CKA_START_DATE:
	case CKA_END_DATE:
	case CKA_URL:
	case CKA_HASH_OF_SUBJECT_PUBLIC_KEY:
	case CKA_HASH_OF_ISSUER_PUBLIC_KEY:
	case CKA_CHECK_VALUE:
		return p11_val_bytes(v, "", 0);
	case CKA_JAVA_MIDP_SECURITY_DOMAIN:
		return p11_val_ulong(v, 0);
	default:
		return P11_ATTR_INVALID;
	}
}

enum p11_attr_status p11_sobj_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE a,
                                   struct p11_attr_val *v)
{
	enum p11_attr_status st;

	if (attr_storage(o, a, v, &st))
		return st;
	if (o->cls == CKO_CERTIFICATE)
		return attr_cert(o->sobj, a, v);
	if (a == CKA_APPLICATION)
		return val(v, &o->sobj->application);
	if (a == CKA_OBJECT_ID)
		return val(v, &o->sobj->object_id);
	return P11_ATTR_INVALID;
}

/* ---- to and from the server's form -------------------------------------- */

static int hex_field(const json_t *attrs, const char *k, struct bytes *b)
{
	const char *hex = json_string_value(json_object_get(attrs, k));
	size_t n = hex ? strlen(hex) : 0;

	if (n % 2 != 0 || bytes_set(b, NULL, 0) != 0)
		return n % 2 != 0 ? KW_ERR_INVALID : KW_ERR_NOMEM;
	free(b->p);
	if ((b->p = malloc(n / 2 + 1)) == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned x;

		if (sscanf(hex + 2 * i, "%2x", &x) != 1)
			return KW_ERR_INVALID;
		b->p[i] = (uint8_t)x;
	}
	b->n = n / 2;
	return 0;
}

static int str_field(const json_t *o, const char *k, struct bytes *b)
{
	const char *s = json_string_value(json_object_get(o, k));

	return bytes_set(b, s ? s : "", s ? strlen(s) : 0);
}

static int value_field(const json_t *data, struct bytes *b)
{
	uint8_t *p = NULL;
	size_t n = 0;
	int r;

	if (!json_is_string(json_object_get(data, "value")))
		return bytes_set(b, NULL, 0);
	if ((r = kw_client_json_bytes(data, "value", &p, &n)) != 0)
		return r;
	r = bytes_set(b, p, n);
	free(p);
	return r;
}

int p11_sobj_from_json(CK_SLOT_ID slot, const char *name, const json_t *data, struct p11_sobj **out)
{
	const char *cls = json_string_value(json_object_get(data, "class"));
	const char *key = json_string_value(json_object_get(data, "key"));
	const json_t *attrs = json_object_get(data, "attributes");
	const char *cat;
	struct p11_sobj *so;
	int r;

	if (cls == NULL || (strcmp(cls, "certificate") != 0 && strcmp(cls, "data") != 0))
		return KW_ERR_UNSUPPORTED;
	if ((so = calloc(1, sizeof(*so))) == NULL)
		return KW_ERR_NOMEM;
	so->slot = slot;
	so->ctype = cls[0] == 'c' ? CKC_X_509 : CK_UNAVAILABLE_INFORMATION;
	cat = json_string_value(json_object_get(attrs, "certificate_category"));
	so->category = cat ? strtoul(cat, NULL, 10) : 0;
	if ((so->name = strdup(name)) == NULL || (so->key = strdup(key ? key : "")) == NULL)
		r = KW_ERR_NOMEM;
	else if ((r = hex_field(data, "id", &so->id)) == 0 &&
	         (r = str_field(data, "label", &so->label)) == 0 &&
	         (r = value_field(data, &so->value)) == 0 &&
	         (r = hex_field(attrs, "subject", &so->subject)) == 0 &&
	         (r = hex_field(attrs, "issuer", &so->issuer)) == 0 &&
	         (r = hex_field(attrs, "serial_number", &so->serial)) == 0 &&
	         (r = str_field(attrs, "application", &so->application)) == 0)
		r = hex_field(attrs, "object_id", &so->object_id);
	if (r != 0) {
		p11_sobj_free(so);
		return r;
	}
	*out = so;
	return 0;
}

static CK_OBJECT_CLASS sobj_class(const struct p11_sobj *so)
{
	return so->ctype == CKC_X_509 ? CKO_CERTIFICATE : CKO_DATA;
}

static int hex_set(json_t *o, const char *k, const struct bytes *b)
{
	char *hex = NULL;
	int r;

	if (b->n == 0)
		return 0;
	if ((r = kw_hex_encode(b->p, b->n, &hex)) != 0)
		return r;
	r = json_object_set_new(o, k, json_string(hex)) == 0 ? 0 : KW_ERR_NOMEM;
	free(hex);
	return r;
}

/* Certificate attributes besides label, id and value. */
static int cert_attrs(const struct p11_sobj *so, json_t *a)
{
	char cat[24];
	int r;

	snprintf(cat, sizeof(cat), "%lu", (unsigned long)so->category);
	if (json_object_set_new(a, "certificate_type", json_string("x509")) != 0 ||
	    json_object_set_new(a, "certificate_category", json_string(cat)) != 0)
		return KW_ERR_NOMEM;
	if ((r = hex_set(a, "subject", &so->subject)) != 0 ||
	    (r = hex_set(a, "issuer", &so->issuer)) != 0)
		return r;
	return hex_set(a, "serial_number", &so->serial);
}

static int data_attrs(const struct p11_sobj *so, json_t *a)
{
	json_t *app;

	if (so->application.n > 0) {
		/* NULL for bytes that are not UTF-8: the store keeps text. */
		app = json_stringn((const char *)so->application.p, so->application.n);
		if (app == NULL || json_object_set_new(a, "application", app) != 0)
			return KW_ERR_INVALID;
	}
	return hex_set(a, "object_id", &so->object_id);
}

/* The attribute map of so; the id as hex into id (2 * P11_ID_MAX + 1). */
static int sobj_attrs(const struct p11_sobj *so, json_t **out, char *id)
{
	json_t *a = json_object();
	int r;

	if (a == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < so->id.n; i++)
		snprintf(id + 2 * i, 3, "%02x", so->id.p[i]);
	id[2 * so->id.n] = '\0';
	r = so->ctype == CKC_X_509 ? cert_attrs(so, a) : data_attrs(so, a);
	if (r != 0) {
		json_decref(a);
		return r;
	}
	*out = a;
	return 0;
}

/* ---- server calls ------------------------------------------------------- */

struct put_call {
	const struct p11_sobj *so;
	const json_t *attrs;
	const char *id;
};

static int put_fn(struct kw_client *c, void *arg)
{
	struct put_call *p = arg;
	const struct p11_sobj *so = p->so;
	char *label = strndup(so->label.p ? (const char *)so->label.p : "", so->label.n);
	struct kw_client_object o = {
	    .cls = so->ctype == CKC_X_509 ? "certificate" : "data",
	    .key = so->key[0] ? so->key : NULL,
	    .id_hex = p->id[0] ? p->id : NULL,
	    .label = label,
	    .value = so->value.p,
	    .value_len = so->value.n,
	    .attributes = p->attrs,
	};
	int r;

	if (label == NULL)
		return KW_ERR_NOMEM;
	r = kw_client_object_put(c, so->name, &o);
	free(label);
	return r;
}

/* Store so on the server and give it a handle (so is taken either way). */
static CK_RV sobj_store(CK_SLOT_ID slot, struct p11_sobj *so, CK_OBJECT_HANDLE *out)
{
	struct p11_object *o = NULL;
	json_t *attrs = NULL;
	char id[2 * P11_ID_MAX + 1];
	struct put_call p = {.so = so, .id = id};
	CK_RV rv = CKR_HOST_MEMORY;
	int r;

	if ((r = sobj_attrs(so, &attrs, id)) != 0) {
		rv = r == KW_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_ATTRIBUTE_VALUE_INVALID;
		goto out;
	}
	p.attrs = attrs;
	r = p11_call(slot, "object store", put_fn, &p, &rv);
	if (r == KW_ERR_INVALID || r == KW_ERR_TOO_LARGE)
		rv = CKR_ATTRIBUTE_VALUE_INVALID; /* a label, value or id the store refuses */
	if (r != 0)
		goto out;
	if ((o = calloc(1, sizeof(*o))) == NULL || (rv = p11_enter()) != CKR_OK)
		goto out;
	o->cls = sobj_class(so);
	o->sobj = so;
	so = NULL;
	rv = p11_object_add(o, out);
	p11_leave();
	if (rv == CKR_OK)
		o = NULL;
out:
	p11_object_free(o);
	p11_sobj_free(so);
	json_decref(attrs);
	return rv;
}

static bool table_has(CK_SLOT_ID slot, const char *name)
{
	for (size_t i = 0; i < p11->nobjects; i++) {
		struct p11_object *o = p11->objects[i];

		if (o != NULL && o->sobj != NULL && o->sobj->slot == slot &&
		    strcmp(o->sobj->name, name) == 0)
			return true;
	}
	return false;
}

struct get_call {
	const char *name;
	json_t *data;
};

static int get_fn(struct kw_client *c, void *arg)
{
	struct get_call *g = arg;

	return kw_client_object_get(c, g->name, &g->data);
}

static CK_RV refresh_one(CK_SLOT_ID slot, const char *name)
{
	struct get_call g = {.name = name};
	struct p11_sobj *so = NULL;
	struct p11_object *o = NULL;
	CK_OBJECT_HANDLE h;
	bool known;
	CK_RV rv;
	int r;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	known = table_has(slot, name);
	p11_leave();
	if (known)
		return CKR_OK;
	r = p11_call(slot, "object read", get_fn, &g, &rv);
	/* Gone meanwhile, not readable, or of a class PKCS#11 cannot show. */
	if (r != 0 || p11_sobj_from_json(slot, name, g.data, &so) != 0) {
		rv = r == KW_ERR_NOT_FOUND || r == KW_ERR_DENIED || r == 0 ? CKR_OK : rv;
		goto out;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	o->cls = sobj_class(so);
	o->sobj = so;
	so = NULL;
	if ((rv = p11_enter()) != CKR_OK)
		goto out;
	if (!table_has(slot, name) && (rv = p11_object_add(o, &h)) == CKR_OK)
		o = NULL;
	p11_leave();
out:
	p11_object_free(o);
	p11_sobj_free(so);
	kw_client_json_free(g.data);
	return rv;
}

static int list_fn(struct kw_client *c, void *arg)
{
	return kw_client_object_list(c, arg);
}

/* Objects deleted on the server leave the table. */
static void prune(CK_SLOT_ID slot, const json_t *names)
{
	for (size_t i = 0; i < p11->nobjects; i++) {
		struct p11_object *o = p11->objects[i];
		bool listed = false;
		size_t j;
		json_t *v;

		if (o == NULL || o->sobj == NULL || o->sobj->slot != slot)
			continue;
		json_array_foreach(names, j, v) listed |=
		    json_is_string(v) && strcmp(json_string_value(v), o->sobj->name) == 0;
		if (!listed) {
			p11_object_free(o);
			p11->objects[i] = NULL;
		}
	}
}

CK_RV p11_sobjs_refresh(CK_SLOT_ID slot)
{
	json_t *names = NULL;
	size_t i;
	json_t *v;
	CK_RV rv;
	int r;

	r = p11_call(slot, "object list", list_fn, &names, &rv);
	/* A token without list on keyward/objects sees keys only. */
	if (r == KW_ERR_DENIED)
		return CKR_OK;
	if (r != 0)
		return rv;
	json_array_foreach(names, i, v)
	{
		if (json_is_string(v) && (rv = refresh_one(slot, json_string_value(v))) != CKR_OK)
			goto out;
	}
	if ((rv = p11_enter()) != CKR_OK)
		goto out;
	prune(slot, names);
	p11_leave();
out:
	kw_client_json_free(names);
	return rv;
}

static int delete_fn(struct kw_client *c, void *arg)
{
	return kw_client_object_delete(c, arg);
}

CK_RV p11_sobj_destroy(struct p11_session *s, CK_OBJECT_HANDLE h)
{
	struct p11_object *o;
	char *name = NULL;
	CK_RV rv;
	int r;

	if (!p11_session_rw(s))
		return CKR_SESSION_READ_ONLY; /* token objects (v2.40 5.7) */
	p11_enter();
	o = p11_object_find(h, s->slot, p11_logged_in(s->slot));
	if (o != NULL && o->sobj != NULL)
		name = strdup(o->sobj->name);
	p11_leave();
	if (name == NULL)
		return o == NULL ? CKR_OBJECT_HANDLE_INVALID : CKR_HOST_MEMORY;
	r = p11_call(s->slot, "object delete", delete_fn, name, &rv);
	if (r == KW_ERR_DENIED)
		rv = CKR_ACTION_PROHIBITED;
	if ((r == 0 || r == KW_ERR_NOT_FOUND) && p11_enter() == CKR_OK) {
		o = p11_object_find(h, s->slot, true);
		if (o != NULL && o->sobj != NULL) {
			p11_object_free(o);
			p11->objects[h - 1] = NULL;
		}
		p11_leave();
		rv = CKR_OK;
	}
	free(name);
	return rv;
}

/* ---- C_CreateObject, C_CopyObject --------------------------------------- */

static CK_RV attr_bytes(const CK_ATTRIBUTE *a, struct bytes *b, size_t max)
{
	if ((a->pValue == NULL && a->ulValueLen > 0) || a->ulValueLen > max)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	bytes_free(b);
	return bytes_set(b, a->pValue, a->ulValueLen) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV attr_want(const CK_ATTRIBUTE *a, int want)
{
	CK_BBOOL v;
	CK_RV rv = p11_attr_bool(a, &v);

	return rv == CKR_OK && want >= 0 && v != (CK_BBOOL)want ? CKR_ATTRIBUTE_VALUE_INVALID : rv;
}

/* Attributes any stored object takes, at creation and when copied. */
static CK_RV common_attr(const CK_ATTRIBUTE *a, struct p11_sobj *so, bool *handled)
{
	*handled = true;
	switch (a->type) {
	case CKA_CLASS:
		return CKR_OK; /* checked by the caller */
	case CKA_TOKEN:
		return attr_want(a, 1); /* no session objects here */
	case CKA_PRIVATE:
		return attr_want(a, 0); /* the store is public */
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
		return attr_want(a, -1);
	case CKA_LABEL:
		return attr_bytes(a, &so->label, 1024);
	case CKA_ID:
		return attr_bytes(a, &so->id, P11_ID_MAX);
	default:
		*handled = false;
		return CKR_OK;
	}
}

static CK_RV create_attr(const CK_ATTRIBUTE *a, struct p11_sobj *so)
{
	bool cert = so->ctype == CKC_X_509, handled;
	CK_ULONG ul;
	CK_RV rv = common_attr(a, so, &handled);

	if (handled)
		return rv;
	if (a->type == CKA_VALUE)
		return attr_bytes(a, &so->value, P11_DATA_MAX);
	if (cert && a->type == CKA_CERTIFICATE_TYPE)
		return p11_attr_ulong(a, &ul) != CKR_OK || ul != CKC_X_509
		           ? CKR_ATTRIBUTE_VALUE_INVALID
		           : CKR_OK;
	if (cert && a->type == CKA_CERTIFICATE_CATEGORY)
		return p11_attr_ulong(a, &so->category);
	if (cert && a->type == CKA_TRUSTED)
		return attr_want(a, 0); /* trust is the SO's to set; keyward has none */
	if (cert && a->type == CKA_SUBJECT)
		return attr_bytes(a, &so->subject, P11_DATA_MAX);
	if (cert && a->type == CKA_ISSUER)
		return attr_bytes(a, &so->issuer, P11_DATA_MAX);
	if (cert && a->type == CKA_SERIAL_NUMBER)
		return attr_bytes(a, &so->serial, P11_DATA_MAX);
	if (!cert && a->type == CKA_APPLICATION)
		return attr_bytes(a, &so->application, 1024);
	if (!cert && a->type == CKA_OBJECT_ID)
		return attr_bytes(a, &so->object_id, 1024);
	return CKR_ATTRIBUTE_TYPE_INVALID;
}

static int der_set(struct bytes *b, const void *obj, int (*i2d)(const void *, unsigned char **))
{
	unsigned char *der = NULL;
	int n = i2d(obj, &der), r;

	if (n <= 0)
		return KW_ERR_CRYPTO;
	r = bytes_set(b, der, (size_t)n);
	OPENSSL_free(der);
	return r;
}

static int i2d_name(const void *n, unsigned char **p)
{
	return i2d_X509_NAME(n, p);
}

/* v2.40 4.6.3: CKA_VALUE is the DER certificate; subject, issuer and serial
 * the caller leaves out are taken from it, since Java and p11tool search
 * by them. */
static CK_RV cert_complete(struct p11_sobj *so)
{
	const unsigned char *p = so->value.p;
	X509 *x = so->value.n ? d2i_X509(NULL, &p, (long)so->value.n) : NULL;
	const ASN1_INTEGER *serial;
	CK_RV rv = CKR_ATTRIBUTE_VALUE_INVALID;

	if (x == NULL || p != so->value.p + so->value.n)
		goto out;
	serial = X509_get0_serialNumber(x);
	rv = CKR_HOST_MEMORY;
	if ((so->subject.n == 0 && der_set(&so->subject, X509_get_subject_name(x), i2d_name)) ||
	    (so->issuer.n == 0 && der_set(&so->issuer, X509_get_issuer_name(x), i2d_name)))
		goto out;
	if (so->serial.n == 0) {
		unsigned char *der = NULL;
		int n = i2d_ASN1_INTEGER(serial, &der);

		if (n <= 0 || bytes_set(&so->serial, der, (size_t)n) != 0) {
			OPENSSL_free(der);
			goto out;
		}
		OPENSSL_free(der);
	}
	rv = CKR_OK;
out:
	X509_free(x);
	return rv;
}

/* The key whose CKA_ID the object carries, so the store says which key a
 * certificate belongs to. Under the module lock. */
static int key_for_id(CK_SLOT_ID slot, struct p11_sobj *so)
{
	for (size_t i = 0; i < p11->nobjects && so->id.n > 0; i++) {
		const struct p11_object *o = p11->objects[i];
		const struct p11_key *k = o ? o->key : NULL;
		const void *id = k ? (k->id ? (const void *)k->id : k->name) : NULL;
		size_t n = k ? (k->id ? k->id_len : strlen(k->name)) : 0;

		if (k != NULL && k->slot == slot && n == so->id.n && memcmp(id, so->id.p, n) == 0) {
			free(so->key);
			return (so->key = strdup(k->name)) ? 0 : KW_ERR_NOMEM;
		}
	}
	return 0;
}

static CK_RV sobj_name(struct p11_sobj *so)
{
	uint8_t rnd[SOBJ_NAME_BYTES];
	char *name = malloc(4 + 2 * sizeof(rnd) + 1);

	if (name == NULL)
		return CKR_HOST_MEMORY;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(name);
		return CKR_FUNCTION_FAILED;
	}
	memcpy(name, "p11-", 4);
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(name + 4 + 2 * i, 3, "%02x", rnd[i]);
	free(so->name);
	so->name = name;
	return CKR_OK;
}

static CK_RV sobj_new(CK_SLOT_ID slot, CK_OBJECT_CLASS cls, struct p11_sobj **out)
{
	struct p11_sobj *so;

	if (cls != CKO_CERTIFICATE && cls != CKO_DATA)
		return CKR_ATTRIBUTE_VALUE_INVALID; /* keys are made in keyward, not imported */
	if ((so = calloc(1, sizeof(*so))) == NULL || (so->key = strdup("")) == NULL) {
		free(so);
		return CKR_HOST_MEMORY;
	}
	so->slot = slot;
	so->ctype = cls == CKO_CERTIFICATE ? CKC_X_509 : CK_UNAVAILABLE_INFORMATION;
	*out = so;
	return CKR_OK;
}

static CK_RV create_scan(CK_SLOT_ID slot, const CK_ATTRIBUTE *t, CK_ULONG n, struct p11_sobj **out)
{
	const CK_ATTRIBUTE *ca = p11_attr_find(t, n, CKA_CLASS);
	struct p11_sobj *so = NULL;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if (ca == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	if ((rv = p11_attr_ulong(ca, &cls)) != CKR_OK || (rv = sobj_new(slot, cls, &so)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n && rv == CKR_OK; i++)
		rv = create_attr(&t[i], so);
	if (rv == CKR_OK && cls == CKO_CERTIFICATE)
		rv = so->value.n == 0 ? CKR_TEMPLATE_INCOMPLETE : cert_complete(so);
	if (rv == CKR_OK)
		rv = sobj_name(so);
	if (rv == CKR_OK && p11_enter() == CKR_OK) {
		rv = key_for_id(slot, so) == 0 ? CKR_OK : CKR_HOST_MEMORY;
		p11_leave();
	}
	if (rv != CKR_OK) {
		p11_sobj_free(so);
		return rv;
	}
	*out = so;
	return CKR_OK;
}

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject)
{
	struct p11_session *s;
	struct p11_sobj *so = NULL;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if ((pTemplate == NULL && ulCount > 0) || phObject == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = create_scan(s->slot, pTemplate, ulCount, &so)) != CKR_OK ||
	    (rv = p11_may_create(s)) != CKR_OK)
		goto out;
	rv = sobj_store(s->slot, so, phObject);
	so = NULL;
out:
	p11_sobj_free(so);
	p11_session_put(s);
	return rv;
}

static int bytes_dup(struct bytes *d, const struct bytes *b)
{
	return bytes_set(d, b->p, b->n);
}

static CK_RV sobj_dup(const struct p11_sobj *so, struct p11_sobj **out)
{
	struct p11_sobj *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return CKR_HOST_MEMORY;
	*d = (struct p11_sobj){.slot = so->slot, .ctype = so->ctype, .category = so->category};
	if ((d->key = strdup(so->key)) == NULL || bytes_dup(&d->id, &so->id) ||
	    bytes_dup(&d->label, &so->label) || bytes_dup(&d->value, &so->value) ||
	    bytes_dup(&d->subject, &so->subject) || bytes_dup(&d->issuer, &so->issuer) ||
	    bytes_dup(&d->serial, &so->serial) || bytes_dup(&d->application, &so->application) ||
	    bytes_dup(&d->object_id, &so->object_id)) {
		p11_sobj_free(d);
		return CKR_HOST_MEMORY;
	}
	*out = d;
	return CKR_OK;
}

/* The copy under the module lock: keys are not copyable (CKA_COPYABLE). */
static CK_RV copy_source(struct p11_session *s, CK_OBJECT_HANDLE h, struct p11_sobj **out)
{
	struct p11_object *o;
	CK_RV rv;

	p11_enter();
	o = p11_object_find(h, s->slot, p11_logged_in(s->slot));
	if (o == NULL)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (o->sobj == NULL)
		rv = CKR_ACTION_PROHIBITED;
	else
		rv = sobj_dup(o->sobj, out);
	p11_leave();
	return rv;
}

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                   CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
	struct p11_session *s;
	struct p11_sobj *so = NULL;
	bool handled;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if ((pTemplate == NULL && ulCount > 0) || phNewObject == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = copy_source(s, hObject, &so)) != CKR_OK)
		goto out;
	/* Only what common_attr takes may change in a copy (v2.40 5.7). */
	for (CK_ULONG i = 0; i < ulCount && rv == CKR_OK; i++) {
		rv = common_attr(&pTemplate[i], so, &handled);
		if (rv == CKR_OK && (!handled || pTemplate[i].type == CKA_CLASS))
			rv = CKR_ATTRIBUTE_READ_ONLY;
	}
	if (rv != CKR_OK || (rv = sobj_name(so)) != CKR_OK || (rv = p11_may_create(s)) != CKR_OK)
		goto out;
	rv = sobj_store(s->slot, so, phNewObject);
	so = NULL;
out:
	p11_sobj_free(so);
	p11_session_put(s);
	return rv;
}
