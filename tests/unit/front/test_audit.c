/*
 * Unit tests for src/front/audit.c: the audit API's strict query parsing
 * (times, numbers, names, unknown and repeated parameters, ranges) and its
 * JSON, driven against a fake keeper as in test_keeper.c — a thread that
 * answers canned AUDIT_* replies over a real socketpair with the real IPC
 * codec and records the request it got.
 *
 * Run one group: test_front_audit '/front/audit/params-*'
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/audit/audit.h"
#include "../../../src/front/front_int.h"

#define T(name, fn)                                                                                \
	{                                                                                          \
		name, fn, fake_start, fake_stop, NULL                                              \
	}

/* ---- the fake keeper ---- */

enum reply_kind { R_GOOD, R_BAD_ENTRY, R_BAD_LEAF, R_BAD_HASH, R_NO_SIZE, R_FAIL };

struct fake {
	int fds[2];
	pthread_t th;
	struct kw_chanpool pool;
	struct kw_ipc_msg last; /* the last request, as received */
	int nreq;
	enum reply_kind kind;
	int fail_status;
};

static struct fake fake;

/* A real leaf for entry index, signing with key app-1. */
static int leaf_make(uint64_t index, struct kw_buf *out)
{
	struct kw_audit_entry e = {
	    .index = index,
	    .time_us = 1795874400123456ull,
	    .node_id = "node-1",
	    .auth_method = "token",
	    .subject = "root",
	    .accessor = "acc-1",
	    .source_addr = "192.0.2.7",
	    .listener_port = 8200,
	    .operation = "sign",
	    .path = "transit/sign/app-1",
	    .key_name = "app-1",
	    .key_version = 2,
	    .has_output_sha256 = true,
	    .request_id = "req-1",
	};

	memset(e.output_sha256, 0xab, sizeof(e.output_sha256));
	return kw_audit_entry_encode(&e, out);
}

static int put_entry(struct kw_ipc_msg *m, uint64_t index)
{
	struct kw_buf b;
	int err;

	kw_buf_init(&b);
	if ((err = kw_buf_append_u64(&b, index)) == 0) {
		if (fake.kind == R_BAD_LEAF)
			err = kw_buf_append(&b, "\x7f garbage", 9);
		else
			err = leaf_make(index, &b);
	}
	if (err == 0)
		err = kw_ipc_put(m, KW_T_ENTRY, b.data, fake.kind == R_BAD_ENTRY ? 5 : b.len);
	kw_buf_cleanup(&b);
	return err;
}

static int put_hashes(struct kw_ipc_msg *m)
{
	uint8_t h[KW_AUDIT_HASH_BYTES];
	int err = 0;

	for (int i = 0; i < 2 && err == 0; i++) {
		memset(h, 0x10 + i, sizeof(h));
		err = kw_ipc_put(m, KW_T_PROOF_HASH, h, fake.kind == R_BAD_HASH ? 31 : sizeof(h));
	}
	return err;
}

static int answer(const struct kw_ipc_msg *q, struct kw_ipc_msg *m)
{
	uint64_t start = kw_ipc_u64_or(q, KW_T_START, 0);
	int err = 0;

	if (fake.kind == R_FAIL)
		return kw_ipc_set_error(m, fake.fail_status, "not allowed on keyward/audit");
	switch (q->type) {
	case KW_MSG_AUDIT_CHECKPOINT:
		return kw_ipc_put_str(m, KW_T_CHECKPOINT, "keyward/audit/n1\n3\nAAAA\n\n— sig\n") |
		       kw_ipc_put_str(m, KW_T_PUBLIC_KEY, "-----BEGIN PUBLIC KEY-----\n") |
		       kw_ipc_put_str(m, KW_T_VERIFIER, "keyward/audit/n1+01020304+AQID");
	case KW_MSG_AUDIT_ENTRIES:
		for (uint64_t i = start; i < start + 2 && err == 0; i++)
			err = put_entry(m, i);
		if (err == 0 && fake.kind != R_NO_SIZE)
			err = kw_ipc_put_u64(m, KW_T_TREE_SIZE, 42);
		return err;
	case KW_MSG_AUDIT_SEARCH:
		err = put_entry(m, 7);
		if (err == 0 && fake.kind != R_NO_SIZE)
			err = kw_ipc_put_u64(m, KW_T_NEXT, 8);
		return err;
	case KW_MSG_AUDIT_INCLUSION:
	case KW_MSG_AUDIT_CONSISTENCY:
		return put_hashes(m);
	}
	return kw_ipc_set_error(m, KW_ERR_INTERNAL, "unexpected message");
}

