/*
 * json.c: jansson helpers for requests and replies: base64 fields in,
 * typed fields out, and the release that wipes every string first (replies
 * and request bodies carry plaintext, shares and tokens).
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static void json_wipe_strings(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	/* Someone else holds this subtree: theirs to wipe. */
	if (j == NULL || j->refcount != 1)
		return;
	switch (json_typeof(j)) {
	case JSON_STRING:
		/* jansson owns the bytes; they are ours to clear before it frees them. */
		kw_wipe((char *)json_string_value(j), json_string_length(j));
		break;
	case JSON_OBJECT:
		json_object_foreach(j, key, v) json_wipe_strings(v);
		break;
	case JSON_ARRAY:
		json_array_foreach(j, i, v) json_wipe_strings(v);
		break;
	default:
		break;
	}
}

void kw_client_json_free(json_t *j)
{
	if (j == NULL)
		return;
	json_wipe_strings(j);
	json_decref(j);
}

int kw_client_json_string(const json_t *obj, const char *key, const char **out)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (s == NULL)
		return KW_ERR_INVALID;
	*out = s;
	return 0;
}

int kw_client_json_bytes(const json_t *obj, const char *key, uint8_t **out, size_t *outlen)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return KW_ERR_INVALID;
	return kw_base64_decode(json_string_value(v), json_string_length(v), out, outlen);
}

int client_json_set(json_t *obj, const char *key, json_t *v)
{
	/* json_object_set_new releases v even when it fails. */
	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		return KW_ERR_NOMEM;
	return 0;
}

int client_json_set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
	char *b64 = NULL;
	int r;

	if ((r = kw_base64_encode(p, n, &b64)) != 0)
		return r;
	r = client_json_set(obj, key, json_stringn_nocheck(b64, strlen(b64)));
	kw_wipe(b64, strlen(b64));
	free(b64);
	return r;
}

int client_json_set_str(struct kw_client *c, json_t *obj, const char *key, const char *s)
{
	json_t *v;

	if (s == NULL || (v = json_string(s)) == NULL) {
		/* jansson refuses text that is not UTF-8; the value is not echoed. */
		client_clear_error(c);
		client_fail(c, KW_ERR_INVALID, "the %s is missing or not UTF-8 text", key);
		return KW_ERR_INVALID;
	}
	return client_json_set(obj, key, v);
}

static int dump_append(const char *p, size_t n, void *userp)
{
	return kw_buf_append(userp, p, n) == 0 ? 0 : -1;
}

int client_json_dump(const json_t *j, size_t flags, struct kw_buf *out)
{
	/* Into a wiping buffer, not json_dumps(): the text may hold plaintext. */
	if (json_dump_callback(j, dump_append, out, flags) != 0)
		return KW_ERR_NOMEM;
	return 0;
}

int client_abort(struct kw_client *c, json_t *body, int r)
{
	kw_client_json_free(body);
	/* KW_ERR_INVALID was recorded where the bad input was seen. */
	if (r != KW_ERR_INVALID) {
		client_clear_error(c);
		client_fail(c, r, "%s", kw_err_str(r));
	}
	return r;
}

int kw_client_vault_decode(const char *s, uint32_t *version, uint8_t **out, size_t *outlen)
{
	const char *p;
	char *end = NULL;
	unsigned long v;

	/* "vault:v<N>:<base64>", Vault's framing of ciphertexts, signatures and MACs. */
	if (s == NULL || strncmp(s, "vault:v", 7) != 0)
		return KW_ERR_INVALID;
	p = s + 7;
	if (*p < '1' || *p > '9')
		return KW_ERR_INVALID;
	v = strtoul(p, &end, 10);
	if (end == NULL || *end != ':' || v > UINT32_MAX)
		return KW_ERR_INVALID;
	if (kw_base64_decode(end + 1, strlen(end + 1), out, outlen) != 0)
		return KW_ERR_BASE64;
	if (version != NULL)
		*version = (uint32_t)v;
	return 0;
}
