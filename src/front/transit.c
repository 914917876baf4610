/*
 * transit.c: the transit operations — encrypt, decrypt, rewrap, datakey,
 * sign, verify, hmac — and the keyless random and hash.
 *
 * The front does the text work so the keeper never parses text: base64 in,
 * "vault:vN:" prefixes split into a version number and raw bytes, and the
 * reverse on the way out. Batches (batch_input) become one keeper call per
 * item, results in input order; an item's error sits in its slot.
 *
 * Plaintexts and data keys pass through here: decoded bytes are kw_bytes
 * (purged), encoded texts are wiped before free, and jansson's allocator
 * wipes the rest (reply.c).
 */
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

typedef int (*item_fn)(struct kw_req *r, const json_t *item, const json_t *top, json_t **res);

/* Options may be given once at the top level for every batch item. */
static const json_t *opt_src(const json_t *item, const json_t *top, const char *key)
{
	const json_t *v = json_object_get(item, key);

	return v != NULL && !json_is_null(v) ? item : top;
}

static int bytes_json(const uint8_t *p, size_t n, bool hex, json_t **out)
{
	*out = kw_json_bytes(p, n, hex);
	return *out ? 0 : KW_ERR_NOMEM;
}

static int op_msg(struct kw_req *r, struct kw_ipc_msg *m, uint16_t type, const char *name)
{
	int err = kw_req_msg(r, m, type);

	return err ? err : kw_ipc_put_str(m, KW_T_NAME, name);
}

static int put_bytes(struct kw_ipc_msg *m, uint16_t tag, const struct kw_bytes *b)
{
	return b->set ? kw_ipc_put(m, tag, b->p, b->len) : 0;
}

static int put_str(struct kw_ipc_msg *m, uint16_t tag, const char *s)
{
	return s != NULL ? kw_ipc_put_str(m, tag, s) : 0;
}

/* key_version 0 means "latest", as in Vault: then nothing is sent. */
static int put_version(struct kw_ipc_msg *m, uint16_t tag, const struct kw_opt_u64 *v)
{
	return v->set && v->v != 0 ? kw_ipc_put_u32(m, tag, (uint32_t)v->v) : 0;
}

static int key_version(const json_t *item, const json_t *top, struct kw_opt_u64 *v,
                       struct kw_fail *f)
{
	return kw_jfield_u64(opt_src(item, top, "key_version"), "key_version", UINT32_MAX, v, f);
}

static int aad_field(const json_t *item, const json_t *top, struct kw_bytes *aad, struct kw_fail *f)
{
	return kw_jfield_b64(opt_src(item, top, "associated_data"), "associated_data", false, aad,
	                     f);
}

/* A "vault:vN:..." field: required, split into version and bytes. */
static int vault_field(const json_t *o, const char *key, bool url, uint32_t *version,
                       struct kw_bytes *raw, struct kw_fail *f)
{
	const char *s;
	int err;

	if ((err = kw_jfield_str(o, key, true, &s, f)) != 0)
		return err;
	err = kw_vault_text_parse(s, url, version, raw);
	if (err == KW_ERR_INVALID)
		return kw_fail_set(f, err, "field \"%s\" must start with vault:v<version>:", key);
	if (err == KW_ERR_BASE64)
		return kw_fail_set(f, err, "field \"%s\" is not valid %s after its prefix", key,
		                   url ? "base64url" : "base64");
	return err;
}

/* {key: "vault:vN:<bytes of tag>", "key_version": N} from a reply. */
static int vault_result(const struct kw_ipc_msg *reply, uint16_t tag, bool url, const char *key,
                        bool with_version, json_t **res)
{
	const uint8_t *p;
	uint32_t v;
	size_t n;
	char *text;
	json_t *o;
	int err;

	if (kw_ipc_get_bytes(reply, tag, &p, &n) != 0 ||
	    kw_ipc_get_u32(reply, KW_T_VERSION, &v) != 0)
		return KW_ERR_INTERNAL;
	if ((err = kw_vault_text_format(v, p, n, url, &text)) != 0)
		return err;
	o = with_version ? json_pack("{s:s, s:I}", key, text, "key_version", (json_int_t)v)
	                 : json_pack("{s:s}", key, text);
	free(text);
	if (o == NULL)
		return KW_ERR_NOMEM;
	*res = o;
	return 0;
}

/* ---- batches ---- */

