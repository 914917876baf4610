/*
 * test_client.c: libkeyward's pure parts — settings from the environment,
 * addresses, URL and name escaping, tokens, error replies, the retry rule —
 * and handle behaviour that needs no server.
 */
#include <stdlib.h>
#include <string.h>

#include "tests.h"

#include "../../../src/client/client_int.h"

static const char *const env_vars[] = {
    "KEYWARD_ADDR",       "VAULT_ADDR",       "KEYWARD_TOKEN",          "VAULT_TOKEN",
    "KEYWARD_CACERT",     "VAULT_CACERT",     "KEYWARD_CLIENT_CERT",    "VAULT_CLIENT_CERT",
    "KEYWARD_CLIENT_KEY", "VAULT_CLIENT_KEY", "KEYWARD_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT",
};

static void env_clear(void)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(env_vars); i++)
		unsetenv(env_vars[i]);
}

static void env_unset_gives_defaults(void **state)
{
	struct kw_client_opts o;

	env_clear();
	assert_int_equal(kw_client_opts_from_env(&o), 0);
	assert_null(o.address);
	assert_null(o.token);
	assert_null(o.ca_cert);
	assert_int_equal(o.timeout_ms, 0);
}

static void env_keyward_over_vault(void **state)
{
	struct kw_client_opts o;

	env_clear();
	setenv("KEYWARD_ADDR", "https://kw:8200", 1);
	setenv("VAULT_ADDR", "https://vault:8200", 1);
	setenv("KEYWARD_TOKEN", "kw-token", 1);
	setenv("VAULT_TOKEN", "vault-token", 1);
	setenv("KEYWARD_CACERT", "/kw/ca.pem", 1);
	setenv("VAULT_CACERT", "/vault/ca.pem", 1);
	assert_int_equal(kw_client_opts_from_env(&o), 0);
	assert_string_equal(o.address, "https://kw:8200");
	assert_string_equal(o.token, "kw-token");
	assert_string_equal(o.ca_cert, "/kw/ca.pem");
	env_clear();
}

static void env_vault_fallback(void **state)
{
	struct kw_client_opts o;

	env_clear();
	setenv("VAULT_ADDR", "https://vault:8200", 1);
	setenv("VAULT_TOKEN", "vault-token", 1);
	setenv("VAULT_CACERT", "/vault/ca.pem", 1);
	setenv("VAULT_CLIENT_CERT", "/c.pem", 1);
	setenv("VAULT_CLIENT_KEY", "/k.pem", 1);
	assert_int_equal(kw_client_opts_from_env(&o), 0);
	assert_string_equal(o.address, "https://vault:8200");
	assert_string_equal(o.token, "vault-token");
	assert_string_equal(o.ca_cert, "/vault/ca.pem");
	assert_string_equal(o.client_cert, "/c.pem");
	assert_string_equal(o.client_key, "/k.pem");
	env_clear();
}

static void env_empty_is_unset(void **state)
{
	struct kw_client_opts o;

	env_clear();
	setenv("KEYWARD_ADDR", "", 1);
	setenv("VAULT_ADDR", "http://fallback:8200", 1);
	setenv("KEYWARD_TOKEN", "", 1);
	assert_int_equal(kw_client_opts_from_env(&o), 0);
	assert_string_equal(o.address, "http://fallback:8200");
	assert_null(o.token);
	env_clear();
}

static void env_timeout(void **state)
{
	struct kw_client_opts o = {.address = "untouched"};

	env_clear();
	setenv("VAULT_CLIENT_TIMEOUT", "2m", 1);
	assert_int_equal(kw_client_opts_from_env(&o), 0);
	assert_int_equal(o.timeout_ms, 120000);
	setenv("KEYWARD_CLIENT_TIMEOUT", "soon", 1);
	o.address = "untouched";
	assert_int_equal(kw_client_opts_from_env(&o), KW_ERR_CONFIG);
	assert_string_equal(o.address, "untouched");
	env_clear();
}

static void addr_http(void **state)
{
	struct client_addr a;

	assert_int_equal(client_addr_parse("http://127.0.0.1:8200/", &a), 0);
	assert_string_equal(a.base_url, "http://127.0.0.1:8200");
	assert_null(a.unix_path);
	client_addr_cleanup(&a);
	assert_int_equal(client_addr_parse("https://kw.example:443/prefix//", &a), 0);
	assert_string_equal(a.base_url, "https://kw.example:443/prefix");
	client_addr_cleanup(&a);
	assert_int_equal(client_addr_parse("https://[::1]:8200", &a), 0);
	assert_string_equal(a.base_url, "https://[::1]:8200");
	client_addr_cleanup(&a);
}

