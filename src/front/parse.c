/*
 * parse.c: turning untrusted request text into typed values — the JSON
 * body, its fields, names, integers, Vault's "vault:vN:" texts and unseal
 * shares.
 *
 * Every rejection is KW_ERR_INVALID or KW_ERR_BASE64 with a sentence that
 * names the field and never repeats its value (it may be a secret, and an
 * echo helps nobody who sent it). Decoded bytes go into struct kw_bytes,
 * which wipes itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

#define VAULT_PREFIX "vault:v"

void kw_bytes_purge(struct kw_bytes *b)
{
	if (b->p != NULL) {
		kw_wipe(b->p, b->len);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

int kw_body_json(const uint8_t *p, size_t n, json_t **out, struct kw_fail *f)
{
	json_error_t jerr;
	json_t *j;

	/* An empty body is an empty object, as Vault treats it. */
	if (n == 0) {
		j = json_object();
		if (j == NULL)
			return KW_ERR_NOMEM;
		*out = j;
		return 0;
	}
	j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		/* jerr.text quotes the input, so only the position is reported. */
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "the request body is not valid JSON (line %d, column %d)",
		                   jerr.line, jerr.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return kw_fail_set(f, KW_ERR_INVALID, "the request body must be a JSON object");
	}
	*out = j;
	return 0;
}

/* The field, or NULL when absent or null. */
static const json_t *field(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

static int missing(struct kw_fail *f, const char *key)
{
	return kw_fail_set(f, KW_ERR_INVALID, "missing required field \"%s\"", key);
}

int kw_jfield_str(const json_t *o, const char *key, bool required, const char **out,
                  struct kw_fail *f)
{
	const json_t *v = field(o, key);

	if (v == NULL) {
		if (required)
			return missing(f, key);
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" must be a string", key);
	*out = json_string_value(v);
	return 0;
}

int kw_uint_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return KW_ERR_INVALID;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return KW_ERR_INVALID;
	*out = v;
	return 0;
}

int kw_jfield_u64(const json_t *o, const char *key, uint64_t max, struct kw_opt_u64 *out,
                  struct kw_fail *f)
{
	const json_t *v = field(o, key);
	uint64_t n;

	if (v == NULL) {
		out->set = false;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    (uint64_t)json_integer_value(v) <= max)
		n = (uint64_t)json_integer_value(v);
	else if (!json_is_string(v) || kw_uint_parse(json_string_value(v), 0, max, &n) != 0)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "field \"%s\" must be an integer from 0 to %llu", key,
		                   (unsigned long long)max);
	out->set = true;
	out->v = n;
	return 0;
}

int kw_jfield_bool(const json_t *o, const char *key, struct kw_opt_bool *out, struct kw_fail *f)
{
	const json_t *v = field(o, key);
	const char *s;

	if (v == NULL) {
		out->set = false;
		return 0;
	}
	if (json_is_boolean(v)) {
		out->v = json_is_true(v);
	} else if (json_is_string(v) &&
	           (strcmp(s = json_string_value(v), "true") == 0 || strcmp(s, "false") == 0)) {
		out->v = s[0] == 't';
	} else {
		return kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" must be true or false", key);
	}
	out->set = true;
	return 0;
}

int kw_jfield_b64(const json_t *o, const char *key, bool required, struct kw_bytes *out,
                  struct kw_fail *f)
{
	const char *s = NULL;
	uint8_t *d;
	size_t n;
	int err;

	if ((err = kw_jfield_str(o, key, required, &s, f)) != 0)
		return err;
	if (s == NULL) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	err = kw_base64_decode(s, strlen(s), &d, &n);
	if (err == KW_ERR_BASE64)
		return kw_fail_set(f, err, "field \"%s\" is not valid base64", key);
	if (err != 0)
		return err;
	out->set = true;
	out->p = d;
	out->len = n;
	return 0;
}

int kw_jfield_duration(const json_t *o, const char *key, struct kw_opt_u64 *out, struct kw_fail *f)
{
	const json_t *v = field(o, key);
	int64_t secs;

	if (v == NULL) {
		out->set = false;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		secs = json_integer_value(v);
	} else if (!json_is_string(v) || kw_duration_parse(json_string_value(v), &secs) != 0) {
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "field \"%s\" must be seconds or a duration such as \"1h\"",
		                   key);
	}
	out->set = true;
	out->v = (uint64_t)secs;
	return 0;
}

bool kw_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KW_NAME_MAX)
		return false;
	/* "." and ".." are legal characters but would read as paths. */
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int kw_vault_text_parse(const char *s, bool url, uint32_t *version, struct kw_bytes *raw)
{
	const char *p = s, *colon;
	uint64_t v;
	char num[11];
	size_t len;
	uint8_t *d;
	size_t n;
	int err;

	if (strncmp(p, VAULT_PREFIX, strlen(VAULT_PREFIX)) != 0)
		return KW_ERR_INVALID;
	p += strlen(VAULT_PREFIX);
	colon = strchr(p, ':');
	if (colon == NULL)
		return KW_ERR_INVALID;
	len = (size_t)(colon - p);
	/* One spelling per version: no sign, no leading zero, fits u32. */
	if (len == 0 || len >= sizeof(num) || p[0] == '0')
		return KW_ERR_INVALID;
	memcpy(num, p, len);
	num[len] = '\0';
	if (kw_uint_parse(num, 1, UINT32_MAX, &v) != 0)
		return KW_ERR_INVALID;
	p = colon + 1;
	err = url ? kw_base64url_decode(p, strlen(p), &d, &n)
	          : kw_base64_decode(p, strlen(p), &d, &n);
	if (err != 0)
		return err;
	if (n == 0) {
		free(d);
		return KW_ERR_INVALID;
	}
	*version = (uint32_t)v;
	raw->set = true;
	raw->p = d;
	raw->len = n;
	return 0;
}

int kw_vault_text_format(uint32_t version, const uint8_t *raw, size_t len, bool url, char **out)
{
	char *b64, *s;
	size_t n;
	int err;

	err = url ? kw_base64url_encode(raw, len, &b64) : kw_base64_encode(raw, len, &b64);
	if (err != 0)
		return err;
	n = strlen(VAULT_PREFIX) + 10 + 1 + strlen(b64) + 1;
	s = malloc(n);
	if (s == NULL) {
		free(b64);
		return KW_ERR_NOMEM;
	}
	snprintf(s, n, VAULT_PREFIX "%u:%s", version, b64);
	free(b64);
	*out = s;
	return 0;
}

static bool all_hex(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

int kw_share_decode(const char *s, struct kw_bytes *out)
{
	size_t len = strlen(s), n;
	uint8_t *d;
	int err;

	if (len == 0)
		return KW_ERR_INVALID;
	/* Hex first, as Vault does: a share that is both is read as hex. */
	if (len % 2 == 0 && all_hex(s))
		err = kw_hex_decode(s, len, &d, &n);
	else
		err = kw_base64_decode(s, len, &d, &n);
	if (err == KW_ERR_BASE64)
		err = KW_ERR_INVALID;
	if (err != 0)
		return err;
	out->set = true;
	out->p = d;
	out->len = n;
	return 0;
}
