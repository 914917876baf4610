/*
 * test_http.c: libkeyward against an in-process fake server (libmicrohttpd
 * on loopback and on a unix socket) that records what it received and
 * answers what the test scripted: methods, paths, headers and bodies sent,
 * replies and errors understood, the retry rule, connection reuse through
 * the pool, and handles used from several threads at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "tests.h"

#include "../../../src/client/client_int.h"
#include "fake.h"

static struct fake tcp_fake;

static int fake_tcp_setup(void **state)
{
	return fake_start_tcp(&tcp_fake);
}

static int fake_tcp_teardown(void **state)
{
	fake_stop(&tcp_fake);
	return 0;
}

static struct kw_client *client_for(const struct fake *f, const char *token)
{
	struct kw_client_opts o = {.address = f->url_base, .token = token};
	struct kw_client *c = NULL;

	assert_int_equal(kw_client_new(&o, &c), 0);
	return c;
}

static json_t *recorded_body(struct fake *f)
{
	json_t *j = json_loads(fake_seen(f).body, 0, NULL);

	assert_non_null(j);
	return j;
}

static void list_sends_token_and_verb(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t0k.en");
	json_t *names = NULL;

	fake_script(&tcp_fake, 200, "{\"data\":{\"keys\":[\"a\",\"b\"]}}");
	assert_int_equal(kw_client_key_list(c, &names), 0);
	assert_int_equal(json_array_size(names), 2);
	assert_string_equal(json_string_value(json_array_get(names, 1)), "b");
	assert_string_equal(fake_seen(&tcp_fake).method, "LIST");
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/transit/keys");
	assert_string_equal(fake_seen(&tcp_fake).token, "t0k.en");
	assert_string_equal(fake_seen(&tcp_fake).vault_request, "true");
	kw_client_json_free(names);
	kw_client_free(c);
}

static void no_token_no_header(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, NULL);
	json_t *s = NULL;

	fake_script(&tcp_fake, 200, "{\"sealed\":true,\"t\":3,\"n\":5,\"progress\":1}");
	assert_int_equal(kw_client_sys_seal_status(c, &s), 0);
	assert_string_equal(fake_seen(&tcp_fake).token, "");
	assert_string_equal(fake_seen(&tcp_fake).method, "GET");
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/sys/seal-status");
	/* seal-status lives at the top level, not under "data". */
	assert_int_equal(json_integer_value(json_object_get(s, "progress")), 1);
	kw_client_json_free(s);
	kw_client_free(c);
}

static void empty_list_is_404(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *names = NULL;

	fake_script(&tcp_fake, 404, "{\"errors\":[]}");
	assert_int_equal(kw_client_policy_list(c, &names), 0);
	assert_true(json_is_array(names));
	assert_int_equal(json_array_size(names), 0);
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/sys/policies/acl");
	kw_client_json_free(names);
	/* A 404 with a sentence is a real error. */
	fake_script(&tcp_fake, 404, "{\"errors\":[\"no such mount\"]}");
	names = NULL;
	assert_int_equal(kw_client_key_list(c, &names), KW_ERR_NOT_FOUND);
	assert_null(names);
	kw_client_free(c);
}

static void error_reply_recorded(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *data = NULL;

	fake_script(&tcp_fake, 400,
	            "{\"errors\":[\"key web (hmac) cannot encrypt\"],\"code\":\"wrong_key_type\"}");
	assert_int_equal(kw_client_encrypt(c, "web", (const uint8_t *)"x", 1, NULL, &data),
	                 KW_ERR_KEY_TYPE);
	assert_null(data);
	assert_int_equal(kw_client_status(c), 400);
	assert_string_equal(kw_client_error_code(c), "wrong_key_type");
	assert_string_equal(kw_client_error(c), "key web (hmac) cannot encrypt");
	/* The next success clears the record. */
	fake_script(&tcp_fake, 200, "{\"data\":{\"ciphertext\":\"vault:v1:AA==\"}}");
	assert_int_equal(kw_client_encrypt(c, "web", (const uint8_t *)"x", 1, NULL, &data), 0);
	assert_string_equal(kw_client_error(c), "");
	assert_string_equal(kw_client_error_code(c), "");
	kw_client_json_free(data);
	kw_client_free(c);
}

