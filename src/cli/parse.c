/*
 * parse.c: the command table (every command, its arguments, flags and help)
 * and the argument parser. No I/O except printing help, so the unit tests
 * drive cli_parse() directly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum flag_kind { FLAG_BOOL, FLAG_STR, FLAG_UINT };

#define TIME_HELP "RFC 3339 (2026-11-28T14:00:00Z) or unix seconds"

struct flag_spec {
	const char *name;
	const char *metavar;
	enum flag_kind kind;
	const char *help;
};

/* Indexed by enum cli_flag. */
static const struct flag_spec flag_specs[CLI_F_COUNT] = {
    [CLI_F_KEY_SHARES] = {"key-shares", "N", FLAG_UINT,
                          "number of unseal key shares to create (default 5)"},
    [CLI_F_KEY_THRESHOLD] = {"key-threshold", "T", FLAG_UINT,
                             "shares needed to unseal (default 3, at most -key-shares)"},
    [CLI_F_RESET] = {"reset", NULL, FLAG_BOOL, "forget the shares given so far"},
    [CLI_F_TYPE] = {"type", "T", FLAG_STR,
                    "key type: aes256-gcm96 (default), aes128-gcm96, chacha20-poly1305, "
                    "hmac, ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519, rsa-2048, rsa-3072, "
                    "rsa-4096"},
    [CLI_F_EXPORTABLE] = {"exportable", NULL, FLAG_BOOL,
                          "allow the key to be exported (cannot be undone)"},
    [CLI_F_DELETION_ALLOWED] = {"deletion-allowed", "true|false", FLAG_BOOL,
                                "allow or forbid deleting the key"},
    [CLI_F_MIN_DECRYPTION_VERSION] = {"min-decryption-version", "N", FLAG_UINT,
                                      "oldest key version that may still decrypt or verify"},
    [CLI_F_HASH] = {"hash", "H", FLAG_STR,
                    "hash algorithm: sha2-256 (default), sha2-224, sha2-384, sha2-512, "
                    "sha3-256..."},
    [CLI_F_ALGORITHM] = {"algorithm", "pss|pkcs1v15", FLAG_STR,
                         "RSA signature padding (default pss)"},
    [CLI_F_HMAC] = {"hmac", NULL, FLAG_BOOL,
                    "SIGNATURE is an HMAC made by 'keyward hmac', not a signature"},
    [CLI_F_POLICY] = {"policy", "P", FLAG_STR, "policy to attach; repeat for several"},
    [CLI_F_TTL] = {"ttl", "DURATION", FLAG_STR, "token lifetime: 30m, 1h, 768h..."},
    [CLI_F_DIR] = {"dir", "DIR", FLAG_STR,
                   "an audit log directory (audit/ beside the store) or a copy of its files; "
                   "without it the server's log is fetched"},
    [CLI_F_VERIFIER] = {"key", "VERIFIER", FLAG_STR,
                        "the audit verifier key to trust (keyward/audit/<node>+<id>+<key>); "
                        "without it the server's is fetched and trusted"},
    [CLI_F_KEY_FILE] = {"key-file", "FILE", FLAG_STR, "read the verifier key from FILE"},
    [CLI_F_CHECKPOINT] = {"checkpoint", "FILE", FLAG_STR,
                          "a signed checkpoint kept earlier, to check against as well; repeat "
                          "for several"},
    [CLI_F_KEY_NAME] = {"key", "NAME", FLAG_STR, "only entries for this key"},
    [CLI_F_IDENTITY] = {"identity", "ID", FLAG_STR,
                        "only entries of this subject or token accessor"},
    [CLI_F_OPERATION] = {"operation", "OP", FLAG_STR,
                         "only this operation: sign, decrypt, key-create, ..."},
    [CLI_F_SINCE] = {"since", "TIME", FLAG_STR, "entries at or after TIME: " TIME_HELP},
    [CLI_F_UNTIL] = {"until", "TIME", FLAG_STR, "entries before TIME: " TIME_HELP},
    [CLI_F_INDEX] = {"index", "N", FLAG_STR, "prove that entry N is in the log"},
    [CLI_F_TREE_SIZE] = {"tree-size", "S", FLAG_STR,
                         "in the tree of the first S entries (default: the newest checkpoint's)"},
    [CLI_F_FIRST] = {"first", "A", FLAG_STR, "prove that the tree of A entries is a prefix of..."},
    [CLI_F_SECOND] = {"second", "B", FLAG_STR, "...the tree of B entries"},
    [CLI_F_FROM] = {"from", "TIME", FLAG_STR, "window start (inclusive): " TIME_HELP},
    [CLI_F_TO] = {"to", "TIME", FLAG_STR, "window end (exclusive): " TIME_HELP},
};

