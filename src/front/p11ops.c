/*
 * p11ops.c: the REST side of the operations PKCS#11 needs that Vault's
 * transit lacks, under /v1/keyward/ (sign-raw, decrypt, derive, cipher,
 * wrap, unwrap), and the PKCS#11 object store (keyward/objects).
 *
 * As in transit.c, the front does the text work — base64 and hex in and
 * out, field checks with sentences naming the field — and the keeper does
 * every check that matters (policy, key type, input shape). The shapes are
 * written down in docs/api.md, "keyward operations for PKCS#11".
 *
 * Plaintexts pass through here: decoded bytes are kw_bytes (purged), and
 * jansson's allocator wipes what it frees (reply.c).
 */
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

#define P11_ATTRS_MAX        64   /* entries in an object's "attributes" */
#define P11_ATTR_KEY_MAX     64   /* bytes of one attribute name */
#define P11_ATTR_VALUE_MAX   1024 /* bytes of one attribute value */
#define P11_LABEL_MAX        1024
#define P11_OBJECT_VALUE_MAX (64 * 1024)

int kw_jfield_hex(const json_t *o, const char *key, size_t max, struct kw_bytes *out,
                  struct kw_fail *f)
{
	const char *s = NULL;
	uint8_t *d = NULL;
	size_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = kw_jfield_str(o, key, false, &s, f)) != 0 || s == NULL)
		return err;
	if (strlen(s) > 2 * max)
		return kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" is at most %zu bytes", key,
		                   max);
	if (kw_hex_decode(s, strlen(s), &d, &n) != 0)
		return kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" must be hex", key);
	out->set = true;
	out->p = d;
	out->len = n;
	return 0;
}

/* ---- building requests ---- */

static int op_msg(struct kw_req *r, struct kw_ipc_msg *m, uint16_t type)
{
	int err = kw_req_msg(r, m, type);

	return err ? err : kw_ipc_put_str(m, KW_T_NAME, r->args.v[0]);
}

static int put_bytes(struct kw_ipc_msg *m, uint16_t tag, const struct kw_bytes *b)
{
	return b->set ? kw_ipc_put(m, tag, b->p, b->len) : 0;
}

static int put_str(struct kw_ipc_msg *m, uint16_t tag, const char *s)
{
	return s != NULL ? kw_ipc_put_str(m, tag, s) : 0;
}

/* "key_version", or "version" as an alias; 0 or absent = latest. */
static int put_version(struct kw_req *r, struct kw_ipc_msg *m)
{
	struct kw_opt_u64 v;
	int err;

	if ((err = kw_jfield_u64(r->body, "key_version", UINT32_MAX, &v, &r->fail)) != 0)
		return err;
	if (!v.set && (err = kw_jfield_u64(r->body, "version", UINT32_MAX, &v, &r->fail)) != 0)
		return err;
	return v.set && v.v != 0 ? kw_ipc_put_u32(m, KW_T_VERSION, (uint32_t)v.v) : 0;
}

/* {key: base64 of the reply's tag, "key_version": VERSION}. */
static int bytes_answer(struct kw_req *r, const struct kw_ipc_msg *reply, uint16_t tag,
                        const char *key, struct kw_resp *out)
{
	const uint8_t *p;
	uint32_t v;
	size_t n;
	json_t *o;

	if (kw_ipc_get_bytes(reply, tag, &p, &n) != 0 ||
	    kw_ipc_get_u32(reply, KW_T_VERSION, &v) != 0)
		return KW_ERR_INTERNAL;
	o = json_pack("{s:o, s:I}", key, kw_json_bytes(p, n, false), "key_version", (json_int_t)v);
	return kw_resp_data(r, out, o);
}

/* Send, and answer {key: base64 of the reply field, "key_version"}. */
static int call_answer(struct kw_req *r, struct kw_ipc_msg *req, uint16_t tag, const char *key,
                       struct kw_resp *out)
{
	struct kw_ipc_msg reply;
	int err;

