/*
 * Unit tests for the front's auth mounts and login methods (auth_mount.c,
 * auth_k8s.c, auth_jwt.c, auth_cert.c): the validation and normalisation of
 * configs and roles, the route rows, the test clock, and logins driven
 * through kw_dispatch against a fake keeper (a thread answering AUTH_*
 * messages over a real socketpair with the real IPC codec, recording every
 * request) — which fields a login sends, that the JWT never leaves the
 * front, and when the mount cache is filled and dropped.
 *
 * The clock: KEYWARD_TEST_NOW is set before anything reads it, to a moment
 * when the real 2020 minikube tokens of shared/vectors were valid.
 *
 * Run one group: test_front_auth '/front/auth/k8s-*'
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/front/front_int.h"

#define T(name, fn)                                                                                \
	{                                                                                          \
		name, fn, fake_start, fake_stop, NULL                                              \
	}

#define TEST_NOW  1604083500 /* the 10-minute 2020 token has 386 s left */
#define TOKEN_EXP 1604083886
#define VEC       KW_VECTORS_DIR "/k8s-tokens/"
#define REQS_MAX  16

/* ---- the fake keeper ---- */

static struct {
	int fds[2];
	pthread_t th;
	struct kw_chanpool pool;
	struct kw_ipc_msg req[REQS_MAX]; /* every request, as received */
	int nreq;
	const char *type;  /* AUTH_TYPE of the mount */
	char config[4096]; /* AUTH_CONFIG */
	const char *role;  /* AUTH_ROLE of role "app" */
	bool no_mount;     /* AUTH_LOAD answers not found */
} fake;

static int answer(const struct kw_ipc_msg *q, struct kw_ipc_msg *m)
{
	uint32_t fail = 0;
	int err = 0;

	switch (q->type) {
	case KW_MSG_AUTH_LOAD:
		if (fake.no_mount)
			return kw_ipc_set_error(m, KW_ERR_NOT_FOUND, "no such mount");
		err |= kw_ipc_put_str(m, KW_T_AUTH_TYPE, fake.type);
		err |= kw_ipc_put_str(m, KW_T_AUTH_CONFIG, fake.config);
		err |= kw_ipc_put_str(m, KW_T_ROLE, "app");
		err |= kw_ipc_put_str(m, KW_T_AUTH_ROLE, fake.role);
		return err;
	case KW_MSG_AUTH_LOGIN:
		err |= kw_ipc_put_str(m, KW_T_ACCESSOR, "acc-1");
		err |= kw_ipc_put_str(m, KW_T_POLICY, "reader");
		err |= kw_ipc_put_str(m, KW_T_POLICY, "default");
		err |= kw_ipc_put_u64(m, KW_T_TTL, 386);
		err |= kw_ipc_put_str(m, KW_T_TOKEN, "kws.test-token");
		return err;
	case KW_MSG_AUTH_LOGIN_FAILED:
		if (kw_ipc_get_u32(q, KW_T_FAIL_STATUS, &fail) != 0)
			return kw_ipc_set_error(m, KW_ERR_INVALID, "no status");
		return kw_ipc_set_error(m, -(int)fail, "login refused: %s",
		                        kw_ipc_str_or(q, KW_T_AUTH_REASON, "?"));
	case KW_MSG_AUTH_CONFIG_GET:
		err |= kw_ipc_put_str(m, KW_T_AUTH_TYPE, fake.type);
		err |= kw_ipc_put_str(m, KW_T_AUTH_CONFIG, fake.config);
		return err;
	case KW_MSG_AUTH_LIST:
		err |= kw_ipc_put_str(m, KW_T_MOUNT, "token");
		err |= kw_ipc_put_str(m, KW_T_AUTH_TYPE, "token");
		err |= kw_ipc_put_str(m, KW_T_DESCRIPTION, "tokens");
		err |= kw_ipc_put_str(m, KW_T_MOUNT, "k8s");
		err |= kw_ipc_put_str(m, KW_T_AUTH_TYPE, "kubernetes");
		return err;
	case KW_MSG_AUTH_CONFIG_PUT:
	case KW_MSG_AUTH_ROLE_PUT:
	case KW_MSG_AUTH_ENABLE:
		return 0;
	}
	return kw_ipc_set_error(m, KW_ERR_INTERNAL, "unexpected message");
}

