/*
 * audit.c: keyward/audit — the newest signed checkpoint, entries, inclusion
 * and consistency proofs, and search — plus the time syntax the audit
 * commands share (RFC 3339 or unix seconds). Every call is a GET with its
 * parameters in the query string; nothing secret passes here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"

#define US_PER_S        1000000ull
#define FRACTION_DIGITS 9
#define UNIX_S_MAX      (INT64_MAX / US_PER_S - 1)

/* ---- query strings ---- */

static bool unreserved(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* "&name=value" (no '&' first), value percent-escaped (RFC 3986). */
static int query_add(struct kw_buf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	if (b->len > 0 && b->data[b->len - 1] != '?')
		r = kw_buf_append_u8(b, '&');
	if (r == 0)
		r = kw_buf_append_str(b, name);
	if (r == 0)
		r = kw_buf_append_u8(b, '=');
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0' && r == 0; p++) {
		char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

		r = unreserved(*p) ? kw_buf_append_u8(b, *p) : kw_buf_append(b, esc, 3);
	}
	return r;
}

static int query_add_u64(struct kw_buf *b, const char *name, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return query_add(b, name, num);
}

static int query_add_time(struct kw_buf *b, const char *name, uint64_t us)
{
	char t[40];

	kw_client_audit_time_format(us, t, sizeof(t));
	return query_add(b, name, t);
}

/* GET keyward/audit/<path as built in b>, taking the reply's data. */
static int audit_get(struct kw_client *c, struct kw_buf *b, int r, json_t **data)
{
	if (r == 0)
		r = kw_buf_append_u8(b, '\0');
	if (r != 0) {
		kw_buf_cleanup(b);
		return client_abort(c, NULL, r);
	}
	r = client_do(c, "GET", (const char *)b->data, NULL, CLIENT_TAKE_DATA, true, data);
	kw_buf_cleanup(b);
	return r;
}

static int path_start(struct kw_buf *b, const char *what)
{
	kw_buf_init(b);
	return kw_buf_append_str(b, what);
}

int kw_client_audit_checkpoint(struct kw_client *c, json_t **data)
{
	struct kw_buf b;

	return audit_get(c, &b, path_start(&b, "keyward/audit/checkpoint"), data);
}

int kw_client_audit_entries(struct kw_client *c, uint64_t start, uint64_t end, json_t **data)
{
	struct kw_buf b;
	int r = path_start(&b, "keyward/audit/entries?");

	if (r == 0)
		r = query_add_u64(&b, "start", start);
	if (r == 0 && end != 0)
		r = query_add_u64(&b, "end", end);
	return audit_get(c, &b, r, data);
}

int kw_client_audit_inclusion(struct kw_client *c, uint64_t index, uint64_t tree_size,
                              json_t **data)
{
	struct kw_buf b;
	int r = path_start(&b, "keyward/audit/proof/inclusion?");

	if (r == 0)
		r = query_add_u64(&b, "index", index);
	if (r == 0)
		r = query_add_u64(&b, "tree_size", tree_size);
	return audit_get(c, &b, r, data);
}

int kw_client_audit_consistency(struct kw_client *c, uint64_t first, uint64_t second, json_t **data)
{
	struct kw_buf b;
	int r = path_start(&b, "keyward/audit/proof/consistency?");

	if (r == 0)
		r = query_add_u64(&b, "first", first);
	if (r == 0)
		r = query_add_u64(&b, "second", second);
	return audit_get(c, &b, r, data);
}

int kw_client_audit_search(struct kw_client *c, const struct kw_client_audit_query *q,
                           uint64_t cursor, unsigned limit, json_t **data)
{
	static const struct kw_client_audit_query any = {0};
	struct kw_buf b;
	int r = path_start(&b, "keyward/audit/search?");

	if (q == NULL)
		q = &any;
	if (r == 0 && q->key != NULL)
		r = query_add(&b, "key", q->key);
	if (r == 0 && q->identity != NULL)
		r = query_add(&b, "identity", q->identity);
	if (r == 0 && q->operation != NULL)
		r = query_add(&b, "operation", q->operation);
	if (r == 0 && q->since_us != 0)
		r = query_add_time(&b, "since", q->since_us);
	if (r == 0 && q->until_us != 0)
		r = query_add_time(&b, "until", q->until_us);
	if (r == 0 && cursor != 0)
		r = query_add_u64(&b, "cursor", cursor);
	if (r == 0 && limit != 0)
		r = query_add_u64(&b, "limit", limit);
	return audit_get(c, &b, r, data);
}

