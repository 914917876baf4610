/*
 * entry.c: the audit entry's canonical leaf encoding (the bytes that are
 * hashed, stored and served), its strict decoder and its JSON rendering.
 *
 * Version 1 layout: u8 version, then 18 fields in a fixed order, each
 * u16 big-endian length ‖ value. Integer fields must have exactly their
 * width, digests 0 or 32 bytes, text valid UTF-8 without NUL. One layout
 * for every leaf, so two encoders can never disagree on the bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_int.h"

#define INT63_MAX ((uint64_t)INT64_MAX)

enum field_kind { F_U64, F_U32, F_U16, F_I32, F_TEXT, F_HASH };

/* The field table: the order here is the wire order. */
enum field_id {
	FLD_INDEX,
	FLD_TIME,
	FLD_NODE,
	FLD_AUTH_METHOD,
	FLD_SUBJECT,
	FLD_ACCESSOR,
	FLD_SOURCE,
	FLD_PORT,
	FLD_OPERATION,
	FLD_PATH,
	FLD_KEY_NAME,
	FLD_KEY_VERSION,
	FLD_RESULT,
	FLD_RESULT_CODE,
	FLD_INPUT,
	FLD_OUTPUT,
	FLD_REQUEST_ID,
	FLD_CLAIMS,
	FLD_COUNT
};

static const enum field_kind field_kinds[FLD_COUNT] = {
    [FLD_INDEX] = F_U64,        [FLD_TIME] = F_U64,         [FLD_NODE] = F_TEXT,
    [FLD_AUTH_METHOD] = F_TEXT, [FLD_SUBJECT] = F_TEXT,     [FLD_ACCESSOR] = F_TEXT,
    [FLD_SOURCE] = F_TEXT,      [FLD_PORT] = F_U16,         [FLD_OPERATION] = F_TEXT,
    [FLD_PATH] = F_TEXT,        [FLD_KEY_NAME] = F_TEXT,    [FLD_KEY_VERSION] = F_U32,
    [FLD_RESULT] = F_I32,       [FLD_RESULT_CODE] = F_TEXT, [FLD_INPUT] = F_HASH,
    [FLD_OUTPUT] = F_HASH,      [FLD_REQUEST_ID] = F_TEXT,  [FLD_CLAIMS] = F_TEXT,
};

/* The text fields of an entry, by field id (NULL for non-text ids). */
static const char **entry_text_slot(struct kw_audit_entry *e, enum field_id id)
{
	switch (id) {
	case FLD_NODE:
		return &e->node_id;
	case FLD_AUTH_METHOD:
		return &e->auth_method;
	case FLD_SUBJECT:
		return &e->subject;
	case FLD_ACCESSOR:
		return &e->accessor;
	case FLD_SOURCE:
		return &e->source_addr;
	case FLD_OPERATION:
		return &e->operation;
	case FLD_PATH:
		return &e->path;
	case FLD_KEY_NAME:
		return &e->key_name;
	case FLD_RESULT_CODE:
		return &e->result_code;
	case FLD_REQUEST_ID:
		return &e->request_id;
	case FLD_CLAIMS:
		return &e->claims;
	default:
		return NULL;
	}
}

bool audit_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp, min;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static const char *result_code_of(const struct kw_audit_entry *e)
{
	return e->result_code ? e->result_code : kw_err_code(e->result);
}

/* The text of field id and its length; "" for NULL. Checked later, on the
 * copy in the leaf, so a caller's string that changes meanwhile cannot slip
 * an unchecked byte in. */
static int text_field(const struct kw_audit_entry *e, enum field_id id, const char **out,
                      size_t *len)
{
	const char *s = id == FLD_RESULT_CODE ? result_code_of(e)
	                                      : *entry_text_slot((struct kw_audit_entry *)e, id);
	size_t n;

	if (s == NULL)
		s = "";
	n = strnlen(s, KW_AUDIT_TEXT_MAX + 1);
	if (n > KW_AUDIT_TEXT_MAX)
		return KW_ERR_INVALID;
	*out = s;
	*len = n;
	return 0;
}

static void put_field(uint8_t **p, const void *v, size_t n)
{
	kw_store_u16(*p, (uint16_t)n);
	if (n > 0)
		memcpy(*p + 2, v, n);
	*p += 2 + n;
}

/* Value bytes of a non-text field into tmp; returns its length. */
static size_t fixed_field(const struct kw_audit_entry *e, enum field_id id, uint8_t tmp[32],
                          const uint8_t **v)
{
	*v = tmp;
	switch (id) {
	case FLD_INDEX:
		kw_store_u64(tmp, e->index);
		return 8;
	case FLD_TIME:
		kw_store_u64(tmp, e->time_us);
		return 8;
	case FLD_PORT:
		kw_store_u16(tmp, e->listener_port);
		return 2;
	case FLD_KEY_VERSION:
		kw_store_u32(tmp, e->key_version);
		return 4;
	case FLD_RESULT:
		kw_store_u32(tmp, (uint32_t)e->result);
		return 4;
	case FLD_INPUT:
		*v = e->input_sha256;
		return e->has_input_sha256 ? KW_AUDIT_HASH_BYTES : 0;
	case FLD_OUTPUT:
		*v = e->output_sha256;
		return e->has_output_sha256 ? KW_AUDIT_HASH_BYTES : 0;
	default:
		return 0;
	}
}

