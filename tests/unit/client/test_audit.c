/*
 * test_audit.c: the audit side of libkeyward and the keyward CLI — the time
 * syntax, the audit commands' flags, and `keyward audit verify | search |
 * prove | report` run end to end, with the report's three formats compared
 * with golden files in golden/ (KW_GOLDEN_UPDATE=1 rewrites them).
 *
 * The server is a fake that serves a real log: real leaves, a real Merkle
 * tree (src/audit) and checkpoints signed with an Ed25519 key made here, so
 * proofs and verification are checked for real. It can serve one leaf
 * altered, as a server with an edited log would. `audit verify -dir` runs
 * on a log directory written with src/audit's own writer.
 *
 * One test alone: test_client_audit '/cli/audit/report-*'
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "../../../src/audit/audit.h"
#include "../../../src/cli/cli.h"

#define GOLDEN_DIR  KW_SOURCE_DIR "/tests/unit/client/golden/"
#define OUT_MAX     32768
#define ENTRIES     9
#define SEARCH_PAGE 2 /* the fake's page: small, so cursors are followed */
#define ORIGIN      "keyward/audit/test-node"
#define T0          1795874400000000ull /* 2026-11-28T14:00:00Z */
#define S           1000000ull

#define TEST(path, fn)                                                                             \
	{                                                                                          \
		path, fn, NULL, NULL, NULL                                                         \
	}

/* ---- a signing key ---- */

static EVP_PKEY *sign_key;
static uint8_t sign_pub[KW_AUDIT_ED25519_PUBLIC_BYTES];
static char *verifier_text; /* C2SP verifier key string */

static int ed25519_sign(void *ctx, const uint8_t *msg, size_t len,
                        uint8_t sig[KW_AUDIT_ED25519_SIG_BYTES])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = KW_AUDIT_ED25519_SIG_BYTES;
	int ok;

	ok = md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, ctx) == 1 &&
	     EVP_DigestSign(md, sig, &n, msg, len) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : KW_ERR_CRYPTO;
}

static struct kw_audit_signer signer_of(EVP_PKEY *k, const uint8_t *pub)
{
	struct kw_audit_signer s = {.name = ORIGIN, .sign = ed25519_sign, .ctx = k};

	memcpy(s.public_key, pub, sizeof(s.public_key));
	return s;
}

/* A fresh Ed25519 key and its raw public key; NULL on failure. */
static EVP_PKEY *key_new(uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES])
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	size_t n = KW_AUDIT_ED25519_PUBLIC_BYTES;

	if (k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &n) != 1) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

/* Serve entry index altered from now on (-1: none). */
static void tamper(int index);

/* ---- the log's entries ---- */

struct fixture_entry {
	uint64_t t; /* after T0, us */
	const char *subject, *accessor, *source, *op, *key;
	uint32_t version;
	int32_t result;
	int in, out; /* digest byte, 0 = none */
};

static const struct fixture_entry fixture[ENTRIES] = {
    {0, "root", "acc-root", "192.0.2.7", "key-create", "app-1", 0, 0, 0, 0},
    {1 * S + 5, "root", "acc-root", "192.0.2.7", "sign", "app-1", 1, 0, 0x11, 0x21},
    {2 * S, "=HYPERLINK(\"x\")", "acc-2", "192.0.2.8", "sign", "app-1", 1, KW_ERR_DENIED, 0x12, 0},
    {3 * S, "ci, deploy", "acc-3", "192.0.2.9", "decrypt", "app-1", 1, 0, 0x13, 0x23},
    {4 * S, "root", "acc-root", "192.0.2.7", "sign", "other", 3, 0, 0x14, 0x24},
    {5 * S, "root", "acc-root", "192.0.2.7", "key-read", "app-1", 0, 0, 0, 0},
    {6 * S, "root", "acc-root", "192.0.2.7", "hmac", "app-1", 1, 0, 0x16, 0x26},
    {10 * S, "root", "acc-root", "192.0.2.7", "sign", "app-1", 1, 0, 0x17, 0x27},
    {11 * S, "svc", "acc-4", "2001:db8::1", "encrypt", "app-1", 1, 0, 0x18, 0x28},
};