static int batch_status(struct kw_req *r, size_t nfail, size_t n, unsigned *status)
{
	struct kw_opt_u64 code;
	int err;

	if ((err = kw_jfield_u64(r->body, "partial_failure_response_code", 599, &code, &r->fail)) !=
	    0)
		return err;
	if (code.set && code.v < 100)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"partial_failure_response_code\" must be an HTTP "
		                   "status code");
	/* As Vault: 400 when any item failed, unless the caller chose a code
	 * for partial failure and something did succeed. */
	*status = nfail == 0 ? 200 : (code.set && nfail < n) ? (unsigned)code.v : 400;
	return 0;
}

static int item_error(struct kw_req *r, int err, json_t **res)
{
	*res =
	    json_pack("{s:s, s:s}", "error", kw_fail_text(&r->fail, err), "code", kw_err_code(err));
	return *res ? 0 : KW_ERR_NOMEM;
}

static int batch_item(struct kw_req *r, const json_t *item, item_fn fn, json_t *results,
                      size_t *nfail)
{
	const json_t *ref = json_object_get(item, "reference");
	json_t *res;
	int err;

	kw_fail_clear(&r->fail);
	if (!json_is_object(item))
		err = kw_fail_set(&r->fail, KW_ERR_INVALID, "batch_input items must be objects");
	else
		err = fn(r, item, r->body, &res);
	/* Only an item's own fault (a 400) stays in its slot. Anything else —
	 * no token, denied, sealed, no such key, a dead keeper — would hit every
	 * item alike, so it answers the whole request, as in Vault. */
	if (err != 0 && kw_http_status(err) != 400)
		return err;
	if (err != 0) {
		(*nfail)++;
		if ((err = item_error(r, err, &res)) != 0)
			return err;
	}
	if (json_is_string(ref) && kw_jset(res, "reference", json_copy((json_t *)ref)) != 0) {
		json_decref(res);
		return KW_ERR_NOMEM;
	}
	return json_array_append_new(results, res) == 0 ? 0 : KW_ERR_NOMEM;
}

static int run_batch(struct kw_req *r, const json_t *batch, item_fn fn, struct kw_resp *out)
{
	size_t nfail = 0, n = json_array_size(batch);
	json_t *results;
	unsigned status = 0;
	int err;

	if (!json_is_array(batch))
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"batch_input\" must be an array of objects");
	if (n == 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"batch_input\" is empty");
	if ((results = json_array()) == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((err = batch_item(r, json_array_get(batch, i), fn, results, &nfail)) != 0) {
			json_decref(results);
			return err;
		}
	}
	kw_fail_clear(&r->fail);
	if ((err = batch_status(r, nfail, n, &status)) != 0) {
		json_decref(results);
		return err;
	}
	if ((err = kw_resp_data(r, out, json_pack("{s:o}", "batch_results", results))) != 0)
		return err;
	out->status = status;
	return 0;
}

/* One item from the body itself, or every item of batch_input. */
static int run_ops(struct kw_req *r, item_fn fn, struct kw_resp *out)
{
	const json_t *batch = json_object_get(r->body, "batch_input");
	json_t *res;
	int err;

	if (batch != NULL && !json_is_null(batch))
		return run_batch(r, batch, fn, out);
	if ((err = fn(r, r->body, r->body, &res)) != 0)
		return err;
	return kw_resp_data(r, out, res);
}

/* ---- encrypt, decrypt, rewrap ---- */

static int encrypt_one(struct kw_req *r, const json_t *item, const json_t *top, json_t **res)
{
	struct kw_bytes pt = {0}, aad = {0};
	struct kw_ipc_msg req, reply;
	struct kw_opt_u64 ver;
	const char *pad;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_jfield_b64(item, "plaintext", true, &pt, &r->fail)) != 0 ||
	    (err = aad_field(item, top, &aad, &r->fail)) != 0 ||
	    (err = key_version(item, top, &ver, &r->fail)) != 0 ||
	    (err = kw_jfield_str(opt_src(item, top, "padding_scheme"), "padding_scheme", false,
	                         &pad, &r->fail)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_ENCRYPT, r->args.v[0])) != 0 ||
	    (err = put_bytes(&req, KW_T_PLAINTEXT, &pt)) != 0 ||
	    (err = put_bytes(&req, KW_T_AAD, &aad)) != 0 ||
	    (err = put_version(&req, KW_T_VERSION, &ver)) != 0 ||
	    (err = put_str(&req, KW_T_PADDING, pad)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = vault_result(&reply, KW_T_CIPHERTEXT, false, "ciphertext", true, res);
out:
	kw_bytes_purge(&pt);
	kw_bytes_purge(&aad);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_encrypt(struct kw_req *r, struct kw_resp *out)
{
	struct kw_opt_bool conv;
	int err;

	/* "type" only matters for Vault's upsert, which keyward does not do. */
	if ((err = kw_jfield_bool(r->body, "convergent_encryption", &conv, &r->fail)) != 0)
		return err;
	if (conv.set && conv.v)
		return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                   "convergent encryption is not supported");
	return run_ops(r, encrypt_one, out);
}

