/*
 * keys.c: transit key lifecycle — list, create, read, config, rotate,
 * delete, export — and the key-type facts a Vault key read reports.
 *
 * The keeper sends a key's facts as KEY_INFO fields and one VERSION_INFO
 * per version; this file shapes them as Vault does (symmetric versions as
 * creation times, asymmetric ones as {name, public_key, creation_time}).
 * Export replies carry key material: they stay in wiped buffers and leave
 * only in the response body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

#define ROTATE_PERIOD_MIN 3600 /* Vault: 0 (off) or at least an hour */
#define VERSION_INFO_HEAD 12   /* u32 version | u64 created */
#define EXPORT_ITEM_HEAD  4    /* u32 version */

static const struct kw_key_type key_types[] = {
    {"aes128-gcm96", NULL, true, false},      {"aes256-gcm96", NULL, true, false},
    {"chacha20-poly1305", NULL, true, false}, {"hmac", NULL, false, false},
    {"ecdsa-p256", "P-256", false, true},     {"ecdsa-p384", "P-384", false, true},
    {"ecdsa-p521", "P-521", false, true},     {"ed25519", "ed25519", false, true},
    {"rsa-2048", "rsa-2048", true, true},     {"rsa-3072", "rsa-3072", true, true},
    {"rsa-4096", "rsa-4096", true, true},
};

static const char *const export_types[] = {"encryption-key", "signing-key", "hmac-key",
                                           "public-key"};

const struct kw_key_type *kw_key_type_find(const char *name)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(key_types); i++)
		if (strcmp(key_types[i].name, name) == 0)
			return &key_types[i];
	return NULL;
}

/* One VERSION_INFO as Vault's "keys" entry. */
static json_t *version_json(const struct kw_key_type *kt, const struct kw_ipc_field *fl, char *num,
                            size_t numlen)
{
	uint64_t created;
	char when[32];

	if (fl->len < VERSION_INFO_HEAD)
		return NULL;
	snprintf(num, numlen, "%u", kw_load_u32(fl->val));
	created = kw_load_u64(fl->val + 4);
	if (kt == NULL || kt->curve_name == NULL)
		return json_integer((json_int_t)created);
	kw_time_format((int64_t)created, when, sizeof(when));
	return json_pack("{s:s, s:s%, s:s}", "name", kt->curve_name, "public_key",
	                 (const char *)fl->val + VERSION_INFO_HEAD,
	                 (size_t)(fl->len - VERSION_INFO_HEAD), "creation_time", when);
}

static int versions_json(const struct kw_ipc_msg *m, const struct kw_key_type *kt, json_t **out)
{
	const struct kw_ipc_field *fl;
	json_t *keys = json_object();
	size_t pos = 0;

	if (keys == NULL)
		return KW_ERR_NOMEM;
	while ((fl = kw_ipc_next(m, KW_T_VERSION_INFO, &pos)) != NULL) {
		char num[16];
		json_t *v = version_json(kt, fl, num, sizeof(num));

		/* A short field or non-UTF-8 key text is the keeper's bug. */
		if (v == NULL || kw_jset(keys, num, v) != 0) {
			json_decref(keys);
			return KW_ERR_INTERNAL;
		}
	}
	*out = keys;
	return 0;
}

/* Vault's key-read "data" from KEY_INFO fields and VERSION_INFO*. */
/* CKA_ID as hex, "" when the key has none. */
static int pkcs11_id_json(const struct kw_ipc_msg *m, json_t *o)
{
	const uint8_t *p;
	size_t n;
	char *hex;
	int err;

	if (kw_ipc_get_bytes(m, KW_T_PKCS11_ID, &p, &n) != 0)
		return kw_jset(o, "pkcs11_id", json_string(""));
	if ((err = kw_hex_encode(p, n, &hex)) != 0)
		return err;
	err = kw_jset(o, "pkcs11_id", json_string(hex));
	free(hex);
	return err;
}