static void entry_of(uint64_t i, struct kw_audit_entry *e, char path[64], char req[40])
{
	const struct fixture_entry *f = &fixture[i];

	memset(e, 0, sizeof(*e));
	snprintf(path, 64, "transit/%s/%s", f->op, f->key);
	snprintf(req, 40, "00000000-0000-4000-8000-%012llu", (unsigned long long)i);
	e->index = i;
	e->time_us = T0 + f->t;
	e->node_id = "test-node";
	e->auth_method = "token";
	e->subject = f->subject;
	e->accessor = f->accessor;
	e->source_addr = f->source;
	e->listener_port = 8200;
	e->operation = f->op;
	e->path = path;
	e->key_name = f->key;
	e->key_version = f->version;
	e->result = f->result;
	e->has_input_sha256 = f->in != 0;
	memset(e->input_sha256, f->in, sizeof(e->input_sha256));
	e->has_output_sha256 = f->out != 0;
	memset(e->output_sha256, f->out, sizeof(e->output_sha256));
	e->request_id = req;
}

/* ---- the fake server ---- */

struct srv {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	char url[64];
	struct kw_buf leaf[ENTRIES];
	struct kw_audit_tree *tree;
	uint64_t cp_size; /* what its checkpoint covers */
	char *note;
	int tamper; /* index served altered, -1 for none */
	char search_args[1024];
	unsigned searches;
};

static struct srv srv;

static int add_u64(json_t *o, const char *k, uint64_t v)
{
	return json_object_set_new(o, k, json_integer((json_int_t)v));
}

static json_t *entry_item(uint64_t i)
{
	struct kw_audit_entry *e = NULL;
	struct kw_buf b;
	json_t *o = json_object(), *dec = NULL;
	char *b64;

	kw_buf_init(&b);
	assert_int_equal(kw_buf_append(&b, srv.leaf[i].data, srv.leaf[i].len), 0);
	if ((int)i == srv.tamper)
		b.data[b.len - 3] ^= 0x01; /* the request id's last character (then empty claims) */
	assert_int_equal(kw_base64_encode(b.data, b.len, &b64), 0);
	assert_int_equal(kw_audit_entry_decode(b.data, b.len, &e), 0);
	assert_int_equal(kw_audit_entry_to_json(e, &dec), 0);
	kw_audit_entry_free(e);
	add_u64(o, "index", i);
	json_object_set_new(o, "leaf", json_string(b64));
	json_object_set_new(o, "entry", dec);
	free(b64);
	kw_buf_cleanup(&b);
	return o;
}

static uint64_t arg_u64(struct MHD_Connection *c, const char *k, uint64_t def)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);

	return v ? strtoull(v, NULL, 10) : def;
}

static const char *arg(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static json_t *answer_entries(struct MHD_Connection *c)
{
	uint64_t start = arg_u64(c, "start", 0), end = arg_u64(c, "end", ENTRIES);
	json_t *d = json_object(), *arr = json_array();

	for (uint64_t i = start; i < end && i < ENTRIES; i++)
		json_array_append_new(arr, entry_item(i));
	json_object_set_new(d, "entries", arr);
	add_u64(d, "tree_size", ENTRIES);
	return d;
}

static json_t *hashes(const struct kw_audit_proof *p)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < p->count; i++) {
		char *b64;

		assert_int_equal(kw_base64_encode(p->hash[i], KW_AUDIT_HASH_BYTES, &b64), 0);
		json_array_append_new(arr, json_string(b64));
		free(b64);
	}
	return arr;
}

static json_t *answer_proof(struct MHD_Connection *c, bool inclusion)
{
	struct kw_audit_proof p;
	json_t *d = json_object();
	int r;

	if (inclusion)
		r = kw_audit_tree_prove_inclusion(srv.tree, arg_u64(c, "index", 0),
		                                  arg_u64(c, "tree_size", 0), &p);
	else
		r = kw_audit_tree_prove_consistency(srv.tree, arg_u64(c, "first", 0),
		                                    arg_u64(c, "second", 0), &p);
	assert_int_equal(r, 0);
	json_object_set_new(d, "hashes", hashes(&p));
	return d;
}