static void *fake_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct kw_ipc_msg q, m;

		if (kw_ipc_recv(fake.fds[1], &q) != 0)
			break;
		kw_ipc_reply_init(&m, &q, 0);
		if (answer(&q, &m) != 0 && m.status == 0)
			fail_msg("fake keeper could not build its answer");
		if (fake.nreq < REQS_MAX &&
		    kw_ipc_decode(&fake.req[fake.nreq++], q.buf.data, q.buf.len) != 0)
			fail_msg("fake keeper could not copy the request");
		kw_ipc_msg_cleanup(&q);
		if (kw_ipc_send(fake.fds[1], &m) != 0)
			break;
		kw_ipc_msg_cleanup(&m);
	}
	close(fake.fds[1]);
	return NULL;
}

/* JSON text through the front's wiping allocator (jansson uses it here). */
static char *dump(const json_t *j)
{
	size_t len;
	char *s = kw_json_text(j, &len);

	assert_non_null(s);
	return s;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 8192);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 8191, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* A kubernetes mount "k8s" trusting the 2020 minikube cluster's key. */
static void k8s_mount(void)
{
	char *pem = slurp(VEC "minikube-2020-projected/sa.pub.pem");
	json_t *cfg =
	    json_pack("{s:[s], s:s}", "pem_keys", pem, "issuer", "kubernetes/serviceaccount");
	char *text = dump(cfg);

	snprintf(fake.config, sizeof(fake.config), "%s", text);
	kw_json_text_free(text);
	json_decref(cfg);
	free(pem);
	fake.type = "kubernetes";
	fake.role = "{\"bound_service_account_names\":[\"default\"],"
	            "\"bound_service_account_namespaces\":[\"def*\"],"
	            "\"audience\":\"kubernetes.default.svc\",\"token_policies\":[\"reader\"],"
	            "\"token_ttl\":3600,\"token_max_ttl\":0}";
}

static int fake_start(void **state)
{
	(void)state;
	memset(&fake, 0, sizeof(fake));
	kw_auth_mount_drop("k8s");
	k8s_mount();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fake.fds) != 0 ||
	    kw_chanpool_init(&fake.pool, fake.fds, 1) != 0 ||
	    pthread_create(&fake.th, NULL, fake_main, NULL) != 0)
		return -1;
	return 0;
}

static int fake_stop(void **state)
{
	(void)state;
	shutdown(fake.fds[0], SHUT_RDWR);
	pthread_join(fake.th, NULL);
	close(fake.fds[0]);
	kw_chanpool_cleanup(&fake.pool);
	for (int i = 0; i < fake.nreq; i++)
		kw_ipc_msg_cleanup(&fake.req[i]);
	kw_auth_mount_drop("k8s");
	return 0;
}

/* ---- helpers ---- */

static unsigned run(unsigned method, const char *path, const char *body, const char *token,
                    struct kw_resp *out)
{
	struct kw_body b;
	struct kw_req r;

	kw_req_init(&r, NULL, &fake.pool);
	assert_int_equal(kw_uuid_v4(r.id), 0);
	snprintf(r.remote, sizeof(r.remote), "192.0.2.7");
	r.port = 8200;
	r.method = method;
	r.path = path;
	r.token = token;
	kw_body_init(&b, 64 * 1024);
	if (body != NULL)
		assert_int_equal(kw_body_append(&b, body, strlen(body)), 0);
	kw_dispatch(&r, &b, out);
	kw_req_cleanup(&r);
	kw_body_cleanup(&b);
	return out->status;
}

static char *login_body(const char *role, const char *jwt)
{
	json_t *o = json_pack("{s:s, s:s}", "role", role, "jwt", jwt);
	char *s = dump(o);

	json_decref(o);
	return s;
}