#define F(x) CLI_FLAG(CLI_F_##x)

static const struct cli_command commands[] = {
    {"operator", "init", "", 0, 0, F(KEY_SHARES) | F(KEY_THRESHOLD),
     "Initialise keyward; print the unseal key shares and the root token",
     "Creates the root key and splits it into shares. The shares and the root token are "
     "printed once and never again: store them apart, safely.",
     cli_operator_init},
    {"operator", "unseal", "[SHARE]", 0, 1, F(RESET), "Give one unseal key share",
     "Sends one share; repeat with other shares until the threshold is reached. Without "
     "SHARE it is read from stdin (not echoed on a terminal), which keeps it out of the "
     "process list and shell history.",
     cli_operator_unseal},
    {"operator", "seal", "", 0, 0, 0, "Seal keyward: forget the root key until unsealed",
     "Needs a token allowed to seal (the root token).", cli_operator_seal},
    {"operator", "status", "", 0, 0, 0, "Show whether keyward is initialised and sealed",
     "Needs no token.", cli_operator_status},
    {"key", "create", "NAME", 1, 1, F(TYPE) | F(EXPORTABLE), "Create a key",
     "The key is generated inside keyward and never leaves it unless -exportable.", cli_key_create},
    {"key", "list", "", 0, 0, 0, "List key names, one per line", "", cli_key_list},
    {"key", "show", "NAME", 1, 1, 0, "Show a key's settings, versions and public keys", "",
     cli_key_show},
    {"key", "rotate", "NAME", 1, 1, 0, "Add a new version of a key",
     "New encryptions and signatures use the new version; older versions still decrypt "
     "and verify down to min_decryption_version.",
     cli_key_rotate},
    {"key", "delete", "NAME", 1, 1, 0, "Delete a key and all its versions",
     "Refused unless the key's deletion_allowed is true (key config NAME "
     "-deletion-allowed).",
     cli_key_delete},
    {"key", "config", "NAME", 1, 1, F(DELETION_ALLOWED) | F(MIN_DECRYPTION_VERSION) | F(EXPORTABLE),
     "Change a key's settings", "Give at least one flag.", cli_key_config},
    {NULL, "encrypt", "NAME [FILE|-]", 1, 2, 0, "Encrypt a file or stdin; print the ciphertext",
     "Reads raw bytes (at most 32 MiB) and prints vault:vN:... on one line.", cli_encrypt},
    {NULL, "decrypt", "NAME [FILE|-]", 1, 2, 0, "Decrypt a ciphertext; write the plaintext",
     "Reads the ciphertext text (vault:vN:...) and writes the raw plaintext to stdout.",
     cli_decrypt},
    {NULL, "sign", "NAME [FILE|-]", 1, 2, F(HASH) | F(ALGORITHM),
     "Sign a file or stdin; print the signature",
     "Reads raw bytes (at most 32 MiB) and prints vault:vN:... on one line.", cli_sign},
    {NULL, "verify", "NAME SIGNATURE [FILE|-]", 2, 3, F(HASH) | F(ALGORITHM) | F(HMAC),
     "Verify a signature over a file or stdin",
     "Prints \"valid\" and exits 0, or prints \"invalid\" and exits 1. Give the same -hash "
     "and -algorithm as when signing.",
     cli_verify},
    {NULL, "hmac", "NAME [FILE|-]", 1, 2, F(HASH), "HMAC a file or stdin; print the MAC",
     "Every key has its own HMAC key, whatever its type.", cli_hmac},
    {"token", "create", "", 0, 0, F(POLICY) | F(TTL), "Create a token; print it",
     "The new token carries the policies given (and 'default').", cli_token_create},
    {"policy", "write", "NAME FILE|-", 2, 2, 0, "Create or replace an ACL policy",
     "FILE holds a Vault ACL policy; keyward takes its JSON form.", cli_policy_write},
    {"policy", "read", "NAME", 1, 1, 0, "Print a policy's text", "", cli_policy_read},
    {"policy", "list", "", 0, 0, 0, "List policy names, one per line", "", cli_policy_list},
    {"audit", "verify", "", 0, 0, F(DIR) | F(VERIFIER) | F(KEY_FILE) | F(CHECKPOINT),
     "Check every audit entry against signed checkpoints",
     "Re-reads every entry, recomputes the Merkle tree and compares it with each checkpoint: "
     "the newest one stored in -dir (or sent by the server), and any given with -checkpoint. "
     "With -dir and -key no server is needed. Prints \"ok: N entries, verified up to "
     "checkpoint size S\", or \"FAIL at index I: why\" (I is the first entry not vouched "
     "for) and exits 1.",
     cli_audit_verify},
    {"audit", "search", "", 0, 0, F(KEY_NAME) | F(IDENTITY) | F(OPERATION) | F(SINCE) | F(UNTIL),
     "Find audit entries",
     "Prints matching entries, one per line (-format json: one JSON object per line), from "
     "the whole log as it was when the search began.",
     cli_audit_search},
    {"audit", "prove", "", 0, 0,
     F(INDEX) | F(TREE_SIZE) | F(FIRST) | F(SECOND) | F(VERIFIER) | F(KEY_FILE) | F(CHECKPOINT),
     "Fetch and check an inclusion or consistency proof",
     "Give -index N [-tree-size S] for an inclusion proof, or -first A -second B for a "
     "consistency proof. Roots come from signed checkpoints (the server's newest, and any "
     "-checkpoint); a tree size no checkpoint has is recomputed from the entries and tied "
     "to the newest checkpoint by a consistency proof. Prints the hashes and \"proof ok\", "
     "or exits 1.",
     cli_audit_prove},
    {"audit", "report", "", 0, 0, F(KEY_NAME) | F(FROM) | F(TO),
     "List every use of a key in a time window",
     "The compromise-window report: every sign, verify, encrypt, decrypt, rewrap, datakey "
     "and hmac with the key from -from to -to, with time, identity, source, key version, "
     "result, input and output SHA-256 and request id. -format text (default), json or "
     "csv.",
     cli_audit_report},
};

