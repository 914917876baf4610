/*
 * reply.c: the JSON the front answers with — Vault's response envelope,
 * error bodies, and the one table from KW_ERR_* to HTTP status — plus the
 * jansson allocator that wipes what it frees.
 *
 * Why wipe: response and request JSON hold plaintexts, data keys, exported
 * keys, unseal shares and tokens; jansson frees its strings with plain
 * free(), so without our allocator they would linger in the heap.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

/* Every status is chosen here, so a new error code is one line. */
static const struct {
	int err;
	unsigned status;
} status_table[] = {
    {KW_ERR_INVALID, 400},        {KW_ERR_BASE64, 400},
    {KW_ERR_KEY_TYPE, 400},       {KW_ERR_VERSION, 400},
    {KW_ERR_NOT_EXPORTABLE, 400}, {KW_ERR_DELETE_DENIED, 400},
    {KW_ERR_DECRYPT, 400},        {KW_ERR_UNSUPPORTED, 400},
    {KW_ERR_EXISTS, 400},         {KW_ERR_BAD_SHARE, 400},
    {KW_ERR_ALREADY_INIT, 400},   {KW_ERR_LIMIT, 400},
    {KW_ERR_AUTH, 403},           {KW_ERR_DENIED, 403},
    {KW_ERR_NOT_FOUND, 404},      {KW_ERR_TOO_LARGE, 413},
    {KW_ERR_SEALED, 503},         {KW_ERR_NOT_INIT, 503}, /* sys/health says 501 itself */
    {KW_ERR_UNAVAILABLE, 503},    {KW_ERR_SELFTEST, 500},
    {KW_ERR_INTEGRITY, 500},      {KW_ERR_STORE, 500},
    {KW_ERR_CRYPTO, 500},         {KW_ERR_IPC, 500},
    {KW_ERR_INTERNAL, 500},       {KW_ERR_NOMEM, 500},
};

unsigned kw_http_status(int err)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(status_table); i++)
		if (status_table[i].err == err)
			return status_table[i].status;
	return 500;
}

void kw_resp_cleanup(struct kw_resp *out)
{
	json_decref(out->json);
	free(out->text);
	memset(out, 0, sizeof(*out));
}

int kw_resp_text(struct kw_resp *out, unsigned status, const char *content_type, const char *text,
                 size_t len)
{
	if ((out->text = malloc(len ? len : 1)) == NULL)
		return KW_ERR_NOMEM;
	memcpy(out->text, text, len);
	out->text_len = len;
	out->content_type = content_type;
	out->status = status;
	return 0;
}

json_t *kw_json_bytes(const uint8_t *p, size_t n, bool hex)
{
	char *s;
	json_t *j;

	if ((hex ? kw_hex_encode(p, n, &s) : kw_base64_encode(p, n, &s)) != 0)
		return NULL;
	j = json_string(s);
	kw_wipe(s, strlen(s));
	free(s);
	return j;
}

int kw_jset(json_t *o, const char *key, json_t *v)
{
	/* json_object_set_new frees v on failure, and a NULL v fails. */
	return json_object_set_new(o, key, v) == 0 ? 0 : KW_ERR_NOMEM;
}