static enum MHD_Result record_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	size_t n = strlen(srv.search_args);

	snprintf(srv.search_args + n, sizeof(srv.search_args) - n, "%s=%s;", k, v ? v : "");
	return MHD_YES;
}

static bool search_match(struct MHD_Connection *c, uint64_t i)
{
	struct kw_audit_entry e;
	char path[64], req[40];
	const char *key = arg(c, "key"), *op = arg(c, "operation"), *id = arg(c, "identity");
	uint64_t since = 0, until = UINT64_MAX;

	entry_of(i, &e, path, req);
	if (arg(c, "since") && kw_client_audit_time_parse(arg(c, "since"), &since) != 0)
		fail_msg("bad since");
	if (arg(c, "until") && kw_client_audit_time_parse(arg(c, "until"), &until) != 0)
		fail_msg("bad until");
	return (!key || strcmp(key, e.key_name) == 0) && (!op || strcmp(op, e.operation) == 0) &&
	       (!id || strcmp(id, e.subject) == 0 || strcmp(id, e.accessor) == 0) &&
	       e.time_us >= since && e.time_us < until;
}

static json_t *answer_search(struct MHD_Connection *c)
{
	uint64_t i = arg_u64(c, "cursor", 0);
	json_t *d = json_object(), *arr = json_array();
	size_t found = 0;

	srv.searches++;
	srv.search_args[0] = '\0';
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, record_arg, NULL);
	for (; i < ENTRIES && found < SEARCH_PAGE; i++) {
		if (search_match(c, i)) {
			json_array_append_new(arr, entry_item(i));
			found++;
		}
	}
	json_object_set_new(d, "entries", arr);
	add_u64(d, "next_cursor", i);
	return d;
}

static json_t *answer_checkpoint(void)
{
	json_t *d = json_object();

	json_object_set_new(d, "checkpoint", json_string(srv.note));
	json_object_set_new(d, "public_key", json_string("-----BEGIN PUBLIC KEY-----\n"));
	json_object_set_new(d, "verifier_key", json_string(verifier_text));
	return d;
}

static enum MHD_Result srv_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_size, void **con_cls)
{
	static int marker;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	json_t *data = NULL, *o;
	char *text;

	if (*con_cls == NULL) {
		*con_cls = &marker;
		return MHD_YES;
	}
	pthread_mutex_lock(&srv.lock);
	if (strcmp(url, "/v1/keyward/audit/checkpoint") == 0)
		data = answer_checkpoint();
	else if (strcmp(url, "/v1/keyward/audit/entries") == 0)
		data = answer_entries(c);
	else if (strcmp(url, "/v1/keyward/audit/search") == 0)
		data = answer_search(c);
	else if (strcmp(url, "/v1/keyward/audit/proof/inclusion") == 0)
		data = answer_proof(c, true);
	else if (strcmp(url, "/v1/keyward/audit/proof/consistency") == 0)
		data = answer_proof(c, false);
	pthread_mutex_unlock(&srv.lock);
	o = data ? json_pack("{s:o}", "data", data)
	         : json_pack("{s:[s], s:s}", "errors", "no such path", "code", "unsupported_path");
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(c, data ? 200 : 404, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void tamper(int index)
{
	pthread_mutex_lock(&srv.lock);
	srv.tamper = index;
	pthread_mutex_unlock(&srv.lock);
}

static void srv_note(uint64_t size)
{
	struct kw_audit_signer s = signer_of(sign_key, sign_pub);
	struct kw_audit_checkpoint cp = {.origin = ORIGIN, .size = size};

	assert_int_equal(kw_audit_tree_root(srv.tree, size, cp.root), 0);
	free(srv.note);
	assert_int_equal(kw_audit_checkpoint_sign(&cp, &s, &srv.note), 0);
	srv.cp_size = size;
}

static int srv_start(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&srv, 0, sizeof(srv));
	srv.tamper = -1;
	pthread_mutex_init(&srv.lock, NULL);
	assert_int_equal(kw_audit_tree_new(&srv.tree), 0);
	for (uint64_t i = 0; i < ENTRIES; i++) {
		uint8_t h[KW_AUDIT_HASH_BYTES];
		struct kw_audit_entry e;
		char path[64], req[40];

		entry_of(i, &e, path, req);
		kw_buf_init(&srv.leaf[i]);
		assert_int_equal(kw_audit_entry_encode(&e, &srv.leaf[i]), 0);
		assert_int_equal(kw_audit_leaf_hash(srv.leaf[i].data, srv.leaf[i].len, h), 0);
		assert_int_equal(kw_audit_tree_append(srv.tree, h), 0);
	}
	srv_note(ENTRIES);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	snprintf(srv.url, sizeof(srv.url), "http://127.0.0.1:%u", ntohs(sin.sin_port));
	srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
	                         NULL, NULL, srv_handler, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
	                         MHD_OPTION_END);
	return srv.d ? 0 : -1;
}