static void *fake_main(void *arg)
{
	for (;;) {
		struct kw_ipc_msg q, m;

		if (kw_ipc_recv(fake.fds[1], &q) != 0)
			break;
		kw_ipc_reply_init(&m, &q, 0);
		if (answer(&q, &m) != 0)
			fail_msg("fake keeper could not build its answer");
		kw_ipc_msg_cleanup(&fake.last);
		if (kw_ipc_decode(&fake.last, q.buf.data, q.buf.len) != 0)
			fail_msg("fake keeper could not copy the request");
		fake.nreq++;
		kw_ipc_msg_cleanup(&q);
		if (kw_ipc_send(fake.fds[1], &m) != 0)
			break;
		kw_ipc_msg_cleanup(&m);
	}
	close(fake.fds[1]);
	return NULL;
}

static int fake_start(void **state)
{
	memset(&fake, 0, sizeof(fake));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fake.fds) != 0 ||
	    kw_chanpool_init(&fake.pool, fake.fds, 1) != 0 ||
	    pthread_create(&fake.th, NULL, fake_main, NULL) != 0)
		return -1;
	return 0;
}

static int fake_stop(void **state)
{
	shutdown(fake.fds[0], SHUT_RDWR);
	pthread_join(fake.th, NULL);
	close(fake.fds[0]);
	kw_chanpool_cleanup(&fake.pool);
	kw_ipc_msg_cleanup(&fake.last);
	return 0;
}

/* ---- helpers ---- */

static const json_t *jget(const json_t *j, const char *key)
{
	const json_t *v = json_object_get(j, key);

	if (v == NULL)
		fail_msg("no field \"%s\"", key);
	return v;
}

