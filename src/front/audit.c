/*
 * audit.c: the audit log's REST API under /v1/keyward/audit/ — the newest
 * signed checkpoint, entries by index, inclusion and consistency proofs, and
 * search — each a thin translation to one of the keeper's AUDIT_* messages.
 *
 * Query parameters are parsed strictly: an unknown, repeated, empty or
 * malformed parameter is a 400 naming it. A silently ignored filter ("keys="
 * for "key=") would answer a different question than the auditor asked and
 * look like "nothing happened". The front checks ranges for a clear error;
 * the keeper, which trusts nothing the front says, checks them again.
 *
 * Secrets: none pass here. Entries hold digests and token accessors only,
 * checkpoints and proofs are public by design.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "../audit/audit.h"
#include "front_int.h"

#define US_PER_S        1000000ull
#define UNIX_S_MAX      (INT64_MAX / US_PER_S - 1) /* keeps every us value below 2^63 */
#define INDEX_MAX       ((uint64_t)INT64_MAX)
#define NAME_ECHO_MAX   48 /* characters of an unknown parameter's name we repeat */
#define FRACTION_DIGITS 9

/* ---- parameters ---- */

static const char *const param_names[KW_AP_COUNT] = {
    [KW_AP_START] = "start",
    [KW_AP_END] = "end",
    [KW_AP_INDEX] = "index",
    [KW_AP_TREE_SIZE] = "tree_size",
    [KW_AP_FIRST] = "first",
    [KW_AP_SECOND] = "second",
    [KW_AP_KEY] = "key",
    [KW_AP_IDENTITY] = "identity",
    [KW_AP_OPERATION] = "operation",
    [KW_AP_SINCE] = "since",
    [KW_AP_UNTIL] = "until",
    [KW_AP_CURSOR] = "cursor",
    [KW_AP_LIMIT] = "limit",
};

/* What each endpoint takes and needs. */
static const struct {
	uint16_t type;
	unsigned allowed, required;
} endpoints[] = {
    {KW_MSG_AUDIT_CHECKPOINT, 0, 0},
    {KW_MSG_AUDIT_ENTRIES, KW_AP(KW_AP_START) | KW_AP(KW_AP_END), KW_AP(KW_AP_START)},
    {KW_MSG_AUDIT_INCLUSION, KW_AP(KW_AP_INDEX) | KW_AP(KW_AP_TREE_SIZE),
     KW_AP(KW_AP_INDEX) | KW_AP(KW_AP_TREE_SIZE)},
    {KW_MSG_AUDIT_CONSISTENCY, KW_AP(KW_AP_FIRST) | KW_AP(KW_AP_SECOND),
     KW_AP(KW_AP_FIRST) | KW_AP(KW_AP_SECOND)},
    {KW_MSG_AUDIT_SEARCH,
     KW_AP(KW_AP_KEY) | KW_AP(KW_AP_IDENTITY) | KW_AP(KW_AP_OPERATION) | KW_AP(KW_AP_SINCE) |
         KW_AP(KW_AP_UNTIL) | KW_AP(KW_AP_CURSOR) | KW_AP(KW_AP_LIMIT),
     0},
};