static int srv_stop(void **state)
{
	MHD_stop_daemon(srv.d);
	for (size_t i = 0; i < ENTRIES; i++)
		kw_buf_cleanup(&srv.leaf[i]);
	kw_audit_tree_free(srv.tree);
	free(srv.note);
	pthread_mutex_destroy(&srv.lock);
	return 0;
}

/* ---- running a command ---- */

struct run {
	int rc;
	char out[OUT_MAX];
	size_t outlen;
	char err[4096];
};

static size_t drain(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return (size_t)n;
}

/* Parse argv, run it against srv with stdout and stderr captured. */
static void run(struct run *r, char **argv)
{
	struct kw_client_opts o = {.address = srv.url, .token = "t0k"};
	struct kw_client *c = NULL;
	struct cli_args a;
	char perr[CLI_ERR_MAX];
	int argc = 0, out_fd, err_fd, saved_out, saved_err;

	while (argv[argc] != NULL)
		argc++;
	if (cli_parse(argc, argv, &a, perr, sizeof(perr)) != 0)
		fail_msg("parse: %s", perr);
	assert_int_equal(kw_client_new(&o, &c), 0);
	out_fd = memfd_create("stdout", 0);
	err_fd = memfd_create("stderr", 0);
	assert_true(out_fd >= 0 && err_fd >= 0);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	r->rc = a.cmd->run(c, &a);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	r->outlen = drain(out_fd, r->out, sizeof(r->out));
	drain(err_fd, r->err, sizeof(r->err));
	kw_client_free(c);
}

#define RUN(r, ...) run(r, (char *[]){"keyward", __VA_ARGS__, NULL})

static void golden(const char *name, const struct run *r)
{
	char path[512], want[OUT_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), GOLDEN_DIR "%s", name);
	if (getenv("KW_GOLDEN_UPDATE") != NULL) {
		f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(r->out, 1, r->outlen, f);
		fclose(f);
	}
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(want, 1, sizeof(want), f);
	fclose(f);
	if (n != r->outlen || memcmp(want, r->out, n) != 0)
		fail_msg("output differs from %s:\n%s", path, r->out);
}

static void contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not in:\n%s", needle, hay);
}

/* ---- times and flags ---- */

static void time_parse(void **state)
{
	static const struct {
		const char *in;
		uint64_t us;
	} good[] = {
	    {"2026-11-28T14:00:00Z", T0},
	    {"2026-11-28t14:00:00.000001z", T0 + 1},
	    {"2026-11-28T15:00:00+01:00", T0},
	    {"2026-11-28T13:30:00.25-00:30", T0 + 250000},
	    {"2026-11-28T14:00:00.0000000001Z", 0}, /* ten digits: refused below */
	    {"1795874400", T0},
	    {"2016-12-31T23:59:60Z", 1483228800000000ull},
	};
	static const char *const bad[] = {"",
	                                  "2026-02-30T00:00:00Z",
	                                  "2026-1-5T00:00:00Z",
	                                  "2026-11-28T14:00:00",
	                                  "2026-11-28T14:00:00+0100",
	                                  "2026-11-28 14:00:00Z",
	                                  "+2026-11-28T14:00:00Z",
	                                  "1.5",
	                                  "1969-12-31T23:59:59Z",
	                                  "99999999999999999999"};
	char text[40];

	for (size_t i = 0; i < KW_ARRAY_LEN(good); i++) {
		uint64_t us = 0;
		int r = kw_client_audit_time_parse(good[i].in, &us);

		if (good[i].us == 0) {
			assert_int_equal(r, KW_ERR_INVALID);
			continue;
		}
		if (r != 0 || us != good[i].us)
			fail_msg("\"%s\": %d %llu", good[i].in, r, (unsigned long long)us);
	}
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		if (kw_client_audit_time_parse(bad[i], &(uint64_t){0}) != KW_ERR_INVALID)
			fail_msg("\"%s\" parsed", bad[i]);
	kw_client_audit_time_format(T0 + 123, text, sizeof(text));
	assert_string_equal(text, "2026-11-28T14:00:00.000123Z");
}

