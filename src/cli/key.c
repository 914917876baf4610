/*
 * key.c: keyward key create | list | show | rotate | delete | config. The
 * text form of a key (key show, and what create/rotate/config print when the
 * server returns the key) is one "field: value" line per setting, in a fixed
 * order, then one line per version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const key_fields[] = {
    "name",
    "type",
    "latest_version",
    "min_decryption_version",
    "min_encryption_version",
    "min_available_version",
    "deletion_allowed",
    "exportable",
    "allow_plaintext_backup",
    "derived",
    "supports_encryption",
    "supports_decryption",
    "supports_signing",
    "supports_derivation",
    "auto_rotate_period",
};

/* Versions in numeric order, whatever order the object holds them in. */
static int version_cmp(const void *x, const void *y)
{
	long a = strtol(*(const char *const *)x, NULL, 10);
	long b = strtol(*(const char *const *)y, NULL, 10);

	return (a > b) - (a < b);
}

static int print_public_key(const char *version, const char *pem)
{
	int r;

	/* PEM spans lines; raw base64 keys (ed25519) fit on one. */
	if (strchr(pem, '\n') == NULL) {
		if ((r = cli_printf("version %s public_key: ", version)) != 0 ||
		    (r = cli_print_text(pem, false)) != 0)
			return r;
		return cli_printf("\n");
	}
	if ((r = cli_printf("version %s public_key:\n", version)) != 0 ||
	    (r = cli_print_text(pem, true)) != 0)
		return r;
	return pem[strlen(pem) - 1] == '\n' ? 0 : cli_printf("\n");
}

static int print_version(const char *version, const json_t *v)
{
	const char *created = json_string_value(json_object_get(v, "creation_time"));
	const char *pem = json_string_value(json_object_get(v, "public_key"));
	char when[32];
	int r = 0;

	/* Symmetric keys map a version to its creation time in unix seconds. */
	if (json_is_integer(v)) {
		kw_time_format((int64_t)json_integer_value(v), when, sizeof(when));
		return cli_printf("version %s created: %s\n", version, when);
	}
	if (created != NULL) {
		if ((r = cli_printf("version %s created: ", version)) != 0 ||
		    (r = cli_print_text(created, false)) != 0 || (r = cli_printf("\n")) != 0)
			return r;
	}
	if (pem != NULL && *pem != '\0')
		r = print_public_key(version, pem);
	return r;
}

static int print_versions(const json_t *keys)
{
	size_t n = json_object_size(keys), i = 0;
	const char **names;
	const char *name;
	json_t *v;
	int r = 0;

	if (n == 0)
		return 0;
	if ((names = calloc(n, sizeof(*names))) == NULL)
		return KW_ERR_NOMEM;
	json_object_foreach((json_t *)keys, name, v) names[i++] = name;
	qsort(names, n, sizeof(*names), version_cmp);
	for (i = 0; i < n && r == 0; i++)
		r = print_version(names[i], json_object_get(keys, names[i]));
	free(names);
	return r;
}

static int print_key(const json_t *info)
{
	int r = 0;

	for (size_t i = 0; i < KW_ARRAY_LEN(key_fields) && r == 0; i++)
		r = cli_print_field(key_fields[i], json_object_get(info, key_fields[i]));
	if (r == 0)
		r = print_versions(json_object_get(info, "keys"));
	return r;
}

/* What a changing command prints: the key's new state if the server sent it. */
static int finish(const struct cli_args *a, json_t *info)
{
	int r = 0;

	if (info != NULL)
		r = cli_print_reply(a, info, print_key);
	kw_client_json_free(info);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_key_create(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_key_opts o = {.type = a->type, .exportable = a->exportable};
	json_t *info = NULL;

	if (kw_client_key_create(c, a->pos[0], &o, &info) != 0)
		return cli_fail(c, "key create %s", a->pos[0]);
	return finish(a, info);
}

int cli_key_list(struct kw_client *c, const struct cli_args *a)
{
	json_t *names = NULL;
	int r;

	if (kw_client_key_list(c, &names) != 0)
		return cli_fail(c, "key list");
	r = cli_print_names(a, names);
	kw_client_json_free(names);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_key_show(struct kw_client *c, const struct cli_args *a)
{
	json_t *info = NULL;

	if (kw_client_key_read(c, a->pos[0], &info) != 0)
		return cli_fail(c, "key show %s", a->pos[0]);
	return finish(a, info);
}

int cli_key_rotate(struct kw_client *c, const struct cli_args *a)
{
	json_t *info = NULL;

	if (kw_client_key_rotate(c, a->pos[0], &info) != 0)
		return cli_fail(c, "key rotate %s", a->pos[0]);
	return finish(a, info);
}

int cli_key_delete(struct kw_client *c, const struct cli_args *a)
{
	if (kw_client_key_delete(c, a->pos[0]) != 0)
		return cli_fail(c, "key delete %s", a->pos[0]);
	return CLI_EXIT_OK;
}

int cli_key_config(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_key_config cfg = {
	    .set_deletion_allowed = a->set & CLI_FLAG(CLI_F_DELETION_ALLOWED),
	    .deletion_allowed = a->deletion_allowed,
	    .set_min_decryption_version = a->set & CLI_FLAG(CLI_F_MIN_DECRYPTION_VERSION),
	    .min_decryption_version = a->min_decryption_version,
	    .set_exportable = a->exportable,
	};
	json_t *info = NULL;

	if (kw_client_key_config(c, a->pos[0], &cfg, &info) != 0)
		return cli_fail(c, "key config %s", a->pos[0]);
	return finish(a, info);
}