static int decrypt_one(struct kw_req *r, const json_t *item, const json_t *top, json_t **res)
{
	struct kw_bytes ct = {0}, aad = {0};
	struct kw_ipc_msg req, reply;
	const uint8_t *p;
	const char *pad;
	uint32_t version;
	json_t *pt;
	size_t n;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = vault_field(item, "ciphertext", false, &version, &ct, &r->fail)) != 0 ||
	    (err = aad_field(item, top, &aad, &r->fail)) != 0 ||
	    (err = kw_jfield_str(opt_src(item, top, "padding_scheme"), "padding_scheme", false,
	                         &pad, &r->fail)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_DECRYPT, r->args.v[0])) != 0 ||
	    (err = put_bytes(&req, KW_T_CIPHERTEXT, &ct)) != 0 ||
	    (err = kw_ipc_put_u32(&req, KW_T_VERSION, version)) != 0 ||
	    (err = put_bytes(&req, KW_T_AAD, &aad)) != 0 ||
	    (err = put_str(&req, KW_T_PADDING, pad)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if (kw_ipc_get_bytes(&reply, KW_T_PLAINTEXT, &p, &n) != 0) {
		err = KW_ERR_INTERNAL;
		goto out;
	}
	if ((err = bytes_json(p, n, false, &pt)) != 0)
		goto out;
	*res = json_pack("{s:o}", "plaintext", pt);
	err = *res ? 0 : KW_ERR_NOMEM;
out:
	kw_bytes_purge(&ct);
	kw_bytes_purge(&aad);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_decrypt(struct kw_req *r, struct kw_resp *out)
{
	return run_ops(r, decrypt_one, out);
}

static int rewrap_one(struct kw_req *r, const json_t *item, const json_t *top, json_t **res)
{
	struct kw_bytes ct = {0}, aad = {0};
	struct kw_ipc_msg req, reply;
	struct kw_opt_u64 target;
	uint32_t version;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = vault_field(item, "ciphertext", false, &version, &ct, &r->fail)) != 0 ||
	    (err = aad_field(item, top, &aad, &r->fail)) != 0 ||
	    (err = key_version(item, top, &target, &r->fail)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_REWRAP, r->args.v[0])) != 0 ||
	    (err = put_bytes(&req, KW_T_CIPHERTEXT, &ct)) != 0 ||
	    (err = kw_ipc_put_u32(&req, KW_T_VERSION, version)) != 0 ||
	    (err = put_bytes(&req, KW_T_AAD, &aad)) != 0 ||
	    (err = put_version(&req, KW_T_TARGET_VERSION, &target)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = vault_result(&reply, KW_T_CIPHERTEXT, false, "ciphertext", true, res);
out:
	kw_bytes_purge(&ct);
	kw_bytes_purge(&aad);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_rewrap(struct kw_req *r, struct kw_resp *out)
{
	return run_ops(r, rewrap_one, out);
}

/* ---- datakey ---- */

static int datakey_params(struct kw_req *r, bool *with_plaintext, uint32_t *bits)
{
	const char *kind = r->args.v[0];
	struct kw_opt_u64 b;
	int err;

	if (strcmp(kind, "plaintext") != 0 && strcmp(kind, "wrapped") != 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "the data key type must be \"plaintext\" or \"wrapped\"");
	if ((err = kw_jfield_u64(r->body, "bits", 512, &b, &r->fail)) != 0)
		return err;
	if (b.set && b.v != 128 && b.v != 256 && b.v != 512)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"bits\" must be 128, 256 or 512");
	*with_plaintext = kind[0] == 'p';
	*bits = b.set ? (uint32_t)b.v : 256;
	return 0;
}