static int count_type(uint16_t type)
{
	int n = 0;

	for (int i = 0; i < fake.nreq; i++)
		n += fake.req[i].type == type;
	return n;
}

static const struct kw_ipc_msg *last_of(uint16_t type)
{
	for (int i = fake.nreq - 1; i >= 0; i--)
		if (fake.req[i].type == type)
			return &fake.req[i];
	fail_msg("no request of type %u", type);
	return NULL;
}

/* No field of any request holds the token's signature part. */
static void token_never_sent(const char *jwt)
{
	const char *sig = strrchr(jwt, '.') + 1;

	for (int i = 0; i < fake.nreq; i++) {
		const struct kw_ipc_msg *m = &fake.req[i];

		assert_null(kw_ipc_find(m, KW_T_TOKEN));
		for (size_t f = 0; f < m->nfields; f++)
			assert_null(memmem(m->fields[f].val, m->fields[f].len, sig, 24));
	}
}

static const char *err_text(const struct kw_resp *out)
{
	return json_string_value(json_array_get(json_object_get(out->json, "errors"), 0));
}

/* ---- names, routes, clock ---- */

static void mount_names(void **state)
{
	(void)state;
	assert_true(kw_mount_name_valid("kubernetes"));
	assert_true(kw_mount_name_valid("k8s-prod_2"));
	assert_false(kw_mount_name_valid(""));
	assert_false(kw_mount_name_valid("a/b"));
	assert_false(kw_mount_name_valid("a.b"));
	assert_false(
	    kw_mount_name_valid("x234567890123456789012345678901234567890123456789012345678901234"
	                        "5"));
}

static void routes(void **state)
{
	const struct kw_route *route;
	struct kw_route_args a;
	unsigned allowed;

	(void)state;
	assert_int_equal(kw_route_find(KW_M_POST, "auth/token/create", &route, &a, &allowed), 0);
	assert_ptr_equal(route->fn, kw_h_token_create);
	kw_route_args_cleanup(&a);
	assert_int_equal(kw_route_find(KW_M_POST, "auth/k8s-prod/login", &route, &a, &allowed), 0);
	assert_ptr_equal(route->fn, kw_h_auth_login);
	assert_string_equal(a.v[0], "k8s-prod");
	kw_route_args_cleanup(&a);
	assert_int_equal(kw_route_find(KW_M_GET, "auth/cert/certs/web", &route, &a, &allowed), 0);
	assert_ptr_equal(route->fn, kw_h_auth_role_get);
	kw_route_args_cleanup(&a);
	assert_int_equal(kw_route_find(KW_M_LIST, "auth/k8s/role", &route, &a, &allowed), 0);
	assert_ptr_equal(route->fn, kw_h_auth_role_list);
	kw_route_args_cleanup(&a);
	assert_int_equal(kw_route_find(KW_M_DELETE, "sys/auth/k8s", &route, &a, &allowed), 0);
	assert_ptr_equal(route->fn, kw_h_auth_disable);
	kw_route_args_cleanup(&a);
	assert_int_equal(kw_route_find(KW_M_GET, "auth/k8s/login", &route, &a, &allowed),
	                 KW_ERR_UNSUPPORTED);
}

static void test_clock(void **state)
{
	(void)state;
	assert_int_equal(kw_auth_now(), TEST_NOW);
	/* 100 s of life on the test clock is 100 s of life on the real one. */
	assert_in_range(kw_auth_expires(TEST_NOW + 100) - kw_now(), 99, 101);
	assert_true(kw_auth_expires(TEST_NOW - 5) <= kw_now());
	assert_int_equal(kw_auth_expires(0), 0);
	assert_true(kw_auth_ended(TEST_NOW));
	assert_false(kw_auth_ended(TEST_NOW + 1));
	assert_false(kw_auth_ended(0));
}

/* ---- normalisation ---- */

