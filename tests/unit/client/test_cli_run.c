/*
 * test_cli_run.c: keyward commands run end to end against the fake server:
 * what each prints (compared with golden files in golden/, since people and
 * scripts read this output), what it sends, and its exit code. Set
 * KW_GOLDEN_UPDATE=1 to rewrite the golden files after a deliberate change.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests.h"

#include "../../../src/cli/cli.h"
#include "fake.h"

#define GOLDEN_DIR KW_SOURCE_DIR "/tests/unit/client/golden/"
#define OUT_MAX    16384

static struct fake srv;

struct run {
	int rc;
	char out[OUT_MAX];
	size_t outlen;
	char err[2048];
};

static int srv_setup(void **state)
{
	return fake_start_tcp(&srv);
}

static int srv_teardown(void **state)
{
	fake_stop(&srv);
	return 0;
}

static size_t drain(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return (size_t)n;
}

/* Parse argv as the command line, run it against srv with stdout and stderr
 * captured. */
static void run(struct run *r, char **argv)
{
	struct kw_client_opts o = {.address = srv.url_base, .token = "t0k"};
	struct kw_client *c = NULL;
	struct cli_args a;
	char perr[CLI_ERR_MAX];
	int argc = 0, out_fd, err_fd, saved_out, saved_err;

	while (argv[argc] != NULL)
		argc++;
	assert_int_equal(cli_parse(argc, argv, &a, perr, sizeof(perr)), 0);
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

/* A temporary input file holding len bytes of p; the caller unlinks it. */
static char *input_file(const void *p, size_t len)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/kw-test-cli-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
	return path;
}

static json_t *sent_body(void)
{
	json_t *j = json_loads(fake_seen(&srv).body, 0, NULL);

	assert_non_null(j);
	return j;
}

static const char status_reply[] = "{\"type\":\"shamir\",\"initialized\":true,\"sealed\":true,"
                                   "\"t\":3,\"n\":5,\"progress\":1,\"nonce\":\"\","
                                   "\"version\":\"0.1.0\"}";

static void operator_status(void **state)
{
	struct run r;

	fake_script(&srv, 200, status_reply);
	RUN(&r, "operator", "status");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("operator-status.txt", &r);
	RUN(&r, "operator", "status", "-format", "json");
	golden("operator-status.json", &r);
}

static void operator_init(void **state)
{
	struct run r;
	json_t *sent;

	fake_script(&srv, 200,
	            "{\"keys\":[\"0a0b\",\"0c0d\"],\"keys_base64\":[\"Cgs=\",\"DA0=\"],"
	            "\"root_token\":\"hvs.root\"}");
	RUN(&r, "operator", "init", "-key-shares", "2", "-key-threshold", "2");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("operator-init.txt", &r);
	assert_string_equal(fake_seen(&srv).method, "PUT");
	sent = sent_body();
	assert_int_equal(json_integer_value(json_object_get(sent, "secret_shares")), 2);
	assert_int_equal(json_integer_value(json_object_get(sent, "secret_threshold")), 2);
	json_decref(sent);
}

static void operator_unseal_arg(void **state)
{
	char share[] = "Cgs=";
	struct run r;
	json_t *sent;

	fake_script(&srv, 200, status_reply);
	run(&r, (char *[]){"keyward", "operator", "unseal", share, NULL});
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("operator-status.txt", &r);
	sent = sent_body();
	assert_string_equal(json_string_value(json_object_get(sent, "key")), "Cgs=");
	json_decref(sent);
	/* argv's copy is wiped once sent (it shows in /proc/PID/cmdline). */
	assert_int_equal(share[0], '\0');
}

static const char aes_key_reply[] =
    "{\"data\":{\"name\":\"web\",\"type\":\"aes256-gcm96\",\"keys\":{\"2\":1700000000,"
    "\"1\":1690000000,\"10\":1710000000},\"latest_version\":10,\"min_decryption_version\":1,"
    "\"min_encryption_version\":0,\"min_available_version\":0,\"deletion_allowed\":false,"
    "\"exportable\":false,\"allow_plaintext_backup\":false,\"derived\":false,"
    "\"supports_encryption\":true,\"supports_decryption\":true,\"supports_signing\":false,"
    "\"supports_derivation\":true,\"auto_rotate_period\":0}}";

static void key_show_symmetric(void **state)
{
	struct run r;

	fake_script(&srv, 200, aes_key_reply);
	RUN(&r, "key", "show", "web");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(fake_seen(&srv).url, "/v1/transit/keys/web");
	golden("key-show-aes.txt", &r);
	RUN(&r, "key", "show", "web", "--format=json");
	golden("key-show-aes.json", &r);
}