static int datakey_plaintext(const struct kw_ipc_msg *reply, json_t *res)
{
	const uint8_t *p;
	json_t *pt;
	size_t n;
	int err;

	if (kw_ipc_get_bytes(reply, KW_T_PLAINTEXT, &p, &n) != 0)
		return KW_ERR_INTERNAL;
	if ((err = bytes_json(p, n, false, &pt)) != 0)
		return err;
	return kw_jset(res, "plaintext", pt);
}

int kw_h_datakey(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_bytes aad = {0};
	struct kw_opt_u64 ver;
	bool with_pt = false;
	uint32_t bits = 0;
	json_t *res = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = datakey_params(r, &with_pt, &bits)) != 0 ||
	    (err = aad_field(r->body, r->body, &aad, &r->fail)) != 0 ||
	    (err = key_version(r->body, r->body, &ver, &r->fail)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_DATAKEY, r->args.v[1])) != 0 ||
	    (err = kw_ipc_put_u32(&req, KW_T_BITS, bits)) != 0 ||
	    (err = kw_ipc_put_u32(&req, KW_T_WITH_PLAINTEXT, with_pt)) != 0 ||
	    (err = put_bytes(&req, KW_T_AAD, &aad)) != 0 ||
	    (err = put_version(&req, KW_T_VERSION, &ver)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((err = vault_result(&reply, KW_T_CIPHERTEXT, false, "ciphertext", true, &res)) != 0)
		goto out;
	if (with_pt && (err = datakey_plaintext(&reply, res)) != 0)
		goto out;
	err = kw_resp_data(r, out, res);
	res = NULL;
out:
	json_decref(res);
	kw_bytes_purge(&aad);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* ---- sign, verify, hmac ---- */

struct sig_params {
	const char *hash, *sig_alg, *marshal;
	struct kw_opt_bool prehashed;
	struct kw_opt_u64 salt;
	bool url; /* JWS marshalling: base64url signatures */
};

/* Path segment first, then hash_algorithm, then the older "algorithm". */
static int hash_param(struct kw_req *r, const json_t *item, const json_t *top, const char **hash)
{
	static const char *const keys[] = {"hash_algorithm", "algorithm"};
	int err;

	if (r->args.n > 1) {
		*hash = r->args.v[1];
		return 0;
	}
	*hash = NULL;
	for (size_t i = 0; i < KW_ARRAY_LEN(keys) && *hash == NULL; i++)
		if ((err = kw_jfield_str(opt_src(item, top, keys[i]), keys[i], false, hash,
		                         &r->fail)) != 0)
			return err;
	return 0;
}

/* "auto" is the default and sends nothing; "hash" is KW_SALT_LEN_HASH. */
static int salt_param(struct kw_req *r, const json_t *o, struct kw_opt_u64 *salt)
{
	const json_t *v = json_object_get(o, "salt_length");

	salt->set = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v) && strcmp(json_string_value(v), "auto") == 0)
		return 0;
	if (json_is_string(v) && strcmp(json_string_value(v), "hash") == 0) {
		salt->set = true;
		salt->v = KW_SALT_LEN_HASH;
		return 0;
	}
	if (kw_jfield_u64(o, "salt_length", KW_SALT_LEN_HASH - 1, salt, &r->fail) != 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"salt_length\" must be \"auto\", \"hash\" or a number "
		                   "of bytes");
	return 0;
}

static int sig_params_parse(struct kw_req *r, const json_t *item, const json_t *top,
                            struct sig_params *p)
{
	int err;

	memset(p, 0, sizeof(*p));
	if ((err = hash_param(r, item, top, &p->hash)) != 0 ||
	    (err = kw_jfield_bool(opt_src(item, top, "prehashed"), "prehashed", &p->prehashed,
	                          &r->fail)) != 0 ||
	    (err = kw_jfield_str(opt_src(item, top, "signature_algorithm"), "signature_algorithm",
	                         false, &p->sig_alg, &r->fail)) != 0 ||
	    (err = kw_jfield_str(opt_src(item, top, "marshaling_algorithm"), "marshaling_algorithm",
	                         false, &p->marshal, &r->fail)) != 0 ||
	    (err = salt_param(r, opt_src(item, top, "salt_length"), &p->salt)) != 0)
		return err;
	if (p->marshal != NULL && strcmp(p->marshal, "asn1") != 0 && strcmp(p->marshal, "jws") != 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"marshaling_algorithm\" must be \"asn1\" or \"jws\"");
	p->url = p->marshal != NULL && strcmp(p->marshal, "jws") == 0;
	return 0;
}