static json_t *norm(int (*fn)(const json_t *, json_t **, struct kw_fail *), const char *in,
                    int want, struct kw_fail *f)
{
	json_t *j = json_loads(in, 0, NULL), *out = NULL;

	assert_non_null(j);
	kw_fail_clear(f);
	assert_int_equal(fn(j, &out, f), want);
	json_decref(j);
	if (want != 0)
		assert_true(f->msg[0] != '\0');
	return out;
}

static void k8s_role_norm(void **state)
{
	const struct kw_auth_method *k = kw_auth_method_find("kubernetes");
	struct kw_fail f;
	json_t *o;

	(void)state;
	o = norm(k->role_norm,
	         "{\"bound_service_account_names\":\"a, b\",\"bound_service_account_namespaces\":"
	         "[\"ns-*\"],\"policies\":\"p1,p2\",\"ttl\":\"10m\",\"max_ttl\":3600}",
	         0, &f);
	assert_int_equal(json_array_size(json_object_get(o, "bound_service_account_names")), 2);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(o, "bound_service_account_names"), 1)),
	    "b");
	assert_int_equal(json_array_size(json_object_get(o, "token_policies")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "token_ttl")), 600);
	assert_int_equal(json_integer_value(json_object_get(o, "token_max_ttl")), 3600);
	assert_string_equal(json_string_value(json_object_get(o, "audience")), "");
	assert_null(json_object_get(o, "policies"));
	json_decref(o);
	/* token_policies wins over the alias. */
	o = norm(
	    k->role_norm,
	    "{\"bound_service_account_names\":\"a\",\"bound_service_account_namespaces\":\"b\","
	    "\"policies\":\"old\",\"token_policies\":[\"new\"]}",
	    0, &f);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(o, "token_policies"), 0)), "new");
	json_decref(o);
	norm(k->role_norm, "{\"bound_service_account_namespaces\":\"b\"}", KW_ERR_INVALID, &f);
	assert_non_null(strstr(f.msg, "bound_service_account_names"));
	norm(k->role_norm,
	     "{\"bound_service_account_names\":\"*\",\"bound_service_account_namespaces\":\"*\"}",
	     KW_ERR_INVALID, &f);
	norm(k->role_norm,
	     "{\"bound_service_account_names\":\"a\",\"bound_service_account_namespaces\":\"b\","
	     "\"bound_service_acount_names\":\"typo\"}",
	     KW_ERR_INVALID, &f);
	assert_non_null(strstr(f.msg, "bound_service_acount_names"));
	norm(k->role_norm,
	     "{\"bound_service_account_names\":\"a\",\"bound_service_account_namespaces\":\"b\","
	     "\"token_ttl\":7200,\"token_max_ttl\":60}",
	     KW_ERR_INVALID, &f);
	norm(k->role_norm,
	     "{\"bound_service_account_names\":\"a\",\"bound_service_account_namespaces\":\"b\","
	     "\"token_num_uses\":3}",
	     KW_ERR_UNSUPPORTED, &f);
	norm(k->role_norm,
	     "{\"bound_service_account_names\":\"a\",\"bound_service_account_namespaces\":\"b\","
	     "\"token_policies\":[\"bad name\"]}",
	     KW_ERR_INVALID, &f);
}