#undef F

void cli_command_name(const struct cli_command *cmd, char *buf, size_t len)
{
	if (cmd->group != NULL)
		snprintf(buf, len, "%s %s", cmd->group, cmd->name);
	else
		snprintf(buf, len, "%s", cmd->name);
}

/* --- help ------------------------------------------------------------------- */

#define HELP_INDENT 35
#define HELP_WIDTH  80

/* Help text after a HELP_INDENT-wide left column, wrapped at spaces. */
static void help_wrap(FILE *f, const char *text)
{
	size_t col = HELP_INDENT;

	while (*text != '\0') {
		size_t word = strcspn(text, " ");

		if (col > HELP_INDENT && col + 1 + word > HELP_WIDTH) {
			fprintf(f, "\n%*s", HELP_INDENT, "");
			col = HELP_INDENT;
		} else if (col > HELP_INDENT) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)word, text);
		col += word;
		text += word;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

static void help_flags(FILE *f, uint32_t mask)
{
	for (size_t i = 0; i < CLI_F_COUNT; i++) {
		char left[64];

		if (!(mask & CLI_FLAG(i)))
			continue;
		snprintf(left, sizeof(left), "-%s%s%s", flag_specs[i].name,
		         flag_specs[i].metavar ? " " : "",
		         flag_specs[i].metavar ? flag_specs[i].metavar : "");
		fprintf(f, "  %-*s ", HELP_INDENT - 3, left);
		help_wrap(f, flag_specs[i].help);
	}
}

static void help_globals(FILE *f)
{
	fprintf(f, "\nGlobal flags:\n"
	           "  -address ADDR                    server: http(s)://host:port or unix:/path "
	           "(KEYWARD_ADDR)\n"
	           "  -token TOKEN                     token (discouraged: use KEYWARD_TOKEN)\n"
	           "  -ca-cert FILE                    PEM CA bundle to verify the server "
	           "(KEYWARD_CACERT)\n"
	           "  -format text|json                output format (default text; audit report: "
	           "csv too)\n"
	           "  -h, -help                        show help\n");
}

