/*
 * policy.c: keyward policy write | read | list (Vault ACL policies under
 * sys/policies/acl). Policy text is printed as stored, with control
 * characters other than newline and tab shown as '?'.
 */
#include <string.h>

#include "cli.h"

int cli_policy_write(struct kw_client *c, const struct cli_args *a)
{
	struct kw_buf text;
	int rc = CLI_EXIT_FAIL;

	kw_buf_init(&text);
	if (cli_read_text("policy write", a->pos[1], &text) != 0)
		goto out;
	if (kw_client_policy_write(c, a->pos[0], (const char *)text.data) != 0) {
		rc = cli_fail(c, "policy write %s", a->pos[0]);
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	kw_buf_cleanup(&text);
	return rc;
}

static int print_policy(const json_t *data)
{
	const char *text = json_string_value(json_object_get(data, "policy"));
	int r;

	/* Vault's older sys/policy endpoint calls it "rules". */
	if (text == NULL)
		text = json_string_value(json_object_get(data, "rules"));
	if (text == NULL) {
		cli_errorf("policy read: the server's reply has no policy text");
		return KW_ERR_INVALID;
	}
	if ((r = cli_print_text(text, true)) != 0)
		return r;
	return (*text != '\0' && text[strlen(text) - 1] == '\n') ? 0 : cli_printf("\n");
}

int cli_policy_read(struct kw_client *c, const struct cli_args *a)
{
	json_t *data = NULL;
	int r;

	if (kw_client_policy_read(c, a->pos[0], &data) != 0)
		return cli_fail(c, "policy read %s", a->pos[0]);
	r = cli_print_reply(a, data, print_policy);
	kw_client_json_free(data);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_policy_list(struct kw_client *c, const struct cli_args *a)
{
	json_t *names = NULL;
	int r;

	if (kw_client_policy_list(c, &names) != 0)
		return cli_fail(c, "policy list");
	r = cli_print_names(a, names);
	kw_client_json_free(names);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