static void key_show_asymmetric(void **state)
{
	struct run r;

	fake_script(&srv, 200,
	            "{\"data\":{\"name\":\"signer\",\"type\":\"ecdsa-p256\",\"latest_version\":2,"
	            "\"keys\":{\"1\":{\"name\":\"P-256\",\"creation_time\":"
	            "\"2026-11-28T14:00:00.5Z\",\"public_key\":\"-----BEGIN PUBLIC KEY-----\\n"
	            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\\n-----END PUBLIC KEY-----\\n\"},"
	            "\"2\":{\"name\":\"ed\",\"creation_time\":\"2026-11-29T09:00:00Z\","
	            "\"public_key\":\"MCowBQYDK2VwAyEA\"}},\"deletion_allowed\":true,"
	            "\"exportable\":false,\"supports_signing\":true}}");
	RUN(&r, "key", "show", "signer");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("key-show-ecdsa.txt", &r);
}

static void key_list(void **state)
{
	struct run r;

	fake_script(&srv, 200, "{\"data\":{\"keys\":[\"a\",\"b\"]}}");
	RUN(&r, "key", "list");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "a\nb\n");
	RUN(&r, "key", "list", "-format", "json");
	assert_string_equal(r.out, "{\n  \"keys\": [\n    \"a\",\n    \"b\"\n  ]\n}\n");
	fake_script(&srv, 404, "{\"errors\":[]}");
	RUN(&r, "key", "list");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "");
}

static void key_changes(void **state)
{
	struct run r;
	json_t *sent;

	/* No reply body: nothing printed, success. */
	fake_script(&srv, 204, "");
	RUN(&r, "key", "delete", "web");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_int_equal(r.outlen, 0);
	assert_string_equal(fake_seen(&srv).method, "DELETE");
	RUN(&r, "key", "create", "web", "-type", "aes128-gcm96");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_int_equal(r.outlen, 0);
	/* A reply with the key: printed as key show prints it. */
	fake_script(&srv, 200, aes_key_reply);
	RUN(&r, "key", "config", "web", "-deletion-allowed", "-min-decryption-version", "2");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(fake_seen(&srv).url, "/v1/transit/keys/web/config");
	golden("key-show-aes.txt", &r);
	sent = sent_body();
	assert_true(json_is_true(json_object_get(sent, "deletion_allowed")));
	assert_int_equal(json_integer_value(json_object_get(sent, "min_decryption_version")), 2);
	assert_null(json_object_get(sent, "exportable"));
	json_decref(sent);
	RUN(&r, "key", "rotate", "web");
	assert_string_equal(fake_seen(&srv).url, "/v1/transit/keys/web/rotate");
	golden("key-show-aes.txt", &r);
}

static void encrypt_and_decrypt(void **state)
{
	static const uint8_t secret[] = {'p', 0, 'w', '\n', 0xff};
	struct run r;
	json_t *sent;
	char *path;

	fake_script(&srv, 200, "{\"data\":{\"ciphertext\":\"vault:v1:Y3Q=\",\"key_version\":1}}");
	path = input_file(secret, sizeof(secret));
	RUN(&r, "encrypt", "web", path);
	unlink(path);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "vault:v1:Y3Q=\n");
	sent = sent_body();
	assert_string_equal(json_string_value(json_object_get(sent, "plaintext")), "cAB3Cv8=");
	json_decref(sent);

	/* Decrypt: the text file's newline is not part of the ciphertext, and the
	 * plaintext comes out byte for byte. */
	fake_script(&srv, 200, "{\"data\":{\"plaintext\":\"cAB3Cv8=\"}}");
	path = input_file("vault:v1:Y3Q=\n", 14);
	RUN(&r, "decrypt", "web", path);
	unlink(path);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_int_equal(r.outlen, sizeof(secret));
	assert_memory_equal(r.out, secret, sizeof(secret));
	sent = sent_body();
	assert_string_equal(json_string_value(json_object_get(sent, "ciphertext")),
	                    "vault:v1:Y3Q=");
	json_decref(sent);
}

static void sign_verify_hmac(void **state)
{
	struct run r;
	json_t *sent;
	char *path = input_file("doc", 3);

	fake_script(&srv, 200, "{\"data\":{\"signature\":\"vault:v1:c2ln\",\"key_version\":1}}");
	RUN(&r, "sign", "rsa", path, "-hash", "sha2-512", "-algorithm", "pss");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "vault:v1:c2ln\n");
	sent = sent_body();
	assert_string_equal(json_string_value(json_object_get(sent, "input")), "ZG9j");
	assert_string_equal(json_string_value(json_object_get(sent, "hash_algorithm")), "sha2-512");
	assert_string_equal(json_string_value(json_object_get(sent, "signature_algorithm")), "pss");
	json_decref(sent);

	fake_script(&srv, 200, "{\"data\":{\"valid\":true}}");
	RUN(&r, "verify", "rsa", "vault:v1:c2ln", path);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "valid\n");
	fake_script(&srv, 200, "{\"data\":{\"valid\":false}}");
	RUN(&r, "verify", "rsa", "vault:v1:c2ln", path);
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	assert_string_equal(r.out, "invalid\n");
	assert_string_equal(r.err, "");

	fake_script(&srv, 200, "{\"data\":{\"hmac\":\"vault:v1:bWFj\"}}");
	RUN(&r, "hmac", "k", path, "-hash", "sha2-256");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, "vault:v1:bWFj\n");
	sent = sent_body();
	assert_string_equal(json_string_value(json_object_get(sent, "algorithm")), "sha2-256");
	json_decref(sent);
	unlink(path);
}