int kw_key_info_json(const struct kw_ipc_msg *m, const char *name, json_t **out)
{
	const char *type = kw_ipc_str_or(m, KW_T_KEY_TYPE, "");
	const struct kw_key_type *kt = kw_key_type_find(type);
	json_t *o, *keys;
	int err;

	if ((err = versions_json(m, kt, &keys)) != 0)
		return err;
	o = json_pack(
	    "{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:I, s:b, s:b, s:b, s:b, s:b, "
	    "s:b, s:o}",
	    "type", type, "name", kw_ipc_str_or(m, KW_T_NAME, name), "latest_version",
	    (json_int_t)kw_ipc_u32_or(m, KW_T_LATEST_VERSION, 0), "min_available_version",
	    (json_int_t)kw_ipc_u32_or(m, KW_T_MIN_AVAILABLE_VERSION, 0), "min_decryption_version",
	    (json_int_t)kw_ipc_u32_or(m, KW_T_MIN_DECRYPTION_VERSION, 0), "min_encryption_version",
	    (json_int_t)kw_ipc_u32_or(m, KW_T_MIN_ENCRYPTION_VERSION, 0), "deletion_allowed",
	    kw_ipc_u32_or(m, KW_T_DELETION_ALLOWED, 0) != 0, "exportable",
	    kw_ipc_u32_or(m, KW_T_EXPORTABLE, 0) != 0, "allow_plaintext_backup",
	    kw_ipc_u32_or(m, KW_T_ALLOW_PLAINTEXT_BACKUP, 0) != 0, "auto_rotate_period",
	    (json_int_t)kw_ipc_u64_or(m, KW_T_AUTO_ROTATE_PERIOD, 0), "derived", 0, "imported_key",
	    0, "supports_encryption", kt && kt->encrypt, "supports_decryption", kt && kt->encrypt,
	    "supports_derivation", 0, "supports_signing", kt && kt->sign, "keys", keys);
	if (o == NULL)
		return KW_ERR_NOMEM;
	if ((err = pkcs11_id_json(m, o)) != 0) {
		json_decref(o);
		return err;
	}
	*out = o;
	return 0;
}

/* Call with a prepared request whose reply is KEY_INFO; answer the key read. */
static int key_info_answer(struct kw_req *r, struct kw_ipc_msg *req, const char *name,
                           struct kw_resp *out)
{
	struct kw_ipc_msg reply;
	json_t *data;
	int err;

	if ((err = kw_req_call(r, req, &reply)) != 0)
		goto out;
	if ((err = kw_key_info_json(&reply, name, &data)) != 0)
		goto out;
	err = kw_resp_data(r, out, data);
out:
	kw_ipc_msg_cleanup(&reply);
	return err;
}

static int named_msg(struct kw_req *r, struct kw_ipc_msg *m, uint16_t type, const char *name)
{
	int err = kw_req_msg(r, m, type);

	return err ? err : kw_ipc_put_str(m, KW_T_NAME, name);
}

int kw_h_key_read(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	int err;

	kw_msg_zero(&req);
	if ((err = named_msg(r, &req, KW_MSG_KEY_READ, r->args.v[0])) == 0)
		err = key_info_answer(r, &req, r->args.v[0], out);
	kw_ipc_msg_cleanup(&req);
	return err;
}

int kw_h_key_list(struct kw_req *r, struct kw_resp *out)
{
	json_t *keys = NULL;
	int err;

	if ((err = kw_req_names(r, KW_MSG_KEY_LIST, &keys)) != 0)
		return err;
	return kw_resp_list(r, out, keys);
}

int kw_h_key_delete(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = named_msg(r, &req, KW_MSG_KEY_DELETE, r->args.v[0])) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	kw_resp_empty(out);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

static int put_opt_bool(struct kw_ipc_msg *m, uint16_t tag, const struct kw_opt_bool *b)
{
	return b->set ? kw_ipc_put_u32(m, tag, b->v) : 0;
}

static int rotate_period(struct kw_req *r, struct kw_opt_u64 *p)
{
	int err = kw_jfield_duration(r->body, "auto_rotate_period", p, &r->fail);

	if (err == 0 && p->set && p->v != 0 && p->v < ROTATE_PERIOD_MIN)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"auto_rotate_period\" must be 0 (off) or at least 1h");
	return err;
}

/* Options Vault has and keyward does not: refused, never ignored. */
static int create_refusals(struct kw_req *r)
{
	static const char *const flags[] = {"derived", "convergent_encryption"};
	struct kw_opt_bool b;
	int err;

	for (size_t i = 0; i < KW_ARRAY_LEN(flags); i++) {
		if ((err = kw_jfield_bool(r->body, flags[i], &b, &r->fail)) != 0)
			return err;
		if (b.set && b.v)
			return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
			                   "\"%s\" keys are not supported", flags[i]);
	}
	return 0;
}