static int parse(char **argv, struct cli_args *a, char *err)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	return cli_parse(argc, argv, a, err, CLI_ERR_MAX);
}

#define PARSE(a, err, ...) parse((char *[]){"keyward", __VA_ARGS__, NULL}, a, err)

static void flags(void **state)
{
	char err[CLI_ERR_MAX];
	struct cli_args a;

	/* -key means a verifier key to verify, a key name to report. */
	assert_int_equal(PARSE(&a, err, "audit", "verify", "--dir", "/d", "--key", "v+1+2",
	                       "--checkpoint", "c1", "--checkpoint", "c2"),
	                 0);
	assert_string_equal(a.dir, "/d");
	assert_string_equal(a.verifier, "v+1+2");
	assert_null(a.key_name);
	assert_int_equal(a.ncheckpoints, 2);
	assert_int_equal(PARSE(&a, err, "audit", "report", "-key", "app-1", "-from", "1795874400",
	                       "-to", "2026-11-28T15:00:00Z", "-format", "csv"),
	                 0);
	assert_string_equal(a.key_name, "app-1");
	assert_null(a.verifier);
	assert_int_equal(a.from_us, T0);
	assert_int_equal(a.to_us, T0 + 3600 * S);
	assert_int_equal(a.format, CLI_FORMAT_CSV);
	assert_int_equal(PARSE(&a, err, "audit", "prove", "-index", "3", "-tree-size", "9"), 0);
	assert_int_equal(a.index, 3);
	assert_int_equal(a.tree_size, 9);
	assert_int_equal(PARSE(&a, err, "audit", "prove", "-first", "0", "-second", "9"), 0);
	assert_int_equal(a.second, 9);
}

static void flags_refused(void **state)
{
	static const struct {
		char *argv[12];
		const char *why;
	} cases[] = {
	    {{"keyward", "audit", "verify", "-key", "a", "-key-file", "f"}, "not both"},
	    {{"keyward", "audit", "prove"}, "give -index N"},
	    {{"keyward", "audit", "prove", "-index", "1", "-first", "1", "-second", "2"},
	     "give -index N"},
	    {{"keyward", "audit", "prove", "-tree-size", "3"}, "-tree-size needs -index"},
	    {{"keyward", "audit", "prove", "-index", "3", "-tree-size", "3"}, "below -tree-size"},
	    {{"keyward", "audit", "prove", "-first", "3"}, "both -first and -second"},
	    {{"keyward", "audit", "prove", "-first", "4", "-second", "3"}, "not be above"},
	    {{"keyward", "audit", "prove", "-index", "-1"}, "takes a number"},
	    {{"keyward", "audit", "report", "-key", "k", "-from", "1"}, "are required"},
	    {{"keyward", "audit", "report", "-key", "k", "-from", "2", "-to", "1"},
	     "-to must be after -from"},
	    {{"keyward", "audit", "report", "-key", "k", "-from", "yesterday", "-to", "1"},
	     "flag -from takes RFC 3339"},
	    {{"keyward", "audit", "search", "-since", "5", "-until", "5"}, "-until must be after"},
	    {{"keyward", "audit", "search", "-format", "csv"}, "csv is for audit report only"},
	    {{"keyward", "audit", "search", "-dir", "x"}, "unknown flag -dir"},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		char err[CLI_ERR_MAX];
		struct cli_args a;
		int argc = 0;

		while (cases[i].argv[argc] != NULL)
			argc++;
		assert_int_equal(cli_parse(argc, cases[i].argv, &a, err, sizeof(err)),
		                 KW_ERR_INVALID);
		contains(err, cases[i].why);
	}
}

