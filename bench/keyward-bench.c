/*
 * keyward-bench.c: drive keywardd's transit API from N persistent
 * connections (one thread each) for a fixed time per operation, and print
 * ops/s, p50 and p99 latency next to the single-thread raw OpenSSL rate of
 * the same operation measured in the same run (raw.c), with their ratio.
 *
 *	keyward-bench -addr https://127.0.0.1:8200 -token T -cacert ca.pem
 *		[-duration 3] [-conns 1,16,64] [-ops sign-ecdsa-p256,...]
 *
 * Two identity operations (auth.c sets up a kubernetes auth mount):
 * login-k8s-rs256 logs in with an RS256 service-account token over and over
 * (baseline: raw RS256 verifications on one thread, the least a login
 * costs); sign-ecdsa-p256-k8s signs with the token such a login returned,
 * whose policy the keeper checks on every request, and is compared with
 * the same sign under the root token measured in the same run — the cost
 * an identity adds to a request.
 *
 * The token may come from $VAULT_TOKEN instead of -token, which keeps it out
 * of the process list. The bench creates its own keys (bench-<type>).
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define BENCH_CONNS_MAX        256
#define BENCH_CONN_LISTS_MAX   16
#define BENCH_DURATION_DEFAULT 3.0
#define BENCH_ERR_SNIPPET      200
#define BENCH_JWT_LIFE_S       86400 /* outlives any run */

enum bench_kind {
	OP_TRANSIT,  /* a transit request with the caller's token */
	OP_LOGIN,    /* auth/bench-k8s/login, no token */
	OP_IDENTITY, /* a transit request with a login token, vs the root token */
};

struct bench_op {
	const char *name;     /* for -ops */
	const char *verb;     /* transit endpoint */
	const char *key_type; /* key created as bench-<key_type> */
	const char *params;   /* extra JSON members pinning the algorithm */
	enum bench_raw_op raw;
	enum bench_kind kind;
};

static const struct bench_op bench_ops[] = {
    {"sign-ecdsa-p256", "sign", "ecdsa-p256", "\"hash_algorithm\":\"sha2-256\"",
     BENCH_RAW_ECDSA_P256, OP_TRANSIT},
    {"sign-ed25519", "sign", "ed25519", NULL, BENCH_RAW_ED25519, OP_TRANSIT},
    {"sign-rsa-2048", "sign", "rsa-2048",
     "\"hash_algorithm\":\"sha2-256\",\"signature_algorithm\":\"pss\"", BENCH_RAW_RSA2048_PSS,
     OP_TRANSIT},
    {"encrypt-aes256-gcm96", "encrypt", "aes256-gcm96", NULL, BENCH_RAW_AES256_GCM, OP_TRANSIT},
    {"login-k8s-rs256", "login", "k8s-rs256", NULL, BENCH_RAW_RS256_VERIFY, OP_LOGIN},
    {"sign-ecdsa-p256-k8s", "sign", "ecdsa-p256", "\"hash_algorithm\":\"sha2-256\"", BENCH_RAW_NONE,
     OP_IDENTITY},
};
#define BENCH_NOPS KW_ARRAY_LEN(bench_ops)

struct bench_opts {
	const char *addr;
	const char *token;
	const char *cacert;
	double duration;
	unsigned conns[BENCH_CONN_LISTS_MAX];
	size_t nconns;
	bool op_on[BENCH_NOPS];
};

struct worker {
	pthread_t tid;
	const struct bench_client *client;
	const struct kw_buf *req;
	pthread_barrier_t *start;
	double duration;
	/* results */
	uint64_t *lat_ns;
	size_t nlat;
	size_t cap;
	uint64_t errors;
	uint64_t reconnects;
	bool failed; /* could not connect at all */
	char first_error[BENCH_ERR_SNIPPET + 64];
};