/* ---- time ---- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Hinnant's days_from_civil), for years from 1970 on. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Exactly n digits at *p, advanced past them. */
static bool digits(const char **p, unsigned n, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (unsigned)(c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return false;
	(*p)++;
	return true;
}

/* ".ddd" (1 to 9 digits) as microseconds, rounded up; none is 0. */
static bool fraction_us(const char **p, uint64_t *us)
{
	uint64_t ns = 0;
	unsigned n = 0;

	*us = 0;
	if (**p != '.')
		return true;
	(*p)++;
	while (**p >= '0' && **p <= '9') {
		if (++n > FRACTION_DIGITS)
			return false;
		ns = ns * 10 + (uint64_t)(**p - '0');
		(*p)++;
	}
	if (n == 0)
		return false;
	for (; n < FRACTION_DIGITS; n++)
		ns *= 10;
	*us = (ns + 999) / 1000;
	return true;
}

/* "Z" or "+hh:mm" / "-hh:mm" as seconds east of UTC. A space stands for
 * '+': form decoding turns an unescaped '+' in a query into one. */
static bool offset_s(const char **p, int64_t *off)
{
	unsigned h, m;
	int sign;

	if (expect(p, "Zz")) {
		*off = 0;
		return true;
	}
	if (**p == '+' || **p == ' ')
		sign = 1;
	else if (**p == '-')
		sign = -1;
	else
		return false;
	(*p)++;
	if (!digits(p, 2, &h) || !expect(p, ":") || !digits(p, 2, &m) || h > 23 || m > 59)
		return false;
	*off = sign * (int64_t)(h * 3600 + m * 60);
	return true;
}

/* RFC 3339 section 5.6 date-time. */
static int rfc3339_parse(const char *s, uint64_t *out)
{
	unsigned y, mo, d, h, mi, sec;
	const char *p = s;
	int64_t off, t;
	uint64_t us;

	if (!digits(&p, 4, &y) || !expect(&p, "-") || !digits(&p, 2, &mo) || !expect(&p, "-") ||
	    !digits(&p, 2, &d) || !expect(&p, "Tt") || !digits(&p, 2, &h) || !expect(&p, ":") ||
	    !digits(&p, 2, &mi) || !expect(&p, ":") || !digits(&p, 2, &sec) ||
	    !fraction_us(&p, &us) || !offset_s(&p, &off) || *p != '\0')
		return KW_ERR_INVALID;
	/* Second 60 is a leap second; it reads as the next minute's first. */
	if (y < 1969 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60)
		return KW_ERR_INVALID;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	if (t < 0 || t > (int64_t)UNIX_S_MAX)
		return KW_ERR_INVALID;
	*out = (uint64_t)t * US_PER_S + us;
	return 0;
}

int kw_audit_time_parse(const char *s, uint64_t *us)
{
	uint64_t secs;

	if (s == NULL || s[0] == '\0')
		return KW_ERR_INVALID;
	if (strchr(s, '-') == NULL) {
		if (kw_uint_parse(s, 0, UNIX_S_MAX, &secs) != 0)
			return KW_ERR_INVALID;
		*us = secs * US_PER_S;
		return 0;
	}
	return rfc3339_parse(s, us);
}

/* ---- text checks ---- */

/* Strict UTF-8 (RFC 3629) without control characters: these strings are
 * compared with audit entries, which hold nothing else. */
static bool text_valid(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	while (*p != '\0') {
		unsigned c = *p, len, cp;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 3, cp = c & 0x07;
		else
			return false;
		for (unsigned i = 1; i <= len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong three- and four-byte forms, surrogates, past U+10FFFF. */
		if ((len == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		p += len + 1;
	}
	return true;
}

static bool operation_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KW_AUDIT_OPERATION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* A parameter name for an error sentence: short, printable ASCII only. */
static void name_echo(const char *key, char out[NAME_ECHO_MAX + 4])
{
	size_t i;

	for (i = 0; key[i] != '\0' && i < NAME_ECHO_MAX; i++)
		out[i] = key[i] > 0x20 && key[i] < 0x7f ? key[i] : '?';
	if (key[i] != '\0')
		out[i++] = '.', out[i++] = '.', out[i++] = '.';
	out[i] = '\0';
}

/* ---- parsing ---- */

static int param_find(const char *key)
{
	for (int i = 0; i < KW_AP_COUNT; i++)
		if (strcmp(param_names[i], key) == 0)
			return i;
	return -1;
}

static int bad_value(struct kw_fail *f, enum kw_audit_param p, const char *what)
{
	return kw_fail_set(f, KW_ERR_INVALID, "query parameter \"%s\" must be %s", param_names[p],
	                   what);
}

static int param_u64(const char *v, enum kw_audit_param p, uint64_t *out, struct kw_fail *f)
{
	if (kw_uint_parse(v, 0, INDEX_MAX, out) != 0)
		return bad_value(f, p, "a decimal integer from 0 to 2^63-1");
	return 0;
}

static int param_time(const char *v, enum kw_audit_param p, uint64_t *out, struct kw_fail *f)
{
	if (kw_audit_time_parse(v, out) != 0)
		return bad_value(f, p, "an RFC 3339 time (2026-11-28T14:00:00Z) or unix seconds");
	return 0;
}

static int param_store(enum kw_audit_param p, const char *v, struct kw_audit_params *o,
                       struct kw_fail *f)
{
	uint64_t n;

	switch (p) {
	case KW_AP_START:
		return param_u64(v, p, &o->start, f);
	case KW_AP_END:
		return param_u64(v, p, &o->end, f);
	case KW_AP_INDEX:
		return param_u64(v, p, &o->index, f);
	case KW_AP_TREE_SIZE:
		return param_u64(v, p, &o->tree_size, f);
	case KW_AP_FIRST:
		return param_u64(v, p, &o->first, f);
	case KW_AP_SECOND:
		return param_u64(v, p, &o->second, f);
	case KW_AP_CURSOR:
		return param_u64(v, p, &o->cursor, f);
	case KW_AP_SINCE:
		return param_time(v, p, &o->since_us, f);
	case KW_AP_UNTIL:
		return param_time(v, p, &o->until_us, f);
	case KW_AP_LIMIT:
		if (kw_uint_parse(v, 1, KW_AUDIT_PAGE_MAX, &n) != 0)
			return kw_fail_set(f, KW_ERR_INVALID,
			                   "query parameter \"limit\" must be from 1 to %d",
			                   KW_AUDIT_PAGE_MAX);
		o->limit = (uint32_t)n;
		return 0;
	case KW_AP_KEY:
		if (!kw_name_valid(v))
			return bad_value(f, p, "a key name (A-Z a-z 0-9 . _ -)");
		o->key = v;
		return 0;
	case KW_AP_IDENTITY:
		if (!text_valid(v, KW_AUDIT_TEXT_MAX))
			return bad_value(f, p, "UTF-8 text without control characters");
		o->identity = v;
		return 0;
	case KW_AP_OPERATION:
		if (!operation_valid(v))
			return bad_value(f, p, "an operation name such as sign or key-create");
		o->operation = v;
		return 0;
	default:
		return KW_ERR_INTERNAL;
	}
}

static int endpoint_find(uint16_t type, unsigned *allowed, unsigned *required)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(endpoints); i++) {
		if (endpoints[i].type == type) {
			*allowed = endpoints[i].allowed;
			*required = endpoints[i].required;
			return 0;
		}
	}
	return KW_ERR_INTERNAL;
}

static int one_arg(const struct kw_query_arg *a, unsigned allowed, struct kw_audit_params *o,
                   struct kw_fail *f)
{
	char name[NAME_ECHO_MAX + 4];
	int p = param_find(a->key);

	if (p < 0 || !(allowed & KW_AP(p))) {
		name_echo(a->key, name);
		return kw_fail_set(f, KW_ERR_INVALID, "unknown query parameter \"%s\"", name);
	}
	if (o->set & KW_AP(p))
		return kw_fail_set(f, KW_ERR_INVALID, "query parameter \"%s\" is given twice",
		                   param_names[p]);
	if (a->value == NULL || a->value[0] == '\0')
		return kw_fail_set(f, KW_ERR_INVALID, "query parameter \"%s\" has no value",
		                   param_names[p]);
	o->set |= KW_AP(p);
	return param_store((enum kw_audit_param)p, a->value, o, f);
}

/* Ranges that cannot be answered, said here rather than by the keeper. */
static int ranges_check(uint16_t type, const struct kw_audit_params *o, struct kw_fail *f)
{
	bool has = o->set & KW_AP(KW_AP_END);

	if (type == KW_MSG_AUDIT_ENTRIES && has && o->end <= o->start)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "query parameter \"end\" must be above \"start\"");
	if (type == KW_MSG_AUDIT_INCLUSION && o->index >= o->tree_size)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "query parameter \"index\" must be below \"tree_size\"");
	/* RFC 9162 2.1.4: the empty tree is a prefix of every tree; there is
	 * nothing to prove. */
	if (type == KW_MSG_AUDIT_CONSISTENCY && o->first == 0)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "query parameter \"first\" must be at least 1");
	if (type == KW_MSG_AUDIT_CONSISTENCY && o->first > o->second)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "query parameter \"first\" must not be above \"second\"");
	if ((o->set & KW_AP(KW_AP_UNTIL)) && o->until_us == 0)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "query parameter \"until\" must be after 1970-01-01T00:00:00Z");
	if ((o->set & KW_AP(KW_AP_SINCE)) && (o->set & KW_AP(KW_AP_UNTIL)) &&
	    o->since_us >= o->until_us)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "query parameter \"until\" must be after \"since\"");
	return 0;
}