static void k8s_config_norm(void **state)
{
	const struct kw_auth_method *k = kw_auth_method_find("kubernetes");
	char *pem = slurp(VEC "minikube-2020-projected/sa.pub.pem"), in[4096];
	struct kw_fail f;
	json_t *o, *p;

	(void)state;
	p = json_pack("{s:[s], s:s, s:s}", "pem_keys", pem, "kubernetes_host",
	              "https://10.0.0.1:6443", "token_reviewer_jwt", "secret-reviewer");
	o = NULL;
	kw_fail_clear(&f);
	assert_int_equal(k->config_norm(p, &o, &f), 0);
	assert_false(json_is_true(json_object_get(o, "use_token_review")));
	assert_int_equal(json_array_size(json_object_get(o, "pem_keys")), 1);
	json_decref(o);
	json_decref(p);
	free(pem);
	norm(k->config_norm, "{\"issuer\":\"x\"}", KW_ERR_INVALID, &f);
	assert_non_null(strstr(f.msg, "pem_keys"));
	norm(k->config_norm, "{\"pem_keys\":[\"not a key\"]}", KW_ERR_INVALID, &f);
	norm(k->config_norm, "{\"jwks_url\":\"http://x/keys\"}", KW_ERR_INVALID, &f);
	norm(k->config_norm, "{\"jwks_file\":\"relative.json\"}", KW_ERR_INVALID, &f);
	norm(k->config_norm, "{\"jwks_file\":\"/k.json\",\"use_token_review\":true}",
	     KW_ERR_INVALID, &f);
	norm(k->config_norm, "{\"oidc_discovery\":true,\"issuer\":\"kubernetes/serviceaccount\"}",
	     KW_ERR_INVALID, &f);
	snprintf(in, sizeof(in), "{\"jwks_file\":\"/k.json\",\"kubernetes_host\":\"http://h\"}");
	norm(k->config_norm, in, KW_ERR_INVALID, &f);
	o = norm(
	    k->config_norm,
	    "{\"jwks_url\":\"https://issuer.example/keys\",\"disable_iss_validation\":\"true\"}", 0,
	    &f);
	assert_true(json_is_true(json_object_get(o, "disable_iss_validation")));
	json_decref(o);
}

static void jwt_norm(void **state)
{
	const struct kw_auth_method *j = kw_auth_method_find("jwt");
	struct kw_fail f;
	json_t *o;

	(void)state;
	o = norm(j->config_norm,
	         "{\"issuers\":[{\"issuer\":\"https://a.example\",\"jwks_url\":\"https://a.example/"
	         "k\"},{\"issuer\":\"https://b.example\",\"oidc_discovery_url\":\"https://"
	         "b.example\"}]}",
	         0, &f);
	assert_int_equal(json_array_size(json_object_get(o, "issuers")), 2);
	json_decref(o);
	norm(j->config_norm, "{\"jwks_url\":\"https://a/k\",\"oidc_discovery_url\":\"https://a\"}",
	     KW_ERR_INVALID, &f);
	norm(j->config_norm, "{\"issuers\":[{\"jwks_url\":\"https://a/k\"}]}", KW_ERR_INVALID, &f);
	norm(j->config_norm, "{\"issuers\":{}}", KW_ERR_INVALID, &f);
	norm(j->config_norm, "{\"jwks_url\":\"https://a/k\",\"oidc_client_secret\":\"s\"}",
	     KW_ERR_UNSUPPORTED, &f);
	assert_null(strstr(f.msg, "\"s\""));
	norm(j->config_norm, "{\"jwks_url\":\"https://a/k\",\"jwt_supported_algs\":[\"HS256\"]}",
	     KW_ERR_UNSUPPORTED, &f);

	o = norm(j->role_norm,
	         "{\"bound_audiences\":\"a,b\",\"bound_claims\":{\"repo\":\"x/*\",\"env\":[\"p\","
	         "\"q\"]},\"bound_claims_type\":\"glob\",\"claim_mappings\":{\"repo\":\"r\"},"
	         "\"clock_skew_leeway\":\"2m\"}",
	         0, &f);
	assert_string_equal(json_string_value(json_object_get(o, "user_claim")), "sub");
	assert_string_equal(json_string_value(json_object_get(o, "role_type")), "jwt");
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(o, "bound_claims"), "repo")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "clock_skew_leeway")), 120);
	json_decref(o);
	norm(j->role_norm, "{\"token_policies\":\"p\"}", KW_ERR_INVALID, &f);
	norm(j->role_norm, "{\"bound_subject\":\"s\",\"role_type\":\"oidc\"}", KW_ERR_UNSUPPORTED,
	     &f);
	norm(j->role_norm, "{\"bound_subject\":\"s\",\"bound_claims\":{\"a\":[]}}", KW_ERR_INVALID,
	     &f);
	norm(j->role_norm, "{\"bound_subject\":\"s\",\"claim_mappings\":{\"a\":\"mount\"}}",
	     KW_ERR_INVALID, &f);
	norm(j->role_norm, "{\"bound_subject\":\"s\",\"user_claim\":\"\"}", KW_ERR_INVALID, &f);
}

