/*
 * cli: the keyward command. One file per command group (operator.c, key.c,
 * crypto.c, token.c, policy.c, audit.c) over libkeyward; parse.c holds the command
 * table and the argument parser (a pure function, unit-tested); io.c reads
 * inputs and writes outputs; main.c wires them.
 *
 * Runs as a short-lived process of its own, single-threaded. Secrets that
 * pass through it (plaintext, unseal shares, tokens) are read and written
 * with read(2)/write(2) through wiping buffers, never stdio, and every jansson
 * allocation is wiped on free (main installs the allocator). Error lines name
 * the operation and key, never data or tokens.
 *
 * Exit codes: 0 success (and "valid" for verify), 1 a failure reported by the
 * server or met locally (and "invalid" for verify), 2 a usage error.
 */
#ifndef KW_CLI_H
#define KW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../client/keyward.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

#define CLI_INPUT_MAX       (32u << 20) /* bytes read from a file or stdin */
#define CLI_POS_MAX         3
#define CLI_POLICIES_MAX    64
#define CLI_SHARES_MAX      255
#define CLI_SHARE_MAX       1024 /* longest unseal share read from a terminal */
#define CLI_ERR_MAX         256
#define CLI_CHECKPOINTS_MAX 64 /* --checkpoint files one command takes */

enum cli_format { CLI_FORMAT_TEXT, CLI_FORMAT_JSON, CLI_FORMAT_CSV /* audit report only */ };

/* Command flags; each command accepts a set of them (cli_command.flags). */
enum cli_flag {
	CLI_F_KEY_SHARES,
	CLI_F_KEY_THRESHOLD,
	CLI_F_RESET,
	CLI_F_TYPE,
	CLI_F_EXPORTABLE,
	CLI_F_DELETION_ALLOWED,
	CLI_F_MIN_DECRYPTION_VERSION,
	CLI_F_HASH,
	CLI_F_ALGORITHM,
	CLI_F_HMAC,
	CLI_F_POLICY,
	CLI_F_TTL,
	/* audit */
	CLI_F_DIR,
	CLI_F_VERIFIER, /* "key" for verify and prove: a verifier key */
	CLI_F_KEY_FILE,
	CLI_F_CHECKPOINT,
	CLI_F_KEY_NAME, /* "key" for search and report: a key name */
	CLI_F_IDENTITY,
	CLI_F_OPERATION,
	CLI_F_SINCE,
	CLI_F_UNTIL,
	CLI_F_INDEX,
	CLI_F_TREE_SIZE,
	CLI_F_FIRST,
	CLI_F_SECOND,
	CLI_F_FROM,
	CLI_F_TO,
	CLI_F_COUNT
};
#define CLI_FLAG(f) (1u << (f))

struct cli_args;
struct cli_command {
	const char *group; /* "key", or NULL for a top-level command */
	const char *name;
	const char *args; /* positional arguments in usage form: "NAME [FILE|-]" */
	unsigned min_pos;
	unsigned max_pos;
	uint32_t flags;
	const char *summary;
	const char *help; /* paragraph after the usage line */
	int (*run)(struct kw_client *c, const struct cli_args *a);
};

/* A parsed command line; strings point into argv. */
struct cli_args {
	const struct cli_command *cmd;
	const char *group; /* group word given ("key"), for help and errors */
	bool help;
	enum cli_format format;
	const char *address;
	const char *token;
	const char *ca_cert;
	const char *pos[CLI_POS_MAX];
	size_t npos;
	uint32_t set; /* CLI_FLAG() bits of the flags given */

	unsigned key_shares;
	unsigned key_threshold;
	bool reset;
	const char *type;
	bool exportable;
	bool deletion_allowed;
	uint32_t min_decryption_version;
	const char *hash;
	const char *algorithm;
	bool hmac;
	const char *policies[CLI_POLICIES_MAX];
	size_t npolicies;
	const char *ttl;

	/* audit; times are unix microseconds */
	const char *dir;
	const char *verifier;
	const char *key_file;
	const char *checkpoints[CLI_CHECKPOINTS_MAX];
	size_t ncheckpoints;
	const char *key_name;
	const char *identity;
	const char *operation;
	uint64_t since_us, until_us, from_us, to_us;
	uint64_t index, tree_size, first, second;
};