static void addr_unix(void **state)
{
	struct client_addr a;

	assert_int_equal(client_addr_parse("unix:/run/keyward.sock", &a), 0);
	assert_string_equal(a.unix_path, "/run/keyward.sock");
	assert_string_equal(a.base_url, "http://localhost");
	client_addr_cleanup(&a);
	assert_int_equal(client_addr_parse("unix:///run/keyward.sock", &a), 0);
	assert_string_equal(a.unix_path, "/run/keyward.sock");
	client_addr_cleanup(&a);
}

static void addr_rejects(void **state)
{
	char long_unix[200];
	static const char *const bad[] = {
	    "",        "127.0.0.1:8200", "ftp://host",    "http://",     "https:///x", "unix:",
	    "unix://", "http://a b",     "http://h/?q=1", "http://h/#f", "HTTP://h",   "http://h\n",
	};
	struct client_addr a = {0};

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		assert_int_equal(client_addr_parse(bad[i], &a), KW_ERR_CONFIG);
	memset(long_unix, 'x', sizeof(long_unix) - 1);
	long_unix[sizeof(long_unix) - 1] = '\0';
	memcpy(long_unix, "unix:/", 6);
	assert_int_equal(client_addr_parse(long_unix, &a), KW_ERR_CONFIG);
	assert_null(a.base_url);
}

static void url_build(void **state)
{
	char *url;

	assert_int_equal(client_url_build("https://h:8200", "transit/keys/web", &url), 0);
	assert_string_equal(url, "https://h:8200/v1/transit/keys/web");
	free(url);
}

