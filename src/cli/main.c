/*
 * main.c: keyward's entry point: wiping allocator for jansson, argument
 * parsing, the client from the environment and global flags, and dispatch
 * to the command. Exit codes are in cli.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Room before each jansson block for its size, keeping malloc's alignment. */
#define ALLOC_HEADER 16

static void *wiping_malloc(size_t n)
{
	unsigned char *b;

	if (n > SIZE_MAX - ALLOC_HEADER || (b = malloc(ALLOC_HEADER + n)) == NULL)
		return NULL;
	memcpy(b, &n, sizeof(n));
	return b + ALLOC_HEADER;
}

/* Replies hold plaintext, shares and tokens, and jansson's parser leaves
 * copies in blocks it frees: wipe every block, whatever it held. */
static void wiping_free(void *p)
{
	unsigned char *b;
	size_t n;

	if (p == NULL)
		return;
	b = (unsigned char *)p - ALLOC_HEADER;
	memcpy(&n, b, sizeof(n));
	kw_wipe(b, ALLOC_HEADER + n);
	free(b);
}

static int client_open(const struct cli_args *a, struct kw_client **out)
{
	struct kw_client_opts o;
	const char *why;
	int r;

	if (kw_client_opts_from_env(&o) != 0) {
		cli_errorf("KEYWARD_CLIENT_TIMEOUT is not a duration such as 30s or 2m");
		return CLI_EXIT_USAGE;
	}
	if (a->address != NULL)
		o.address = a->address;
	if (a->token != NULL)
		o.token = a->token;
	if (a->ca_cert != NULL)
		o.ca_cert = a->ca_cert;
	/* The reason names the setting; the token itself is never echoed. */
	if (kw_client_opts_check(&o, &why) != 0) {
		cli_errorf("%s", why);
		return CLI_EXIT_USAGE;
	}
	if ((r = kw_client_new(&o, out)) != 0) {
		cli_errorf("cannot set up the client: %s", kw_err_str(r));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct kw_client *c = NULL;
	struct cli_args a;
	char err[CLI_ERR_MAX];
	int rc;

	/* Before any jansson allocation: blocks must be freed by the same pair. */
	json_set_alloc_funcs(wiping_malloc, wiping_free);
	if (cli_parse(argc, argv, &a, err, sizeof(err)) != 0) {
		cli_errorf("%s", err);
		if (a.cmd != NULL || a.group != NULL)
			fprintf(stderr, "Run 'keyward %s%s%s -h' for usage.\n",
			        a.group ? a.group : "", a.group && a.cmd ? " " : "",
			        a.cmd ? a.cmd->name : "");
		else
			fprintf(stderr, "Run 'keyward -h' for usage.\n");
		return CLI_EXIT_USAGE;
	}
	if (a.help) {
		cli_help(a.cmd, a.group, false);
		return CLI_EXIT_OK;
	}
	if ((rc = client_open(&a, &c)) != CLI_EXIT_OK)
		return rc;
	/* The client holds its own copy; drop argv's from the process list. */
	if (a.token != NULL)
		kw_wipe((char *)a.token, strlen(a.token));
	rc = a.cmd->run(c, &a);
	kw_client_free(c);
	return rc;
}