/*
 * Parse argv. Flags may come before or after positional arguments, as -name,
 * --name, -name=value or -name value; booleans take no separate value
 * (-exportable, -deletion-allowed=false); "--" ends flags; "-" is a
 * positional (stdin). 0 on success (including a help request: a->help),
 * KW_ERR_INVALID with a one-line reason in err otherwise.
 */
int cli_parse(int argc, char *const *argv, struct cli_args *a, char *err,
              size_t errlen) KW_MUST_CHECK;
/* Usage text for a command, a group (cmd NULL) or everything (both NULL). */
void cli_help(const struct cli_command *cmd, const char *group, bool to_stderr);
/* "key create": the command as typed, for messages. */
void cli_command_name(const struct cli_command *cmd, char *buf, size_t len);

/* Command groups. */
int cli_operator_init(struct kw_client *c, const struct cli_args *a);
int cli_operator_unseal(struct kw_client *c, const struct cli_args *a);
int cli_operator_seal(struct kw_client *c, const struct cli_args *a);
int cli_operator_status(struct kw_client *c, const struct cli_args *a);
int cli_key_create(struct kw_client *c, const struct cli_args *a);
int cli_key_list(struct kw_client *c, const struct cli_args *a);
int cli_key_show(struct kw_client *c, const struct cli_args *a);
int cli_key_rotate(struct kw_client *c, const struct cli_args *a);
int cli_key_delete(struct kw_client *c, const struct cli_args *a);
int cli_key_config(struct kw_client *c, const struct cli_args *a);
int cli_encrypt(struct kw_client *c, const struct cli_args *a);
int cli_decrypt(struct kw_client *c, const struct cli_args *a);
int cli_sign(struct kw_client *c, const struct cli_args *a);
int cli_verify(struct kw_client *c, const struct cli_args *a);
int cli_hmac(struct kw_client *c, const struct cli_args *a);
int cli_token_create(struct kw_client *c, const struct cli_args *a);
int cli_policy_write(struct kw_client *c, const struct cli_args *a);
int cli_policy_read(struct kw_client *c, const struct cli_args *a);
int cli_policy_list(struct kw_client *c, const struct cli_args *a);
int cli_audit_verify(struct kw_client *c, const struct cli_args *a);
int cli_audit_search(struct kw_client *c, const struct cli_args *a);
int cli_audit_prove(struct kw_client *c, const struct cli_args *a);
int cli_audit_report(struct kw_client *c, const struct cli_args *a);

/* io.c: inputs. path NULL or "-" is stdin. Errors are printed ("keyward:
 * <what>: ..."); the return is 0 or a KW_ERR_*. */
int cli_read_input(const char *what, const char *path, struct kw_buf *out) KW_MUST_CHECK;
/* Text input (ciphertext, policy): no NUL bytes, trailing blanks dropped,
 * NUL-terminated in out. */
int cli_read_text(const char *what, const char *path, struct kw_buf *out) KW_MUST_CHECK;
/* One secret line from stdin, without echo when it is a terminal. */
int cli_read_secret(const char *prompt, char *buf, size_t len) KW_MUST_CHECK;

/* io.c: outputs, all to stdout through wiping buffers. */
int cli_write(const void *p, size_t n) KW_MUST_CHECK;
int cli_printf(const char *fmt, ...) KW_PRINTF(1, 2);
/* Server text, control characters shown as '?' (newlines kept if multiline). */
int cli_print_text(const char *s, bool multiline);
/* "name: value\n" for a JSON scalar; nothing if v is NULL. */
int cli_print_field(const char *name, const json_t *v);
int cli_print_json(const json_t *j);
/* The reply in --format json, or text through print_text. */
int cli_print_reply(const struct cli_args *a, const json_t *j, int (*print_text)(const json_t *j));
/* A list of names (data.keys), one per line or as {"keys": [...]}. */
int cli_print_names(const struct cli_args *a, json_t *names);

/* io.c: errors, to stderr. cli_fail prints "keyward: <what>: <sentence>
 * (<code>)" from the handle's last error and returns CLI_EXIT_FAIL. */
int cli_fail(const struct kw_client *c, const char *what_fmt, ...) KW_PRINTF(2, 3);
void cli_errorf(const char *fmt, ...) KW_PRINTF(1, 2);

#endif
