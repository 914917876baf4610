/*
 * token.c: keyward token create. The new token is printed to stdout (that is
 * the point) from the wiped reply; never to stderr or a log.
 */
#include "cli.h"

static int print_auth(const json_t *auth)
{
	static const char *const fields[][2] = {
	    {"client_token", "token"}, {"accessor", "accessor"},   {"policies", "policies"},
	    {"lease_duration", "ttl"}, {"renewable", "renewable"},
	};
	int r = 0;

	for (size_t i = 0; i < KW_ARRAY_LEN(fields) && r == 0; i++)
		r = cli_print_field(fields[i][1], json_object_get(auth, fields[i][0]));
	return r;
}

int cli_token_create(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_token_opts o = {
	    .policies = a->policies,
	    .npolicies = a->npolicies,
	    .ttl = a->ttl,
	};
	json_t *auth = NULL;
	int r;

	if (kw_client_token_create(c, &o, &auth) != 0)
		return cli_fail(c, "token create");
	r = cli_print_reply(a, auth, print_auth);
	kw_client_json_free(auth);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