static void cert_norm(void **state)
{
	const struct kw_auth_method *c = kw_auth_method_find("cert");
	struct kw_fail f;
	json_t *o;

	(void)state;
	o = norm(c->role_norm,
	         "{\"certificate\":\"-----BEGIN CERTIFICATE-----\\nAA\\n-----END "
	         "CERTIFICATE-----\\n\",\"allowed_uri_sans\":[\"spiffe://prod.example/ns/*/sa/"
	         "api\"],\"allowed_common_names\":\"web-*\",\"ttl\":60}",
	         0, &f);
	assert_int_equal(json_array_size(json_object_get(o, "allowed_common_names")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "token_ttl")), 60);
	json_decref(o);
	norm(c->role_norm, "{\"allowed_common_names\":\"x\"}", KW_ERR_INVALID, &f);
	norm(c->role_norm, "{\"certificate\":\"not pem\"}", KW_ERR_INVALID, &f);
	/* A wildcard trust domain would trust other domains. */
	norm(c->role_norm,
	     "{\"certificate\":\"-----BEGIN CERTIFICATE-----\\n\",\"allowed_uri_sans\":"
	     "\"spiffe://*/ns/a\"}",
	     KW_ERR_INVALID, &f);
	norm(c->role_norm,
	     "{\"certificate\":\"-----BEGIN CERTIFICATE-----\\n\",\"allowed_dns_sans\":\"x\"}",
	     KW_ERR_INVALID, &f);
	o = norm(c->config_norm, "{}", 0, &f);
	json_decref(o);
	norm(c->config_norm, "{\"ocsp_enabled\":true}", KW_ERR_INVALID, &f);
}

/* ---- logins through a fake keeper ---- */

static void k8s_login_sends_the_caller(void **state)
{
	char *jwt = slurp(VEC "minikube-2020-projected/projected-default-default-exp2020.jwt");
	char *body = login_body("app", jwt);
	const struct kw_ipc_msg *m;
	json_t *meta;
	uint64_t exp;
	struct kw_resp out;

	(void)state;
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", body, NULL, &out), 200);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(out.json, "auth"), "client_token")),
	    "kws.test-token");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(out.json, "auth"), "metadata"), "pod_name")),
	    "vault");
	kw_resp_cleanup(&out);
	assert_int_equal(count_type(KW_MSG_AUTH_LOAD), 1);
	m = last_of(KW_MSG_AUTH_LOGIN);
	assert_string_equal(kw_ipc_str_or(m, KW_T_MOUNT, ""), "k8s");
	assert_string_equal(kw_ipc_str_or(m, KW_T_ROLE, ""), "app");
	assert_string_equal(kw_ipc_str_or(m, KW_T_CALLER_ID, ""), "k8s:default/default");
	assert_int_equal(kw_ipc_get_u64(m, KW_T_CALLER_EXPIRES, &exp), 0);
	/* The token's remaining life on the test clock, in real time. */
	assert_in_range((int64_t)exp - kw_now(), TOKEN_EXP - TEST_NOW - 2, TOKEN_EXP - TEST_NOW);
	meta = json_loads(kw_ipc_str_or(m, KW_T_CALLER_META, "null"), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(meta, "pod_uid")),
	                    "34be4d5f-66d3-4a29-beea-ce23e51f9fb8");
	assert_string_equal(json_string_value(json_object_get(meta, "namespace")), "default");
	json_decref(meta);
	token_never_sent(jwt);

	/* The second login uses the cached mount: no AUTH_LOAD. */
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", body, NULL, &out), 200);
	kw_resp_cleanup(&out);
	assert_int_equal(count_type(KW_MSG_AUTH_LOAD), 1);
	assert_int_equal(count_type(KW_MSG_AUTH_LOGIN), 2);
	kw_json_text_free(body);
	free(jwt);
}

