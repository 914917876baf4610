/*
 * test_cli.c: the keyward command's argument parser, command by command:
 * positional counts, flags and their values, globals anywhere, help, and
 * the usage errors (exit 2) it must catch before any request.
 */
#include <string.h>

#include "tests.h"

#include "../../../src/cli/cli.h"

#define ARGV(...) ((char *const[]){"keyward", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"keyward", __VA_ARGS__}) / sizeof(char *)))
/* Parse a literal command line; expect success. */
#define PARSE_OK(a, ...) assert_int_equal(parse(a, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__)), 0)
#define PARSE_BAD(a, ...)                                                                          \
	assert_int_equal(parse(a, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__)), KW_ERR_INVALID)

static char err[CLI_ERR_MAX];

static int parse(struct cli_args *a, int argc, char *const *argv)
{
	return cli_parse(argc, argv, a, err, sizeof(err));
}

static void no_command(void **state)
{
	char *const argv[] = {"keyward", NULL};
	struct cli_args a;

	assert_int_equal(parse(&a, 1, argv), KW_ERR_INVALID);
	assert_string_equal(err, "missing command");
}

static void help_forms(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "-h");
	assert_true(a.help);
	assert_null(a.cmd);
	PARSE_OK(&a, "help");
	assert_true(a.help);
	PARSE_OK(&a, "--help");
	assert_true(a.help);
	PARSE_OK(&a, "key", "-h");
	assert_true(a.help);
	assert_string_equal(a.group, "key");
	assert_null(a.cmd);
	/* Help wins over missing arguments. */
	PARSE_OK(&a, "key", "create", "-help");
	assert_true(a.help);
	assert_ptr_equal(a.cmd->run, cli_key_create);
}

static void unknown_commands(void **state)
{
	struct cli_args a;

	PARSE_BAD(&a, "frobnicate");
	assert_non_null(strstr(err, "unknown command"));
	PARSE_BAD(&a, "key", "melt", "k");
	assert_non_null(strstr(err, "key melt"));
	PARSE_BAD(&a, "key");
	assert_non_null(strstr(err, "missing command after \"key\""));
	/* Top-level commands are not group members and vice versa. */
	PARSE_BAD(&a, "create", "k");
	PARSE_BAD(&a, "key", "encrypt", "k");
}

static void operator_init(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "operator", "init");
	assert_ptr_equal(a.cmd->run, cli_operator_init);
	assert_int_equal(a.key_shares, 5);
	assert_int_equal(a.key_threshold, 3);
	PARSE_OK(&a, "operator", "init", "-key-shares=7", "-key-threshold", "4");
	assert_int_equal(a.key_shares, 7);
	assert_int_equal(a.key_threshold, 4);
	/* One share: the default threshold follows. */
	PARSE_OK(&a, "operator", "init", "-key-shares", "1");
	assert_int_equal(a.key_threshold, 1);
	PARSE_BAD(&a, "operator", "init", "-key-shares", "2", "-key-threshold", "3");
	assert_non_null(strstr(err, "cannot exceed"));
	PARSE_BAD(&a, "operator", "init", "-key-shares", "0");
	PARSE_BAD(&a, "operator", "init", "-key-shares", "256");
	PARSE_BAD(&a, "operator", "init", "-key-shares", "five");
	PARSE_BAD(&a, "operator", "init", "-key-shares", "-3");
	PARSE_BAD(&a, "operator", "init", "-key-shares");
	assert_non_null(strstr(err, "needs a value"));
	PARSE_BAD(&a, "operator", "init", "extra");
}

static void operator_unseal(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "operator", "unseal");
	assert_ptr_equal(a.cmd->run, cli_operator_unseal);
	assert_int_equal(a.npos, 0);
	PARSE_OK(&a, "operator", "unseal", "c2hhcmU=");
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "c2hhcmU=");
	PARSE_OK(&a, "operator", "unseal", "-reset");
	assert_true(a.reset);
	PARSE_BAD(&a, "operator", "unseal", "-reset", "c2hhcmU=");
	PARSE_BAD(&a, "operator", "unseal", "a", "b");
}

static void operator_seal_status(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "operator", "seal");
	assert_ptr_equal(a.cmd->run, cli_operator_seal);
	PARSE_OK(&a, "operator", "status");
	assert_ptr_equal(a.cmd->run, cli_operator_status);
	PARSE_BAD(&a, "operator", "status", "-type", "x");
}