static void help_command(FILE *f, const struct cli_command *cmd)
{
	char name[64];

	cli_command_name(cmd, name, sizeof(name));
	fprintf(f, "Usage: keyward %s%s%s%s\n\n%s.\n", name, *cmd->args ? " " : "", cmd->args,
	        cmd->flags ? " [flags]" : "", cmd->summary);
	if (*cmd->help)
		fprintf(f, "\n%s\n", cmd->help);
	if (cmd->flags) {
		fprintf(f, "\nFlags:\n");
		help_flags(f, cmd->flags);
	}
	help_globals(f);
}

static void help_list(FILE *f, const char *group)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(commands); i++) {
		char name[64];

		if (group != NULL &&
		    (commands[i].group == NULL || strcmp(commands[i].group, group)))
			continue;
		cli_command_name(&commands[i], name, sizeof(name));
		fprintf(f, "  %-18s %s\n", name, commands[i].summary);
	}
}

void cli_help(const struct cli_command *cmd, const char *group, bool to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;

	if (cmd != NULL) {
		help_command(f, cmd);
		return;
	}
	if (group != NULL) {
		fprintf(f, "Usage: keyward %s <command> [args]\n\nCommands:\n", group);
		help_list(f, group);
	} else {
		fprintf(f, "Usage: keyward <command> [args] [flags]\n\n"
		           "keyward talks to a keyward server (or any Vault transit engine).\n\n"
		           "Commands:\n");
		help_list(f, NULL);
		fprintf(f, "\nRun 'keyward <command> -h' for a command's arguments and flags.\n");
	}
	help_globals(f);
}

/* --- parser ----------------------------------------------------------------- */

struct parser {
	int argc;
	char *const *argv;
	int i; /* index of the word being parsed */
	struct cli_args *a;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...) KW_PRINTF(2, 3);
static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return KW_ERR_INVALID;
}

static bool group_known(const char *word)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(commands); i++)
		if (commands[i].group != NULL && strcmp(commands[i].group, word) == 0)
			return true;
	return false;
}

static const struct cli_command *command_find(const char *group, const char *word)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(commands); i++) {
		const struct cli_command *c = &commands[i];

		if ((group == NULL) != (c->group == NULL))
			continue;
		if (group != NULL && strcmp(group, c->group) != 0)
			continue;
		if (strcmp(c->name, word) == 0)
			return c;
	}
	return NULL;
}

static int parse_bool(struct parser *p, const char *flag, const char *v, bool *out)
{
	if (v == NULL || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
		*out = false;
		return 0;
	}
	return fail(p, "flag -%s takes true or false, not \"%s\"", flag, v);
}

static int parse_uint(struct parser *p, const char *flag, const char *v, unsigned long max,
                      uint32_t *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	if (*v < '0' || *v > '9')
		return fail(p, "flag -%s takes a number, not \"%s\"", flag, v);
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return fail(p, "flag -%s takes a number up to %lu, not \"%s\"", flag, max, v);
	*out = (uint32_t)n;
	return 0;
}

static int parse_u64(struct parser *p, const char *flag, const char *v, uint64_t *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	if (*v < '0' || *v > '9')
		return fail(p, "flag -%s takes a number, not \"%.64s\"", flag, v);
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > INT64_MAX)
		return fail(p, "flag -%s takes a number below 2^63, not \"%.64s\"", flag, v);
	*out = n;
	return 0;
}

static int parse_time(struct parser *p, const char *flag, const char *v, uint64_t *out)
{
	if (kw_client_audit_time_parse(v, out) != 0)
		return fail(p, "flag -%s takes " TIME_HELP ", not \"%.64s\"", flag, v);
	return 0;
}