static void token_create(void **state)
{
	struct run r;

	fake_script(&srv, 200,
	            "{\"auth\":{\"client_token\":\"hvs.new\",\"accessor\":\"acc1\","
	            "\"policies\":[\"default\",\"web\"],\"lease_duration\":3600,"
	            "\"renewable\":true}}");
	RUN(&r, "token", "create", "-policy", "web", "-ttl", "1h");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	golden("token-create.txt", &r);
}

static void policies(void **state)
{
	static const char text[] = "path \"transit/encrypt/web\" {\n  capabilities = "
	                           "[\"update\"]\n}\n";
	struct run r;
	json_t *sent, *reply;
	char *body, *path;

	reply = json_pack("{s:{s:s, s:s}}", "data", "name", "web", "policy", text);
	body = json_dumps(reply, 0);
	fake_script(&srv, 200, body);
	RUN(&r, "policy", "read", "web");
	assert_int_equal(r.rc, CLI_EXIT_OK);
	assert_string_equal(r.out, text);
	assert_string_equal(fake_seen(&srv).url, "/v1/sys/policies/acl/web");
	free(body);
	json_decref(reply);

	fake_script(&srv, 204, "");
	path = input_file(text, strlen(text));
	RUN(&r, "policy", "write", "web", path);
	unlink(path);
	assert_int_equal(r.rc, CLI_EXIT_OK);
	sent = sent_body();
	/* Trailing blank lines are not part of the policy. */
	assert_int_equal(
	    strncmp(json_string_value(json_object_get(sent, "policy")), text, strlen(text) - 1), 0);
	json_decref(sent);
}

static void server_errors(void **state)
{
	struct run r;

	fake_script(&srv, 403, "{\"errors\":[\"permission denied\"]}");
	RUN(&r, "key", "show", "web");
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err,
	                    "keyward: key show web: permission denied (permission_denied)\n");
	/* The server's text cannot drive the terminal. */
	fake_script(&srv, 400,
	            "{\"errors\":[\"bad \\u001b]0;pwned\\u0007\"],\"code\":\"invalid_request\"}");
	RUN(&r, "encrypt", "web", "/dev/null");
	assert_string_equal(r.err, "keyward: encrypt web: bad ?]0;pwned? (invalid_request)\n");
	/* Nor can a key name it prints back. */
	fake_script(&srv, 200, "{\"data\":{\"name\":\"we\\u001b[2Jb\"}}");
	RUN(&r, "key", "show", "web");
	assert_string_equal(r.out, "name: we?[2Jb\n");
}

static void local_errors(void **state)
{
	struct run r;

	fake_script(&srv, 200, "{\"data\":{\"ciphertext\":\"x\"}}");
	RUN(&r, "encrypt", "web", "/nonexistent/input");
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	assert_int_equal(fake_seen(&srv).requests, 0);
	assert_non_null(strstr(r.err, "keyward: encrypt: cannot open /nonexistent/input"));
	RUN(&r, "decrypt", "web", "/dev/null");
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	/* An empty ciphertext goes to the server, which refuses it; no crash. */
	fake_script(&srv, 200, "{\"data\":{}}");
	RUN(&r, "decrypt", "web", "/dev/null");
	assert_int_equal(r.rc, CLI_EXIT_FAIL);
	assert_non_null(strstr(r.err, "no valid plaintext"));
}

int test_cli_run_run(void)
{
	const struct CMUnitTest tests[] = {
	    TEST("/cli/run/operator-status", operator_status),
	    TEST("/cli/run/operator-init", operator_init),
	    TEST("/cli/run/operator-unseal-arg", operator_unseal_arg),
	    TEST("/cli/run/key-show-symmetric", key_show_symmetric),
	    TEST("/cli/run/key-show-asymmetric", key_show_asymmetric),
	    TEST("/cli/run/key-list", key_list),
	    TEST("/cli/run/key-changes", key_changes),
	    TEST("/cli/run/encrypt-and-decrypt", encrypt_and_decrypt),
	    TEST("/cli/run/sign-verify-hmac", sign_verify_hmac),
	    TEST("/cli/run/token-create", token_create),
	    TEST("/cli/run/policies", policies),
	    TEST("/cli/run/server-errors", server_errors),
	    TEST("/cli/run/local-errors", local_errors),
	};

	return cmocka_run_group_tests_name("/cli/run", tests, srv_setup, srv_teardown);
}