int kw_audit_params_parse(uint16_t type, const struct kw_query_arg *args, size_t n,
                          struct kw_audit_params *out, struct kw_fail *f)
{
	struct kw_audit_params o;
	unsigned allowed, required;
	int err;

	memset(&o, 0, sizeof(o));
	if ((err = endpoint_find(type, &allowed, &required)) != 0)
		return err;
	for (size_t i = 0; i < n; i++)
		if ((err = one_arg(&args[i], allowed, &o, f)) != 0)
			return err;
	for (int p = 0; p < KW_AP_COUNT; p++)
		if ((required & KW_AP(p)) && !(o.set & KW_AP(p)))
			return kw_fail_set(f, KW_ERR_INVALID, "query parameter \"%s\" is required",
			                   param_names[p]);
	if ((err = ranges_check(type, &o, f)) != 0)
		return err;
	*out = o;
	return 0;
}

/* ---- requests to the keeper ---- */

static int put_opt_u64(struct kw_ipc_msg *m, const struct kw_audit_params *p,
                       enum kw_audit_param which, uint16_t tag, uint64_t v)
{
	return (p->set & KW_AP(which)) ? kw_ipc_put_u64(m, tag, v) : 0;
}

static int put_opt_str(struct kw_ipc_msg *m, uint16_t tag, const char *s)
{
	return s != NULL ? kw_ipc_put_str(m, tag, s) : 0;
}