static int sig_params_put(struct kw_ipc_msg *m, const struct sig_params *p)
{
	int err;

	if ((err = put_str(m, KW_T_HASH, p->hash)) != 0 ||
	    (err = put_str(m, KW_T_SIG_ALG, p->sig_alg)) != 0 ||
	    (err = put_str(m, KW_T_MARSHAL, p->marshal)) != 0)
		return err;
	if (p->prehashed.set && (err = kw_ipc_put_u32(m, KW_T_PREHASHED, p->prehashed.v)) != 0)
		return err;
	if (p->salt.set && (err = kw_ipc_put_u32(m, KW_T_SALT_LEN, (uint32_t)p->salt.v)) != 0)
		return err;
	return 0;
}

static int sign_one(struct kw_req *r, const json_t *item, const json_t *top, json_t **res)
{
	struct kw_ipc_msg req, reply;
	struct kw_bytes input = {0};
	struct kw_opt_u64 ver;
	struct sig_params p;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_jfield_b64(item, "input", true, &input, &r->fail)) != 0 ||
	    (err = key_version(item, top, &ver, &r->fail)) != 0 ||
	    (err = sig_params_parse(r, item, top, &p)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_SIGN, r->args.v[0])) != 0 ||
	    (err = put_bytes(&req, KW_T_INPUT, &input)) != 0 ||
	    (err = put_version(&req, KW_T_VERSION, &ver)) != 0 ||
	    (err = sig_params_put(&req, &p)) != 0 || (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = vault_result(&reply, KW_T_SIGNATURE, p.url, "signature", true, res);
out:
	kw_bytes_purge(&input);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_sign(struct kw_req *r, struct kw_resp *out)
{
	return run_ops(r, sign_one, out);
}

/* Exactly one of "signature" and "hmac": to SIGNATURE or MAC, and VERSION. */
static int verify_target(struct kw_req *r, const json_t *item, const struct sig_params *p,
                         struct kw_ipc_msg *m, struct kw_bytes *raw)
{
	const json_t *sig = json_object_get(item, "signature"),
	             *mac = json_object_get(item, "hmac");
	bool has_sig = sig != NULL && !json_is_null(sig),
	     has_mac = mac != NULL && !json_is_null(mac);
	uint32_t version;
	int err;

	if (has_sig == has_mac)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "give exactly one of the fields \"signature\" and \"hmac\"");
	if (has_sig)
		err = vault_field(item, "signature", p->url, &version, raw, &r->fail);
	else
		err = vault_field(item, "hmac", false, &version, raw, &r->fail);
	if (err != 0)
		return err;
	if ((err = kw_ipc_put_u32(m, KW_T_VERSION, version)) != 0)
		return err;
	return put_bytes(m, has_sig ? KW_T_SIGNATURE : KW_T_MAC, raw);
}