/* The audit commands' flags. */
static int audit_flag_store(struct parser *p, enum cli_flag f, const char *v)
{
	struct cli_args *a = p->a;
	const char *name = flag_specs[f].name;

	switch (f) {
	case CLI_F_DIR:
		a->dir = v;
		return 0;
	case CLI_F_VERIFIER:
		a->verifier = v;
		return 0;
	case CLI_F_KEY_FILE:
		a->key_file = v;
		return 0;
	case CLI_F_CHECKPOINT:
		if (a->ncheckpoints == CLI_CHECKPOINTS_MAX)
			return fail(p, "at most %d -checkpoint flags", CLI_CHECKPOINTS_MAX);
		a->checkpoints[a->ncheckpoints++] = v;
		return 0;
	case CLI_F_KEY_NAME:
		a->key_name = v;
		return *v ? 0 : fail(p, "flag -key needs a key name");
	case CLI_F_IDENTITY:
		a->identity = v;
		return *v ? 0 : fail(p, "flag -identity needs a subject or accessor");
	case CLI_F_OPERATION:
		a->operation = v;
		return *v ? 0 : fail(p, "flag -operation needs an operation name");
	case CLI_F_SINCE:
		return parse_time(p, name, v, &a->since_us);
	case CLI_F_UNTIL:
		return parse_time(p, name, v, &a->until_us);
	case CLI_F_FROM:
		return parse_time(p, name, v, &a->from_us);
	case CLI_F_TO:
		return parse_time(p, name, v, &a->to_us);
	case CLI_F_INDEX:
		return parse_u64(p, name, v, &a->index);
	case CLI_F_TREE_SIZE:
		return parse_u64(p, name, v, &a->tree_size);
	case CLI_F_FIRST:
		return parse_u64(p, name, v, &a->first);
	case CLI_F_SECOND:
		return parse_u64(p, name, v, &a->second);
	default:
		return fail(p, "internal: unknown flag");
	}
}

static int flag_store(struct parser *p, enum cli_flag f, const char *v)
{
	struct cli_args *a = p->a;
	const char *name = flag_specs[f].name;
	uint32_t n = 0;
	int r = 0;

	switch (f) {
	case CLI_F_KEY_SHARES:
	case CLI_F_KEY_THRESHOLD:
		if ((r = parse_uint(p, name, v, CLI_SHARES_MAX, &n)) == 0 && n == 0)
			r = fail(p, "flag -%s must be at least 1", name);
		if (f == CLI_F_KEY_SHARES)
			a->key_shares = n;
		else
			a->key_threshold = n;
		break;
	case CLI_F_MIN_DECRYPTION_VERSION:
		r = parse_uint(p, name, v, UINT32_MAX, &a->min_decryption_version);
		break;
	case CLI_F_RESET:
		r = parse_bool(p, name, v, &a->reset);
		break;
	case CLI_F_EXPORTABLE:
		r = parse_bool(p, name, v, &a->exportable);
		break;
	case CLI_F_DELETION_ALLOWED:
		r = parse_bool(p, name, v, &a->deletion_allowed);
		break;
	case CLI_F_HMAC:
		r = parse_bool(p, name, v, &a->hmac);
		break;
	case CLI_F_TYPE:
		a->type = v;
		break;
	case CLI_F_HASH:
		a->hash = v;
		break;
	case CLI_F_ALGORITHM:
		if (strcmp(v, "pss") != 0 && strcmp(v, "pkcs1v15") != 0)
			r = fail(p, "flag -algorithm takes pss or pkcs1v15, not \"%s\"", v);
		a->algorithm = v;
		break;
	case CLI_F_POLICY:
		if (a->npolicies == CLI_POLICIES_MAX)
			return fail(p, "at most %d -policy flags", CLI_POLICIES_MAX);
		if (*v == '\0')
			return fail(p, "flag -policy needs a policy name");
		a->policies[a->npolicies++] = v;
		break;
	case CLI_F_TTL: {
		int64_t secs;
		if (kw_duration_parse(v, &secs) != 0)
			r = fail(p, "flag -ttl takes a duration such as 30m or 1h, not \"%s\"", v);
		a->ttl = v;
		break;
	}
	default:
		r = audit_flag_store(p, f, v);
	}
	if (r == 0)
		a->set |= CLI_FLAG(f);
	return r;
}

/* The value of a non-boolean flag: after '=' or the next word. */
static int flag_value(struct parser *p, const char *name, const char *eq, const char **out)
{
	if (eq != NULL) {
		*out = eq + 1;
		return 0;
	}
	if (p->i + 1 >= p->argc)
		return fail(p, "flag -%s needs a value", name);
	*out = p->argv[++p->i];
	return 0;
}