/* ---- report ---- */

static void report_formats(void **state)
{
	struct run r;

	RUN(&r, "audit", "report", "-key", "app-1", "-from", "2026-11-28T14:00:01Z", "-to",
	    "2026-11-28T14:00:12Z");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("audit-report.txt", &r);
	/* The window went to the server; the cursor was followed. */
	contains(srv.search_args, "key=app-1;");
	contains(srv.search_args, "since=2026-11-28T14:00:01.000000Z;");
	contains(srv.search_args, "until=2026-11-28T14:00:12.000000Z;");
	assert_true(srv.searches > 1);
	RUN(&r, "audit", "report", "-key", "app-1", "-from", "2026-11-28T14:00:01Z", "-to",
	    "2026-11-28T14:00:12Z", "-format", "json");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("audit-report.json", &r);
	RUN(&r, "audit", "report", "-key", "app-1", "-from", "2026-11-28T14:00:01Z", "-to",
	    "2026-11-28T14:00:12Z", "-format", "csv");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("audit-report.csv", &r);
}

/* Exactly the uses in the window: not key-read, not another key, not the
 * sign at 14:00:10 (the end is exclusive), not the key-create at 14:00:00. */
static void report_selects(void **state)
{
	struct run r;
	json_t *j, *uses;

	RUN(&r, "audit", "report", "-key", "app-1", "-from", "2026-11-28T14:00:00.000001Z", "-to",
	    "2026-11-28T14:00:10Z", "-format", "json");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	uses = json_object_get(j, "uses");
	assert_int_equal(json_array_size(uses), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(uses, 0), "index")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(uses, 1), "index")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(uses, 2), "index")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(uses, 3), "index")), 6);
	assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);
	json_decref(j);
}

/* ---- search ---- */

static void search_lines(void **state)
{
	struct run r;

	RUN(&r, "audit", "search", "-identity", "acc-root", "-operation", "sign");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(
	    r.out,
	    "1  2026-11-28T14:00:01.000005Z  sign  transit/sign/app-1  v1  ok  token:root  "
	    "accessor=acc-root  from=192.0.2.7:8200  request=00000000-0000-4000-8000-000000000001\n"
	    "4  2026-11-28T14:00:04.000000Z  sign  transit/sign/other  v3  ok  token:root  "
	    "accessor=acc-root  from=192.0.2.7:8200  request=00000000-0000-4000-8000-000000000004\n"
	    "7  2026-11-28T14:00:10.000000Z  sign  transit/sign/app-1  v1  ok  token:root  "
	    "accessor=acc-root  from=192.0.2.7:8200  "
	    "request=00000000-0000-4000-8000-000000000007\n");
	contains(srv.search_args, "identity=acc-root;");
	/* Identities with characters a URL reserves arrive intact. */
	RUN(&r, "audit", "search", "-identity", "ci, deploy", "-format", "json");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	contains(srv.search_args, "identity=ci, deploy;");
	contains(r.out, "\"index\":3,\"leaf\":\"");
	assert_int_equal(strchr(r.out, '\n') - r.out + 1, (long)r.outlen); /* one line */
	RUN(&r, "audit", "search", "-identity", "a+b&c=d/\xc3\xa9 %2B");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	contains(srv.search_args, "identity=a+b&c=d/\xc3\xa9 %2B;");
	assert_int_equal(r.outlen, 0);
}

/* ---- prove ---- */