json_t *kw_error_json(const char *text, const char *code)
{
	json_t *o = json_object(), *errs = json_array();

	if (o == NULL || errs == NULL || json_array_append_new(errs, json_string(text)) != 0) {
		json_decref(o);
		json_decref(errs);
		return NULL;
	}
	if (kw_jset(o, "errors", errs) != 0 || kw_jset(o, "code", json_string(code)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int kw_resp_error(struct kw_resp *out, int err, const struct kw_fail *f)
{
	out->status = kw_http_status(err);
	out->json = kw_error_json(kw_fail_text(f, err), kw_err_code(err));
	return out->json ? 0 : KW_ERR_NOMEM;
}

int kw_resp_json(struct kw_resp *out, unsigned status, json_t *body)
{
	if (body == NULL)
		return KW_ERR_NOMEM;
	out->status = status;
	out->json = body;
	return 0;
}

void kw_resp_empty(struct kw_resp *out)
{
	out->status = 204;
	out->json = NULL;
}

/* Vault's logical response: everything but data and auth is fixed here,
 * since keyward has no leases, wrapping or renewals. */
static int envelope(const struct kw_req *r, struct kw_resp *out, json_t *data, json_t *auth)
{
	json_t *o = json_object();
	int err = KW_ERR_NOMEM;

	if (o == NULL)
		goto out;
	if (kw_jset(o, "request_id", json_string(r->id)) != 0 ||
	    kw_jset(o, "lease_id", json_string("")) != 0 ||
	    kw_jset(o, "renewable", json_false()) != 0 ||
	    kw_jset(o, "lease_duration", json_integer(0)) != 0)
		goto out;
	err = kw_jset(o, "data", data ? data : json_null());
	data = NULL;
	if (err != 0)
		goto out;
	err = KW_ERR_NOMEM;
	if (kw_jset(o, "wrap_info", json_null()) != 0 || kw_jset(o, "warnings", json_null()) != 0)
		goto out;
	err = kw_jset(o, "auth", auth ? auth : json_null());
	auth = NULL;
	if (err != 0)
		goto out;
	out->status = 200;
	out->json = o;
	o = NULL;
out:
	json_decref(data);
	json_decref(auth);
	json_decref(o);
	return err;
}

int kw_resp_data(const struct kw_req *r, struct kw_resp *out, json_t *data)
{
	if (data == NULL)
		return KW_ERR_NOMEM;
	return envelope(r, out, data, NULL);
}

int kw_resp_auth(const struct kw_req *r, struct kw_resp *out, json_t *auth)
{
	if (auth == NULL)
		return KW_ERR_NOMEM;
	return envelope(r, out, NULL, auth);
}

int kw_resp_list(const struct kw_req *r, struct kw_resp *out, json_t *keys)
{
	json_t *data;

	if (keys == NULL)
		return KW_ERR_NOMEM;
	/* Vault answers an empty LIST with 404 and no error text. */
	if (json_array_size(keys) == 0) {
		json_t *o = json_object();

		json_decref(keys);
		if (o == NULL || kw_jset(o, "errors", json_array()) != 0) {
			json_decref(o);
			return KW_ERR_NOMEM;
		}
		return kw_resp_json(out, 404, o);
	}
	data = json_object();
	if (data == NULL || kw_jset(data, "keys", keys) != 0) {
		json_decref(data);
		if (data == NULL)
			json_decref(keys);
		return KW_ERR_NOMEM;
	}
	return kw_resp_data(r, out, data);
}

/* ---- the wiping allocator ---- */

/* The block size sits in front of each block, padded to keep alignment. */
#define WIPE_HDR (sizeof(max_align_t))

static void *wipe_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - WIPE_HDR)
		return NULL;
	p = malloc(n + WIPE_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HDR;
}

static void wipe_free(void *q)
{
	unsigned char *p;
	size_t n;

	if (q == NULL)
		return;
	p = (unsigned char *)q - WIPE_HDR;
	memcpy(&n, p, sizeof(n));
	kw_wipe(q, n);
	free(p);
}

static void wipe_init_once(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	/* Seed jansson's hash now: its lazy seeding is not thread-safe. */
	json_object_seed(0);
}

/* Once per process: swapping allocators under live objects would free
 * blocks with the wrong function. */
void kw_json_wipe_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, wipe_init_once);
}

/* Our own two-pass dump, so the buffer is ours to wipe whatever allocator
 * jansson was given. */
char *kw_json_text(const json_t *j, size_t *len)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
	char *s;

	if (n == 0 || n == SIZE_MAX)
		return NULL;
	s = wipe_malloc(n + 1);
	if (s == NULL)
		return NULL;
	if (json_dumpb(j, s, n, JSON_COMPACT) != n) {
		wipe_free(s);
		return NULL;
	}
	s[n] = '\0';
	*len = n;
	return s;
}

void kw_json_text_free(void *p)
{
	wipe_free(p);
}