static int global_flag(struct parser *p, const char *name, const char *eq, bool *matched)
{
	struct cli_args *a = p->a;
	const char *v = NULL;
	int r;

	*matched = true;
	if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
		a->help = true;
		return 0;
	}
	if (strcmp(name, "address") && strcmp(name, "token") && strcmp(name, "ca-cert") &&
	    strcmp(name, "format")) {
		*matched = false;
		return 0;
	}
	if ((r = flag_value(p, name, eq, &v)) != 0)
		return r;
	if (strcmp(name, "address") == 0) {
		a->address = v;
	} else if (strcmp(name, "token") == 0) {
		a->token = v;
	} else if (strcmp(name, "ca-cert") == 0) {
		a->ca_cert = v;
	} else if (strcmp(v, "text") == 0) {
		a->format = CLI_FORMAT_TEXT;
	} else if (strcmp(v, "json") == 0) {
		a->format = CLI_FORMAT_JSON;
	} else if (strcmp(v, "csv") == 0) {
		a->format = CLI_FORMAT_CSV;
	} else {
		return fail(p, "flag -format takes text or json (csv: audit report), not \"%s\"",
		            v);
	}
	return 0;
}

static int command_flag(struct parser *p, const char *name, const char *eq)
{
	const struct cli_command *cmd = p->a->cmd;
	const char *v = NULL;
	int r;

	for (size_t f = 0; f < CLI_F_COUNT; f++) {
		/* One name may mean different flags in different commands
		 * ("-key": a verifier key or a key name). */
		if (strcmp(flag_specs[f].name, name) != 0 || cmd == NULL ||
		    !(cmd->flags & CLI_FLAG(f)))
			continue;
		if (flag_specs[f].kind == FLAG_BOOL)
			v = eq ? eq + 1 : NULL;
		else if ((r = flag_value(p, name, eq, &v)) != 0)
			return r;
		return flag_store(p, (enum cli_flag)f, v);
	}
	if (cmd == NULL)
		return fail(p, "unknown flag -%s (command flags go after the command)", name);
	return fail(p, "unknown flag -%s for this command", name);
}

static int parse_flag(struct parser *p, const char *word)
{
	char name[64];
	const char *eq, *s = word + 1;
	bool matched;
	size_t n;
	int r;

	if (*s == '-')
		s++;
	eq = strchr(s, '=');
	n = eq ? (size_t)(eq - s) : strlen(s);
	if (n == 0 || n >= sizeof(name))
		return fail(p, "bad flag \"%.64s\"", word);
	memcpy(name, s, n);
	name[n] = '\0';
	if ((r = global_flag(p, name, eq, &matched)) != 0 || matched)
		return r;
	return command_flag(p, name, eq);
}

static int parse_word(struct parser *p, const char *word)
{
	struct cli_args *a = p->a;

	if (a->cmd != NULL) {
		if (a->npos == a->cmd->max_pos || a->npos == CLI_POS_MAX)
			return fail(p, "too many arguments (\"%.64s\")", word);
		a->pos[a->npos++] = word;
		return 0;
	}
	if (a->group == NULL && strcmp(word, "help") == 0) {
		a->help = true;
		return 0;
	}
	if (a->group == NULL && group_known(word)) {
		a->group = word;
		return 0;
	}
	if ((a->cmd = command_find(a->group, word)) == NULL) {
		if (a->group != NULL)
			return fail(p, "unknown command \"%s %.64s\"", a->group, word);
		return fail(p, "unknown command \"%.64s\"", word);
	}
	return 0;
}

static int check_init(struct parser *p)
{
	struct cli_args *a = p->a;

	if (!(a->set & CLI_FLAG(CLI_F_KEY_SHARES)))
		a->key_shares = 5;
	/* Vault's rule: more than one share needs a threshold above one. */
	if (!(a->set & CLI_FLAG(CLI_F_KEY_THRESHOLD)))
		a->key_threshold = a->key_shares < 3 ? a->key_shares : 3;
	if (a->key_threshold > a->key_shares)
		return fail(p, "-key-threshold (%u) cannot exceed -key-shares (%u)",
		            a->key_threshold, a->key_shares);
	return 0;
}