static const char *jstr(const json_t *j, const char *key)
{
	const json_t *v = jget(j, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static long long jint(const json_t *j, const char *key)
{
	const json_t *v = jget(j, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const json_t *jdata(const struct kw_resp *out)
{
	return jget(out->json, "data");
}

static const char *err_text(const struct kw_resp *out)
{
	return json_string_value(json_array_get(jget(out->json, "errors"), 0));
}

static void req_init(struct kw_req *r)
{
	kw_req_init(r, NULL, &fake.pool);
	assert_int_equal(kw_uuid_v4(r->id), 0);
	snprintf(r->remote, sizeof(r->remote), "192.0.2.7");
	r->port = 8200;
	r->token = "s.auditor";
}

/* kw_audit_answer as a handler would run it: errors become error bodies. */
static unsigned call(uint16_t type, const struct kw_audit_params *p, struct kw_resp *out)
{
	struct kw_req r;
	int err;

	memset(out, 0, sizeof(*out));
	req_init(&r);
	if ((err = kw_audit_answer(&r, type, p, out)) != 0) {
		kw_resp_cleanup(out);
		assert_int_equal(kw_resp_error(out, err, &r.fail), 0);
	}
	kw_req_cleanup(&r);
	return out->status;
}

/* Through the router, with no query at all (unit tests have no MHD
 * connection, so the handler sees an empty query). */
static unsigned dispatch(unsigned method, const char *path, struct kw_resp *out)
{
	struct kw_body b;
	struct kw_req r;

	req_init(&r);
	r.method = method;
	r.path = path;
	kw_body_init(&b, 4096);
	kw_dispatch(&r, &b, out);
	kw_req_cleanup(&r);
	kw_body_cleanup(&b);
	return out->status;
}

static const char *last_str(uint16_t tag)
{
	const char *s = NULL;

	if (kw_ipc_get_str(&fake.last, tag, &s) != 0)
		fail_msg("request has no %s", kw_ipc_tag_name(tag));
	return s;
}

static uint64_t last_u64(uint16_t tag)
{
	uint64_t v = 0;

	if (kw_ipc_get_u64(&fake.last, tag, &v) != 0)
		fail_msg("request has no %s", kw_ipc_tag_name(tag));
	return v;
}

static bool last_has(uint16_t tag)
{
	return kw_ipc_find(&fake.last, tag) != NULL;
}

#define ARGS(...) ((const struct kw_query_arg[]){__VA_ARGS__})
#define NARGS(...)                                                                                 \
	(sizeof((const struct kw_query_arg[]){__VA_ARGS__}) / sizeof(struct kw_query_arg))
/* Parse a query for type; 0 or the error, with the sentence in f. */
#define PARSE(type, p, f, ...)                                                                     \
	kw_audit_params_parse(type, ARGS(__VA_ARGS__), NARGS(__VA_ARGS__), p, f)

/* The parse fails with KW_ERR_INVALID and a sentence containing want. */
static void parse_fails(uint16_t type, const struct kw_query_arg *args, size_t n, const char *want)
{
	struct kw_audit_params p;
	struct kw_fail f = {0};

	assert_int_equal(kw_audit_params_parse(type, args, n, &p, &f), KW_ERR_INVALID);
	assert_int_equal(f.err, KW_ERR_INVALID);
	if (strstr(f.msg, want) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", f.msg, want);
}
#define FAILS(type, want, ...) parse_fails(type, ARGS(__VA_ARGS__), NARGS(__VA_ARGS__), want)

/* ---- time ---- */

static void time_good(void **state)
{
	static const struct {
		const char *in;
		uint64_t us;
	} cases[] = {
	    {"1970-01-01T00:00:00Z", 0},
	    {"2026-11-28T14:00:00Z", 1795874400000000ull},
	    {"2026-11-28t14:00:00z", 1795874400000000ull},
	    {"2026-11-28T15:30:00+01:30", 1795874400000000ull},
	    {"2026-11-28T15:30:00 01:30", 1795874400000000ull}, /* '+' decoded to ' ' */
	    {"2026-11-28T12:00:00-02:00", 1795874400000000ull},
	    {"2026-11-28T14:00:00.5Z", 1795874400500000ull},
	    {"2026-11-28T14:00:00.123456Z", 1795874400123456ull},
	    {"2026-11-28T14:00:00.0000001Z", 1795874400000001ull}, /* rounded up */
	    {"2026-11-28T14:00:00.999999999Z", 1795874401000000ull},
	    {"2000-02-29T00:00:00Z", 951782400000000ull},
	    {"2016-12-31T23:59:60Z", 1483228800000000ull}, /* leap second */
	    {"1795874400", 1795874400000000ull},
	    {"0", 0},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		uint64_t us = 1;

		if (kw_audit_time_parse(cases[i].in, &us) != 0)
			fail_msg("\"%s\" did not parse", cases[i].in);
		if (us != cases[i].us)
			fail_msg("\"%s\" -> %llu, want %llu", cases[i].in, (unsigned long long)us,
			         (unsigned long long)cases[i].us);
	}
}

static void time_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "2026-02-29T00:00:00Z",  /* not a leap year */
	    "2026-13-01T00:00:00Z",  /* month */
	    "2026-11-31T00:00:00Z",  /* day */
	    "2026-11-28T24:00:00Z",  /* hour */
	    "2026-11-28T14:60:00Z",  /* minute */
	    "2026-11-28T14:00:61Z",  /* second */
	    "2026-11-28T14:00:00",   /* no offset */
	    "2026-11-28 14:00:00Z",  /* separator */
	    "2026-11-28T14:00:00.Z", /* empty fraction */
	    "2026-11-28T14:00:00.1234567891Z",
	    "2026-11-28T14:00:00+1:00",
	    "2026-11-28T14:00:00+24:00",
	    "2026-11-28T14:00:00Zjunk",
	    "1970-01-01T00:00:00+00:01", /* before the epoch */
	    "26-11-28T14:00:00Z",
	    "-5",
	    "1e9",
	    "12abc",
	    "99999999999999999999",
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		uint64_t us = 7;

		if (kw_audit_time_parse(bad[i], &us) != KW_ERR_INVALID)
			fail_msg("\"%s\" parsed", bad[i]);
		assert_int_equal(us, 7); /* untouched on error */
	}
}

/* ---- parameters ---- */

static void params_search_all(void **state)
{
	struct kw_audit_params p;
	struct kw_fail f = {0};

	assert_int_equal(PARSE(KW_MSG_AUDIT_SEARCH, &p, &f, {"key", "app-1"},
	                       {"identity", "k8s:payments/api"}, {"operation", "key-create"},
	                       {"since", "2026-11-28T14:00:00Z"}, {"until", "1795878000"},
	                       {"cursor", "12"}, {"limit", "1000"}),
	                 0);
	assert_string_equal(p.key, "app-1");
	assert_string_equal(p.identity, "k8s:payments/api");
	assert_string_equal(p.operation, "key-create");
	assert_int_equal(p.since_us, 1795874400000000ull);
	assert_int_equal(p.until_us, 1795878000000000ull);
	assert_int_equal(p.cursor, 12);
	assert_int_equal(p.limit, 1000);
	assert_int_equal(p.set, KW_AP(KW_AP_KEY) | KW_AP(KW_AP_IDENTITY) | KW_AP(KW_AP_OPERATION) |
	                            KW_AP(KW_AP_SINCE) | KW_AP(KW_AP_UNTIL) | KW_AP(KW_AP_CURSOR) |
	                            KW_AP(KW_AP_LIMIT));
	/* Nothing at all is a search of everything. */
	assert_int_equal(kw_audit_params_parse(KW_MSG_AUDIT_SEARCH, NULL, 0, &p, &f), 0);
	assert_int_equal(p.set, 0);
	assert_null(p.key);
}

static void params_numbers(void **state)
{
	struct kw_audit_params p;
	struct kw_fail f = {0};

	assert_int_equal(PARSE(KW_MSG_AUDIT_ENTRIES, &p, &f, {"start", "0"}, {"end", "1000"}), 0);
	assert_int_equal(p.start, 0);
	assert_int_equal(p.end, 1000);
	assert_int_equal(PARSE(KW_MSG_AUDIT_INCLUSION, &p, &f, {"tree_size", "9223372036854775807"},
	                       {"index", "9223372036854775806"}),
	                 0);
	assert_int_equal(p.tree_size, INT64_MAX);
	assert_int_equal(PARSE(KW_MSG_AUDIT_CONSISTENCY, &p, &f, {"first", "5"}, {"second", "5"}),
	                 0);
	FAILS(KW_MSG_AUDIT_ENTRIES, "\"start\" must be a decimal integer", {"start", "-1"});
	FAILS(KW_MSG_AUDIT_ENTRIES, "\"start\" must be a decimal integer", {"start", "1x"});
	FAILS(KW_MSG_AUDIT_ENTRIES, "\"start\" must be a decimal integer", {"start", " 1"});
	FAILS(KW_MSG_AUDIT_ENTRIES, "\"end\" must be a decimal integer", {"start", "1"},
	      {"end", "9223372036854775808"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"cursor\" must be a decimal integer", {"cursor", "0x10"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"limit\" must be from 1 to 1000", {"limit", "0"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"limit\" must be from 1 to 1000", {"limit", "1001"});
}

static void params_unknown(void **state)
{
	FAILS(KW_MSG_AUDIT_SEARCH, "unknown query parameter \"keys\"", {"keys", "app-1"});
	/* A known name on the wrong endpoint is just as unknown there. */
	FAILS(KW_MSG_AUDIT_ENTRIES, "unknown query parameter \"cursor\"", {"start", "0"},
	      {"cursor", "1"});
	FAILS(KW_MSG_AUDIT_CHECKPOINT, "unknown query parameter \"start\"", {"start", "0"});
	/* Names are echoed short and printable only. */
	FAILS(KW_MSG_AUDIT_SEARCH, "unknown query parameter \"a?b\"", {"a\nb", "1"});
	FAILS(
	    KW_MSG_AUDIT_SEARCH, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"",
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1"});
}

static void params_repeated_empty_missing(void **state)
{
	FAILS(KW_MSG_AUDIT_SEARCH, "\"key\" is given twice", {"key", "a"}, {"key", "b"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"key\" has no value", {"key", ""});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"operation\" has no value", {"operation", NULL});
	FAILS(KW_MSG_AUDIT_ENTRIES, "\"start\" is required", {"end", "4"});
	FAILS(KW_MSG_AUDIT_INCLUSION, "\"tree_size\" is required", {"index", "4"});
	FAILS(KW_MSG_AUDIT_INCLUSION, "\"index\" is required", {"tree_size", "4"});
	FAILS(KW_MSG_AUDIT_CONSISTENCY, "\"second\" is required", {"first", "4"});
}

static void params_text(void **state)
{
	FAILS(KW_MSG_AUDIT_SEARCH, "\"key\" must be a key name", {"key", "a/b"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"key\" must be a key name", {"key", ".."});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"operation\" must be an operation name",
	      {"operation", "Sign"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"identity\" must be UTF-8 text", {"identity", "a\tb"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"identity\" must be UTF-8 text", {"identity", "\xc0\xaf"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"identity\" must be UTF-8 text", {"identity", "\xed\xa0\x80"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"identity\" must be UTF-8 text", {"identity", "\xe2\x82"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"since\" must be an RFC 3339 time", {"since", "yesterday"});
	{
		struct kw_audit_params p;
		struct kw_fail f = {0};

		assert_int_equal(
		    PARSE(KW_MSG_AUDIT_SEARCH, &p, &f, {"identity", "spiffe://prod/é/€/𝄞"}), 0);
		assert_string_equal(p.identity, "spiffe://prod/é/€/𝄞");
	}
}

static void params_ranges(void **state)
{
	FAILS(KW_MSG_AUDIT_ENTRIES, "\"end\" must be above \"start\"", {"start", "5"},
	      {"end", "5"});
	FAILS(KW_MSG_AUDIT_INCLUSION, "\"index\" must be below \"tree_size\"", {"index", "5"},
	      {"tree_size", "5"});
	FAILS(KW_MSG_AUDIT_CONSISTENCY, "\"first\" must not be above \"second\"", {"first", "6"},
	      {"second", "5"});
	FAILS(KW_MSG_AUDIT_CONSISTENCY, "\"first\" must be at least 1", {"first", "0"},
	      {"second", "5"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"until\" must be after \"since\"", {"since", "100"},
	      {"until", "100"});
	FAILS(KW_MSG_AUDIT_SEARCH, "\"until\" must be after 1970", {"until", "0"});
}

/* ---- answers through the fake keeper ---- */

static void answer_checkpoint(void **state)
{
	struct kw_resp out;

	assert_int_equal(dispatch(KW_M_GET, "keyward/audit/checkpoint", &out), 200);
	assert_int_equal(fake.last.type, KW_MSG_AUDIT_CHECKPOINT);
	assert_string_equal(last_str(KW_T_TOKEN), "s.auditor");
	assert_string_equal(last_str(KW_T_REMOTE_ADDR), "192.0.2.7");
	assert_string_equal(jstr(jdata(&out), "checkpoint"),
	                    "keyward/audit/n1\n3\nAAAA\n\n— sig\n");
	assert_string_equal(jstr(jdata(&out), "public_key"), "-----BEGIN PUBLIC KEY-----\n");
	assert_string_equal(jstr(jdata(&out), "verifier_key"), "keyward/audit/n1+01020304+AQID");
	assert_int_equal(strlen(jstr(out.json, "request_id")), 36);
	kw_resp_cleanup(&out);
}

static void answer_entries(void **state)
{
	struct kw_audit_params p = {
	    .set = KW_AP(KW_AP_START) | KW_AP(KW_AP_END), .start = 5, .end = 7};
	struct kw_resp out;
	const json_t *arr, *e0, *dec;
	struct kw_buf want;
	char *b64;

	assert_int_equal(call(KW_MSG_AUDIT_ENTRIES, &p, &out), 200);
	assert_int_equal(fake.last.type, KW_MSG_AUDIT_ENTRIES);
	assert_int_equal(last_u64(KW_T_START), 5);
	assert_int_equal(last_u64(KW_T_END), 7);
	assert_int_equal(jint(jdata(&out), "tree_size"), 42);
	arr = jget(jdata(&out), "entries");
	assert_int_equal(json_array_size(arr), 2);
	e0 = json_array_get(arr, 0);
	assert_int_equal(jint(e0, "index"), 5);
	assert_int_equal(jint(json_array_get(arr, 1), "index"), 6);
	/* The leaf is served byte for byte, the entry decoded from it. */
	kw_buf_init(&want);
	assert_int_equal(leaf_make(5, &want), 0);
	assert_int_equal(kw_base64_encode(want.data, want.len, &b64), 0);
	assert_string_equal(jstr(e0, "leaf"), b64);
	free(b64);
	kw_buf_cleanup(&want);
	dec = jget(e0, "entry");
	assert_int_equal(jint(dec, "index"), 5);
	assert_string_equal(jstr(dec, "operation"), "sign");
	assert_string_equal(jstr(dec, "key_name"), "app-1");
	assert_int_equal(jint(dec, "key_version"), 2);
	assert_string_equal(jstr(dec, "accessor"), "acc-1");
	assert_string_equal(jstr(dec, "time"), "2026-11-28T14:00:00.123456Z");
	assert_string_equal(jstr(dec, "output_sha256"),
	                    "abababababababababababababababababababababababababababababababab");
	assert_true(json_is_null(jget(dec, "input_sha256")));
	kw_resp_cleanup(&out);
	/* No end: none sent, the keeper picks its page. */
	p.set = KW_AP(KW_AP_START);
	assert_int_equal(call(KW_MSG_AUDIT_ENTRIES, &p, &out), 200);
	assert_false(last_has(KW_T_END));
	kw_resp_cleanup(&out);
}

static void answer_entries_undecodable(void **state)
{
	struct kw_audit_params p = {.set = KW_AP(KW_AP_START), .start = 0};
	struct kw_resp out;
	const json_t *e0;

	fake.kind = R_BAD_LEAF;
	assert_int_equal(call(KW_MSG_AUDIT_ENTRIES, &p, &out), 200);
	e0 = json_array_get(jget(jdata(&out), "entries"), 0);
	assert_string_equal(jstr(e0, "leaf"), "fyBnYXJiYWdl");
	assert_true(json_is_null(jget(e0, "entry")));
	kw_resp_cleanup(&out);
}

static void answer_broken_replies(void **state)
{
	struct kw_audit_params p = {.set = KW_AP(KW_AP_START)};
	struct kw_audit_params incl = {
	    .set = KW_AP(KW_AP_INDEX) | KW_AP(KW_AP_TREE_SIZE), .index = 1, .tree_size = 4};
	struct kw_resp out;

	fake.kind = R_BAD_ENTRY;
	assert_int_equal(call(KW_MSG_AUDIT_ENTRIES, &p, &out), 500);
	assert_string_equal(jstr(out.json, "code"), "internal");
	kw_resp_cleanup(&out);
	fake.kind = R_NO_SIZE;
	assert_int_equal(call(KW_MSG_AUDIT_ENTRIES, &p, &out), 500);
	kw_resp_cleanup(&out);
	assert_int_equal(call(KW_MSG_AUDIT_SEARCH, &p, &out), 500);
	kw_resp_cleanup(&out);
	fake.kind = R_BAD_HASH;
	assert_int_equal(call(KW_MSG_AUDIT_INCLUSION, &incl, &out), 500);
	kw_resp_cleanup(&out);
}

static void answer_proofs(void **state)
{
	struct kw_audit_params incl = {
	    .set = KW_AP(KW_AP_INDEX) | KW_AP(KW_AP_TREE_SIZE), .index = 3, .tree_size = 9};
	struct kw_audit_params cons = {
	    .set = KW_AP(KW_AP_FIRST) | KW_AP(KW_AP_SECOND), .first = 4, .second = 9};
	struct kw_resp out;
	const json_t *h;

	assert_int_equal(call(KW_MSG_AUDIT_INCLUSION, &incl, &out), 200);
	assert_int_equal(fake.last.type, KW_MSG_AUDIT_INCLUSION);
	assert_int_equal(last_u64(KW_T_INDEX), 3);
	assert_int_equal(last_u64(KW_T_TREE_SIZE), 9);
	h = jget(jdata(&out), "hashes");
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(json_string_value(json_array_get(h, 0)),
	                    "EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA=");
	assert_string_equal(json_string_value(json_array_get(h, 1)),
	                    "ERERERERERERERERERERERERERERERERERERERERERE=");
	kw_resp_cleanup(&out);
	assert_int_equal(call(KW_MSG_AUDIT_CONSISTENCY, &cons, &out), 200);
	assert_int_equal(fake.last.type, KW_MSG_AUDIT_CONSISTENCY);
	assert_int_equal(last_u64(KW_T_FIRST), 4);
	assert_int_equal(last_u64(KW_T_SECOND), 9);
	assert_int_equal(json_array_size(jget(jdata(&out), "hashes")), 2);
	kw_resp_cleanup(&out);
}

static void answer_search(void **state)
{
	struct kw_audit_params p;
	struct kw_fail f = {0};
	struct kw_resp out;
	const json_t *arr;

	assert_int_equal(PARSE(KW_MSG_AUDIT_SEARCH, &p, &f, {"key", "app-1"}, {"identity", "acc-1"},
	                       {"operation", "sign"}, {"since", "2026-11-28T14:00:00Z"},
	                       {"until", "2026-11-28T15:00:00.5Z"}, {"cursor", "3"},
	                       {"limit", "10"}),
	                 0);
	assert_int_equal(call(KW_MSG_AUDIT_SEARCH, &p, &out), 200);
	assert_int_equal(fake.last.type, KW_MSG_AUDIT_SEARCH);
	assert_string_equal(last_str(KW_T_NAME), "app-1");
	assert_string_equal(last_str(KW_T_IDENTITY), "acc-1");
	assert_string_equal(last_str(KW_T_OPERATION), "sign");
	assert_int_equal(last_u64(KW_T_SINCE), 1795874400000000ull);
	assert_int_equal(last_u64(KW_T_UNTIL), 1795878000500000ull);
	assert_int_equal(last_u64(KW_T_CURSOR), 3);
	assert_int_equal(kw_ipc_u32_or(&fake.last, KW_T_LIMIT, 0), 10);
	arr = jget(jdata(&out), "entries");
	assert_int_equal(json_array_size(arr), 1);
	assert_int_equal(jint(json_array_get(arr, 0), "index"), 7);
	assert_int_equal(jint(jdata(&out), "next_cursor"), 8);
	kw_resp_cleanup(&out);
	/* Filters not given are not sent. */
	assert_int_equal(kw_audit_params_parse(KW_MSG_AUDIT_SEARCH, NULL, 0, &p, &f), 0);
	assert_int_equal(call(KW_MSG_AUDIT_SEARCH, &p, &out), 200);
	assert_false(last_has(KW_T_NAME) || last_has(KW_T_IDENTITY) || last_has(KW_T_OPERATION) ||
	             last_has(KW_T_SINCE) || last_has(KW_T_UNTIL) || last_has(KW_T_CURSOR) ||
	             last_has(KW_T_LIMIT));
	kw_resp_cleanup(&out);
}

static void answer_keeper_error(void **state)
{
	struct kw_resp out;

	fake.kind = R_FAIL;
	fake.fail_status = KW_ERR_DENIED;
	assert_int_equal(dispatch(KW_M_GET, "keyward/audit/checkpoint", &out), 403);
	assert_string_equal(jstr(out.json, "code"), "permission_denied");
	assert_string_equal(err_text(&out), "not allowed on keyward/audit");
	kw_resp_cleanup(&out);
	fake.fail_status = KW_ERR_UNAVAILABLE;
	assert_int_equal(dispatch(KW_M_GET, "keyward/audit/checkpoint", &out), 503);
	kw_resp_cleanup(&out);
}

/* ---- routes ---- */

static void routes(void **state)
{
	static const char *const paths[] = {
	    "keyward/audit/checkpoint", "keyward/audit/entries", "keyward/audit/proof/inclusion",
	    "keyward/audit/proof/consistency", "keyward/audit/search"};
	static const kw_handler fns[] = {kw_h_audit_checkpoint, kw_h_audit_entries,
	                                 kw_h_audit_inclusion, kw_h_audit_consistency,
	                                 kw_h_audit_search};
	struct kw_resp out;

	for (size_t i = 0; i < KW_ARRAY_LEN(paths); i++) {
		const struct kw_route *rt;
		struct kw_route_args a;
		unsigned allowed = 0;

		assert_int_equal(kw_route_find(KW_M_GET, paths[i], &rt, &a, &allowed), 0);
		assert_ptr_equal(rt->fn, fns[i]);
		kw_route_args_cleanup(&a);
		assert_int_equal(kw_route_find(KW_M_POST, paths[i], &rt, &a, &allowed),
		                 KW_ERR_UNSUPPORTED);
		assert_int_equal(allowed, KW_M_GET);
	}
	/* The handler parses the (here empty) query before calling the keeper. */
	assert_int_equal(dispatch(KW_M_GET, "keyward/audit/entries", &out), 400);
	assert_string_equal(jstr(out.json, "code"), "invalid_request");
	assert_non_null(strstr(err_text(&out), "\"start\" is required"));
	assert_int_equal(fake.nreq, 0);
	kw_resp_cleanup(&out);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T("/front/audit/time-good", time_good),
	    T("/front/audit/time-bad", time_bad),
	    T("/front/audit/params-search-all", params_search_all),
	    T("/front/audit/params-numbers", params_numbers),
	    T("/front/audit/params-unknown", params_unknown),
	    T("/front/audit/params-repeated-empty-missing", params_repeated_empty_missing),
	    T("/front/audit/params-text", params_text),
	    T("/front/audit/params-ranges", params_ranges),
	    T("/front/audit/answer-checkpoint", answer_checkpoint),
	    T("/front/audit/answer-entries", answer_entries),
	    T("/front/audit/answer-entries-undecodable", answer_entries_undecodable),
	    T("/front/audit/answer-broken-replies", answer_broken_replies),
	    T("/front/audit/answer-proofs", answer_proofs),
	    T("/front/audit/answer-search", answer_search),
	    T("/front/audit/answer-keeper-error", answer_keeper_error),
	    T("/front/audit/routes", routes),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	kw_json_wipe_init();
	kw_log_set_level(KW_LOG_ERR);
	return cmocka_run_group_tests_name("/front/audit", tests, NULL, NULL);
}