	kw_msg_zero(&reply);
	if ((err = kw_req_call(r, req, &reply)) == 0)
		err = bytes_answer(r, &reply, tag, key, out);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* ---- sign-raw, decrypt ---- */

int kw_h_p11_sign_raw(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	struct kw_bytes in = {0};
	int err;

	kw_msg_zero(&req);
	if ((err = kw_jfield_b64(r->body, "input", true, &in, &r->fail)) != 0 ||
	    (err = op_msg(r, &req, KW_MSG_P11_SIGN_RAW)) != 0 ||
	    (err = put_bytes(&req, KW_T_INPUT, &in)) != 0 || (err = put_version(r, &req)) != 0)
		goto out;
	err = call_answer(r, &req, KW_T_SIGNATURE, "signature", out);
out:
	kw_bytes_purge(&in);
	kw_ipc_msg_cleanup(&req);
	return err;
}

int kw_h_p11_decrypt(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	struct kw_bytes ct = {0}, label = {0};
	const char *pad, *hash, *mgf;
	int err;

	kw_msg_zero(&req);
	if ((err = kw_jfield_b64(r->body, "ciphertext", true, &ct, &r->fail)) != 0 ||
	    (err = kw_jfield_b64(r->body, "label", false, &label, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "padding", false, &pad, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "hash", false, &hash, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "mgf_hash", false, &mgf, &r->fail)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_P11_DECRYPT)) != 0 ||
	    (err = put_bytes(&req, KW_T_CIPHERTEXT, &ct)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_PADDING, pad ? pad : "oaep")) != 0 ||
	    (err = put_str(&req, KW_T_HASH, hash)) != 0 ||
	    (err = put_str(&req, KW_T_MGF_HASH, mgf)) != 0 ||
	    (err = put_bytes(&req, KW_T_LABEL, &label)) != 0 || (err = put_version(r, &req)) != 0)
		goto out;
	err = call_answer(r, &req, KW_T_PLAINTEXT, "plaintext", out);
out:
	kw_bytes_purge(&ct);
	kw_bytes_purge(&label);
	kw_ipc_msg_cleanup(&req);
	return err;
}

/* ---- derive, unwrap: a new key ---- */

/* derived_name, derived_type, pkcs11_id into m. */
static int new_key_fields(struct kw_req *r, struct kw_ipc_msg *m)
{
	struct kw_bytes id = {0};
	const char *name, *type;
	int err;

	if ((err = kw_jfield_str(r->body, "derived_name", true, &name, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "derived_type", true, &type, &r->fail)) != 0 ||
	    (err = kw_jfield_hex(r->body, "pkcs11_id", KW_PKCS11_ID_MAX, &id, &r->fail)) != 0)
		return err;
	if (!kw_name_valid(name))
		err = kw_fail_set(&r->fail, KW_ERR_INVALID,
		                  "field \"derived_name\" must be 1 to %d characters of "
		                  "A-Z a-z 0-9 . _ -",
		                  KW_NAME_MAX);
	else if ((err = kw_ipc_put_str(m, KW_T_DERIVED_NAME, name)) == 0 &&
	         (err = kw_ipc_put_str(m, KW_T_KEY_TYPE, type)) == 0)
		err = put_bytes(m, KW_T_PKCS11_ID, &id);
	kw_bytes_purge(&id);
	return err;
}