struct run_result {
	double ops_per_s;
	double p50_ms;
	double p99_ms;
	uint64_t ops;
	uint64_t errors;
	uint64_t reconnects;
	char first_error[BENCH_ERR_SNIPPET + 64];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: keyward-bench -addr https://HOST:PORT [-token T] [-cacert FILE]\n"
	           "                     [-duration SECONDS] [-conns 1,16,64] [-ops LIST]\n"
	           "  -token defaults to $VAULT_TOKEN; -ops is a comma list of:\n");
	for (size_t i = 0; i < BENCH_NOPS; i++)
		fprintf(f, "    %s\n", bench_ops[i].name);
}

static int parse_conns(const char *s, struct bench_opts *o)
{
	char *copy = kw_strdup(s), *save = NULL, *tok;
	int rc = KW_ERR_INVALID;

	if (!copy)
		return KW_ERR_NOMEM;
	o->nconns = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long n = strtoul(tok, &end, 10);
		if (*end != '\0' || n == 0 || n > BENCH_CONNS_MAX ||
		    o->nconns == BENCH_CONN_LISTS_MAX)
			goto out;
		o->conns[o->nconns++] = (unsigned)n;
	}
	rc = o->nconns > 0 ? 0 : KW_ERR_INVALID;
out:
	free(copy);
	return rc;
}

static int parse_ops(const char *s, struct bench_opts *o)
{
	char *copy = kw_strdup(s), *save = NULL, *tok;
	int rc = KW_ERR_INVALID;
	size_t i, n = 0;

	if (!copy)
		return KW_ERR_NOMEM;
	memset(o->op_on, 0, sizeof(o->op_on));
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < BENCH_NOPS; i++)
			if (strcmp(tok, bench_ops[i].name) == 0)
				break;
		if (i == BENCH_NOPS) {
			fprintf(stderr, "keyward-bench: unknown operation %s\n", tok);
			goto out;
		}
		o->op_on[i] = true;
		n++;
	}
	rc = n > 0 ? 0 : KW_ERR_INVALID;
out:
	free(copy);
	return rc;
}

static int parse_args(int argc, char **argv, struct bench_opts *out)
{
	struct bench_opts o = {.duration = BENCH_DURATION_DEFAULT};
	int rc = 0;

	o.token = getenv("VAULT_TOKEN");
	for (size_t i = 0; i < BENCH_NOPS; i++)
		o.op_on[i] = true;
	(void)parse_conns("1,16,64", &o);
	for (int i = 1; i < argc && rc == 0; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (!v)
			return KW_ERR_INVALID;
		i++;
		if (strcmp(a, "-addr") == 0) {
			o.addr = v;
		} else if (strcmp(a, "-token") == 0) {
			o.token = v;
		} else if (strcmp(a, "-cacert") == 0) {
			o.cacert = v;
		} else if (strcmp(a, "-duration") == 0) {
			char *end;
			o.duration = strtod(v, &end);
			if (*end != '\0' || !(o.duration > 0 && o.duration <= 3600))
				rc = KW_ERR_INVALID;
		} else if (strcmp(a, "-conns") == 0) {
			rc = parse_conns(v, &o);
		} else if (strcmp(a, "-ops") == 0) {
			rc = parse_ops(v, &o);
		} else {
			fprintf(stderr, "keyward-bench: unknown flag %s\n", a);
			rc = KW_ERR_INVALID;
		}
	}
	if (rc == 0 && (!o.addr || !o.token || !*o.token))
		rc = KW_ERR_INVALID;
	if (rc < 0)
		return rc;
	*out = o;
	return 0;
}

static int op_body(const struct bench_op *op, char **out)
{
	size_t n = strcmp(op->verb, "sign") == 0 ? BENCH_SIGN_INPUT_BYTES : BENCH_PLAINTEXT_BYTES;
	const char *field = strcmp(op->verb, "sign") == 0 ? "input" : "plaintext";
	uint8_t data[BENCH_PLAINTEXT_BYTES];
	char *b64 = NULL, *body = NULL;
	int rc;

	/* Fixed, recognisable bytes: the data does not change the cost. */
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	rc = kw_base64_encode(data, n, &b64);
	if (rc < 0)
		return rc;
	if (asprintf(&body, "{\"%s\":\"%s\"%s%s}", field, b64, op->params ? "," : "",
	             op->params ? op->params : "") < 0) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	*out = body;
	rc = 0;
out:
	free(b64);
	return rc;
}