static void k8s_login_refusals_are_reported(void **state)
{
	char *other = slurp(VEC "minikube-2018-projected/projected-default-default-exp2020.jwt");
	char *mine = slurp(VEC "minikube-2020-projected/projected-default-default-exp2030.jwt");
	char *body;
	const struct kw_ipc_msg *m;
	struct kw_resp out;

	(void)state;
	/* Another cluster's token: signature. */
	body = login_body("app", other);
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", body, NULL, &out), 403);
	assert_string_equal(err_text(&out), "login refused: signature invalid");
	kw_resp_cleanup(&out);
	kw_json_text_free(body);
	m = last_of(KW_MSG_AUTH_LOGIN_FAILED);
	assert_string_equal(kw_ipc_str_or(m, KW_T_AUTH_REASON, ""), "bad_signature");
	assert_string_equal(kw_ipc_str_or(m, KW_T_ROLE, ""), "app");
	assert_int_equal(kw_ipc_u32_or(m, KW_T_FAIL_STATUS, 0), (uint32_t)-KW_ERR_AUTH);
	assert_null(kw_ipc_find(m, KW_T_CALLER_ID));
	token_never_sent(other);

	/* No such role: denied, named. */
	body = login_body("nope", mine);
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", body, NULL, &out), 403);
	kw_resp_cleanup(&out);
	kw_json_text_free(body);
	m = last_of(KW_MSG_AUTH_LOGIN_FAILED);
	assert_string_equal(kw_ipc_str_or(m, KW_T_AUTH_REASON, ""), "role_not_found");
	assert_int_equal(kw_ipc_u32_or(m, KW_T_FAIL_STATUS, 0), (uint32_t)-KW_ERR_DENIED);

	/* A role bound elsewhere: the caller is named in the refusal. */
	fake.role = "{\"bound_service_account_names\":[\"default\"],"
	            "\"bound_service_account_namespaces\":[\"kube-system\"],\"token_policies\":[]}";
	kw_auth_mount_drop("k8s");
	body = login_body("app", mine);
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", body, NULL, &out), 403);
	assert_string_equal(json_string_value(json_object_get(out.json, "code")),
	                    "permission_denied");
	kw_resp_cleanup(&out);
	kw_json_text_free(body);
	m = last_of(KW_MSG_AUTH_LOGIN_FAILED);
	assert_string_equal(kw_ipc_str_or(m, KW_T_AUTH_REASON, ""), "binding_mismatch");
	assert_string_equal(kw_ipc_str_or(m, KW_T_CALLER_ID, ""), "k8s:default/default");
	token_never_sent(mine);
	assert_int_equal(count_type(KW_MSG_AUTH_LOGIN), 0);

	/* A malformed request is 400 and no login attempt. */
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", "{\"role\":\"app\"}", NULL, &out), 400);
	kw_resp_cleanup(&out);
	free(other);
	free(mine);
}

static void writes_drop_the_cache(void **state)
{
	char *jwt = slurp(VEC "minikube-2020-projected/projected-default-default-exp2030.jwt");
	char *body = login_body("app", jwt), *pem = slurp(VEC "minikube-2020-projected/sa.pub.pem");
	json_t *cfg = json_pack("{s:[s]}", "pem_keys", pem);
	char *cfg_text = dump(cfg);
	struct kw_resp out;

	(void)state;
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", body, NULL, &out), 200);
	kw_resp_cleanup(&out);
	assert_int_equal(run(KW_M_POST, "auth/k8s/config", cfg_text, "root", &out), 204);
	kw_resp_cleanup(&out);
	/* The write went with the caller's token; the normalised config has
	 * every field. */
	assert_string_equal(kw_ipc_str_or(last_of(KW_MSG_AUTH_CONFIG_PUT), KW_T_TOKEN, ""), "root");
	assert_non_null(strstr(kw_ipc_str_or(last_of(KW_MSG_AUTH_CONFIG_PUT), KW_T_AUTH_CONFIG, ""),
	                       "\"use_token_review\":false"));
	assert_int_equal(run(KW_M_POST, "auth/k8s/login", body, NULL, &out), 200);
	kw_resp_cleanup(&out);
	/* One load for the first login and the write, one after the write. */
	assert_int_equal(count_type(KW_MSG_AUTH_LOAD), 2);
	kw_json_text_free(cfg_text);
	json_decref(cfg);
	free(pem);
	kw_json_text_free(body);
	free(jwt);
}