static void key_create(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "key", "create", "web");
	assert_ptr_equal(a.cmd->run, cli_key_create);
	assert_string_equal(a.pos[0], "web");
	assert_null(a.type);
	assert_false(a.exportable);
	PARSE_OK(&a, "key", "create", "web", "-type", "rsa-2048", "-exportable");
	assert_string_equal(a.type, "rsa-2048");
	assert_true(a.exportable);
	/* Flags before the name, double-dash and '=' forms. */
	PARSE_OK(&a, "key", "create", "--type=ed25519", "signer");
	assert_string_equal(a.type, "ed25519");
	assert_string_equal(a.pos[0], "signer");
	/* A boolean takes no separate value: "true" is a second argument. */
	PARSE_BAD(&a, "key", "create", "web", "-exportable", "true");
	assert_non_null(strstr(err, "too many arguments"));
	PARSE_BAD(&a, "key", "create", "web", "-exportable=maybe");
	PARSE_BAD(&a, "key", "create", "web", "-type");
	PARSE_BAD(&a, "key", "create");
}

static void key_simple_commands(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "key", "list");
	assert_ptr_equal(a.cmd->run, cli_key_list);
	PARSE_BAD(&a, "key", "list", "x");
	PARSE_OK(&a, "key", "show", "web");
	assert_ptr_equal(a.cmd->run, cli_key_show);
	PARSE_BAD(&a, "key", "show");
	PARSE_OK(&a, "key", "rotate", "web");
	assert_ptr_equal(a.cmd->run, cli_key_rotate);
	PARSE_OK(&a, "key", "delete", "web");
	assert_ptr_equal(a.cmd->run, cli_key_delete);
	PARSE_BAD(&a, "key", "delete", "web", "-exportable");
	assert_non_null(strstr(err, "unknown flag -exportable"));
}

static void key_config(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "key", "config", "web", "-deletion-allowed=true");
	assert_ptr_equal(a.cmd->run, cli_key_config);
	assert_true(a.set & CLI_FLAG(CLI_F_DELETION_ALLOWED));
	assert_true(a.deletion_allowed);
	PARSE_OK(&a, "key", "config", "web", "-deletion-allowed=false");
	assert_true(a.set & CLI_FLAG(CLI_F_DELETION_ALLOWED));
	assert_false(a.deletion_allowed);
	PARSE_OK(&a, "key", "config", "web", "-min-decryption-version", "3", "-exportable");
	assert_true(a.set & CLI_FLAG(CLI_F_MIN_DECRYPTION_VERSION));
	assert_int_equal(a.min_decryption_version, 3);
	assert_false(a.set & CLI_FLAG(CLI_F_DELETION_ALLOWED));
	assert_true(a.exportable);
	PARSE_BAD(&a, "key", "config", "web");
	assert_non_null(strstr(err, "nothing to change"));
	PARSE_BAD(&a, "key", "config", "web", "-exportable=false");
	PARSE_BAD(&a, "key", "config", "web", "-min-decryption-version", "4294967296");
	PARSE_BAD(&a, "key", "config", "web", "-type", "aes128-gcm96");
}

static void crypto_inputs(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "encrypt", "web");
	assert_ptr_equal(a.cmd->run, cli_encrypt);
	assert_int_equal(a.npos, 1);
	PARSE_OK(&a, "encrypt", "web", "-");
	assert_string_equal(a.pos[1], "-");
	PARSE_OK(&a, "decrypt", "web", "secret.enc");
	assert_ptr_equal(a.cmd->run, cli_decrypt);
	assert_string_equal(a.pos[1], "secret.enc");
	PARSE_BAD(&a, "encrypt", "web", "a", "b");
	PARSE_BAD(&a, "decrypt");
	/* After "--" a leading dash is a file name. */
	PARSE_OK(&a, "encrypt", "web", "--", "-odd-name");
	assert_string_equal(a.pos[1], "-odd-name");
	PARSE_OK(&a, "hmac", "web", "-hash", "sha2-512", "f");
	assert_ptr_equal(a.cmd->run, cli_hmac);
	assert_string_equal(a.hash, "sha2-512");
	PARSE_BAD(&a, "hmac", "web", "-algorithm", "pss");
}

static void sign_and_verify(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "sign", "rsa", "doc.pdf", "-hash", "sha2-384", "-algorithm", "pkcs1v15");
	assert_ptr_equal(a.cmd->run, cli_sign);
	assert_string_equal(a.hash, "sha2-384");
	assert_string_equal(a.algorithm, "pkcs1v15");
	assert_string_equal(a.pos[1], "doc.pdf");
	PARSE_BAD(&a, "sign", "rsa", "-algorithm", "raw");
	assert_non_null(strstr(err, "pss or pkcs1v15"));
	PARSE_BAD(&a, "sign", "rsa", "-hmac");
	PARSE_OK(&a, "verify", "rsa", "vault:v1:c2ln", "doc.pdf");
	assert_ptr_equal(a.cmd->run, cli_verify);
	assert_string_equal(a.pos[1], "vault:v1:c2ln");
	assert_string_equal(a.pos[2], "doc.pdf");
	assert_false(a.hmac);
	PARSE_OK(&a, "verify", "-hmac", "k", "vault:v1:bWFj");
	assert_true(a.hmac);
	assert_int_equal(a.npos, 2);
	PARSE_BAD(&a, "verify", "rsa");
	PARSE_BAD(&a, "verify", "rsa", "sig", "file", "more");
}

