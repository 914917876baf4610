/*
 * crypto.c: keyward encrypt | decrypt | sign | verify | hmac. Inputs are
 * read as raw bytes (decrypt reads ciphertext text) into wiping buffers; the
 * plaintext decrypt writes goes straight from a wiped buffer to stdout.
 */
#include <stdlib.h>

#include "cli.h"

/* The input file: the last positional when present beyond `first`. */
static const char *input_path(const struct cli_args *a, size_t first)
{
	return a->npos > first ? a->pos[first] : NULL;
}

/* Print one string field of data on its own line (text), or data (json). */
static int print_one(const struct cli_args *a, const char *what, const json_t *data,
                     const char *field)
{
	const char *s;

	if (a->format == CLI_FORMAT_JSON)
		return cli_print_json(data) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	if (kw_client_json_string(data, field, &s) != 0) {
		cli_errorf("%s: the server's reply has no %s", what, field);
		return CLI_EXIT_FAIL;
	}
	if (cli_print_text(s, false) != 0 || cli_printf("\n") != 0)
		return CLI_EXIT_FAIL;
	return CLI_EXIT_OK;
}

int cli_encrypt(struct kw_client *c, const struct cli_args *a)
{
	struct kw_buf in;
	json_t *data = NULL;
	int rc = CLI_EXIT_FAIL;

	kw_buf_init(&in);
	if (cli_read_input("encrypt", input_path(a, 1), &in) != 0)
		goto out;
	if (kw_client_encrypt(c, a->pos[0], in.data, in.len, NULL, &data) != 0) {
		rc = cli_fail(c, "encrypt %s", a->pos[0]);
		goto out;
	}
	rc = print_one(a, "encrypt", data, "ciphertext");
out:
	kw_client_json_free(data);
	kw_buf_cleanup(&in);
	return rc;
}

static int write_plaintext(const json_t *data)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	int r;

	if (kw_client_json_bytes(data, "plaintext", &pt, &len) != 0) {
		cli_errorf("decrypt: the server's reply has no valid plaintext");
		return CLI_EXIT_FAIL;
	}
	r = cli_write(pt, len);
	kw_wipe(pt, len);
	free(pt);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_decrypt(struct kw_client *c, const struct cli_args *a)
{
	struct kw_buf in;
	json_t *data = NULL;
	int rc = CLI_EXIT_FAIL;

	kw_buf_init(&in);
	if (cli_read_text("decrypt", input_path(a, 1), &in) != 0)
		goto out;
	if (kw_client_decrypt(c, a->pos[0], (const char *)in.data, NULL, &data) != 0) {
		rc = cli_fail(c, "decrypt %s", a->pos[0]);
		goto out;
	}
	if (a->format == CLI_FORMAT_JSON)
		rc = cli_print_json(data) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	else
		rc = write_plaintext(data);
out:
	kw_client_json_free(data);
	kw_buf_cleanup(&in);
	return rc;
}

static void sign_opts(const struct cli_args *a, struct kw_client_sign_opts *o)
{
	*o = (struct kw_client_sign_opts){
	    .hash = a->hash,
	    .signature_algorithm = a->algorithm,
	    .hmac = a->hmac,
	};
}

int cli_sign(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_sign_opts o;
	struct kw_buf in;
	json_t *data = NULL;
	int rc = CLI_EXIT_FAIL;

	kw_buf_init(&in);
	sign_opts(a, &o);
	if (cli_read_input("sign", input_path(a, 1), &in) != 0)
		goto out;
	if (kw_client_sign(c, a->pos[0], in.data, in.len, &o, &data) != 0) {
		rc = cli_fail(c, "sign %s", a->pos[0]);
		goto out;
	}
	rc = print_one(a, "sign", data, "signature");
out:
	kw_client_json_free(data);
	kw_buf_cleanup(&in);
	return rc;
}

int cli_verify(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_sign_opts o;
	const json_t *valid;
	struct kw_buf in;
	json_t *data = NULL;
	int rc = CLI_EXIT_FAIL;

	kw_buf_init(&in);
	sign_opts(a, &o);
	if (cli_read_input("verify", input_path(a, 2), &in) != 0)
		goto out;
	if (kw_client_verify(c, a->pos[0], in.data, in.len, a->pos[1], &o, &data) != 0) {
		rc = cli_fail(c, "verify %s", a->pos[0]);
		goto out;
	}
	valid = json_object_get(data, "valid");
	if (!json_is_boolean(valid)) {
		cli_errorf("verify: the server's reply has no valid field");
		goto out;
	}
	if (a->format == CLI_FORMAT_JSON
	        ? cli_print_json(data) != 0
	        : cli_printf("%s\n", json_is_true(valid) ? "valid" : "invalid") != 0)
		goto out;
	rc = json_is_true(valid) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	kw_client_json_free(data);
	kw_buf_cleanup(&in);
	return rc;
}

int cli_hmac(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_sign_opts o;
	struct kw_buf in;
	json_t *data = NULL;
	int rc = CLI_EXIT_FAIL;

	kw_buf_init(&in);
	sign_opts(a, &o);
	if (cli_read_input("hmac", input_path(a, 1), &in) != 0)
		goto out;
	if (kw_client_hmac(c, a->pos[0], in.data, in.len, &o, &data) != 0) {
		rc = cli_fail(c, "hmac %s", a->pos[0]);
		goto out;
	}
	rc = print_one(a, "hmac", data, "hmac");
out:
	kw_client_json_free(data);
	kw_buf_cleanup(&in);
	return rc;
}
