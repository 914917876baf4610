/*
 * test_config.c: keywardd's YAML configuration — listeners with client
 * certificates and network identities, filled into both the front's and the
 * keeper's conf, and the refusals a typo must meet. Each test writes its
 * YAML to a temporary file; run one with test_daemon_config '/config/...'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/daemon/config.h"

#define KW_TEST(path, fn)                                                                          \
	{                                                                                          \
		path, fn, NULL, NULL, NULL                                                         \
	}

/* Load yaml through a temporary file. */
static int load(const char *yaml, struct kw_daemon_conf *c)
{
	char path[] = "/tmp/kw-config-test-XXXXXX";
	int fd = mkstemp(path), r;
	size_t n = strlen(yaml);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, n), (ssize_t)n);
	close(fd);
	kw_config_defaults(c);
	r = kw_config_load(path, c);
	unlink(path);
	return r;
}

static struct kw_daemon_conf *conf_new(void)
{
	struct kw_daemon_conf *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

static void test_plain_listeners(void **state)
{
	struct kw_daemon_conf *c = conf_new();

	assert_int_equal(load("listeners:\n"
	                      "  - address: 127.0.0.1:8200\n"
	                      "  - address: unix:/tmp/kw.sock\n",
	                      c),
	                 0);
	assert_int_equal(c->front.nlisteners, 2);
	assert_int_equal(c->front.listeners[0].client_auth, KW_CLIENT_AUTH_NONE);
	assert_string_equal(c->front.listeners[0].identity.name, "");
	assert_int_equal(c->keeper.n_net_ids, 0);
	free(c);
}

static void test_user(void **state)
{
	struct kw_daemon_conf *c = conf_new();

	assert_int_equal(load("listeners: [ { address: '127.0.0.1:8200' } ]\n", c), 0);
	assert_string_equal(c->user, ""); /* none unless named */
	assert_int_equal(load("listeners: [ { address: '127.0.0.1:8200' } ]\nuser: keyward\n", c),
	                 0);
	assert_string_equal(c->user, "keyward");
	assert_int_not_equal(load("user: [ keyward ]\n", c), 0);
	assert_int_not_equal(load("users: keyward\n", c), 0);
	free(c);
}

static void test_rate_limit(void **state)
{
	struct kw_daemon_conf *c = conf_new();

	assert_int_equal(load("listeners: [ { address: '127.0.0.1:8200' } ]\n", c), 0);
	assert_int_equal(c->front.rate, 0); /* no limit unless set */
	assert_int_equal(load("listeners: [ { address: '127.0.0.1:8200' } ]\n"
	                      "limits: { rate: 50, burst: 100 }\n",
	                      c),
	                 0);
	assert_int_equal(c->front.rate, 50);
	assert_int_equal(c->front.burst, 100);
	assert_int_not_equal(load("limits: { burst: 10 }\n", c), 0); /* burst needs a rate */
	assert_int_not_equal(load("limits: { rate: -1 }\n", c), 0);
	assert_int_not_equal(load("limits: { rate: 2000000 }\n", c), 0);
	free(c);
}

static void test_client_auth(void **state)
{
	struct kw_daemon_conf *c = conf_new();
	const struct kw_listener_conf *l;

	assert_int_equal(load("listeners:\n"
	                      "  - address: 127.0.0.1:8200\n"
	                      "    tls_cert_file: /etc/kw/tls.crt\n"
	                      "    tls_key_file: /etc/kw/tls.key\n"
	                      "    tls_client_ca_file: /etc/kw/ca.crt\n"
	                      "  - address: 127.0.0.1:8201\n"
	                      "    tls_cert_file: /etc/kw/tls.crt\n"
	                      "    tls_key_file: /etc/kw/tls.key\n"
	                      "    tls_client_ca_file: /etc/kw/ca.crt\n"
	                      "    tls_client_auth: require\n",
	                      c),
	                 0);
	l = &c->front.listeners[0];
	assert_string_equal(l->tls_client_ca_file, "/etc/kw/ca.crt");
	/* A CA file alone asks for certificates without forcing them. */
	assert_int_equal(l->client_auth, KW_CLIENT_AUTH_REQUEST);
	assert_int_equal(c->front.listeners[1].client_auth, KW_CLIENT_AUTH_REQUIRE);
	free(c);
}

static void test_client_auth_refusals(void **state)
{
	static const char *const bad[] = {
	    /* request without a CA file */
	    "listeners:\n  - address: 127.0.0.1:8200\n    tls_cert_file: a\n    tls_key_file: b\n"
	    "    tls_client_auth: request\n",
	    /* a CA file but none */
	    "listeners:\n  - address: 127.0.0.1:8200\n    tls_cert_file: a\n    tls_key_file: b\n"
	    "    tls_client_ca_file: c\n    tls_client_auth: none\n",
	    /* an unknown mode */
	    "listeners:\n  - address: 127.0.0.1:8200\n    tls_cert_file: a\n    tls_key_file: b\n"
	    "    tls_client_ca_file: c\n    tls_client_auth: optional\n",
	    /* client certificates on plain HTTP */
	    "listeners:\n  - address: 127.0.0.1:8200\n    tls_client_ca_file: c\n",
	    /* a typo in a key */
	    "listeners:\n  - address: 127.0.0.1:8200\n    tls_client_ca: c\n",
	};
	struct kw_daemon_conf *c = conf_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (load(bad[i], c) != KW_ERR_CONFIG)
			fail_msg("accepted:\n%s", bad[i]);
	free(c);
}

static void test_identity(void **state)
{
	struct kw_daemon_conf *c = conf_new();
	const struct kw_listener_identity *fid;
	const struct kw_net_identity *kid;

	assert_int_equal(load("listeners:\n"
	                      "  - address: 127.0.0.1:8200\n"
	                      "  - address: 127.0.0.2:7443\n"
	                      "    identity:\n"
	                      "      name: payments-signer\n"
	                      "      policies: [payments-sign, audit.read]\n"
	                      "      allow: [\"10.0.0.0/8\", \"127.0.0.2/32\", \"fd00::/8\"]\n"
	                      "  - address: \"[::1]:7444\"\n"
	                      "    identity: {name: other, allow: [\"::1\"]}\n",
	                      c),
	                 0);
	assert_int_equal(c->front.nlisteners, 3);
	fid = &c->front.listeners[1].identity;
	assert_string_equal(fid->name, "payments-signer");
	assert_string_equal(fid->policies, "payments-sign,audit.read");
	assert_int_equal(fid->nallow, 3);
	assert_true(kw_cidr_match_any(fid->allow, fid->nallow, "10.1.2.3"));
	assert_true(kw_cidr_match_any(fid->allow, fid->nallow, "127.0.0.2"));
	assert_false(kw_cidr_match_any(fid->allow, fid->nallow, "127.0.0.1"));

	/* The keeper's copy, keyed by the listener's port. */
	assert_int_equal(c->keeper.n_net_ids, 2);
	kid = &c->keeper.net_ids[0];
	assert_int_equal(kid->port, 7443);
	assert_string_equal(kid->name, "payments-signer");
	assert_string_equal(kid->policies, "payments-sign,audit.read");
	assert_int_equal(kid->nallow, 3);
	assert_true(kw_cidr_match_any(kid->allow, kid->nallow, "fd12::1"));
	assert_false(kw_cidr_match_any(kid->allow, kid->nallow, "192.168.0.1"));
	kid = &c->keeper.net_ids[1];
	assert_int_equal(kid->port, 7444);
	assert_string_equal(kid->name, "other");
	assert_string_equal(kid->policies, "");
	assert_true(kw_cidr_match_any(kid->allow, kid->nallow, "::1"));
	free(c);
}

static void test_identity_refusals(void **state)
{
	static const char *const bad[] = {
	    /* a unix socket has no source address */
	    "listeners:\n  - address: unix:/tmp/kw.sock\n"
	    "    identity: {name: a, allow: [\"127.0.0.1/32\"]}\n",
	    /* no allow list */
	    "listeners:\n  - address: 127.0.0.1:7443\n    identity: {name: a}\n",
	    "listeners:\n  - address: 127.0.0.1:7443\n    identity: {name: a, allow: []}\n",
	    /* no name, a bad name */
	    "listeners:\n  - address: 127.0.0.1:7443\n    identity: {allow: [\"127.0.0.1\"]}\n",
	    "listeners:\n  - address: 127.0.0.1:7443\n"
	    "    identity: {name: \"net:a\", allow: [\"127.0.0.1\"]}\n",
	    /* host bits set, not a range */
	    "listeners:\n  - address: 127.0.0.1:7443\n"
	    "    identity: {name: a, allow: [\"10.0.0.1/8\"]}\n",
	    "listeners:\n  - address: 127.0.0.1:7443\n"
	    "    identity: {name: a, allow: [\"localhost\"]}\n",
	    /* allow must be a list */
	    "listeners:\n  - address: 127.0.0.1:7443\n"
	    "    identity: {name: a, allow: \"127.0.0.1\"}\n",
	    /* a bad policy name */
	    "listeners:\n  - address: 127.0.0.1:7443\n"
	    "    identity: {name: a, policies: [\"a b\"], allow: [\"127.0.0.1\"]}\n",
	    /* an unknown key */
	    "listeners:\n  - address: 127.0.0.1:7443\n"
	    "    identity: {name: a, allow: [\"127.0.0.1\"], ports: [1]}\n",
	    /* port 0: the keeper could not know which port */
	    "listeners:\n  - address: 127.0.0.1:0\n"
	    "    identity: {name: a, allow: [\"127.0.0.1\"]}\n",
	    /* another listener shares the identity's port */
	    "listeners:\n  - address: 127.0.0.1:7443\n"
	    "    identity: {name: a, allow: [\"127.0.0.1\"]}\n"
	    "  - address: 127.0.0.2:7443\n",
	};
	struct kw_daemon_conf *c = conf_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (load(bad[i], c) != KW_ERR_CONFIG)
			fail_msg("accepted:\n%s", bad[i]);
	free(c);
}

static void test_identity_limits(void **state)
{
	struct kw_daemon_conf *c = conf_new();
	char yaml[4096];
	size_t n;

	n = (size_t)snprintf(yaml, sizeof(yaml),
	                     "listeners:\n  - address: 127.0.0.1:7443\n    identity:\n"
	                     "      name: a\n      allow:\n");
	for (int i = 0; i < KW_LISTENER_ALLOW_MAX; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "        - 10.0.%d.0/24\n", i);
	assert_int_equal(load(yaml, c), 0);
	assert_int_equal(c->keeper.net_ids[0].nallow, KW_LISTENER_ALLOW_MAX);
	/* One range more is refused, not cut. */
	snprintf(yaml + n, sizeof(yaml) - n, "        - 10.1.0.0/24\n");
	assert_int_equal(load(yaml, c), KW_ERR_CONFIG);
	free(c);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    KW_TEST("/config/plain-listeners", test_plain_listeners),
	    KW_TEST("/config/user", test_user),
	    KW_TEST("/config/rate-limit", test_rate_limit),
	    KW_TEST("/config/client-auth", test_client_auth),
	    KW_TEST("/config/client-auth-refusals", test_client_auth_refusals),
	    KW_TEST("/config/identity", test_identity),
	    KW_TEST("/config/identity-refusals", test_identity_refusals),
	    KW_TEST("/config/identity-limits", test_identity_limits),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("daemon_config", tests, NULL, NULL);
}