/* ---- times ---- */

/* ".ddd" (1 to 9 digits) as microseconds, rounded up: a bound given finer
 * than the log's microseconds still means the same set of entries. */
static const char *fraction_us(const char *p, uint64_t *us)
{
	uint64_t ns = 0;
	unsigned n = 0;

	*us = 0;
	if (*p != '.')
		return p;
	for (p++; *p >= '0' && *p <= '9'; p++) {
		if (++n > FRACTION_DIGITS)
			return NULL;
		ns = ns * 10 + (uint64_t)(*p - '0');
	}
	if (n == 0)
		return NULL;
	for (; n < FRACTION_DIGITS; n++)
		ns *= 10;
	*us = (ns + 999) / 1000;
	return p;
}

/* "Z" or "+hh:mm"/"-hh:mm" as seconds east of UTC; the rest must be empty. */
static int offset_s(const char *p, int64_t *off)
{
	int sign = *p == '-' ? -1 : 1;

	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
		*off = 0;
		return 0;
	}
	if ((p[0] != '+' && p[0] != '-') || strlen(p) != 6 || p[3] != ':')
		return KW_ERR_INVALID;
	for (int i = 1; i < 6; i++)
		if (i != 3 && (p[i] < '0' || p[i] > '9'))
			return KW_ERR_INVALID;
	if ((p[1] - '0') * 10 + (p[2] - '0') > 23 || (p[4] - '0') * 10 + (p[5] - '0') > 59)
		return KW_ERR_INVALID;
	*off = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
	               ((p[4] - '0') * 10 + (p[5] - '0')) * 60);
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SS", digits where digits belong. */
static bool rfc3339_shape(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		bool ok = shape[i] == 'd'   ? s[i] >= '0' && s[i] <= '9'
		          : shape[i] == 'T' ? s[i] == 'T' || s[i] == 't'
		                            : s[i] == shape[i];
		if (!ok)
			return false;
	}
	return true;
}

static int rfc3339_parse(const char *s, uint64_t *out)
{
	struct tm tm = {0}, want;
	char head[20]; /* "YYYY-MM-DDTHH:MM:SS" */
	const char *p;
	bool leap;
	uint64_t us;
	int64_t off;
	time_t t;

	if (strlen(s) < 20 || !rfc3339_shape(s))
		return KW_ERR_INVALID;
	/* strptime matches the literal T case-sensitively. */
	memcpy(head, s, sizeof(head) - 1);
	head[10] = 'T';
	head[sizeof(head) - 1] = '\0';
	if (strptime(head, "%Y-%m-%dT%H:%M:%S", &tm) != head + sizeof(head) - 1 ||
	    (p = fraction_us(s + sizeof(head) - 1, &us)) == NULL || offset_s(p, &off) != 0)
		return KW_ERR_INVALID;
	/* A leap second reads as the next minute's first. */
	leap = tm.tm_sec == 60;
	tm.tm_sec -= leap;
	want = tm;
	t = timegm(&tm);
	/* timegm normalises: "02-30" would silently become "03-02". */
	if (t == (time_t)-1 || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon ||
	    tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min ||
	    tm.tm_sec != want.tm_sec)
		return KW_ERR_INVALID;
	t += leap - off;
	if (t < 0 || (uint64_t)t > UNIX_S_MAX)
		return KW_ERR_INVALID;
	*out = (uint64_t)t * US_PER_S + us;
	return 0;
}

int kw_client_audit_time_parse(const char *s, uint64_t *us)
{
	uint64_t secs = 0;

	if (s == NULL || s[0] == '\0')
		return KW_ERR_INVALID;
	if (strchr(s, '-') != NULL)
		return rfc3339_parse(s, us);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || secs > (UNIX_S_MAX - (uint64_t)(*p - '0')) / 10)
			return KW_ERR_INVALID;
		secs = secs * 10 + (uint64_t)(*p - '0');
	}
	*us = secs * US_PER_S;
	return 0;
}

void kw_client_audit_time_format(uint64_t us, char *buf, size_t len)
{
	time_t t = (time_t)(us / US_PER_S);
	struct tm tm;
	char date[24];

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", date, (unsigned)(us % US_PER_S));
}