static int login_request(const struct bench_client *c, const struct bench_k8s *k,
                         struct kw_buf *out)
{
	char *jwt = NULL, *body = NULL;
	int rc;

	/* One token for the whole run, as a pod re-presents its projected
	 * token until the kubelet rotates it. */
	if ((rc = bench_k8s_jwt(k, BENCH_JWT_LIFE_S, &jwt)) < 0)
		return rc;
	if (asprintf(&body, "{\"role\":\"bench\",\"jwt\":\"%s\"}", jwt) < 0) {
		free(jwt);
		return KW_ERR_NOMEM;
	}
	free(jwt);
	rc = bench_request_format(c, "POST", "/v1/auth/bench-k8s/login", NULL, body, out);
	free(body);
	return rc;
}

static int op_request(const struct bench_client *c, const struct bench_op *op, const char *token,
                      struct kw_buf *out)
{
	char path[256];
	char *body = NULL;
	int rc;

	snprintf(path, sizeof(path), "/v1/transit/%s/bench-%s", op->verb, op->key_type);
	rc = op_body(op, &body);
	if (rc < 0)
		return rc;
	rc = bench_request_format(c, "POST", path, token, body, out);
	free(body);
	return rc;
}

/* A reply counts as an operation only if it carries a Vault-style result
 * (or, for a login, a token). */
static bool response_ok(const struct bench_response *r)
{
	return r->status == 200 && r->body.data &&
	       (strstr((const char *)r->body.data, "vault:v") ||
	        strstr((const char *)r->body.data, "\"client_token\":\"kws"));
}

static void note_error(char *dst, size_t cap, int rc, const struct bench_response *r)
{
	if (dst[0])
		return;
	if (rc < 0)
		snprintf(dst, cap, "transport: %s", kw_err_str(rc));
	else
		snprintf(dst, cap, "HTTP %d: %.*s", r->status, BENCH_ERR_SNIPPET,
		         r->body.data ? (const char *)r->body.data : "");
}

static int lat_push(struct worker *w, uint64_t ns)
{
	if (w->nlat == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4096;
		uint64_t *p = realloc(w->lat_ns, cap * sizeof(*p));
		if (!p)
			return KW_ERR_NOMEM;
		w->lat_ns = p;
		w->cap = cap;
	}
	w->lat_ns[w->nlat++] = ns;
	return 0;
}

