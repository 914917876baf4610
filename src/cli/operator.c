/*
 * operator.c: keyward operator init | unseal | seal | status. Unseal shares
 * and the root token pass through here: shares are read without echo into a
 * stack buffer that is wiped, and argv's copy is wiped once sent.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int print_status(const json_t *s)
{
	static const char *const fields[][2] = {
	    {"type", "type"},       {"initialized", "initialized"},
	    {"sealed", "sealed"},   {"n", "shares"},
	    {"t", "threshold"},     {"progress", "progress"},
	    {"version", "version"},
	};
	int r = 0;

	for (size_t i = 0; i < KW_ARRAY_LEN(fields) && r == 0; i++)
		r = cli_print_field(fields[i][1], json_object_get(s, fields[i][0]));
	return r;
}

static int print_init(const json_t *reply)
{
	const json_t *keys = json_object_get(reply, "keys_base64"), *k;
	size_t i;
	int r = 0;

	/* Vault's CLI shows base64 shares; hex ones when that is all there is. */
	if (!json_is_array(keys))
		keys = json_object_get(reply, "keys");
	json_array_foreach(keys, i, k)
	{
		char name[32];

		snprintf(name, sizeof(name), "unseal_key_%zu", i + 1);
		if ((r = cli_print_field(name, k)) != 0)
			return r;
	}
	return cli_print_field("root_token", json_object_get(reply, "root_token"));
}

int cli_operator_init(struct kw_client *c, const struct cli_args *a)
{
	json_t *reply = NULL;
	int r;

	if (kw_client_sys_init(c, a->key_shares, a->key_threshold, &reply) != 0)
		return cli_fail(c, "operator init");
	r = cli_print_reply(a, reply, print_init);
	kw_client_json_free(reply);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int unseal_send(struct kw_client *c, const struct cli_args *a, const char *share)
{
	json_t *status = NULL;
	int r;

	if (a->reset)
		r = kw_client_sys_unseal_reset(c, &status);
	else
		r = kw_client_sys_unseal(c, share, &status);
	if (r != 0)
		return cli_fail(c, "operator unseal");
	r = cli_print_reply(a, status, print_status);
	kw_client_json_free(status);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_operator_unseal(struct kw_client *c, const struct cli_args *a)
{
	char share[CLI_SHARE_MAX];
	int rc;

	if (a->reset || a->npos == 1) {
		rc = unseal_send(c, a, a->npos == 1 ? a->pos[0] : NULL);
		/* Out of /proc/PID/cmdline as soon as it is no longer needed. */
		if (a->npos == 1)
			kw_wipe((char *)a->pos[0], strlen(a->pos[0]));
		return rc;
	}
	if (cli_read_secret("Unseal key share (not echoed): ", share, sizeof(share)) != 0) {
		cli_errorf("operator unseal: cannot read the share from stdin");
		return CLI_EXIT_FAIL;
	}
	if (share[0] == '\0') {
		cli_errorf("operator unseal: no share given");
		rc = CLI_EXIT_USAGE;
	} else {
		rc = unseal_send(c, a, share);
	}
	kw_wipe(share, sizeof(share));
	return rc;
}

int cli_operator_seal(struct kw_client *c, const struct cli_args *a)
{
	if (kw_client_sys_seal(c) != 0)
		return cli_fail(c, "operator seal");
	return CLI_EXIT_OK;
}

int cli_operator_status(struct kw_client *c, const struct cli_args *a)
{
	json_t *status = NULL;
	int r;

	if (kw_client_sys_seal_status(c, &status) != 0)
		return cli_fail(c, "operator status");
	r = cli_print_reply(a, status, print_status);
	kw_client_json_free(status);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