static int create_msg_fields(struct kw_req *r, struct kw_ipc_msg *m, const struct kw_bytes *id)
{
	struct kw_opt_bool exportable, backup;
	struct kw_opt_u64 size, period;
	const char *type;
	int err;

	if ((err = create_refusals(r)) != 0 ||
	    (err = kw_jfield_str(r->body, "type", false, &type, &r->fail)) != 0 ||
	    (err = kw_jfield_bool(r->body, "exportable", &exportable, &r->fail)) != 0 ||
	    (err = kw_jfield_bool(r->body, "allow_plaintext_backup", &backup, &r->fail)) != 0 ||
	    (err = kw_jfield_u64(r->body, "key_size", UINT32_MAX, &size, &r->fail)) != 0 ||
	    (err = rotate_period(r, &period)) != 0)
		return err;
	if (type == NULL)
		type = "aes256-gcm96";
	if (kw_key_type_find(type) == NULL)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"type\" is not a key type keyward supports");
	if ((err = named_msg(r, m, KW_MSG_KEY_CREATE, r->args.v[0])) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_KEY_TYPE, type)) != 0 ||
	    (err = put_opt_bool(m, KW_T_EXPORTABLE, &exportable)) != 0 ||
	    (err = put_opt_bool(m, KW_T_ALLOW_PLAINTEXT_BACKUP, &backup)) != 0)
		return err;
	if (size.set && (err = kw_ipc_put_u32(m, KW_T_KEY_SIZE, (uint32_t)size.v)) != 0)
		return err;
	if (period.set && (err = kw_ipc_put_u64(m, KW_T_AUTO_ROTATE_PERIOD, period.v)) != 0)
		return err;
	if (id->set && (err = kw_ipc_put(m, KW_T_PKCS11_ID, id->p, id->len)) != 0)
		return err;
	return 0;
}

/* pkcs11_id (hex) is decoded here so its bytes are purged on every path. */
static int create_msg(struct kw_req *r, struct kw_ipc_msg *m)
{
	struct kw_bytes id = {0};
	int err;

	if ((err = kw_jfield_hex(r->body, "pkcs11_id", KW_PKCS11_ID_MAX, &id, &r->fail)) != 0)
		return err;
	err = create_msg_fields(r, m, &id);
	kw_bytes_purge(&id);
	return err;
}

/* Vault 1.x answers a create with the key read, so clients get the
 * public key at once; the read is a second keeper call. */