/* One connection's loop: request, wait, record, until the time is up. */
static void worker_loop(struct worker *w, struct bench_conn *conn, struct bench_response *resp)
{
	uint64_t deadline = kw_monotonic_ns() + (uint64_t)(w->duration * 1e9);

	for (;;) {
		uint64_t t0 = kw_monotonic_ns(), t1;
		int rc = bench_conn_roundtrip(conn, w->req, resp);

		t1 = kw_monotonic_ns();
		if (rc == 0 && response_ok(resp)) {
			if (lat_push(w, t1 - t0) < 0)
				return;
		} else {
			w->errors++;
			note_error(w->first_error, sizeof(w->first_error), rc, resp);
		}
		if (t1 >= deadline)
			return;
		if (rc < 0 || resp->close) {
			bench_conn_close(conn);
			w->reconnects++;
			if (bench_conn_open(w->client, conn) < 0)
				return;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench_conn *conn = malloc(sizeof(*conn));
	struct bench_response resp;
	bool connected;

	bench_response_init(&resp);
	/* Connect before the start line so handshakes are not measured. */
	connected = conn && bench_conn_open(w->client, conn) == 0;
	pthread_barrier_wait(w->start);
	if (!connected) {
		w->failed = true;
		snprintf(w->first_error, sizeof(w->first_error), "could not connect");
	} else {
		worker_loop(w, conn, &resp);
		bench_conn_close(conn);
	}
	bench_response_cleanup(&resp);
	free(conn);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (n > 0). */
static double percentile_ms(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p * (double)n);

	if (rank == 0)
		rank = 1;
	return (double)v[rank - 1] / 1e6;
}

static int results_merge(struct worker *ws, unsigned n, double elapsed_s, struct run_result *out)
{
	struct run_result r = {0};
	uint64_t *all = NULL;
	size_t total = 0, pos = 0;

	for (unsigned i = 0; i < n; i++) {
		total += ws[i].nlat;
		r.errors += ws[i].errors + (ws[i].failed ? 1 : 0);
		r.reconnects += ws[i].reconnects;
		if (!r.first_error[0] && ws[i].first_error[0])
			memcpy(r.first_error, ws[i].first_error, sizeof(r.first_error));
	}
	r.ops = total;
	if (total > 0) {
		all = malloc(total * sizeof(*all));
		if (!all)
			return KW_ERR_NOMEM;
		for (unsigned i = 0; i < n; i++) {
			if (ws[i].nlat)
				memcpy(all + pos, ws[i].lat_ns, ws[i].nlat * sizeof(*all));
			pos += ws[i].nlat;
		}
		qsort(all, total, sizeof(*all), cmp_u64);
		r.p50_ms = percentile_ms(all, total, 0.50);
		r.p99_ms = percentile_ms(all, total, 0.99);
		r.ops_per_s = (double)total / elapsed_s;
	}
	free(all);
	*out = r;
	return 0;
}

static int run_conns(const struct bench_client *c, const struct kw_buf *req, unsigned nconns,
                     double duration, struct run_result *out)
{
	struct worker *ws = calloc(nconns, sizeof(*ws));
	pthread_barrier_t start;
	unsigned started = 0;
	uint64_t t0, t1;
	int rc = KW_ERR_INTERNAL;

	if (!ws)
		return KW_ERR_NOMEM;
	/* The main thread waits at the barrier too, so t0 is the common start. */
	if (pthread_barrier_init(&start, NULL, nconns + 1) != 0) {
		free(ws);
		return KW_ERR_INTERNAL;
	}
	for (; started < nconns; started++) {
		struct worker *w = &ws[started];
		w->client = c;
		w->req = req;
		w->start = &start;
		w->duration = duration;
		if (pthread_create(&w->tid, NULL, worker_main, w) != 0)
			break;
	}
	if (started < nconns) {
		/* The barrier can never fill: nothing sane to do but stop. */
		fprintf(stderr, "keyward-bench: cannot start %u threads\n", nconns);
		exit(1);
	}
	pthread_barrier_wait(&start);
	t0 = kw_monotonic_ns();
	for (unsigned i = 0; i < nconns; i++)
		pthread_join(ws[i].tid, NULL);
	t1 = kw_monotonic_ns();
	rc = results_merge(ws, nconns, (double)(t1 - t0) / 1e9, out);
	for (unsigned i = 0; i < nconns; i++)
		free(ws[i].lat_ns);
	pthread_barrier_destroy(&start);
	free(ws);
	return rc;
}

/* One request on a fresh connection; prints what went wrong. */
int bench_request_once(const struct bench_client *c, const char *method, const char *path,
                       const char *token, const char *body, struct bench_response *resp)
{
	struct bench_conn conn;
	struct kw_buf req;
	int rc;

	rc = bench_request_format(c, method, path, token, body, &req);
	if (rc < 0)
		return rc;
	rc = bench_conn_open(c, &conn);
	if (rc == 0) {
		rc = bench_conn_roundtrip(&conn, &req, resp);
		bench_conn_close(&conn);
	}
	kw_buf_cleanup(&req);
	if (rc < 0)
		fprintf(stderr, "keyward-bench: %s %s: %s\n", method, path, kw_err_str(rc));
	return rc;
}

static int key_ensure(const struct bench_client *c, const char *token, const struct bench_op *op)
{
	struct bench_response resp;
	char path[256], body[128];
	int rc;

	snprintf(path, sizeof(path), "/v1/transit/keys/bench-%s", op->key_type);
	snprintf(body, sizeof(body), "{\"type\":\"%s\"}", op->key_type);
	bench_response_init(&resp);
	rc = bench_request_once(c, "POST", path, token, body, &resp);
	if (rc < 0)
		goto out;
	/* A key left by an earlier run is fine; the warm-up catches a wrong type. */
	if (resp.status / 100 != 2 &&
	    !(resp.body.data && strstr((const char *)resp.body.data, "already_exists"))) {
		fprintf(stderr, "keyward-bench: creating bench-%s: HTTP %d %s\n", op->key_type,
		        resp.status, resp.body.data ? (const char *)resp.body.data : "");
		rc = KW_ERR_INVALID;
		goto out;
	}
	rc = 0;
out:
	bench_response_cleanup(&resp);
	return rc;
}

/* One request before timing: fails fast with the server's own words. */
static int op_warmup(const struct bench_client *c, const struct kw_buf *req,
                     const struct bench_op *op)
{
	struct bench_conn conn;
	struct bench_response resp;
	int rc;

	bench_response_init(&resp);
	rc = bench_conn_open(c, &conn);
	if (rc < 0)
		goto out;
	rc = bench_conn_roundtrip(&conn, req, &resp);
	bench_conn_close(&conn);
	if (rc == 0 && !response_ok(&resp)) {
		fprintf(stderr, "keyward-bench: %s: HTTP %d %s\n", op->name, resp.status,
		        resp.body.data ? (const char *)resp.body.data : "");
		rc = KW_ERR_INVALID;
	}
out:
	bench_response_cleanup(&resp);
	return rc;
}

static void fmt_ms(char *buf, size_t n, double ms)
{
	snprintf(buf, n, ms < 10 ? "%.2fms" : "%.1fms", ms);
}

static void print_row(const struct bench_op *op, const char *label, unsigned conns,
                      const struct run_result *r, const char *base_name, double raw)
{
	char p50[32], p99[32], rawtxt[32];

	fmt_ms(p50, sizeof(p50), r->p50_ms);
	fmt_ms(p99, sizeof(p99), r->p99_ms);
	snprintf(rawtxt, sizeof(rawtxt), "%.0f/s", raw);
	printf("%-7s %-17s conns=%-3u ops/s=%-7.0f p50=%-8s p99=%-8s", op->verb, label, conns,
	       r->ops_per_s, p50, p99);
	/* A baseline row (the root token's rate) has no baseline of its own. */
	if (raw > 0)
		printf(" %s=%-9s ratio=%.3f", base_name, rawtxt, r->ops_per_s / raw);
	if (r->errors)
		printf("  errors=%llu (%s)", (unsigned long long)r->errors, r->first_error);
	if (r->reconnects)
		printf("  reconnects=%llu", (unsigned long long)r->reconnects);
	printf("\n");
	fflush(stdout);
}

static int run_one(const struct bench_client *c, const struct kw_buf *req, unsigned conns,
                   double duration, bool *had_errors, struct run_result *r)
{
	int rc = run_conns(c, req, conns, duration, r);

	if (rc == 0)
		*had_errors |= r->errors > 0 || r->ops == 0;
	return rc;
}

/* The identity-cost run: at each connection count, the root token's sign
 * rate and then the login token's, so the ratio compares like with like. */
static int identity_run(const struct bench_client *c, const struct bench_opts *o,
                        const struct bench_op *op, const char *login_token, bool *had_errors)
{
	struct kw_buf root, ident;
	int rc;

	if ((rc = op_request(c, op, o->token, &root)) < 0)
		return rc;
	if ((rc = op_request(c, op, login_token, &ident)) < 0) {
		kw_buf_cleanup(&root);
		return rc;
	}
	rc = op_warmup(c, &ident, op);
	for (size_t i = 0; rc == 0 && i < o->nconns; i++) {
		struct run_result base, r;

		if ((rc = run_one(c, &root, o->conns[i], o->duration, had_errors, &base)) != 0 ||
		    (rc = run_one(c, &ident, o->conns[i], o->duration, had_errors, &r)) != 0)
			break;
		print_row(op, "ecdsa-p256/root", o->conns[i], &base, "raw", 0);
		print_row(op, "ecdsa-p256/k8s", o->conns[i], &r, "root", base.ops_per_s);
	}
	kw_buf_cleanup(&root);
	kw_buf_cleanup(&ident);
	return rc;
}

static int bench_op_run(const struct bench_client *c, const struct bench_opts *o,
                        const struct bench_op *op, double raw, const struct bench_k8s *k8s,
                        bool *had_errors)
{
	struct kw_buf req;
	int rc;

	if (op->kind == OP_IDENTITY)
		return identity_run(c, o, op, k8s->token, had_errors);
	rc = op->kind == OP_LOGIN ? login_request(c, k8s, &req) : op_request(c, op, o->token, &req);
	if (rc < 0)
		return rc;
	rc = op_warmup(c, &req, op);
	for (size_t i = 0; rc == 0 && i < o->nconns; i++) {
		struct run_result r;

		rc = run_one(c, &req, o->conns[i], o->duration, had_errors, &r);
		if (rc == 0)
			print_row(op, op->key_type, o->conns[i], &r, "raw", raw);
	}
	kw_buf_cleanup(&req);
	return rc;
}

static int raw_rates(const struct bench_opts *o, double *raw)
{
	for (size_t i = 0; i < BENCH_NOPS; i++) {
		int rc;
		if (!o->op_on[i] || bench_ops[i].raw == BENCH_RAW_NONE)
			continue;
		rc = bench_raw_rate(bench_ops[i].raw, o->duration, &raw[i]);
		if (rc < 0) {
			fprintf(stderr, "keyward-bench: raw %s failed: %s\n", bench_ops[i].name,
			        kw_err_str(rc));
			return rc;
		}
		printf("raw OpenSSL, 1 thread: %-22s %.0f/s\n", bench_ops[i].name, raw[i]);
		fflush(stdout);
	}
	return 0;
}

static bool identity_wanted(const struct bench_opts *o)
{
	for (size_t i = 0; i < BENCH_NOPS; i++)
		if (o->op_on[i] && bench_ops[i].kind != OP_TRANSIT)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_client c;
	struct bench_k8s k8s = {0};
	double raw[BENCH_NOPS] = {0};
	bool had_errors = false;
	int rc;

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	/* A server closing mid-write must be an error reply, not our death. */
	signal(SIGPIPE, SIG_IGN);
	if (bench_client_init(&c, o.addr, o.cacert) < 0)
		return 1;
	for (size_t i = 0; i < BENCH_NOPS; i++) {
		if (o.op_on[i] && bench_ops[i].kind != OP_LOGIN &&
		    key_ensure(&c, o.token, &bench_ops[i]) < 0) {
			rc = 1;
			goto out;
		}
	}
	if (identity_wanted(&o) && bench_k8s_setup(&c, o.token, &k8s) < 0) {
		rc = 1;
		goto out;
	}
	if (raw_rates(&o, raw) < 0) {
		rc = 1;
		goto out;
	}
	/* One operation failing says nothing about the others: run them all. */
	for (size_t i = 0; i < BENCH_NOPS; i++) {
		if (o.op_on[i] &&
		    bench_op_run(&c, &o, &bench_ops[i], raw[i], &k8s, &had_errors) < 0)
			had_errors = true;
	}
	rc = had_errors ? 1 : 0;
out:
	bench_k8s_cleanup(&k8s);
	bench_client_cleanup(&c);
	return rc;
}