/* The new key's read JSON, and "source_version": the version of :name used. */
static int new_key_answer(struct kw_req *r, struct kw_ipc_msg *req, struct kw_resp *out)
{
	struct kw_ipc_msg reply;
	json_t *data = NULL;
	int err;

	kw_msg_zero(&reply);
	if ((err = kw_req_call(r, req, &reply)) != 0 ||
	    (err = kw_key_info_json(&reply, "", &data)) != 0)
		goto out;
	if ((err = kw_jset(data, "source_version",
	                   json_integer(kw_ipc_u32_or(&reply, KW_T_VERSION, 0)))) != 0)
		goto out;
	err = kw_resp_data(r, out, data);
	data = NULL;
out:
	json_decref(data);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

static int derive_fields(struct kw_req *r, struct kw_ipc_msg *m)
{
	struct kw_bytes peer = {0}, info = {0};
	struct kw_opt_bool exportable;
	struct kw_opt_u64 size;
	const char *kdf;
	int err;

	if ((err = kw_jfield_b64(r->body, "peer_public_key", true, &peer, &r->fail)) != 0 ||
	    (err = kw_jfield_b64(r->body, "shared_info", false, &info, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "kdf", false, &kdf, &r->fail)) != 0 ||
	    (err = kw_jfield_bool(r->body, "exportable", &exportable, &r->fail)) != 0 ||
	    (err = kw_jfield_u64(r->body, "key_size", UINT32_MAX, &size, &r->fail)) != 0)
		goto out;
	if ((err = put_bytes(m, KW_T_INPUT, &peer)) != 0 ||
	    (err = put_bytes(m, KW_T_SHARED_INFO, &info)) != 0 ||
	    (err = put_str(m, KW_T_KDF, kdf)) != 0 ||
	    (exportable.set && (err = kw_ipc_put_u32(m, KW_T_EXPORTABLE, exportable.v)) != 0) ||
	    (size.set && (err = kw_ipc_put_u32(m, KW_T_KEY_SIZE, (uint32_t)size.v)) != 0))
		goto out;
out:
	kw_bytes_purge(&peer);
	kw_bytes_purge(&info);
	return err;
}

int kw_h_p11_derive(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	int err;

	kw_msg_zero(&req);
	if ((err = op_msg(r, &req, KW_MSG_P11_DERIVE)) == 0 &&
	    (err = new_key_fields(r, &req)) == 0 && (err = derive_fields(r, &req)) == 0 &&
	    (err = put_version(r, &req)) == 0)
		err = new_key_answer(r, &req, out);
	kw_ipc_msg_cleanup(&req);
	return err;
}

int kw_h_p11_unwrap(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	struct kw_bytes wrapped = {0};
	const char *mode;
	int err;

	kw_msg_zero(&req);
	if ((err = kw_jfield_b64(r->body, "wrapped", true, &wrapped, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "mode", false, &mode, &r->fail)) != 0 ||
	    (err = op_msg(r, &req, KW_MSG_P11_UNWRAP)) != 0 ||
	    (err = new_key_fields(r, &req)) != 0 ||
	    (err = put_bytes(&req, KW_T_CIPHERTEXT, &wrapped)) != 0 ||
	    (err = put_str(&req, KW_T_MODE, mode)) != 0 || (err = put_version(r, &req)) != 0)
		goto out;
	err = new_key_answer(r, &req, out);
out:
	kw_bytes_purge(&wrapped);
	kw_ipc_msg_cleanup(&req);
	return err;
}

/* ---- cipher, wrap ---- */

static int cipher_msg(struct kw_req *r, struct kw_ipc_msg *m, struct kw_bytes *in,
                      struct kw_bytes *iv, struct kw_bytes *aad)
{
	const char *op, *mode;
	struct kw_opt_u64 bits;
	int err;

	if ((err = kw_jfield_str(r->body, "operation", true, &op, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "mode", true, &mode, &r->fail)) != 0 ||
	    (err = kw_jfield_b64(r->body, "input", true, in, &r->fail)) != 0 ||
	    (err = kw_jfield_b64(r->body, "iv", false, iv, &r->fail)) != 0 ||
	    (err = kw_jfield_b64(r->body, "aad", false, aad, &r->fail)) != 0 ||
	    (err = kw_jfield_u64(r->body, "tag_bits", UINT32_MAX, &bits, &r->fail)) != 0)
		return err;
	if ((err = op_msg(r, m, KW_MSG_P11_CIPHER)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_OPERATION, op)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_MODE, mode)) != 0 ||
	    (err = put_bytes(m, KW_T_INPUT, in)) != 0 || (err = put_bytes(m, KW_T_IV, iv)) != 0 ||
	    (err = put_bytes(m, KW_T_AAD, aad)) != 0 || (err = put_version(r, m)) != 0)
		return err;
	return bits.set ? kw_ipc_put_u32(m, KW_T_TAG_BITS, (uint32_t)bits.v) : 0;
}