int kw_h_key_create(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = create_msg(r, &req)) != 0 || (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	err = kw_h_key_read(r, out);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

static int config_msg(struct kw_req *r, struct kw_ipc_msg *m)
{
	struct kw_opt_u64 min_dec, min_enc, period;
	struct kw_opt_bool del, exportable, backup;
	int err;

	if ((err = kw_jfield_u64(r->body, "min_decryption_version", UINT32_MAX, &min_dec,
	                         &r->fail)) != 0 ||
	    (err = kw_jfield_u64(r->body, "min_encryption_version", UINT32_MAX, &min_enc,
	                         &r->fail)) != 0 ||
	    (err = kw_jfield_bool(r->body, "deletion_allowed", &del, &r->fail)) != 0 ||
	    (err = kw_jfield_bool(r->body, "exportable", &exportable, &r->fail)) != 0 ||
	    (err = kw_jfield_bool(r->body, "allow_plaintext_backup", &backup, &r->fail)) != 0 ||
	    (err = rotate_period(r, &period)) != 0)
		return err;
	if ((err = named_msg(r, m, KW_MSG_KEY_CONFIG, r->args.v[0])) != 0)
		return err;
	if (min_dec.set &&
	    (err = kw_ipc_put_u32(m, KW_T_MIN_DECRYPTION_VERSION, (uint32_t)min_dec.v)) != 0)
		return err;
	if (min_enc.set &&
	    (err = kw_ipc_put_u32(m, KW_T_MIN_ENCRYPTION_VERSION, (uint32_t)min_enc.v)) != 0)
		return err;
	if ((err = put_opt_bool(m, KW_T_DELETION_ALLOWED, &del)) != 0 ||
	    (err = put_opt_bool(m, KW_T_EXPORTABLE, &exportable)) != 0 ||
	    (err = put_opt_bool(m, KW_T_ALLOW_PLAINTEXT_BACKUP, &backup)) != 0)
		return err;
	if (period.set && (err = kw_ipc_put_u64(m, KW_T_AUTO_ROTATE_PERIOD, period.v)) != 0)
		return err;
	return 0;
}

int kw_h_key_config(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	int err;

	kw_msg_zero(&req);
	if ((err = config_msg(r, &req)) == 0)
		err = key_info_answer(r, &req, r->args.v[0], out);
	kw_ipc_msg_cleanup(&req);
	return err;
}

int kw_h_key_rotate(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req;
	int err;

	kw_msg_zero(&req);
	if ((err = named_msg(r, &req, KW_MSG_KEY_ROTATE, r->args.v[0])) == 0)
		err = key_info_answer(r, &req, r->args.v[0], out);
	kw_ipc_msg_cleanup(&req);
	return err;
}

/* ---- export ---- */

/* "latest" is resolved with a key read, so the export names one version
 * (and the audit log says which). */
static int export_version(struct kw_req *r, const char *name, uint32_t *out)
{
	struct kw_ipc_msg req, reply;
	uint64_t v;
	int err;

	if (r->args.n < 3) {
		*out = 0; /* every version */
		return 0;
	}
	if (strcmp(r->args.v[2], "latest") != 0) {
		if (kw_uint_parse(r->args.v[2], 1, UINT32_MAX, &v) != 0)
			return kw_fail_set(&r->fail, KW_ERR_INVALID,
			                   "the export version must be a positive number or "
			                   "\"latest\"");
		*out = (uint32_t)v;
		return 0;
	}
	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = named_msg(r, &req, KW_MSG_KEY_READ, name)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	*out = kw_ipc_u32_or(&reply, KW_T_LATEST_VERSION, 0);
	err = *out ? 0 : KW_ERR_INTERNAL;
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

static int export_type_check(struct kw_req *r, const char *type)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(export_types); i++)
		if (strcmp(type, export_types[i]) == 0)
			return 0;
	if (strcmp(type, "certificate-chain") == 0)
		return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                   "exporting certificate chains is not supported");
	return kw_fail_set(&r->fail, KW_ERR_INVALID,
	                   "the export type must be encryption-key, signing-key, hmac-key or "
	                   "public-key");
}

static int export_items(const struct kw_ipc_msg *m, json_t **out)
{
	const struct kw_ipc_field *fl;
	json_t *keys = json_object();
	size_t pos = 0;

	if (keys == NULL)
		return KW_ERR_NOMEM;
	while ((fl = kw_ipc_next(m, KW_T_EXPORT_ITEM, &pos)) != NULL) {
		char num[16];

		if (fl->len < EXPORT_ITEM_HEAD)
			goto bad;
		snprintf(num, sizeof(num), "%u", kw_load_u32(fl->val));
		if (kw_jset(keys, num,
		            json_stringn((const char *)fl->val + EXPORT_ITEM_HEAD,
		                         fl->len - EXPORT_ITEM_HEAD)) != 0)
			goto bad;
	}
	*out = keys;
	return 0;
bad:
	json_decref(keys);
	return KW_ERR_INTERNAL;
}

int kw_h_key_export(struct kw_req *r, struct kw_resp *out)
{
	const char *type = r->args.v[0], *name = r->args.v[1];
	struct kw_ipc_msg req, reply;
	json_t *keys;
	uint32_t version = 0;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = export_type_check(r, type)) != 0 ||
	    (err = export_version(r, name, &version)) != 0)
		goto out;
	if ((err = named_msg(r, &req, KW_MSG_KEY_EXPORT, name)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_EXPORT_TYPE, type)) != 0 ||
	    (version && (err = kw_ipc_put_u32(&req, KW_T_VERSION, version)) != 0) ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((err = export_items(&reply, &keys)) != 0)
		goto out;
	err = kw_resp_data(r, out,
	                   json_pack("{s:s, s:s, s:o}", "name", name, "type",
	                             kw_ipc_str_or(&reply, KW_T_KEY_TYPE, ""), "keys", keys));
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}