static int search_fields(struct kw_ipc_msg *m, const struct kw_audit_params *p)
{
	int err;

	if ((err = put_opt_str(m, KW_T_NAME, p->key)) != 0 ||
	    (err = put_opt_str(m, KW_T_IDENTITY, p->identity)) != 0 ||
	    (err = put_opt_str(m, KW_T_OPERATION, p->operation)) != 0 ||
	    (err = put_opt_u64(m, p, KW_AP_SINCE, KW_T_SINCE, p->since_us)) != 0 ||
	    (err = put_opt_u64(m, p, KW_AP_UNTIL, KW_T_UNTIL, p->until_us)) != 0 ||
	    (err = put_opt_u64(m, p, KW_AP_CURSOR, KW_T_CURSOR, p->cursor)) != 0)
		return err;
	return (p->set & KW_AP(KW_AP_LIMIT)) ? kw_ipc_put_u32(m, KW_T_LIMIT, p->limit) : 0;
}

static int request_fields(struct kw_ipc_msg *m, const struct kw_audit_params *p)
{
	int err;

	switch (m->type) {
	case KW_MSG_AUDIT_ENTRIES:
		if ((err = kw_ipc_put_u64(m, KW_T_START, p->start)) != 0)
			return err;
		return put_opt_u64(m, p, KW_AP_END, KW_T_END, p->end);
	case KW_MSG_AUDIT_INCLUSION:
		if ((err = kw_ipc_put_u64(m, KW_T_INDEX, p->index)) != 0)
			return err;
		return kw_ipc_put_u64(m, KW_T_TREE_SIZE, p->tree_size);
	case KW_MSG_AUDIT_CONSISTENCY:
		if ((err = kw_ipc_put_u64(m, KW_T_FIRST, p->first)) != 0)
			return err;
		return kw_ipc_put_u64(m, KW_T_SECOND, p->second);
	case KW_MSG_AUDIT_SEARCH:
		return search_fields(m, p);
	default:
		return 0;
	}
}

/* ---- replies ---- */

/* A keeper reply that breaks the AUDIT_* contract is the keeper's bug. */
static int reply_broken(struct kw_req *r, const char *what)
{
	kw_error("audit: the keeper's %s reply is malformed (request %s)", what, r->id);
	return KW_ERR_INTERNAL;
}

/* The decoded entry, or JSON null for a leaf that does not decode: the
 * stored bytes are still served, so a damaged log can be examined. */
static json_t *entry_decoded(const uint8_t *leaf, size_t len)
{
	struct kw_audit_entry *e = NULL;
	json_t *j = NULL;

	if (kw_audit_entry_decode(leaf, len, &e) != 0)
		return json_null();
	if (kw_audit_entry_to_json(e, &j) != 0)
		j = NULL;
	kw_audit_entry_free(e);
	return j;
}