/* {"output", "key_version"} and "iv" when the keeper generated one. */
static int cipher_answer(struct kw_req *r, const struct kw_ipc_msg *reply, struct kw_resp *out)
{
	const uint8_t *p, *iv;
	size_t n, ivlen;
	uint32_t v;
	json_t *o;

	if (kw_ipc_get_bytes(reply, KW_T_OUTPUT, &p, &n) != 0 ||
	    kw_ipc_get_u32(reply, KW_T_VERSION, &v) != 0)
		return KW_ERR_INTERNAL;
	o = json_pack("{s:o, s:I}", "output", kw_json_bytes(p, n, false), "key_version",
	              (json_int_t)v);
	if (o != NULL && kw_ipc_get_bytes(reply, KW_T_IV, &iv, &ivlen) == 0 &&
	    kw_jset(o, "iv", kw_json_bytes(iv, ivlen, false)) != 0) {
		json_decref(o);
		return KW_ERR_NOMEM;
	}
	return kw_resp_data(r, out, o);
}

int kw_h_p11_cipher(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_bytes in = {0}, iv = {0}, aad = {0};
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = cipher_msg(r, &req, &in, &iv, &aad)) == 0 &&
	    (err = kw_req_call(r, &req, &reply)) == 0)
		err = cipher_answer(r, &reply, out);
	kw_bytes_purge(&in);
	kw_bytes_purge(&iv);
	kw_bytes_purge(&aad);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_p11_wrap(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	const char *key, *mode;
	int err;

	kw_msg_zero(&req);
	if ((err = kw_jfield_str(r->body, "key", true, &key, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "mode", false, &mode, &r->fail)) != 0)
		goto out;
	if (!kw_name_valid(key)) {
		err = kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"key\" must be a key name");
		goto out;
	}
	if ((err = op_msg(r, &req, KW_MSG_P11_WRAP)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_TARGET_KEY, key)) != 0 ||
	    (err = put_str(&req, KW_T_MODE, mode)) != 0 || (err = put_version(r, &req)) != 0)
		goto out;
	err = call_answer(r, &req, KW_T_OUTPUT, "wrapped", out);
out:
	kw_ipc_msg_cleanup(&req);
	return err;
}

/* ---- objects ---- */

/* "attributes": an object of at most P11_ATTRS_MAX short strings, sent as
 * compact JSON with sorted keys. */
static int attrs_text(struct kw_req *r, char **out)
{
	const json_t *a = json_object_get(r->body, "attributes"), *v;
	const char *k;

	*out = NULL;
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_object(a) || json_object_size(a) > P11_ATTRS_MAX)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"attributes\" must be an object of at most %d strings",
		                   P11_ATTRS_MAX);
	json_object_foreach((json_t *)a, k, v)
	{
		if (strlen(k) == 0 || strlen(k) > P11_ATTR_KEY_MAX || !json_is_string(v) ||
		    json_string_length(v) > P11_ATTR_VALUE_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return kw_fail_set(
			    &r->fail, KW_ERR_INVALID,
			    "field \"attributes\": names are 1 to %d bytes and values "
			    "strings of at most %d",
			    P11_ATTR_KEY_MAX, P11_ATTR_VALUE_MAX);
	}
	*out = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	return *out ? 0 : KW_ERR_NOMEM;
}

/* json_dumps allocates through jansson's (wiping) allocator: free it there. */
static void attrs_free(char *attrs)
{
	json_malloc_t m;
	json_free_t f;

	if (attrs == NULL)
		return;
	json_get_alloc_funcs(&m, &f);
	f(attrs);
}

static int object_fields(struct kw_req *r, const char **cls, const char **key, const char **label)
{
	int err;

	if ((err = kw_jfield_str(r->body, "class", true, cls, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "key", false, key, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "label", false, label, &r->fail)) != 0)
		return err;
	if (strcmp(*cls, "certificate") != 0 && strcmp(*cls, "data") != 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"class\" must be \"certificate\" or \"data\"");
	if (*key != NULL && **key != '\0' && !kw_name_valid(*key))
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"key\" must be empty or a key name");
	if (*label != NULL && strlen(*label) > P11_LABEL_MAX)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"label\" is at most %d bytes",
		                   P11_LABEL_MAX);
	return 0;
}