static void encrypt_body(void **state)
{
	struct kw_client_crypt_opts o = {
	    .key_version = 2, .aad = (const uint8_t *)"ad", .aad_len = 2};
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *data = NULL, *sent;
	const char *ct;

	fake_script(&tcp_fake, 200,
	            "{\"data\":{\"ciphertext\":\"vault:v2:abc\",\"key_version\":2}}");
	assert_int_equal(kw_client_encrypt(c, "my key", (const uint8_t *)"hello", 5, &o, &data), 0);
	assert_int_equal(kw_client_json_string(data, "ciphertext", &ct), 0);
	assert_string_equal(ct, "vault:v2:abc");
	assert_string_equal(fake_seen(&tcp_fake).method, "POST");
	/* Sent as my%20key; the server decodes the path before routing. */
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/transit/encrypt/my key");
	sent = recorded_body(&tcp_fake);
	assert_string_equal(json_string_value(json_object_get(sent, "plaintext")), "aGVsbG8=");
	assert_string_equal(json_string_value(json_object_get(sent, "associated_data")), "YWQ=");
	assert_int_equal(json_integer_value(json_object_get(sent, "key_version")), 2);
	json_decref(sent);
	kw_client_json_free(data);
	kw_client_free(c);
}

static void decrypt_plaintext(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *data = NULL, *sent;
	uint8_t *pt = NULL;
	size_t n = 0;

	fake_script(&tcp_fake, 200, "{\"data\":{\"plaintext\":\"aGVsbG8=\"}}");
	assert_int_equal(kw_client_decrypt(c, "web", "vault:v1:abc", NULL, &data), 0);
	assert_int_equal(kw_client_json_bytes(data, "plaintext", &pt, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(pt, "hello", 5);
	sent = recorded_body(&tcp_fake);
	assert_string_equal(json_string_value(json_object_get(sent, "ciphertext")), "vault:v1:abc");
	json_decref(sent);
	kw_wipe(pt, n);
	free(pt);
	kw_client_json_free(data);
	kw_client_free(c);
}

static void sign_and_verify_bodies(void **state)
{
	struct kw_client_sign_opts o = {
	    .hash = "sha2-384", .signature_algorithm = "pkcs1v15", .key_version = 3};
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *data = NULL, *sent;

	fake_script(&tcp_fake, 200, "{\"data\":{\"signature\":\"vault:v3:c2ln\"}}");
	assert_int_equal(kw_client_sign(c, "rsa", (const uint8_t *)"doc", 3, &o, &data), 0);
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/transit/sign/rsa");
	sent = recorded_body(&tcp_fake);
	assert_string_equal(json_string_value(json_object_get(sent, "input")), "ZG9j");
	assert_string_equal(json_string_value(json_object_get(sent, "hash_algorithm")), "sha2-384");
	assert_string_equal(json_string_value(json_object_get(sent, "signature_algorithm")),
	                    "pkcs1v15");
	assert_int_equal(json_integer_value(json_object_get(sent, "key_version")), 3);
	json_decref(sent);
	kw_client_json_free(data);

	o = (struct kw_client_sign_opts){.hmac = true};
	fake_script(&tcp_fake, 200, "{\"data\":{\"valid\":false}}");
	assert_int_equal(
	    kw_client_verify(c, "k", (const uint8_t *)"doc", 3, "vault:v1:bWFj", &o, &data), 0);
	assert_true(json_is_false(json_object_get(data, "valid")));
	sent = recorded_body(&tcp_fake);
	assert_string_equal(json_string_value(json_object_get(sent, "hmac")), "vault:v1:bWFj");
	assert_null(json_object_get(sent, "signature"));
	json_decref(sent);
	kw_client_json_free(data);
	kw_client_free(c);
}

static void admin_bodies(void **state)
{
	const char *const policies[] = {"web", "ops"};
	struct kw_client_token_opts o = {.policies = policies, .npolicies = 2, .ttl = "1h"};
	struct kw_client *c = client_for(&tcp_fake, "root");
	json_t *auth = NULL, *sent;
	const char *tok;

	fake_script(&tcp_fake, 200,
	            "{\"auth\":{\"client_token\":\"hvs.new\",\"policies\":[\"default\",\"web\"]}}");
	assert_int_equal(kw_client_token_create(c, &o, &auth), 0);
	assert_int_equal(kw_client_json_string(auth, "client_token", &tok), 0);
	assert_string_equal(tok, "hvs.new");
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/auth/token/create");
	sent = recorded_body(&tcp_fake);
	assert_int_equal(json_array_size(json_object_get(sent, "policies")), 2);
	assert_string_equal(json_string_value(json_object_get(sent, "ttl")), "1h");
	json_decref(sent);
	kw_client_json_free(auth);

	fake_script(&tcp_fake, 204, "");
	assert_int_equal(kw_client_policy_write(c, "web", "path \"transit/*\" {}"), 0);
	assert_string_equal(fake_seen(&tcp_fake).method, "PUT");
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/sys/policies/acl/web");
	sent = recorded_body(&tcp_fake);
	assert_string_equal(json_string_value(json_object_get(sent, "policy")),
	                    "path \"transit/*\" {}");
	json_decref(sent);
	kw_client_free(c);
}

static void not_json_success(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *info = NULL;

	fake_script(&tcp_fake, 200, "<html>proxy says hi</html>");
	assert_int_equal(kw_client_key_read(c, "web", &info), KW_ERR_INTERNAL);
	assert_null(info);
	assert_non_null(strstr(kw_client_error(c), "not valid JSON"));
	fake_script(&tcp_fake, 200, "{}");
	assert_int_equal(kw_client_key_read(c, "web", &info), KW_ERR_INTERNAL);
	assert_non_null(strstr(kw_client_error(c), "no data"));
	fake_script(&tcp_fake, 502, "<html>bad gateway</html>");
	assert_int_equal(kw_client_key_read(c, "web", &info), KW_ERR_UNAVAILABLE);
	assert_string_equal(kw_client_error(c), "the server answered HTTP 502");
	kw_client_free(c);
}

static void no_content(void **state)
{
	struct kw_client_key_opts o = {.type = "ed25519", .exportable = true};
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *info = (json_t *)&info; /* must be overwritten with NULL */
	json_t *sent;

	fake_script(&tcp_fake, 204, "");
	assert_int_equal(kw_client_sys_seal(c), 0);
	assert_string_equal(fake_seen(&tcp_fake).method, "PUT");
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/sys/seal");
	assert_int_equal(kw_client_key_create(c, "signer", &o, &info), 0);
	assert_null(info);
	sent = recorded_body(&tcp_fake);
	assert_string_equal(json_string_value(json_object_get(sent, "type")), "ed25519");
	assert_true(json_is_true(json_object_get(sent, "exportable")));
	json_decref(sent);
	assert_int_equal(kw_client_key_delete(c, "signer"), 0);
	assert_string_equal(fake_seen(&tcp_fake).method, "DELETE");
	assert_string_equal(fake_seen(&tcp_fake).url, "/v1/transit/keys/signer");
	kw_client_free(c);
}

static void retry_get_once(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *info = NULL;

	fake_script_drop(&tcp_fake, 200, "{\"data\":{\"name\":\"web\"}}", 1);
	assert_int_equal(kw_client_key_read(c, "web", &info), 0);
	assert_int_equal(fake_seen(&tcp_fake).requests, 2);
	kw_client_json_free(info);
	kw_client_free(c);
	/*
	 * Twice in a row: only one retry. A fresh handle, hence a fresh
	 * connection: on a reused one libcurl itself resends once when the
	 * connection turns out dead before any reply byte, which would make
	 * three attempts here.
	 */
	c = client_for(&tcp_fake, "t");
	fake_script_drop(&tcp_fake, 200, "{\"data\":{\"name\":\"web\"}}", 2);
	info = NULL;
	assert_int_equal(kw_client_key_read(c, "web", &info), KW_ERR_UNAVAILABLE);
	assert_null(info);
	assert_int_equal(fake_seen(&tcp_fake).requests, 2);
	assert_string_equal(kw_client_error_code(c), "unavailable");
	kw_client_free(c);
}

static void no_retry_post(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t");
	json_t *info = NULL;

	fake_script_drop(&tcp_fake, 200, "{\"data\":{\"name\":\"web\"}}", 1);
	/* The server may have rotated before the connection broke: never resend. */
	assert_int_equal(kw_client_key_rotate(c, "web", &info), KW_ERR_UNAVAILABLE);
	assert_int_equal(fake_seen(&tcp_fake).requests, 1);
	assert_int_equal(kw_client_key_rotate(c, "web", &info), 0);
	assert_int_equal(fake_seen(&tcp_fake).requests, 2);
	kw_client_json_free(info);
	kw_client_free(c);
}

static unsigned connections(struct fake *f)
{
	return fake_seen(f).connections;
}

static void connection_reused_through_pool(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t"), *d = NULL, *e = NULL;
	unsigned before = connections(&tcp_fake);
	json_t *s = NULL;

	fake_script(&tcp_fake, 200, "{\"sealed\":false}");
	for (int i = 0; i < 5; i++) {
		assert_int_equal(kw_client_sys_seal_status(c, &s), 0);
		kw_client_json_free(s);
	}
	assert_int_equal(connections(&tcp_fake) - before, 1);
	assert_int_equal(kw_client_dup(c, &d), 0);
	/* c's connection goes back to the pool, open; e picks it up. */
	kw_client_free(c);
	assert_int_equal(kw_client_dup(d, &e), 0);
	assert_int_equal(kw_client_sys_seal_status(e, &s), 0);
	kw_client_json_free(s);
	assert_int_equal(connections(&tcp_fake) - before, 1);
	/* d had no connection of its own yet. */
	assert_int_equal(kw_client_sys_seal_status(d, &s), 0);
	kw_client_json_free(s);
	assert_int_equal(connections(&tcp_fake) - before, 2);
	kw_client_free(d);
	kw_client_free(e);
}

#define THREADS         4
#define THREAD_REQUESTS 50

static void *thread_run(void *arg)
{
	struct kw_client *c = arg;
	intptr_t ok = 0;

	for (int i = 0; i < THREAD_REQUESTS; i++) {
		json_t *data = NULL;

		if (kw_client_encrypt(c, "web", (const uint8_t *)"x", 1, NULL, &data) == 0)
			ok++;
		kw_client_json_free(data);
	}
	return (void *)ok;
}

static void threads_with_dups(void **state)
{
	struct kw_client *c = client_for(&tcp_fake, "t"), *h[THREADS];
	pthread_t tid[THREADS];
	intptr_t total = 0;

	fake_script(&tcp_fake, 200, "{\"data\":{\"ciphertext\":\"vault:v1:AA==\"}}");
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(kw_client_dup(c, &h[i]), 0);
		assert_int_equal(pthread_create(&tid[i], NULL, thread_run, h[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *ok;

		assert_int_equal(pthread_join(tid[i], &ok), 0);
		total += (intptr_t)ok;
		kw_client_free(h[i]);
	}
	assert_int_equal(total, THREADS * THREAD_REQUESTS);
	assert_int_equal(fake_seen(&tcp_fake).requests, THREADS * THREAD_REQUESTS);
	kw_client_free(c);
}

static void unix_socket(void **state)
{
	struct fake f = {0};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char addr[sizeof(sun.sun_path) + 8];
	struct kw_client_opts o = {.token = "t"};
	struct kw_client *c = NULL;
	json_t *s = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/kw-test-client-%d.sock", (int)getpid());
	unlink(sun.sun_path);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(fake_start(&f, fd), 0);
	fake_script(&f, 200, "{\"initialized\":true,\"sealed\":false}");
	snprintf(addr, sizeof(addr), "unix:%s", sun.sun_path);
	o.address = addr;
	assert_int_equal(kw_client_new(&o, &c), 0);
	assert_int_equal(kw_client_sys_seal_status(c, &s), 0);
	assert_true(json_is_false(json_object_get(s, "sealed")));
	assert_string_equal(fake_seen(&f).url, "/v1/sys/seal-status");
	kw_client_json_free(s);
	kw_client_free(c);
	fake_stop(&f);
	unlink(sun.sun_path);
}

static void nothing_listening(void **state)
{
	struct kw_client_opts o = {.address = "unix:/nonexistent/kw.sock"};
	struct kw_client *c = NULL;
	json_t *s = NULL;

	assert_int_equal(kw_client_new(&o, &c), 0);
	assert_int_equal(kw_client_sys_seal_status(c, &s), KW_ERR_UNAVAILABLE);
	assert_null(s);
	assert_int_equal(kw_client_status(c), 0);
	assert_non_null(strstr(kw_client_error(c), "cannot reach unix:/nonexistent/kw.sock"));
	kw_client_free(c);
}

int test_http_run(void)
{
	const struct CMUnitTest tests[] = {
	    TEST("/client/http/list-sends-token-and-verb", list_sends_token_and_verb),
	    TEST("/client/http/no-token-no-header", no_token_no_header),
	    TEST("/client/http/empty-list-is-404", empty_list_is_404),
	    TEST("/client/http/error-reply-recorded", error_reply_recorded),
	    TEST("/client/http/encrypt-body", encrypt_body),
	    TEST("/client/http/decrypt-plaintext", decrypt_plaintext),
	    TEST("/client/http/sign-and-verify-bodies", sign_and_verify_bodies),
	    TEST("/client/http/token-and-policy-bodies", admin_bodies),
	    TEST("/client/http/not-json-success", not_json_success),
	    TEST("/client/http/no-content", no_content),
	    TEST("/client/http/retry-get-once", retry_get_once),
	    TEST("/client/http/no-retry-post", no_retry_post),
	    TEST("/client/http/connection-reused-through-pool", connection_reused_through_pool),
	    TEST("/client/http/threads-with-dups", threads_with_dups),
	    TEST("/client/http/unix-socket", unix_socket),
	    TEST("/client/http/nothing-listening", nothing_listening),
	};

	return cmocka_run_group_tests_name("/client/http", tests, fake_tcp_setup,
	                                   fake_tcp_teardown);
}