/* {"index", "leaf", "entry"} from one ENTRY field: u64 index | leaf. */
static int entry_json(const struct kw_ipc_field *fl, json_t **out)
{
	json_t *o = NULL, *leaf = NULL, *dec = NULL;
	uint64_t index;
	int err;

	if (fl->len < 8 || fl->len - 8 > KW_AUDIT_LEAF_MAX)
		return KW_ERR_INTERNAL;
	index = kw_load_u64(fl->val);
	if (index > INDEX_MAX)
		return KW_ERR_INTERNAL;
	if ((leaf = kw_json_bytes(fl->val + 8, fl->len - 8, false)) == NULL)
		return KW_ERR_NOMEM;
	err = KW_ERR_NOMEM;
	if ((dec = entry_decoded(fl->val + 8, fl->len - 8)) == NULL || (o = json_object()) == NULL)
		goto out;
	/* kw_jset takes its value whatever happens. */
	if (kw_jset(o, "index", json_integer((json_int_t)index)) != 0)
		goto out;
	err = kw_jset(o, "leaf", leaf);
	leaf = NULL;
	if (err == 0) {
		err = kw_jset(o, "entry", dec);
		dec = NULL;
	}
	if (err != 0)
		goto out;
	*out = o;
	o = NULL;
out:
	json_decref(leaf);
	json_decref(dec);
	json_decref(o);
	return err;
}

int kw_audit_entries_json(const struct kw_ipc_msg *m, json_t **out)
{
	const struct kw_ipc_field *fl;
	json_t *arr = json_array(), *e;
	size_t pos = 0;
	int err = 0;

	if (arr == NULL)
		return KW_ERR_NOMEM;
	while ((fl = kw_ipc_next(m, KW_T_ENTRY, &pos)) != NULL) {
		if ((err = entry_json(fl, &e)) != 0)
			break;
		if (json_array_append_new(arr, e) != 0) {
			err = KW_ERR_NOMEM;
			break;
		}
	}
	if (err != 0) {
		json_decref(arr);
		return err;
	}
	*out = arr;
	return 0;
}

static int hashes_json(struct kw_req *r, const struct kw_ipc_msg *m, json_t **out)
{
	const struct kw_ipc_field *fl;
	json_t *arr = json_array(), *h;
	size_t pos = 0;
	int err = 0;

	if (arr == NULL)
		return KW_ERR_NOMEM;
	while ((fl = kw_ipc_next(m, KW_T_PROOF_HASH, &pos)) != NULL) {
		if (fl->len != KW_AUDIT_HASH_BYTES) {
			err = reply_broken(r, "proof");
			break;
		}
		if ((h = kw_json_bytes(fl->val, fl->len, false)) == NULL) {
			err = KW_ERR_NOMEM;
			break;
		}
		if (json_array_append_new(arr, h) != 0) {
			err = KW_ERR_NOMEM;
			break;
		}
	}
	if (err != 0) {
		json_decref(arr);
		return err;
	}
	*out = arr;
	return 0;
}

static int checkpoint_data(struct kw_req *r, const struct kw_ipc_msg *m, json_t *data)
{
	const char *note, *pem, *verifier;

	if (kw_ipc_get_str(m, KW_T_CHECKPOINT, &note) != 0 ||
	    kw_ipc_get_str(m, KW_T_PUBLIC_KEY, &pem) != 0 ||
	    kw_ipc_get_str(m, KW_T_VERIFIER, &verifier) != 0)
		return reply_broken(r, "audit-checkpoint");
	if (kw_jset(data, "checkpoint", json_string(note)) != 0 ||
	    kw_jset(data, "public_key", json_string(pem)) != 0 ||
	    kw_jset(data, "verifier_key", json_string(verifier)) != 0)
		return KW_ERR_NOMEM;
	return 0;
}

/* An index-like u64 of the reply as data[name]; absent is fine unless
 * required. */
static int u64_data(struct kw_req *r, const struct kw_ipc_msg *m, uint16_t tag, const char *name,
                    bool required, json_t *data)
{
	uint64_t v;
	int err = kw_ipc_get_u64(m, tag, &v);

	if (err == KW_ERR_NOT_FOUND && !required)
		return 0;
	if (err != 0 || v > INDEX_MAX)
		return reply_broken(r, kw_msg_name(m->type));
	return kw_jset(data, name, json_integer((json_int_t)v));
}