static int object_msg(struct kw_req *r, struct kw_ipc_msg *m, struct kw_bytes *id,
                      struct kw_bytes *value, char **attrs)
{
	const char *cls, *key, *label;
	int err;

	if ((err = object_fields(r, &cls, &key, &label)) != 0 ||
	    (err = kw_jfield_hex(r->body, "id", KW_PKCS11_ID_MAX, id, &r->fail)) != 0 ||
	    (err = kw_jfield_b64(r->body, "value", false, value, &r->fail)) != 0 ||
	    (err = attrs_text(r, attrs)) != 0)
		return err;
	if (value->len > P11_OBJECT_VALUE_MAX)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"value\" is at most %d bytes",
		                   P11_OBJECT_VALUE_MAX);
	if ((err = op_msg(r, m, KW_MSG_P11_OBJECT_PUT)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_OBJ_CLASS, cls)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_OBJ_KEY, key ? key : "")) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_OBJ_LABEL, label ? label : "")) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_OBJ_ATTRS, *attrs ? *attrs : "{}")) != 0 ||
	    (err = put_bytes(m, KW_T_OBJ_ID, id)) != 0)
		return err;
	return kw_ipc_put(m, KW_T_INPUT, value->p ? value->p : (const uint8_t *)"", value->len);
}

int kw_h_p11_object_put(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_bytes id = {0}, value = {0};
	char *attrs = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = object_msg(r, &req, &id, &value, &attrs)) == 0 &&
	    (err = kw_req_call(r, &req, &reply)) == 0)
		kw_resp_empty(out);
	attrs_free(attrs);
	kw_bytes_purge(&id);
	kw_bytes_purge(&value);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

static int object_json(const struct kw_ipc_msg *m, json_t **out)
{
	const uint8_t *id, *val;
	size_t idlen, vallen;
	char *hex = NULL;
	json_t *attrs, *o;
	int err;

	if (kw_ipc_get_bytes(m, KW_T_OBJ_ID, &id, &idlen) != 0 ||
	    kw_ipc_get_bytes(m, KW_T_OUTPUT, &val, &vallen) != 0)
		return KW_ERR_INTERNAL;
	attrs = json_loads(kw_ipc_str_or(m, KW_T_OBJ_ATTRS, "{}"), JSON_REJECT_DUPLICATES, NULL);
	if (attrs == NULL || (err = kw_hex_encode(id, idlen, &hex)) != 0) {
		json_decref(attrs);
		return KW_ERR_INTERNAL;
	}
	o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "name", kw_ipc_str_or(m, KW_T_NAME, ""), "class",
	    kw_ipc_str_or(m, KW_T_OBJ_CLASS, ""), "key", kw_ipc_str_or(m, KW_T_OBJ_KEY, ""), "id",
	    hex, "label", kw_ipc_str_or(m, KW_T_OBJ_LABEL, ""), "value",
	    kw_json_bytes(val, vallen, false), "attributes", attrs);
	free(hex);
	if (o == NULL)
		return KW_ERR_NOMEM;
	*out = o;
	return 0;
}

int kw_h_p11_object_get(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	json_t *o = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = op_msg(r, &req, KW_MSG_P11_OBJECT_GET)) == 0 &&
	    (err = kw_req_call(r, &req, &reply)) == 0 && (err = object_json(&reply, &o)) == 0)
		err = kw_resp_data(r, out, o);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_p11_object_delete(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = op_msg(r, &req, KW_MSG_P11_OBJECT_DELETE)) == 0 &&
	    (err = kw_req_call(r, &req, &reply)) == 0)
		kw_resp_empty(out);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_p11_object_list(struct kw_req *r, struct kw_resp *out)
{
	json_t *names = NULL;
	int err;

	if ((err = kw_req_names(r, KW_MSG_P11_OBJECT_LIST, &names)) != 0)
		return err;
	return kw_resp_list(r, out, names);
}