static void token_create(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "token", "create");
	assert_ptr_equal(a.cmd->run, cli_token_create);
	assert_int_equal(a.npolicies, 0);
	assert_null(a.ttl);
	PARSE_OK(&a, "token", "create", "-policy", "web", "-policy=ops", "-ttl", "1h30m");
	assert_int_equal(a.npolicies, 2);
	assert_string_equal(a.policies[0], "web");
	assert_string_equal(a.policies[1], "ops");
	assert_string_equal(a.ttl, "1h30m");
	PARSE_BAD(&a, "token", "create", "-ttl", "forever");
	PARSE_BAD(&a, "token", "create", "-policy=");
	PARSE_BAD(&a, "token", "create", "-policy");
}

static void too_many_policies(void **state)
{
	char *argv[3 + 2 * (CLI_POLICIES_MAX + 1)];
	struct cli_args a;
	int argc = 0;

	argv[argc++] = "keyward";
	argv[argc++] = "token";
	argv[argc++] = "create";
	for (int i = 0; i <= CLI_POLICIES_MAX; i++) {
		argv[argc++] = "-policy";
		argv[argc++] = "p";
	}
	assert_int_equal(parse(&a, argc, argv), KW_ERR_INVALID);
	assert_int_equal(parse(&a, argc - 2, argv), 0);
	assert_int_equal(a.npolicies, CLI_POLICIES_MAX);
}

static void policy_commands(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "policy", "write", "web", "web.hcl");
	assert_ptr_equal(a.cmd->run, cli_policy_write);
	assert_string_equal(a.pos[1], "web.hcl");
	PARSE_OK(&a, "policy", "write", "web", "-");
	PARSE_BAD(&a, "policy", "write", "web");
	PARSE_OK(&a, "policy", "read", "web");
	assert_ptr_equal(a.cmd->run, cli_policy_read);
	PARSE_OK(&a, "policy", "list");
	assert_ptr_equal(a.cmd->run, cli_policy_list);
}

static void globals_anywhere(void **state)
{
	struct cli_args a;

	PARSE_OK(&a, "-address", "unix:/run/kw.sock", "key", "list", "-format", "json", "-token",
	         "t0k", "--ca-cert=/ca.pem");
	assert_ptr_equal(a.cmd->run, cli_key_list);
	assert_string_equal(a.address, "unix:/run/kw.sock");
	assert_string_equal(a.token, "t0k");
	assert_string_equal(a.ca_cert, "/ca.pem");
	assert_int_equal(a.format, CLI_FORMAT_JSON);
	PARSE_OK(&a, "key", "list", "--format=text");
	assert_int_equal(a.format, CLI_FORMAT_TEXT);
	PARSE_BAD(&a, "key", "list", "-format", "yaml");
	PARSE_BAD(&a, "key", "list", "-address");
}

static void command_flag_before_command(void **state)
{
	struct cli_args a;

	PARSE_BAD(&a, "-type", "rsa-2048", "key", "create", "k");
	assert_non_null(strstr(err, "after the command"));
	PARSE_BAD(&a, "key", "create", "k", "-nope");
	PARSE_BAD(&a, "key", "create", "k", "-=x");
	/* A trailing "--" ends nothing but flags. */
	PARSE_OK(&a, "key", "create", "k", "--");
	assert_int_equal(a.npos, 1);
}

int test_cli_run(void)
{
	const struct CMUnitTest tests[] = {
	    TEST("/cli/parse/no-command", no_command),
	    TEST("/cli/parse/help-forms", help_forms),
	    TEST("/cli/parse/unknown-commands", unknown_commands),
	    TEST("/cli/parse/operator-init", operator_init),
	    TEST("/cli/parse/operator-unseal", operator_unseal),
	    TEST("/cli/parse/operator-seal-status", operator_seal_status),
	    TEST("/cli/parse/key-create", key_create),
	    TEST("/cli/parse/key-simple-commands", key_simple_commands),
	    TEST("/cli/parse/key-config", key_config),
	    TEST("/cli/parse/crypto-inputs", crypto_inputs),
	    TEST("/cli/parse/sign-and-verify", sign_and_verify),
	    TEST("/cli/parse/token-create", token_create),
	    TEST("/cli/parse/too-many-policies", too_many_policies),
	    TEST("/cli/parse/policy-commands", policy_commands),
	    TEST("/cli/parse/globals-anywhere", globals_anywhere),
	    TEST("/cli/parse/flag-placement", command_flag_before_command),
	};

	return cmocka_run_group_tests_name("/cli", tests, NULL, NULL);
}