static int verify_one(struct kw_req *r, const json_t *item, const json_t *top, json_t **res)
{
	struct kw_bytes input = {0}, raw = {0};
	struct kw_ipc_msg req, reply;
	struct sig_params p;
	uint32_t valid;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_jfield_b64(item, "input", true, &input, &r->fail)) != 0 ||
	    (err = sig_params_parse(r, item, top, &p)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_VERIFY, r->args.v[0])) != 0 ||
	    (err = put_bytes(&req, KW_T_INPUT, &input)) != 0 ||
	    (err = verify_target(r, item, &p, &req, &raw)) != 0 ||
	    (err = sig_params_put(&req, &p)) != 0 || (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if (kw_ipc_get_u32(&reply, KW_T_VALID, &valid) != 0) {
		err = KW_ERR_INTERNAL;
		goto out;
	}
	*res = json_pack("{s:b}", "valid", valid != 0);
	err = *res ? 0 : KW_ERR_NOMEM;
out:
	kw_bytes_purge(&input);
	kw_bytes_purge(&raw);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_verify(struct kw_req *r, struct kw_resp *out)
{
	return run_ops(r, verify_one, out);
}

static int hmac_one(struct kw_req *r, const json_t *item, const json_t *top, json_t **res)
{
	struct kw_ipc_msg req, reply;
	struct kw_bytes input = {0};
	struct kw_opt_u64 ver;
	const char *hash;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_jfield_b64(item, "input", true, &input, &r->fail)) != 0 ||
	    (err = key_version(item, top, &ver, &r->fail)) != 0 ||
	    (err = hash_param(r, item, top, &hash)) != 0)
		goto out;
	if ((err = op_msg(r, &req, KW_MSG_HMAC, r->args.v[0])) != 0 ||
	    (err = put_bytes(&req, KW_T_INPUT, &input)) != 0 ||
	    (err = put_version(&req, KW_T_VERSION, &ver)) != 0 ||
	    (err = put_str(&req, KW_T_HASH, hash)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = vault_result(&reply, KW_T_MAC, false, "hmac", false, res);
out:
	kw_bytes_purge(&input);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_hmac(struct kw_req *r, struct kw_resp *out)
{
	return run_ops(r, hmac_one, out);
}

/* ---- random, hash ---- */

/* "format": def when absent; *hex says which of the two was asked for. */
static int format_param(struct kw_req *r, bool def_hex, bool *hex)
{
	const char *f;
	int err;

	if ((err = kw_jfield_str(r->body, "format", false, &f, &r->fail)) != 0)
		return err;
	if (f == NULL) {
		*hex = def_hex;
		return 0;
	}
	if (strcmp(f, "hex") != 0 && strcmp(f, "base64") != 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID,
		                   "field \"format\" must be \"hex\" or \"base64\"");
	*hex = f[0] == 'h';
	return 0;
}

static int random_count(struct kw_req *r, uint32_t *n)
{
	struct kw_opt_u64 b;
	uint64_t v;
	int err;

	if (r->args.n > 0) {
		if (kw_uint_parse(r->args.v[0], 1, KW_RANDOM_BYTES_MAX, &v) != 0)
			return kw_fail_set(&r->fail, KW_ERR_INVALID,
			                   "the byte count in the path must be 1 to %d",
			                   KW_RANDOM_BYTES_MAX);
		*n = (uint32_t)v;
		return 0;
	}
	if ((err = kw_jfield_u64(r->body, "bytes", KW_RANDOM_BYTES_MAX, &b, &r->fail)) != 0)
		return err;
	if (b.set && b.v == 0)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"bytes\" must be at least 1");
	*n = b.set ? (uint32_t)b.v : KW_RANDOM_BYTES_DEFAULT;
	return 0;
}

/* Reply OUTPUT, encoded, as {key: text}. */
static int output_answer(struct kw_req *r, const struct kw_ipc_msg *reply, const char *key,
                         bool hex, struct kw_resp *out)
{
	const uint8_t *p;
	json_t *text;
	size_t n;
	int err;

	if (kw_ipc_get_bytes(reply, KW_T_OUTPUT, &p, &n) != 0)
		return KW_ERR_INTERNAL;
	if ((err = bytes_json(p, n, hex, &text)) != 0)
		return err;
	return kw_resp_data(r, out, json_pack("{s:o}", key, text));
}

int kw_h_random(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	uint32_t n = 0;
	bool hex = false;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = random_count(r, &n)) != 0 || (err = format_param(r, false, &hex)) != 0)
		goto out;
	if ((err = kw_req_msg(r, &req, KW_MSG_RANDOM)) != 0 ||
	    (err = kw_ipc_put_u32(&req, KW_T_BYTES, n)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = output_answer(r, &reply, "random_bytes", hex, out);
out:
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

int kw_h_hash(struct kw_req *r, struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	struct kw_bytes input = {0};
	const char *alg = NULL;
	bool hex = false;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_jfield_b64(r->body, "input", true, &input, &r->fail)) != 0 ||
	    (err = format_param(r, true, &hex)) != 0 ||
	    (err = kw_jfield_str(r->body, "algorithm", false, &alg, &r->fail)) != 0)
		goto out;
	if (r->args.n > 0)
		alg = r->args.v[0];
	if ((err = kw_req_msg(r, &req, KW_MSG_HASH)) != 0 ||
	    (err = put_bytes(&req, KW_T_INPUT, &input)) != 0 ||
	    (err = kw_ipc_put_str(&req, KW_T_HASH, alg ? alg : "sha2-256")) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	err = output_answer(r, &reply, "sum", hex, out);
out:
	kw_bytes_purge(&input);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}