static bool given(const struct cli_args *a, enum cli_flag f)
{
	return (a->set & CLI_FLAG(f)) != 0;
}

static int check_prove(struct parser *p)
{
	const struct cli_args *a = p->a;
	bool incl = given(a, CLI_F_INDEX) || given(a, CLI_F_TREE_SIZE);
	bool cons = given(a, CLI_F_FIRST) || given(a, CLI_F_SECOND);

	if (incl == cons)
		return fail(p, "audit prove: give -index N [-tree-size S], or -first A -second B");
	if (incl && !given(a, CLI_F_INDEX))
		return fail(p, "audit prove: -tree-size needs -index");
	if (incl && given(a, CLI_F_TREE_SIZE) && a->index >= a->tree_size)
		return fail(p, "audit prove: -index must be below -tree-size");
	if (cons && !(given(a, CLI_F_FIRST) && given(a, CLI_F_SECOND)))
		return fail(p, "audit prove: give both -first and -second");
	if (cons && a->first > a->second)
		return fail(p, "audit prove: -first must not be above -second");
	return 0;
}

static int check_audit(struct parser *p)
{
	const struct cli_args *a = p->a;
	int (*run)(struct kw_client *, const struct cli_args *) = a->cmd->run;

	if (given(a, CLI_F_VERIFIER) && given(a, CLI_F_KEY_FILE))
		return fail(p, "audit %s: give -key or -key-file, not both", a->cmd->name);
	if (run == cli_audit_prove)
		return check_prove(p);
	if (run == cli_audit_search && given(a, CLI_F_SINCE) && given(a, CLI_F_UNTIL) &&
	    a->since_us >= a->until_us)
		return fail(p, "audit search: -until must be after -since");
	if (run == cli_audit_report &&
	    !(given(a, CLI_F_KEY_NAME) && given(a, CLI_F_FROM) && given(a, CLI_F_TO)))
		return fail(p, "audit report: -key, -from and -to are required");
	if (run == cli_audit_report && a->from_us >= a->to_us)
		return fail(p, "audit report: -to must be after -from");
	return 0;
}

static int check_command(struct parser *p)
{
	struct cli_args *a = p->a;
	const struct cli_command *cmd = a->cmd;
	char name[64];

	cli_command_name(cmd, name, sizeof(name));
	if (a->npos < cmd->min_pos)
		return fail(p, "%s: missing arguments (usage: keyward %s %s)", name, name,
		            cmd->args);
	if (cmd->run == cli_operator_init)
		return check_init(p);
	if (cmd->run == cli_operator_unseal && a->reset && a->npos > 0)
		return fail(p, "operator unseal: give a SHARE or -reset, not both");
	if (cmd->run == cli_key_config && !(a->set & cmd->flags))
		return fail(p, "key config: nothing to change; give at least one flag");
	if (cmd->run == cli_key_config && (a->set & CLI_FLAG(CLI_F_EXPORTABLE)) && !a->exportable)
		return fail(p, "key config: exportable can only be turned on");
	if (a->format == CLI_FORMAT_CSV && cmd->run != cli_audit_report)
		return fail(p, "%s: -format csv is for audit report only", name);
	if (cmd->group != NULL && strcmp(cmd->group, "audit") == 0)
		return check_audit(p);
	return 0;
}

int cli_parse(int argc, char *const *argv, struct cli_args *a, char *err, size_t errlen)
{
	struct parser p = {.argc = argc, .argv = argv, .a = a, .err = err, .errlen = errlen};
	bool flags_done = false;

	memset(a, 0, sizeof(*a));
	a->format = CLI_FORMAT_TEXT;
	err[0] = '\0';
	for (p.i = 1; p.i < argc; p.i++) {
		const char *w = argv[p.i];
		int r = 0;

		if (!flags_done && strcmp(w, "--") == 0)
			flags_done = true;
		else if (!flags_done && w[0] == '-' && w[1] != '\0')
			r = parse_flag(&p, w);
		else
			r = parse_word(&p, w);
		if (r != 0)
			return r;
	}
	if (a->help)
		return 0;
	if (a->cmd == NULL && a->group != NULL)
		return fail(&p, "missing command after \"%s\"", a->group);
	if (a->cmd == NULL)
		return fail(&p, "missing command");
	return check_command(&p);
}