static void config_get_hides_the_reviewer_jwt(void **state)
{
	struct kw_resp out;
	char *text;

	(void)state;
	snprintf(
	    fake.config, sizeof(fake.config),
	    "{\"pem_keys\":[],\"jwks_url\":\"https://a/k\",\"token_reviewer_jwt\":\"s3cret\"}");
	assert_int_equal(run(KW_M_GET, "auth/k8s/config", NULL, "root", &out), 200);
	text = dump(out.json);
	assert_null(strstr(text, "s3cret"));
	kw_json_text_free(text);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(out.json, "data"), "jwks_url")),
	    "https://a/k");
	kw_resp_cleanup(&out);
}

static void mounts_listed_and_checked(void **state)
{
	struct kw_resp out;

	(void)state;
	assert_int_equal(run(KW_M_GET, "sys/auth", NULL, "root", &out), 200);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(out.json, "data"), "k8s/"), "type")),
	    "kubernetes");
	assert_non_null(json_object_get(out.json, "token/"));
	kw_resp_cleanup(&out);
	assert_int_equal(run(KW_M_POST, "sys/auth/token", "{\"type\":\"jwt\"}", "root", &out), 400);
	kw_resp_cleanup(&out);
	assert_int_equal(run(KW_M_POST, "sys/auth/x", "{\"type\":\"ldap\"}", "root", &out), 400);
	kw_resp_cleanup(&out);
	assert_int_equal(run(KW_M_POST, "sys/auth/a.b", "{\"type\":\"jwt\"}", "root", &out), 400);
	kw_resp_cleanup(&out);
	assert_int_equal(run(KW_M_POST, "sys/auth/k8s-2",
	                     "{\"type\":\"kubernetes\",\"local\":false,"
	                     "\"config\":null}",
	                     "root", &out),
	                 204);
	kw_resp_cleanup(&out);
	/* Roles of a kubernetes mount live under role/, not certs/. */
	assert_int_equal(run(KW_M_GET, "auth/k8s/certs/app", NULL, "root", &out), 404);
	kw_resp_cleanup(&out);
	fake.no_mount = true;
	assert_int_equal(
	    run(KW_M_POST, "auth/gone/login", "{\"role\":\"a\",\"jwt\":\"x\"}", NULL, &out), 404);
	kw_resp_cleanup(&out);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T("/front/auth/mount-names", mount_names),
	    T("/front/auth/routes", routes),
	    T("/front/auth/test-clock", test_clock),
	    T("/front/auth/k8s-role-norm", k8s_role_norm),
	    T("/front/auth/k8s-config-norm", k8s_config_norm),
	    T("/front/auth/jwt-norm", jwt_norm),
	    T("/front/auth/cert-norm", cert_norm),
	    T("/front/auth/k8s-login-sends-the-caller", k8s_login_sends_the_caller),
	    T("/front/auth/k8s-login-refusals", k8s_login_refusals_are_reported),
	    T("/front/auth/writes-drop-the-cache", writes_drop_the_cache),
	    T("/front/auth/config-get-hides-reviewer-jwt", config_get_hides_the_reviewer_jwt),
	    T("/front/auth/mounts", mounts_listed_and_checked),
	};

	/* Before anything reads the clock (it is read once). */
	setenv(KW_AUTH_TEST_NOW_ENV, "1604083500", 1);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	kw_json_wipe_init();
	kw_log_set_level(KW_LOG_ERR);
	return cmocka_run_group_tests_name("/front/auth", tests, NULL, NULL);
}