static void name_escape(void **state)
{
	static const char *const cases[][2] = {
	    {"web", "web"},         {"-._~AZaz09", "-._~AZaz09"}, {"a b", "a%20b"},
	    {"a%b", "a%25b"},       {"x?y#z", "x%3Fy%23z"},       {"\xc3\xbc", "%C3%BC"},
	    {"k+1@x", "k%2B1%40x"},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		char *s;

		assert_int_equal(client_name_escape(cases[i][0], &s), 0);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
}

static void name_rejects(void **state)
{
	static const char *const bad[] = {"", ".", "..", "a/b", "/", "a\nb", "tab\there", "\x7f"};
	char big[KW_CLIENT_NAME_MAX + 2];
	char *s = NULL;

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		assert_int_equal(client_name_escape(bad[i], &s), KW_ERR_INVALID);
	assert_int_equal(client_name_escape(NULL, &s), KW_ERR_INVALID);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(client_name_escape(big, &s), KW_ERR_INVALID);
	assert_null(s);
	big[KW_CLIENT_NAME_MAX] = '\0';
	assert_int_equal(client_name_escape(big, &s), 0);
	assert_int_equal(strlen(s), KW_CLIENT_NAME_MAX);
	free(s);
	/* Dots inside a name are fine: only whole dot segments move paths. */
	assert_int_equal(client_name_escape("...", &s), 0);
	free(s);
}

static void path_build(void **state)
{
	char *p;

	assert_int_equal(client_path_build("transit/keys/", "my key", "/rotate", &p), 0);
	assert_string_equal(p, "transit/keys/my%20key/rotate");
	free(p);
	p = NULL;
	assert_int_equal(client_path_build("transit/keys/", "k/config", "", &p), KW_ERR_INVALID);
	assert_null(p);
}

static void token_valid(void **state)
{
	char big[KW_CLIENT_TOKEN_MAX + 2];

	assert_true(client_token_valid("hvs.CAESIJ-abc_def"));
	assert_false(client_token_valid(""));
	assert_false(client_token_valid("a b"));
	assert_false(client_token_valid("tok\r\nX-Evil: 1"));
	assert_false(client_token_valid("t\xc3\xa9"));
	memset(big, 't', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(client_token_valid(big));
	big[KW_CLIENT_TOKEN_MAX] = '\0';
	assert_true(client_token_valid(big));
}

static json_t *parse(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

static void error_code_and_sentence(void **state)
{
	json_t *j = parse("{\"errors\":[\"no key named web\"],\"code\":\"not_found\"}");
	struct client_error e;

	client_error_parse(404, j, &e);
	assert_int_equal(e.err, KW_ERR_NOT_FOUND);
	assert_string_equal(e.code, "not_found");
	assert_string_equal(e.msg, "no key named web");
	json_decref(j);
}

static void error_code_beats_status(void **state)
{
	json_t *j = parse("{\"errors\":[\"wrong type\"],\"code\":\"wrong_key_type\"}");
	struct client_error e;

	client_error_parse(400, j, &e);
	assert_int_equal(e.err, KW_ERR_KEY_TYPE);
	assert_string_equal(e.code, "wrong_key_type");
	json_decref(j);
}

static void error_vault_without_code(void **state)
{
	json_t *j = parse("{\"errors\":[\"permission denied\"]}");
	struct client_error e;

	client_error_parse(403, j, &e);
	assert_int_equal(e.err, KW_ERR_DENIED);
	assert_string_equal(e.code, "permission_denied");
	assert_string_equal(e.msg, "permission denied");
	json_decref(j);
}

static void error_unknown_code_kept(void **state)
{
	json_t *j = parse("{\"errors\":[\"slow down\"],\"code\":\"rate_limited\"}");
	struct client_error e;

	client_error_parse(429, j, &e);
	assert_string_equal(e.code, "rate_limited");
	assert_int_equal(e.err, KW_ERR_UNAVAILABLE);
	json_decref(j);
}

static void error_bad_code_ignored(void **state)
{
	json_t *j = parse("{\"errors\":[\"x\"],\"code\":\"Not Found!\"}");
	struct client_error e;

	client_error_parse(404, j, &e);
	assert_string_equal(e.code, "not_found");
	json_decref(j);
}

static void error_sentences_joined(void **state)
{
	json_t *j = parse("{\"errors\":[\"first\", 7, \"\", \"second\"]}");
	struct client_error e;

	client_error_parse(400, j, &e);
	assert_string_equal(e.msg, "first; second");
	json_decref(j);
}

static void error_multiline_flattened(void **state)
{
	json_t *j = parse("{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}");
	struct client_error e;

	client_error_parse(403, j, &e);
	assert_string_equal(e.msg, "1 error occurred: * permission denied");
	json_decref(j);
}

static void error_control_chars(void **state)
{
	json_t *j = parse("{\"errors\":[\"\\u001b[2Jgone\\u0007\"]}");
	struct client_error e;

	client_error_parse(500, j, &e);
	assert_string_equal(e.msg, "?[2Jgone?");
	json_decref(j);
}

static void error_without_body(void **state)
{
	struct client_error e;
	json_t *j = parse("{\"errors\":[]}");

	client_error_parse(502, NULL, &e);
	assert_int_equal(e.err, KW_ERR_UNAVAILABLE);
	assert_string_equal(e.code, "unavailable");
	assert_string_equal(e.msg, "the server answered HTTP 502");
	client_error_parse(404, j, &e);
	assert_string_equal(e.msg, "the server answered HTTP 404");
	json_decref(j);
}

static void error_truncated(void **state)
{
	char big[2000];
	struct client_error e;
	json_t *j;

	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	j = json_pack("{s:[s]}", "errors", big);
	client_error_parse(400, j, &e);
	assert_int_equal(strlen(e.msg), KW_CLIENT_ERROR_MAX - 1);
	assert_string_equal(e.msg + strlen(e.msg) - 3, "...");
	json_decref(j);
}

static void error_status_table(void **state)
{
	static const struct {
		long status;
		int err;
	} cases[] = {
	    {400, KW_ERR_INVALID},     {401, KW_ERR_AUTH},        {403, KW_ERR_DENIED},
	    {404, KW_ERR_NOT_FOUND},   {405, KW_ERR_UNSUPPORTED}, {413, KW_ERR_TOO_LARGE},
	    {418, KW_ERR_INVALID},     {500, KW_ERR_INTERNAL},    {501, KW_ERR_NOT_INIT},
	    {502, KW_ERR_UNAVAILABLE}, {503, KW_ERR_SEALED},      {599, KW_ERR_INTERNAL},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++)
		assert_int_equal(client_err_from_status(cases[i].status), cases[i].err);
}

static void sanitize_small_buffers(void **state)
{
	char b[8];

	client_text_sanitize(b, sizeof(b), "  lead and trail  ");
	assert_string_equal(b, "lead...");
	client_text_sanitize(b, sizeof(b), "short ");
	assert_string_equal(b, "short");
	client_text_sanitize(b, 1, "anything");
	assert_string_equal(b, "");
}

static void retry_only_idempotent(void **state)
{
	assert_true(client_should_retry("GET", CURLE_COULDNT_CONNECT));
	assert_true(client_should_retry("LIST", CURLE_GOT_NOTHING));
	assert_true(client_should_retry("GET", CURLE_RECV_ERROR));
	assert_true(client_should_retry("GET", CURLE_SEND_ERROR));
	assert_false(client_should_retry("POST", CURLE_COULDNT_CONNECT));
	assert_false(client_should_retry("PUT", CURLE_GOT_NOTHING));
	assert_false(client_should_retry("DELETE", CURLE_RECV_ERROR));
	assert_false(client_should_retry("GET", CURLE_OPERATION_TIMEDOUT));
	assert_false(client_should_retry("GET", CURLE_PEER_FAILED_VERIFICATION));
}

static void curl_error_mapping(void **state)
{
	assert_int_equal(client_err_from_curl(CURLE_COULDNT_CONNECT), KW_ERR_UNAVAILABLE);
	assert_int_equal(client_err_from_curl(CURLE_OPERATION_TIMEDOUT), KW_ERR_UNAVAILABLE);
	assert_int_equal(client_err_from_curl(CURLE_PEER_FAILED_VERIFICATION), KW_ERR_CONFIG);
	assert_int_equal(client_err_from_curl(CURLE_SSL_CACERT_BADFILE), KW_ERR_CONFIG);
	assert_int_equal(client_err_from_curl(CURLE_OUT_OF_MEMORY), KW_ERR_NOMEM);
}

static void opts_check_reasons(void **state)
{
	struct kw_client_opts o = {.address = "http://127.0.0.1:1"};
	const char *why = NULL;

	assert_int_equal(kw_client_opts_check(&o, &why), 0);
	assert_null(why);
	o.address = "localhost:8200";
	assert_int_equal(kw_client_opts_check(&o, &why), KW_ERR_CONFIG);
	assert_non_null(strstr(why, "address"));
	o.address = NULL; /* the default */
	o.token = "bad token";
	assert_int_equal(kw_client_opts_check(&o, &why), KW_ERR_CONFIG);
	assert_non_null(strstr(why, "token"));
	/* The reason never repeats the token. */
	assert_null(strstr(why, "bad token"));
	o.token = "good";
	o.client_cert = "/c.pem";
	assert_int_equal(kw_client_opts_check(&o, &why), KW_ERR_CONFIG);
	assert_non_null(strstr(why, "certificate"));
}

static void new_rejects_bad_settings(void **state)
{
	struct kw_client_opts o = {.address = "tcp://x"};
	struct kw_client *c = NULL;

	assert_int_equal(kw_client_new(&o, &c), KW_ERR_CONFIG);
	assert_null(c);
	o.address = "http://127.0.0.1:1";
	o.token = "two\nlines";
	assert_int_equal(kw_client_new(&o, &c), KW_ERR_CONFIG);
	assert_null(c);
}

static void bad_name_recorded_without_request(void **state)
{
	struct kw_client_opts o = {.address = "http://127.0.0.1:1", .token = "t"};
	struct kw_client *c = NULL;
	json_t *info = NULL;

	assert_int_equal(kw_client_new(&o, &c), 0);
	assert_int_equal(kw_client_key_read(c, "a/config", &info), KW_ERR_INVALID);
	assert_null(info);
	assert_string_equal(kw_client_error_code(c), "invalid_request");
	assert_non_null(strstr(kw_client_error(c), "invalid name"));
	assert_int_equal(kw_client_status(c), 0);
	kw_client_free(c);
}

static void bad_text_recorded_without_request(void **state)
{
	/* Nothing listens on port 1: any request would fail as unavailable. */
	struct kw_client_opts o = {.address = "http://127.0.0.1:1", .token = "t"};
	struct kw_client *c = NULL;
	json_t *out = NULL;

	assert_int_equal(kw_client_new(&o, &c), 0);
	assert_int_equal(kw_client_policy_write(c, "p", "caf\xe9"), KW_ERR_INVALID);
	assert_string_equal(kw_client_error_code(c), "invalid_request");
	assert_non_null(strstr(kw_client_error(c), "policy"));
	assert_int_equal(kw_client_decrypt(c, "k", NULL, NULL, &out), KW_ERR_INVALID);
	assert_non_null(strstr(kw_client_error(c), "ciphertext"));
	assert_int_equal(kw_client_sys_unseal(c, "\xff", &out), KW_ERR_INVALID);
	assert_non_null(strstr(kw_client_error(c), "key"));
	assert_null(out);
	kw_client_free(c);
}

static void set_token_validates(void **state)
{
	struct kw_client_opts o = {.address = "unix:/nonexistent/kw.sock"};
	struct kw_client *c = NULL, *d = NULL;

	assert_int_equal(kw_client_new(&o, &c), 0);
	assert_int_equal(kw_client_set_token(c, "ok.token"), 0);
	assert_string_equal(c->token, "ok.token");
	assert_int_equal(kw_client_set_token(c, "not ok"), KW_ERR_INVALID);
	/* A refused token leaves the old one in place. */
	assert_string_equal(c->token, "ok.token");
	assert_int_equal(kw_client_dup(c, &d), 0);
	assert_string_equal(d->token, "ok.token");
	assert_ptr_equal(c->pool, d->pool);
	assert_int_equal(kw_client_set_token(c, NULL), 0);
	assert_null(c->token);
	/* The original can go first: the pool lives while a handle uses it. */
	kw_client_free(c);
	assert_string_equal(d->token, "ok.token");
	kw_client_free(d);
}

static void json_typed_fields(void **state)
{
	json_t *j = parse("{\"ciphertext\":\"vault:v1:abc\",\"plaintext\":\"aGVsbG8=\",\"n\":1,"
	                  "\"bad\":\"***\"}");
	const char *s = NULL;
	uint8_t *b = NULL;
	size_t n = 0;

	assert_int_equal(kw_client_json_string(j, "ciphertext", &s), 0);
	assert_string_equal(s, "vault:v1:abc");
	assert_int_equal(kw_client_json_string(j, "n", &s), KW_ERR_INVALID);
	assert_int_equal(kw_client_json_string(j, "missing", &s), KW_ERR_INVALID);
	assert_int_equal(kw_client_json_bytes(j, "plaintext", &b, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(b, "hello", 5);
	free(b);
	b = NULL;
	assert_int_equal(kw_client_json_bytes(j, "bad", &b, &n), KW_ERR_BASE64);
	assert_null(b);
	kw_client_json_free(j);
}

static void json_free_spares_shared_subtrees(void **state)
{
	json_t *j = parse("{\"data\":{\"plaintext\":\"c2VjcmV0\"},\"lease_id\":\"x\"}");
	json_t *data = json_incref(json_object_get(j, "data"));

	kw_client_json_free(j);
	/* data is still held here, so it must be intact. */
	assert_string_equal(json_string_value(json_object_get(data, "plaintext")), "c2VjcmV0");
	kw_client_json_free(data);
}

int test_client_run(void)
{
	const struct CMUnitTest tests[] = {
	    TEST("/client/env/unset-gives-defaults", env_unset_gives_defaults),
	    TEST("/client/env/keyward-over-vault", env_keyward_over_vault),
	    TEST("/client/env/vault-fallback", env_vault_fallback),
	    TEST("/client/env/empty-is-unset", env_empty_is_unset),
	    TEST("/client/env/timeout", env_timeout),
	    TEST("/client/addr/http", addr_http),
	    TEST("/client/addr/unix", addr_unix),
	    TEST("/client/addr/rejects", addr_rejects),
	    TEST("/client/url/build", url_build),
	    TEST("/client/name/escape", name_escape),
	    TEST("/client/name/rejects", name_rejects),
	    TEST("/client/path/build", path_build),
	    TEST("/client/token/valid", token_valid),
	    TEST("/client/error/code-and-sentence", error_code_and_sentence),
	    TEST("/client/error/code-beats-status", error_code_beats_status),
	    TEST("/client/error/vault-without-code", error_vault_without_code),
	    TEST("/client/error/unknown-code-kept", error_unknown_code_kept),
	    TEST("/client/error/bad-code-ignored", error_bad_code_ignored),
	    TEST("/client/error/sentences-joined", error_sentences_joined),
	    TEST("/client/error/multiline-flattened", error_multiline_flattened),
	    TEST("/client/error/control-chars", error_control_chars),
	    TEST("/client/error/without-body", error_without_body),
	    TEST("/client/error/truncated", error_truncated),
	    TEST("/client/error/status-table", error_status_table),
	    TEST("/client/error/sanitize-small-buffers", sanitize_small_buffers),
	    TEST("/client/retry/only-idempotent", retry_only_idempotent),
	    TEST("/client/retry/curl-error-mapping", curl_error_mapping),
	    TEST("/client/opts/check-reasons", opts_check_reasons),
	    TEST("/client/new/rejects-bad-settings", new_rejects_bad_settings),
	    TEST("/client/handle/bad-name-recorded", bad_name_recorded_without_request),
	    TEST("/client/handle/bad-text-recorded", bad_text_recorded_without_request),
	    TEST("/client/handle/set-token-and-dup", set_token_validates),
	    TEST("/client/json/typed-fields", json_typed_fields),
	    TEST("/client/json/free-spares-shared", json_free_spares_shared_subtrees),
	};

	return cmocka_run_group_tests_name("/client", tests, NULL, NULL);
}