int kw_audit_entry_encode(const struct kw_audit_entry *e, struct kw_buf *out)
{
	const char *text[FLD_COUNT] = {0};
	size_t tlen[FLD_COUNT] = {0};
	size_t total = 1;
	uint8_t *p;
	int rc;

	if (e->index > INT63_MAX || e->time_us > INT63_MAX)
		return KW_ERR_INVALID;
	for (int id = 0; id < FLD_COUNT; id++) {
		if (field_kinds[id] != F_TEXT)
			continue;
		if ((rc = text_field(e, id, &text[id], &tlen[id])) != 0)
			return rc;
		total += tlen[id];
	}
	/* Fixed parts: 17 prefixes, 8+8+2+4+4 integer bytes, up to 2 digests. */
	total +=
	    2 * FLD_COUNT + 26 + (e->has_input_sha256 ? 32 : 0) + (e->has_output_sha256 ? 32 : 0);
	if (total > KW_AUDIT_LEAF_MAX)
		return KW_ERR_INVALID;
	if ((rc = kw_buf_reserve(out, total)) != 0)
		return rc;
	p = out->data + out->len;
	*p++ = KW_AUDIT_LEAF_VERSION;
	for (int id = 0; id < FLD_COUNT; id++) {
		uint8_t tmp[32];
		const uint8_t *v;
		size_t n;

		if (field_kinds[id] == F_TEXT) {
			put_field(&p, text[id], tlen[id]);
			if (!audit_utf8_valid(p - tlen[id], tlen[id]))
				return KW_ERR_INVALID; /* out->len not yet moved */
			continue;
		}
		n = fixed_field(e, id, tmp, &v);
		put_field(&p, v, n);
	}
	out->len = (size_t)(p - out->data);
	return 0;
}

/* Field id's value at *p (bounded by end): checks the prefix and the
 * length its kind allows. */
static int take_field(const uint8_t **p, const uint8_t *end, enum field_id id, const uint8_t **v,
                      size_t *n)
{
	static const size_t width[] = {[F_U64] = 8, [F_U32] = 4, [F_U16] = 2, [F_I32] = 4};
	enum field_kind k = field_kinds[id];
	size_t len;

	if (end - *p < 2)
		return KW_ERR_INVALID;
	len = kw_load_u16(*p);
	if ((size_t)(end - *p - 2) < len)
		return KW_ERR_INVALID;
	if (k == F_TEXT) {
		if (len > KW_AUDIT_TEXT_MAX || !audit_utf8_valid(*p + 2, len))
			return KW_ERR_INVALID;
	} else if (k == F_HASH) {
		if (len != 0 && len != KW_AUDIT_HASH_BYTES)
			return KW_ERR_INVALID;
	} else if (len != width[k]) {
		return KW_ERR_INVALID;
	}
	*v = *p + 2;
	*n = len;
	*p += 2 + len;
	return 0;
}

static void set_fixed(struct kw_audit_entry *e, enum field_id id, const uint8_t *v, size_t n)
{
	switch (id) {
	case FLD_INDEX:
		e->index = kw_load_u64(v);
		break;
	case FLD_TIME:
		e->time_us = kw_load_u64(v);
		break;
	case FLD_PORT:
		e->listener_port = kw_load_u16(v);
		break;
	case FLD_KEY_VERSION:
		e->key_version = kw_load_u32(v);
		break;
	case FLD_RESULT:
		e->result = (int32_t)kw_load_u32(v);
		break;
	case FLD_INPUT:
		e->has_input_sha256 = n > 0;
		memcpy(e->input_sha256, v, n);
		break;
	case FLD_OUTPUT:
		e->has_output_sha256 = n > 0;
		memcpy(e->output_sha256, v, n);
		break;
	default:
		break;
	}
}

/* First pass: every field well-formed, nothing after the last. Returns the
 * bytes the text fields need as C strings. */
static int leaf_check(const uint8_t *leaf, size_t len, size_t *text_bytes)
{
	const uint8_t *p = leaf + 1, *end = leaf + len;
	size_t total = 0;

	if (len < 1 || len > KW_AUDIT_LEAF_MAX || leaf[0] != KW_AUDIT_LEAF_VERSION)
		return KW_ERR_INVALID;
	for (int id = 0; id < FLD_COUNT; id++) {
		const uint8_t *v;
		size_t n;

		if (take_field(&p, end, id, &v, &n) != 0)
			return KW_ERR_INVALID;
		if (field_kinds[id] == F_TEXT)
			total += n + 1;
	}
	if (p != end)
		return KW_ERR_INVALID;
	*text_bytes = total;
	return 0;
}