static int entries_data(struct kw_req *r, const struct kw_ipc_msg *m, json_t *data)
{
	json_t *entries = NULL;
	int err;

	if ((err = kw_audit_entries_json(m, &entries)) != 0)
		return err == KW_ERR_INTERNAL ? reply_broken(r, kw_msg_name(m->type)) : err;
	return kw_jset(data, "entries", entries);
}

static int answer_data(struct kw_req *r, const struct kw_ipc_msg *m, json_t *data)
{
	json_t *hashes = NULL;
	int err;

	switch (m->type) {
	case KW_MSG_AUDIT_CHECKPOINT:
		return checkpoint_data(r, m, data);
	case KW_MSG_AUDIT_ENTRIES:
		if ((err = entries_data(r, m, data)) != 0)
			return err;
		return u64_data(r, m, KW_T_TREE_SIZE, "tree_size", true, data);
	case KW_MSG_AUDIT_SEARCH:
		/* A tree size is passed on when the keeper reports one. */
		if ((err = entries_data(r, m, data)) != 0 ||
		    (err = u64_data(r, m, KW_T_NEXT, "next_cursor", true, data)) != 0)
			return err;
		return u64_data(r, m, KW_T_TREE_SIZE, "tree_size", false, data);
	case KW_MSG_AUDIT_INCLUSION:
	case KW_MSG_AUDIT_CONSISTENCY:
		if ((err = hashes_json(r, m, &hashes)) != 0)
			return err;
		return kw_jset(data, "hashes", hashes);
	default:
		return KW_ERR_INTERNAL;
	}
}

int kw_audit_answer(struct kw_req *r, uint16_t type, const struct kw_audit_params *p,
                    struct kw_resp *out)
{
	struct kw_ipc_msg req, reply;
	json_t *data = NULL;
	int err;

	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	if ((err = kw_req_msg(r, &req, type)) != 0 || (err = request_fields(&req, p)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((data = json_object()) == NULL) {
		err = KW_ERR_NOMEM;
		goto out;
	}
	if ((err = answer_data(r, &reply, data)) != 0)
		goto out;
	err = kw_resp_data(r, out, data);
	data = NULL;
out:
	json_decref(data);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}

/* ---- handlers ---- */

struct query_collect {
	struct kw_query_arg args[KW_QUERY_ARGS_MAX];
	size_t n;
	bool too_many;
};

static enum MHD_Result query_collect_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
	struct query_collect *q = cls;

	if (q->n == KW_QUERY_ARGS_MAX) {
		q->too_many = true;
		return MHD_NO;
	}
	q->args[q->n].key = key;
	q->args[q->n].value = value;
	q->n++;
	return MHD_YES;
}

static int audit_serve(struct kw_req *r, uint16_t type, struct kw_resp *out)
{
	struct query_collect q = {.n = 0};
	struct kw_audit_params p;
	int err;

	if (r->conn != NULL)
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_collect_one, &q);
	if (q.too_many)
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "more than %d query parameters",
		                   KW_QUERY_ARGS_MAX);
	if ((err = kw_audit_params_parse(type, q.args, q.n, &p, &r->fail)) != 0)
		return err;
	return kw_audit_answer(r, type, &p, out);
}

int kw_h_audit_checkpoint(struct kw_req *r, struct kw_resp *out)
{
	return audit_serve(r, KW_MSG_AUDIT_CHECKPOINT, out);
}

int kw_h_audit_entries(struct kw_req *r, struct kw_resp *out)
{
	return audit_serve(r, KW_MSG_AUDIT_ENTRIES, out);
}

int kw_h_audit_inclusion(struct kw_req *r, struct kw_resp *out)
{
	return audit_serve(r, KW_MSG_AUDIT_INCLUSION, out);
}

int kw_h_audit_consistency(struct kw_req *r, struct kw_resp *out)
{
	return audit_serve(r, KW_MSG_AUDIT_CONSISTENCY, out);
}

int kw_h_audit_search(struct kw_req *r, struct kw_resp *out)
{
	return audit_serve(r, KW_MSG_AUDIT_SEARCH, out);
}