static void prove_inclusion(void **state)
{
	struct run r;

	for (int i = 0; i < ENTRIES; i++) {
		char idx[8];

		snprintf(idx, sizeof(idx), "%d", i);
		RUN(&r, "audit", "prove", "-index", idx, "-key", verifier_text);
		assert_int_equal(r.rc, CLI_EXIT_OK);
		contains(r.out, "proof ok\n");
		assert_null(strstr(r.err, "no -key given"));
	}
	/* A size no checkpoint has: recomputed and tied to the checkpoint. */
	RUN(&r, "audit", "prove", "-index", "2", "-tree-size", "5");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	contains(r.out, "recomputed from the first 5 entries");
	contains(r.out, "proof ok\n");
	contains(r.err, "no -key given");
	RUN(&r, "audit", "prove", "-index", "2", "-format", "json", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	contains(r.out, "\"ok\": true");
	contains(r.out, "\"type\": \"inclusion\"");
}

static void prove_consistency(void **state)
{
	struct run r;

	RUN(&r, "audit", "prove", "-first", "3", "-second", "9", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	contains(r.out, "consistency proof: the tree of 3 entries is a prefix of the tree of 9\n");
	contains(r.out, "proof ok\n");
	RUN(&r, "audit", "prove", "-first", "0", "-second", "9", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	RUN(&r, "audit", "prove", "-first", "4", "-second", "6", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	contains(r.out, "proof ok\n");
}

/* A server whose entry 4 is not what it signed is caught either way. */
static void prove_tampered(void **state)
{
	struct run r;

	tamper(4);
	RUN(&r, "audit", "prove", "-index", "4", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.out, "proof FAILED\n");
	RUN(&r, "audit", "prove", "-index", "1", "-tree-size", "6", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.err, "not those of its signed checkpoint");
	tamper(-1);
}

static void prove_wrong_key(void **state)
{
	uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES];
	EVP_PKEY *other = key_new(pub);
	char *v = NULL;
	struct run r;

	assert_non_null(other);
	assert_int_equal(kw_audit_verifier_encode(ORIGIN, pub, &v), 0);
	RUN(&r, "audit", "prove", "-index", "1", "-key", v);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.err, "the server's newest checkpoint does not verify");
	free(v);
	EVP_PKEY_free(other);
}

/* ---- verify against the server ---- */

static void verify_server(void **state)
{
	struct run r;

	RUN(&r, "audit", "verify", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "ok: 9 entries, verified up to checkpoint size 9\n");
	RUN(&r, "audit", "verify");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	contains(r.err, "no -key given");
	tamper(6);
	RUN(&r, "audit", "verify", "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.out, "FAIL at index 0: the tree of the first 9 entries does not match");
	tamper(-1);
	/* An older checkpoint kept by a monitor narrows it down. */
	{
		char path[] = "/tmp/kw-test-cp-XXXXXX";
		int fd = mkstemp(path);

		pthread_mutex_lock(&srv.lock);
		srv_note(5);
		assert_int_equal(write(fd, srv.note, strlen(srv.note)), (ssize_t)strlen(srv.note));
		srv_note(ENTRIES);
		pthread_mutex_unlock(&srv.lock);
		close(fd);
		tamper(6);
		RUN(&r, "audit", "verify", "-key", verifier_text, "-checkpoint", path);
		assert_int_equal(r.rc, CLI_EXIT_FAIL);
		contains(r.out, "FAIL at index 5: ");
		tamper(-1);
		RUN(&r, "audit", "verify", "-key", verifier_text, "-checkpoint", path);
		assert_int_equal(r.rc, CLI_EXIT_OK);
		unlink(path);
	}
}

/* ---- verify a directory, offline ---- */

static void dir_make(char *dir)
{
	struct kw_audit_signer s = signer_of(sign_key, sign_pub);
	struct kw_audit_log *l = NULL;
	char *note = NULL;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(kw_audit_log_open(dir, NULL, &l), 0);
	for (uint64_t i = 0; i < ENTRIES; i++) {
		struct kw_audit_entry e;
		char path[64], req[40];

		entry_of(i, &e, path, req);
		assert_int_equal(kw_audit_log_commit(l, &e, NULL), 0);
	}
	assert_int_equal(kw_audit_log_checkpoint(l, &s, &note), 0);
	free(note);
	assert_int_equal(kw_audit_log_close(l), 0);
}

static void dir_remove(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Flip one byte in the middle of entry k's leaf in the only segment. */
static void dir_flip(const char *dir, uint64_t k)
{
	char path[300];
	uint8_t hdr[4], b;
	off_t off = 16; /* magic and first index */
	int fd;

	snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < k; i++) {
		assert_int_equal(pread(fd, hdr, 4, off), 4);
		off += 8 + kw_load_u32(hdr);
	}
	assert_int_equal(pread(fd, hdr, 4, off), 4);
	off += 4 + kw_load_u32(hdr) / 2;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void verify_dir(void **state)
{
	char dir[] = "/tmp/kw-test-audit-XXXXXX";
	struct run r;

	dir_make(dir);
	RUN(&r, "audit", "verify", "-dir", dir, "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "ok: 9 entries, verified up to checkpoint size 9\n");
	assert_string_equal(r.err, ""); /* not a terminal: no progress bar */
	dir_flip(dir, 3);
	RUN(&r, "audit", "verify", "-dir", dir, "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.out, "FAIL at index 3: entry 3 is damaged");
	dir_remove(dir);
}

static void verify_dir_wrong_key(void **state)
{
	char dir[] = "/tmp/kw-test-audit-XXXXXX";
	uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES];
	EVP_PKEY *other = key_new(pub);
	char *v = NULL, keyfile[] = "/tmp/kw-test-key-XXXXXX";
	struct run r;
	int fd;

	assert_non_null(other);
	dir_make(dir);
	assert_int_equal(kw_audit_verifier_encode(ORIGIN, pub, &v), 0);
	fd = mkstemp(keyfile);
	assert_int_equal(write(fd, v, strlen(v)), (ssize_t)strlen(v));
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	RUN(&r, "audit", "verify", "-dir", dir, "-key-file", keyfile);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.out, "FAIL at index 0: checkpoint 0: no valid signature");
	contains(r.out, "(checkpoint 0 is the newest checkpoint stored in ");
	RUN(&r, "audit", "verify", "-dir", dir, "-key", "not-a-key");
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.err, "not a valid verifier key");
	unlink(keyfile);
	free(v);
	EVP_PKEY_free(other);
	dir_remove(dir);
}

static void verify_dir_truncated(void **state)
{
	char dir[] = "/tmp/kw-test-audit-XXXXXX", path[300];
	struct stat st;
	uint8_t hdr[4];
	off_t off = 16;
	struct run r;
	int fd;

	dir_make(dir);
	snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
	fd = open(path, O_RDWR);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(pread(fd, hdr, 4, off), 4);
		off += 8 + kw_load_u32(hdr);
	}
	assert_int_equal(ftruncate(fd, off), 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	RUN(&r, "audit", "verify", "-dir", dir, "-key", verifier_text);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	contains(r.out, "FAIL at index 7: checkpoint 0 covers 9 entries but the log ends at 7");
	dir_remove(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    TEST("/client/audit/time-parse", time_parse),
	    TEST("/cli/audit/flags", flags),
	    TEST("/cli/audit/flags-refused", flags_refused),
	    TEST("/cli/audit/report-formats", report_formats),
	    TEST("/cli/audit/report-selects", report_selects),
	    TEST("/cli/audit/search-lines", search_lines),
	    TEST("/cli/audit/prove-inclusion", prove_inclusion),
	    TEST("/cli/audit/prove-consistency", prove_consistency),
	    TEST("/cli/audit/prove-tampered", prove_tampered),
	    TEST("/cli/audit/prove-wrong-key", prove_wrong_key),
	    TEST("/cli/audit/verify-server", verify_server),
	    TEST("/cli/audit/verify-dir", verify_dir),
	    TEST("/cli/audit/verify-dir-wrong-key", verify_dir_wrong_key),
	    TEST("/cli/audit/verify-dir-truncated", verify_dir_truncated),
	};
	int rc;

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	kw_log_set_level(KW_LOG_ERR);
	sign_key = key_new(sign_pub);
	if (sign_key == NULL || kw_audit_verifier_encode(ORIGIN, sign_pub, &verifier_text) != 0)
		return 1;
	rc = cmocka_run_group_tests_name("/audit", tests, srv_start, srv_stop);
	free(verifier_text);
	EVP_PKEY_free(sign_key);
	return rc;
}