int kw_audit_entry_decode(const uint8_t *leaf, size_t len, struct kw_audit_entry **out)
{
	const uint8_t *p = leaf + 1, *end = leaf + len;
	struct kw_audit_entry *e;
	size_t text_bytes;
	char *strings;

	if (leaf == NULL || leaf_check(leaf, len, &text_bytes) != 0)
		return KW_ERR_INVALID;
	e = calloc(1, sizeof(*e) + text_bytes);
	if (e == NULL)
		return KW_ERR_NOMEM;
	strings = (char *)(e + 1);
	for (int id = 0; id < FLD_COUNT; id++) {
		const uint8_t *v;
		size_t n;

		/* Cannot fail: leaf_check walked the same fields. */
		(void)take_field(&p, end, id, &v, &n);
		if (field_kinds[id] != F_TEXT) {
			set_fixed(e, id, v, n);
			continue;
		}
		memcpy(strings, v, n);
		strings[n] = '\0';
		*entry_text_slot(e, id) = strings;
		strings += n + 1;
	}
	if (e->index > INT63_MAX || e->time_us > INT63_MAX) {
		free(e);
		return KW_ERR_INVALID;
	}
	*out = e;
	return 0;
}

void kw_audit_entry_free(struct kw_audit_entry *e)
{
	free(e);
}

/* "2026-11-28T14:00:00.123456Z" */
static void time_format_us(uint64_t us, char buf[40])
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;
	char date[24];

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 40, "%s.%06uZ", date, (unsigned)(us % 1000000u));
}

static int json_set_text(json_t *o, const char *name, const char *s)
{
	return json_object_set_new(o, name, json_string(s ? s : "")) == 0 ? 0 : KW_ERR_NOMEM;
}

static int json_set_int(json_t *o, const char *name, json_int_t v)
{
	return json_object_set_new(o, name, json_integer(v)) == 0 ? 0 : KW_ERR_NOMEM;
}

static int json_set_digest(json_t *o, const char *name, bool has, const uint8_t *d)
{
	char *hex = NULL;
	json_t *v;
	int rc;

	if (!has)
		return json_object_set_new(o, name, json_null()) == 0 ? 0 : KW_ERR_NOMEM;
	if ((rc = kw_hex_encode(d, KW_AUDIT_HASH_BYTES, &hex)) != 0)
		return rc;
	v = json_string(hex);
	free(hex);
	return json_object_set_new(o, name, v) == 0 ? 0 : KW_ERR_NOMEM;
}

/* The caller's claims as the object they are; a leaf is hashed and
 * signed, not trusted to hold JSON, so anything else stays a string. */
static int json_set_claims(json_t *o, const char *claims)
{
	json_t *v = NULL;

	if (claims != NULL && claims[0] != '\0') {
		v = json_loads(claims, JSON_REJECT_DUPLICATES, NULL);
		if (v != NULL && !json_is_object(v)) {
			json_decref(v);
			v = NULL;
		}
		if (v == NULL)
			v = json_string(claims);
	}
	return json_object_set_new(o, "claims", v ? v : json_null()) == 0 ? 0 : KW_ERR_NOMEM;
}

int kw_audit_entry_to_json(const struct kw_audit_entry *e, json_t **out)
{
	json_t *o = json_object();
	char when[40];
	int rc = 0;

	if (o == NULL)
		return KW_ERR_NOMEM;
	if (e->index > INT63_MAX || e->time_us > INT63_MAX) {
		json_decref(o);
		return KW_ERR_INVALID;
	}
	time_format_us(e->time_us, when);
	/* Field order as in the leaf; json_set_* fail only on memory. */
	rc |= json_set_int(o, "index", (json_int_t)e->index);
	rc |= json_set_text(o, "time", when);
	rc |= json_set_int(o, "time_us", (json_int_t)e->time_us);
	rc |= json_set_text(o, "node_id", e->node_id);
	rc |= json_set_text(o, "auth_method", e->auth_method);
	rc |= json_set_text(o, "subject", e->subject);
	rc |= json_set_text(o, "accessor", e->accessor);
	rc |= json_set_text(o, "source_addr", e->source_addr);
	rc |= json_set_int(o, "listener_port", e->listener_port);
	rc |= json_set_text(o, "operation", e->operation);
	rc |= json_set_text(o, "path", e->path);
	rc |= json_set_text(o, "key_name", e->key_name);
	rc |= json_set_int(o, "key_version", e->key_version);
	rc |= json_set_int(o, "result", e->result);
	rc |= json_set_text(o, "result_code", result_code_of(e));
	rc |= json_set_digest(o, "input_sha256", e->has_input_sha256, e->input_sha256);
	rc |= json_set_digest(o, "output_sha256", e->has_output_sha256, e->output_sha256);
	rc |= json_set_text(o, "request_id", e->request_id);
	rc |= json_set_claims(o, e->claims);
	if (rc != 0) {
		json_decref(o);
		return KW_ERR_NOMEM;
	}
	*out = o;
	return 0;
}

int kw_audit_entry_json_text(const struct kw_audit_entry *e, char **out)
{
	json_t *o;
	char *s;
	int rc;

	if ((rc = kw_audit_entry_to_json(e, &o)) != 0)
		return rc;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return KW_ERR_NOMEM;
	*out = s;
	return 0;
}
